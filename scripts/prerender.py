#!/usr/bin/env python
"""Pre-render a synthetic corpus to LMDB shards, so training does not wait on rendering.

    python scripts/prerender.py words runs/corpus/words-v2-s1 --images 3000000 --workers 2
    python scripts/train.py --preset words --data corpus:runs/corpus/words-v2-s1 ...

Sample i is `engine(seed)[i]`, stored at the network's input size: the corpus can always be
re-created from its seed, so keep it outside the repository and never commit it. Interrupt it
at any time: running the same command again renders only the shards still missing (a corpus
is usable for training as soon as its first shard is complete; more shards can be added later
with a larger --images).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ocr.synth import DEFAULT_ENGINE, SYNTH_PRESETS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", choices=("words", "digits"))
    p.add_argument("out", type=Path, help="corpus folder (created; resumed if it exists)")
    p.add_argument("--images", type=int, required=True, help="samples in the corpus (rounded up to whole shards)")
    p.add_argument("--seed", type=int, default=1, help="engine seed (default 1; validation uses 10000+)")
    p.add_argument("--engine", choices=sorted(SYNTH_PRESETS), default=DEFAULT_ENGINE,
                   help=f"word engine preset (ocr.synth.SYNTH_PRESETS; default {DEFAULT_ENGINE}, the shipped model's)")
    p.add_argument("--shard-size", type=int, default=50_000)
    p.add_argument("--workers", type=int, default=1, help="rendering processes (default 1)")
    p.add_argument("--img-w", type=int, default=None,
                   help="words: store images this wide (default: the preset's 128), for a model made with "
                        "scripts/widen.py --img-w")
    return p


if __name__ == "__main__":  # --help and bad flags answer before torch is loaded
    build_parser().parse_known_args()

from ocr.training.corpus import prerender  # noqa: E402


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    if args.images <= 0 or args.shard_size <= 0 or args.workers <= 0:
        p.error("--images, --shard-size and --workers must be positive")
    t = time.perf_counter()
    try:
        r = prerender(args.task, args.out, args.images, seed=args.seed, engine=args.engine,
                      shard_size=args.shard_size, workers=args.workers, img_w=args.img_w)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    dt = time.perf_counter() - t
    rate = f", {r['rendered'] / dt:.0f} images/s" if r["rendered"] else ""
    print(f"{args.out}: {r['shards']} complete shards; rendered {r['rendered']} now in {dt:.0f} s{rate}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
