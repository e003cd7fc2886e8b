#!/usr/bin/env python
"""Train the house-number finder (ocr.numbers) on the digits engine's scenes.

    python scripts/train_numbers.py runs/numbers --steps 20000 --max-minutes 60   # stops cleanly; run again to resume
    python scripts/train_numbers.py runs/numbers --steps 20000                      # resumes exactly where it stopped

Every 1,000 steps it validates on 500 scenes of an unseen seed (the strongest peak inside the true frame's
middle half, its size within 1.5x) and keeps last.safetensors (+ last.train.pt to resume) and best.safetensors.
Ship one with `cp OUT/best.safetensors data/models/numbers.safetensors`.
"""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="run folder (created; a folder with last.safetensors is resumed)")
    p.add_argument("--steps", type=int, default=20000, help="length of the schedule (default 20000)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=1, help="the training scenes' seed (default 1)")
    p.add_argument("--val-every", type=int, default=1000)
    p.add_argument("--val-size", type=int, default=500)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-minutes", type=float, default=0.0, help="stop cleanly after this long (0: run to the end)")
    p.add_argument("--fonts", help="font folder (default: the system's fonts, as the digits engine finds them)")
    args = p.parse_args(argv)
    for name in ("steps", "batch_size", "val_every", "val_size", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if not args.lr > 0:
        p.error("--lr must be positive")

    from ocr.training.numbers_training import FinderOptions, train_finder
    fonts = None
    if args.fonts:
        from ocr.synth.fonts import find_fonts
        fonts = find_fonts(args.fonts)
    best = train_finder(args.out, FinderOptions(steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                                                seed=args.seed, val_every=args.val_every, val_size=args.val_size,
                                                threads=args.threads, max_minutes=args.max_minutes), fonts)
    print(f"best checkpoint: {best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
