#!/usr/bin/env python
"""Grow a checkpoint's encoder (wider stages, more convolutions, a BiLSTM context), or shrink it, as a warm start.

    python scripts/widen.py saves/RUN/step0020000-acc0.6553.safetensors wide.safetensors \\
        --widths 32 96 192 256 --convs 1 2 3 2
    python scripts/widen.py saves/RUN/step0020000-acc0.6553.safetensors ctx.safetensors --context 128
    python scripts/widen.py data/models/words.safetensors w192.safetensors --img-w 192 --min-agree 0
    python scripts/train.py --restore wide.safetensors --data ...      # then train it
    python scripts/widen.py data/models/words.safetensors small.safetensors --widths 16 32 96 160 --min-agree 0
    python scripts/train.py --restore small.safetensors --teacher data/models/words.safetensors --kd 1 --data ...

Each stage may only grow (widths and convolutions at least the old ones; the last width feeds the
decoder and stays). Old channels see nothing of the new ones, new residual convolutions start
almost silent and an added context BiLSTM starts with a zero output projection (`ocr.training.widen`), so
the grown model reads what the old one reads before any training. The script checks this on --check synthetic samples and fails (exit 1, nothing written) below
--min-agree. The output keeps the old metadata under "widened_from"; it is written atomically and
an existing file is replaced only with --force.

Smaller --widths (every stage at most its old width, nothing else changed) shrink the encoder instead
(`ocr.training.narrow`: each stage keeps its channels with the largest BatchNorm scales). That changes readings
(--min-agree 0 accepts it): distil the small model from the old one (train.py --teacher, --kd).

--img-w W makes a words model read W-pixel-wide inputs (`ocr.training.widen.reshape_input`: the position
embedding is resized along the width). That one does change readings: its agreement is printed,
and --min-agree 0 accepts it; fine-tune it on data of that width (scripts/prerender.py --img-w W).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from ocr.training.checks import add_checked_write_options, agrees_enough, refuse_overwrite


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, help="trained checkpoint (.safetensors)")
    p.add_argument("out", type=Path, help="where to write the grown checkpoint (fp32)")
    p.add_argument("--widths", type=int, nargs="+", help="channels per encoder stage (default: unchanged)")
    p.add_argument("--convs", type=int, nargs="+", help="3x3 convolutions per encoder stage (default: unchanged)")
    p.add_argument("--context", type=int, default=0, metavar="H",
                   help="add a residual BiLSTM with H units per direction along each feature-map row "
                        "(ocr.model.RowContext; default 0: none)")
    p.add_argument("--img-w", type=int, default=None, help="words: read inputs this many pixels wide (see above)")
    add_checked_write_options(p, "models")
    return p


if __name__ == "__main__":  # --help and bad flags answer before torch is loaded
    build_parser().parse_known_args()

import torch  # noqa: E402
from ocr import CheckpointError, TextRecognizer, load_checkpoint  # noqa: E402
from ocr.checkpoint import save_checkpoint  # noqa: E402
from ocr.training.narrow import narrow  # noqa: E402
from ocr.training.widen import reshape_input, widen  # noqa: E402


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if refuse_overwrite(args):
        return 1
    try:
        model, meta = load_checkpoint(args.checkpoint)
        grown = model
        old_w = model.cfg.widths
        shrink = (bool(args.widths) and not (args.convs or args.context) and len(args.widths) == len(old_w)
                  and tuple(args.widths) != tuple(old_w) and all(w <= o for w, o in zip(args.widths, old_w)))
        if shrink:  # widths alone, none larger: keep each stage's most important channels
            grown = narrow(model, args.widths)
        elif args.widths or args.convs or args.context:
            grown = widen(model, args.widths or model.cfg.widths, args.convs or model.cfg.convs, context=args.context)
        if args.img_w:
            grown = reshape_input(grown, args.img_w)
        if grown is model:
            raise ValueError("nothing to change: give --widths, --convs, --context or --img-w")
    except (CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    old_n, new_n = (sum(p.numel() for p in m.parameters()) for m in (model, grown))
    print(f"encoder widths {model.cfg.widths} -> {grown.cfg.widths}, convs {model.cfg.convs} -> {grown.cfg.convs}; "
          f"context {model.cfg.context} -> {grown.cfg.context}; input width {model.cfg.img_w} -> {grown.cfg.img_w}; "
          f"parameters {old_n / 1e6:.2f} M -> {new_n / 1e6:.2f} M")
    if args.check and not agrees_enough(args, TextRecognizer(model), TextRecognizer(grown),
                                        "the grown model reads the same text as the old one"):
        return 1
    out_meta = {k: meta.get(k) for k in ("data", "steps", "images_seen", "metrics")}
    save_checkpoint(grown, args.out, {"widened_from": {"path": str(args.checkpoint), **out_meta},
                                      "parent": str(args.checkpoint)})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
