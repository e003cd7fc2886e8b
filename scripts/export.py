#!/usr/bin/env python
"""Export a training checkpoint for shipping: half-precision weights, metadata kept, checked.

    python scripts/export.py saves/RUN/last.safetensors data/models/digits.safetensors
    python scripts/export.py saves/RUN/step0009000-acc0.9890.safetensors out.safetensors --dtype bf16

The weights are stored in fp16 (default) or bf16, which halves the file; they are loaded back
as fp32. The encoder is written beside it as ONNX (OUT with .onnx, `scripts/export_onnx.py`), what reading without
PyTorch uses. The training metadata (data, steps, images seen, metrics, parent) is kept and the
source file and dtype are recorded. The reading settings (`ocr.reading`: how the model reads unless a
caller says otherwise; the demo reads with them) are the source's, changed by --lm-weight, --beam-width,
--views, --views-below and --unsure-below:

    python scripts/export.py RUN/step0005000-acc0.8700.safetensors words.safetensors --beam-width 5 --views 5 --lm-weight 0.25
 The export is then checked: both files read --check
synthetic samples of the model's task and the script prints how often the two transcripts
agree, failing (exit 1, nothing written) below --min-agree. The output is written atomically;
an existing file (such as the shipped default) is replaced only with --force.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from ocr.training.checks import add_checked_write_options, agrees_enough, refuse_overwrite
from ocr.views import MAX_VIEWS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, help="training checkpoint (.safetensors)")
    p.add_argument("out", type=Path, help="where to write the exported checkpoint")
    p.add_argument("--dtype", choices=("bf16", "fp16", "fp32"), default="fp16", help="weight precision (default fp16)")
    r = p.add_argument_group("reading settings (default: the source checkpoint's)")
    r.add_argument("--lm-weight", type=float, help="weight of the word prior (ocr.lm); 0 = none")
    r.add_argument("--beam-width", type=int, help="1 = greedy")
    r.add_argument("--views", type=int, help=f"test-time views (ocr.views), 1 to {MAX_VIEWS}")
    r.add_argument("--views-below", type=float, help="readings less sure than this are read in the other views")
    r.add_argument("--unsure-below", type=float, help="readings less sure than this are flagged for checking")
    add_checked_write_options(p, "files")
    return p


def reading_settings(args, meta: dict):
    """The source's reading settings with the flags given -> ReadingSettings (ValueError says what is wrong)."""
    import dataclasses

    from ocr.reading import ReadingSettings
    given = {k: getattr(args, k) for k in ("lm_weight", "beam_width", "views", "views_below", "unsure_below")
             if getattr(args, k) is not None}
    return dataclasses.replace(ReadingSettings.of(meta), **given)


if __name__ == "__main__":  # --help and bad flags answer before torch is loaded
    build_parser().parse_known_args()

import torch  # noqa: E402
from ocr import CheckpointError, TextRecognizer, load_checkpoint, load_recognizer  # noqa: E402
from ocr.checkpoint import save_checkpoint  # noqa: E402


DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if refuse_overwrite(args):
        return 1
    if args.out.resolve() == args.checkpoint.resolve():
        print("error: the output must be a different file from the checkpoint", file=sys.stderr)
        return 1
    try:
        model, meta = load_checkpoint(args.checkpoint)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    try:
        reading = reading_settings(args, meta)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    # a re-export (new reading settings) keeps the name of the training checkpoint it came from
    meta = dict(meta, exported_from=meta.get("exported_from") or str(args.checkpoint), export_dtype=args.dtype,
                reading=reading.to_dict())
    tmp = args.out.with_name(args.out.name + ".export")
    save_checkpoint(model, tmp, meta, dtype=DTYPES[args.dtype])
    if args.check:
        if not agrees_enough(args, TextRecognizer(model, meta), load_recognizer(tmp, lm_weight=0),  # weights alone
                             f"{args.dtype} export reads the same as the source", " (try --dtype fp32)"):
            tmp.unlink()
            return 1
    tmp.replace(args.out)
    from ocr.onnx_export import write_graph
    graph = write_graph(args.out)   # its encoder for reading without PyTorch (ocr.onnx_reader)
    mb = args.out.stat().st_size / 1e6
    print(f"wrote {args.out} ({mb:.1f} MB, {args.dtype}) and {graph.name}; steps {meta.get('steps')}, "
          f"images seen {meta.get('images_seen')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
