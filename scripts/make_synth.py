#!/usr/bin/env python
"""Render synthetic samples to a folder (labels.tsv) or an LMDB, with a contact sheet.

    python scripts/make_synth.py words out/synth_words -n 1000
    python scripts/make_synth.py digits out/synth_digits.lmdb -n 50000 --lmdb --seed 7
    python scripts/make_synth.py words out/x -n 64 --fonts ~/myfonts --no-system-fonts
    python scripts/make_synth.py words out/x -n 2000 --speed     # also print images/s
    python scripts/make_synth.py words out/v4 -n 64 --engine v4    # another preset (ocr.synth.SYNTH_PRESETS)
    python scripts/make_synth.py words out/arcval -n 1000 --circles 1 --seed 10005   # bent words only

Samples are a pure function of (seed, index). The contact sheet (OUT/contact_sheet.png, or
OUT.png next to an LMDB) shows the first 64 samples with their labels.
"""
from __future__ import annotations

import argparse
import string
import sys
import time
from pathlib import Path
from ocr.config import TASKS, preset
from ocr.synth import DEFAULT_ENGINE, SYNTH_PRESETS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", choices=TASKS)
    p.add_argument("out", type=Path)
    p.add_argument("-n", type=int, default=1000, help="number of samples (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--engine", choices=sorted(SYNTH_PRESETS), default=DEFAULT_ENGINE,
                   help=f"word engine preset (default {DEFAULT_ENGINE}, the shipped words model's: words by English "
                        "frequency, 15 %% bent along a circle, a glyph among its 3 nearest reference characters; v4: "
                        "no circles, the strict legibility test; v2: v4 with words drawn uniformly); digits have "
                        "one engine")
    p.add_argument("--circles", type=float, metavar="SHARE",
                   help="share of the words bent along a circle, 0 to 1 (v6: 0.15); --circles 1 makes a "
                        "validation set of bent words only")
    p.add_argument("--lmdb", action="store_true", help="write an LMDB instead of PNG files + labels.tsv")
    p.add_argument("--fonts", action="append", default=[], help="extra font folder (repeatable)")
    p.add_argument("--no-system-fonts", action="store_true", help="use only --fonts folders")
    p.add_argument("--speed", action="store_true", help="print the rendering speed")
    return p


if __name__ == "__main__":  # --help and bad flags answer before torch is loaded
    build_parser().parse_known_args()

from tqdm import tqdm  # noqa: E402
from ocr.synth.fonts import find_fonts  # noqa: E402
from ocr.synth import DigitSynth, WordSynth  # noqa: E402
from ocr.viz import contact_sheet  # noqa: E402


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    if args.circles is not None and args.task != "words":
        p.error("--circles is for words (digits are never bent along a circle)")
    required = string.digits if args.task == "digits" else string.ascii_letters + string.digits
    fonts = find_fonts(tuple(args.fonts), required=required, system=not args.no_system_fonts)
    if not fonts:
        print("no usable fonts found (see docs/TRAINING.md: fonts)", file=sys.stderr)
        return 1
    cfg = preset(args.task)
    try:   # WordSynth checks its options (ocr.synth.SynthConfig)
        synth = (WordSynth(cfg.charset, fonts=fonts, seed=args.seed, length=args.n, engine=args.engine,
                           circles=args.circles)
                 if args.task == "words"
                 else DigitSynth(fonts=fonts, seed=args.seed, length=args.n))
    except ValueError as e:
        p.error(str(e))
    print(f"{len(fonts)} fonts")
    t = time.perf_counter()
    if args.lmdb:
        from ocr.training.datasets.lmdb_io import write_lmdb
        r = write_lmdb(synth, args.out)
        sheet_path = args.out.with_suffix(".png")
        print(f"wrote {r['written']} samples to {args.out}")
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        lines = []
        for i in tqdm(range(args.n), desc="rendering", unit="img"):
            img, text = synth[i]
            name = f"{i:08d}.png"
            img.save(args.out / name)
            lines.append(f"{name}\t{text}")
        (args.out / "labels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        sheet_path = args.out / "contact_sheet.png"
    dt = time.perf_counter() - t
    if args.speed:
        print(f"{args.n / dt:.0f} images/s including encoding and writing (1 process)")
    contact_sheet([synth[i] for i in range(min(64, args.n))], sheet_path)
    print(f"contact sheet: {sheet_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
