#!/usr/bin/env python
"""Average the weights of several checkpoints of one model (a uniform "checkpoint average", a "model soup").

    python scripts/average.py avg.safetensors saves/RUN/step0005000-*.safetensors \\
        saves/RUN/step0007000-*.safetensors saves/RUN/last.safetensors
    python scripts/evaluate.py avg.safetensors folder:VALIDATION.tsv      # choose on validation

The checkpoints must share one config (the kept steps of one run, or runs from one start: weights
of unrelated trainings do not average into a working model). The mean is taken in fp32 over every
weight and BatchNorm statistic (`ocr.checkpoint.average_checkpoints`). The averaged model is
compared with the first input on --check synthetic samples; the agreement is printed (an
average usually reads a little differently; below --min-agree nothing is written, which catches
averages of checkpoints too far apart). The output is fp32, written atomically, keeps the inputs'
paths in its metadata under "averaged", and replaces an existing file only with --force.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from ocr.training.checks import add_checked_write_options, agrees_enough, refuse_overwrite


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="where to write the averaged checkpoint (fp32)")
    p.add_argument("checkpoints", type=Path, nargs="+", help="two or more checkpoints of one config")
    add_checked_write_options(p, "the average and the first input", min_agree=0.9)
    return p


if __name__ == "__main__":  # --help and bad flags answer before torch is loaded
    build_parser().parse_known_args()

import torch  # noqa: E402
from ocr import CheckpointError, TextRecognizer, load_checkpoint  # noqa: E402
from ocr.checkpoint import average_checkpoints, save_checkpoint  # noqa: E402


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if refuse_overwrite(args):
        return 1
    if args.out.resolve() in {c.resolve() for c in args.checkpoints}:
        print(f"error: {args.out} is one of the inputs; write the average to a new file", file=sys.stderr)
        return 1
    try:
        model, meta = average_checkpoints(args.checkpoints)
        first = load_checkpoint(args.checkpoints[0])[0] if args.check else None
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"averaged {len(args.checkpoints)} checkpoints of one config ({model.cfg.name})")
    if args.check and not agrees_enough(args, TextRecognizer(first), TextRecognizer(model),
                                        f"the average reads as {args.checkpoints[0].name}"):
        return 1
    save_checkpoint(model, args.out, {"averaged": [str(c) for c in args.checkpoints],
                                      "parent": str(args.checkpoints[0]),
                                      **{k: meta.get(k) for k in ("data", "steps", "images_seen")}})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
