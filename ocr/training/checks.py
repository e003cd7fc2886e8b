"""Writing a checked checkpoint from the command line (scripts/export.py, average.py, widen.py): the new file must
read as the old one on synthetic samples of its task before it replaces anything."""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..recognizer import TextRecognizer


def agreement(a: TextRecognizer, b: TextRecognizer, n: int, seed: int = 31_337) -> float:
    """Fraction of `n` synthetic samples of the task on which the two recognizers read the same text."""
    from tqdm import tqdm

    from ..synth import DigitSynth, WordSynth

    synth = DigitSynth(seed=seed) if a.cfg.name == "digits" else WordSynth(a.cfg.charset, seed=seed)
    same = 0
    for start in tqdm(range(0, n, 32), desc="comparing readings", unit="batch", leave=False):
        images = [synth[i][0] for i in range(start, min(n, start + 32))]
        same += sum(p.text == q.text for p, q in zip(a.read(images, fast=True), b.read(images, fast=True)))
    return same / n


def agrees_enough(args, a: TextRecognizer, b: TextRecognizer, what: str, hint: str = "") -> bool:
    """Compare two recognizers on args.check synthetic samples; print the agreement ('<what> on X% of N
    synthetic samples'), and False (after saying why on stderr) below args.min_agree."""
    agree = agreement(a, b, args.check)
    print(f"{what} on {agree:.1%} of {args.check} synthetic samples")
    if agree < args.min_agree:
        print(f"error: agreement below --min-agree {args.min_agree:.0%}; nothing written{hint}", file=sys.stderr)
        return False
    return True


def add_checked_write_options(p: argparse.ArgumentParser, what: str, min_agree: float = 0.98) -> None:
    """--check, --min-agree, --force, --threads: shared by the scripts that write a checked checkpoint."""
    p.add_argument("--check", type=int, default=256, metavar="N",
                   help=f"synthetic samples read by both {what} to compare (default 256; 0 skips)")
    p.add_argument("--min-agree", type=float, default=min_agree, help=f"fail below this agreement (default {min_agree})")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.add_argument("--threads", type=int, default=2)


def refuse_overwrite(args) -> bool:
    """True (after saying why on stderr) when args.out exists and --force was not given."""
    if args.out.exists() and not args.force:
        print(f"error: {args.out} exists (pass --force to replace it)", file=sys.stderr)
        return True
    return False
