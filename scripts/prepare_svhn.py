#!/usr/bin/env python
"""Convert SVHN format-1 digitStruct.mat files to JSON, once per split.

    python scripts/prepare_svhn.py ROOT [--splits train test extra] [--force]

ROOT holds train/, test/ and extra/ as extracted from train.tar.gz etc. Each split's
digitStruct.mat (MATLAB v7.3 / HDF5) is read with h5py and written to
ROOT/<split>/digitStruct.json; splits already converted are skipped (use --force to redo),
so an interrupted run resumes with the next split. Labels are stored as digit strings with
SVHN's label 10 mapped to "0".
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root", type=Path, help="SVHN folder containing train/ test/ extra/")
    p.add_argument("--splits", nargs="+", default=["train", "test", "extra"])
    p.add_argument("--force", action="store_true", help="convert again even if the JSON exists")
    return p


if __name__ == "__main__":  # --help and bad flags answer before torch is loaded
    build_parser().parse_known_args()

from ocr.training.datasets.svhn import read_digit_struct  # noqa: E402


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    found = 0
    for split in args.splits:
        mat = args.root / split / "digitStruct.mat"
        out = args.root / split / "digitStruct.json"
        if not mat.is_file():
            print(f"{split}: no {mat}, skipped")
            continue
        found += 1
        if out.is_file() and not args.force:
            print(f"{split}: {out} exists, skipped (--force to redo)")
            continue
        try:
            entries = read_digit_struct(mat)
        except (OSError, KeyError) as e:
            print(f"{split}: cannot read {mat}: {e}", file=sys.stderr)
            return 1
        tmp = out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(entries))
        tmp.replace(out)
        print(f"{split}: {len(entries)} images -> {out}")
    if not found:
        print(f"no digitStruct.mat under {args.root}/{{{','.join(args.splits)}}}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
