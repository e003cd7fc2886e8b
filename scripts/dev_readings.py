#!/usr/bin/env python
"""Write what a model reads on labelled folders, greedy and beam 5, one line per image.

    python scripts/dev_readings.py words ../shared/data/real/dev/iiit5k_test ../shared/data/real/dev/svt_test \\
        --out tests/data/dev_readings_words.tsv

Output: a header `# model <name> weights <digest of its tensors> lm <word prior or none>` (`ocr.lm`) and then
`folder<TAB>relative path<TAB>greedy<TAB>beam 5` lines (one view each, with the checkpoint's word prior). tests/test_dev_readings.py reads the same images and checks every reading is unchanged, so a
refactoring of the reading path (preprocessing, serving, decoding) shows at once if it changes a
single output. Regenerate the file when the shipped model or its default word prior changes (the test says so).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="shipped name or checkpoint path")
    p.add_argument("folders", nargs="+", type=Path, help="folders with labels.tsv")
    p.add_argument("--out", type=Path, required=True)
    return p


if __name__ == "__main__":  # --help and bad flags answer before torch is loaded
    build_parser().parse_known_args()

import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402
from ocr import load_recognizer  # noqa: E402
from ocr.checkpoint import weights_digest  # noqa: E402


def readings(rec, folder: Path):
    """-> [(relative path, greedy text, beam-5 text)] for each line of folder/labels.tsv, in order."""
    out = []
    lines = [l for l in (folder / "labels.tsv").read_text(encoding="utf-8").splitlines() if l.strip()]
    for line in tqdm(lines, desc=folder.name, unit="img"):
        rel = line.split("\t", 1)[0]
        try:
            greedy = rec.read(folder / rel, fast=True)[0].text
            beam = rec.read(folder / rel, beam_width=5, views=1)[0].text
        except ValueError as e:  # InvalidImageError
            greedy = beam = f"<unreadable: {e}>"
        out.append((rel, greedy, beam))
    return out


def header(name: str, rec) -> str:
    """The record's first line: which weights and which word prior read it."""
    return f"# model {name} weights {weights_digest(rec.source)} lm {rec.lm.describe() if rec.lm else 'none'}"


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rec = load_recognizer(args.model)
    rows = [header(args.model, rec)]
    for folder in args.folders:
        rows += ["\t".join((folder.name, *r)) for r in readings(rec, folder)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    print(f"{len(rows) - 1} readings written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
