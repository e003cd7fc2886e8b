#!/usr/bin/env python
"""Render the demo's example images (data/examples/) with the synthetic engine.

    python scripts/make_examples.py

Deterministic: fixed texts and seeds. The images are ours (rendered from installed fonts), so
they can ship with the project, unlike the research-only benchmark images.
"""
from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ocr.config import CHARSET_PRINTABLE  # noqa: E402
from ocr.synth import DigitSynth, WordSynth  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "data" / "examples"
WORDS = ["Coffee", "STATION", "welcome", "Parking", "OPEN", "$4.99"]
NUMBERS = ["27", "154", "8", "3012"]


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    ws = WordSynth(CHARSET_PRINTABLE, seed=4242)
    for i, text in enumerate(WORDS):
        ws.render(text, random.Random(1000 + i)).save(OUT / f"words_{i + 1}_{text.strip('$').replace('.', '')}.png")
    ds = DigitSynth(seed=4242)
    for i, text in enumerate(NUMBERS):
        ds.render(text, random.Random(2000 + i)).save(OUT / f"digits_{i + 1}_{text}.png")
    print(f"wrote {len(WORDS) + len(NUMBERS)} examples to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
