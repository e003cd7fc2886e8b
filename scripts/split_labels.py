#!/usr/bin/env python
"""Split labelled image folders into a training and a validation list, reproducibly.

    python scripts/split_labels.py ../shared/data/real/train --preset digits --out runs/digitreal
    python scripts/split_labels.py my_photos --val 0.1 --out runs/mine

ROOT is a `folder:` dataset (ROOT/labels.tsv) or a folder of them (ROOT/*/labels.tsv). Only labels the
preset can read are kept (its charset and length rule, as in training; the counts are printed), so
`--preset digits` on word datasets keeps the crops that are numbers. Each image goes to validation when
the SHA-256 of its path relative to ROOT falls in the first VAL fraction: the split does not depend on
the order of the files, and adding images never moves old ones. OUT/train.tsv and OUT/val.tsv hold
absolute paths and labels; use them as `folder:OUT/train.tsv` or `tight:OUT/train.tsv`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ocr.config import PRESETS, preset


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root", type=Path, help="a folder with labels.tsv, or a folder of such folders")
    p.add_argument("--out", type=Path, required=True, help="folder for train.tsv and val.tsv (created)")
    p.add_argument("--preset", choices=PRESETS, default="words", help="keep only labels this model can read")
    p.add_argument("--val", type=float, default=0.2, help="fraction for validation (default 0.2)")
    p.add_argument("--force", action="store_true", help="overwrite existing train.tsv / val.tsv")
    return p


if __name__ == "__main__":  # --help and bad flags answer before torch is loaded
    build_parser().parse_known_args()

from ocr.training.datasets.labels import split_folders, write_tsv  # noqa: E402


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    if not 0 < args.val < 1:
        p.error("--val must be between 0 and 1")
    cfg = preset(args.preset)
    try:
        train, val, dropped = split_folders(args.root, cfg.charset, cfg.max_len, args.val)
    except (FileNotFoundError, ValueError) as e:
        print(e, file=sys.stderr)
        return 1
    outs = [args.out / "train.tsv", args.out / "val.tsv"]
    if not args.force and any(o.exists() for o in outs):
        print(f"{args.out} already has train.tsv / val.tsv; use --force to overwrite", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    write_tsv(train, outs[0])
    write_tsv(val, outs[1])
    gone = ", ".join(f"{k}: {v}" for k, v in sorted(dropped.items())) or "none"
    print(f"{len(train)} train, {len(val)} val -> {args.out}; dropped for the {args.preset} charset: {gone}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
