#!/usr/bin/env python
"""Convert any supported dataset to a scene-text LMDB (clovaai / PARSeq layout).

    python scripts/to_lmdb.py mjsynth:/data/mjsynth@val out/mj_val.lmdb
    python scripts/to_lmdb.py folder:../shared/data/real/train/iiit5k_train out/iiit5k.lmdb
    python scripts/to_lmdb.py synth-words out/synth.lmdb --limit 100000 --seed 3   # pre-render

Labels are filtered by the preset's charset rule first (the counts are printed).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ocr.config import PRESETS, preset


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", help="dataset kind[:PATH][@SPLIT]")
    p.add_argument("out", type=Path, help="new LMDB folder")
    p.add_argument("--preset", choices=PRESETS, default=None, help="charset to filter labels by (default from spec)")
    p.add_argument("--limit", type=int, default=None, help="write at most N samples (required for synth-*)")
    p.add_argument("--seed", type=int, default=0)
    return p


if __name__ == "__main__":  # --help and bad flags answer before torch is loaded
    build_parser().parse_known_args()

from ocr.training.datasets.specs import build_dataset, parse_spec  # noqa: E402
from ocr.training.datasets.lmdb_io import write_lmdb  # noqa: E402


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    spec = parse_spec(args.spec)
    name = args.preset or ("digits" if spec.kind in ("svhn", "synth-digits") else "words")
    if spec.kind.startswith("synth") and not args.limit:
        p.error("synthetic datasets are endless: give --limit N")
    ds = build_dataset(spec, preset(name), seed=args.seed)
    if hasattr(ds, "report"):
        print(f"{spec}: {ds.report}")
    try:
        r = write_lmdb(ds, args.out, limit=args.limit)
    except FileExistsError as e:
        print(e, file=sys.stderr)
        return 1
    print(f"wrote {r['written']} samples to {args.out} ({r['skipped']} unreadable skipped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
