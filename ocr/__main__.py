"""Read images from the command line: `python -m ocr IMAGE [IMAGE ...]`.

    python -m ocr word.png                      # one cropped word: its text and confidence
    python -m ocr street.jpg --photo            # find every word of a photo and read them all
    python -m ocr house.png --task digits --photo --json

Works in the reading-only install (requirements-read.txt, no PyTorch) as in the full one. A photo (--photo) is
read like `ocr.read_photo`: each region's box (x0 y0 x1 y1 in image pixels), text and confidence, in reading
order. An image that cannot be read is reported on stderr and the others are still read (exit status 1).
"""
from __future__ import annotations

import argparse
import json
import sys


def build_parser() -> argparse.ArgumentParser:
    from .cli import add_reading_options

    p = argparse.ArgumentParser(prog="python -m ocr", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="+", help="image files (PNG, JPEG, WebP, GIF, BMP or TIFF)")
    p.add_argument("--task", choices=("words", "digits"), default="words", help="what to read (default words)")
    p.add_argument("--model", default=None, help="a checkpoint to read with (default: the task's shipped model)")
    p.add_argument("--photo", action="store_true",
                   help="find the text first (every word, or the house number) and read each region")
    p.add_argument("--backend", choices=("auto", "torch", "onnx"), default="auto",
                   help="torch, or onnx (no PyTorch: the checkpoint's ONNX export); auto: torch where installed")
    p.add_argument("--precision", choices=("fp32", "int8", "auto"), default="fp32",
                   help="the encoder: fp32 (default), int8 (the model's int8 encoder, .int8.onnx: faster on CPUs "
                        "with VNNI, about 97 %% of readings the same), auto (int8 where the CPU has VNNI and the "
                        "model has one)")
    p.add_argument("--json", action="store_true", help="one JSON object per image instead of text")
    add_reading_options(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .checkpoint import CheckpointError
    from .cli import reading_args
    from .images import InvalidImageError
    from .photo import read_photo
    from .recognizer import load_recognizer

    try:
        rec = load_recognizer(args.model or args.task, lm_weight=args.lm_weight, backend=args.backend,
                              precision=args.precision)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if rec.cfg.name != args.task:
        print(f"error: {args.model} is a {rec.cfg.name} model, not {args.task}", file=sys.stderr)
        return 1
    status = 0
    for path in args.images:
        try:
            if args.photo:
                regions = [{"box": [round(v) for v in r.box], "text": r.text, "confidence": round(r.confidence, 4)}
                           for r in read_photo(path, args.task, recognizer=rec, **reading_args(args))]
            else:
                p = rec.read(path, **reading_args(args))[0]
                regions = [{"text": p.text, "confidence": round(p.confidence, 4)}]
        except (InvalidImageError, OSError) as e:
            print(f"{path}: error: {e}", file=sys.stderr)
            status = 1
            continue
        if args.json:
            print(json.dumps({"image": path, "regions": regions}, ensure_ascii=False))
        elif args.photo:
            print(f"{path}: {len(regions)} region(s)")
            for r in regions:
                print("  {:>5} {:>5} {:>5} {:>5}  {:.2f}  {}".format(*r["box"], r["confidence"], r["text"]))
        else:
            print(f"{path}\t{regions[0]['text']}\t{regions[0]['confidence']:.2f}")
    return status


if __name__ == "__main__":
    sys.exit(main())
