#!/usr/bin/env python
"""Play users: read labelled images with a model and submit what a person would.

    python scripts/simulate_feedback.py --model saves/RUN/last.safetensors --db /tmp/sim.sqlite \\
        ../shared/data/real/train/iiit5k_train ../shared/data/real/train/ic15_train --accept

For every image of the given labels.tsv folders the model's prediction is submitted to the
feedback store as a confirmation when it equals the label (case-sensitive) and as a correction
to the label otherwise, exactly as the demo does. Labels the store refuses (outside the task's
charset, e.g. containing spaces) are counted and skipped. --accept then marks every
non-conflicting label accepted, as a reviewer would.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from ocr.cli import recognizer_or_exit


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", type=Path, help="folders with labels.tsv")
    p.add_argument("--model", default="words", help="checkpoint or shipped name (default words)")
    p.add_argument("--db", help="feedback database (default $OCR_FEEDBACK_DB or data/feedback.sqlite)")
    p.add_argument("--accept", action="store_true", help="accept every non-conflicting label afterwards")
    p.add_argument("--limit", type=int, default=None, help="at most N images per folder")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    return p


if __name__ == "__main__":  # --help and bad flags answer before torch is loaded
    build_parser().parse_known_args()

import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402
from feedback import FeedbackError, accept_pending, add_submission, make_engine, resolve_url, safe_url, session_factory  # noqa: E402
from ocr import InvalidImageError, load_image  # noqa: E402
from ocr.training.datasets.labels import read_labels_tsv  # noqa: E402


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rec = recognizer_or_exit(args.model)
    task = rec.cfg.name
    engine = make_engine(args.db)
    Session = session_factory(engine)
    version = str(rec.meta.get("steps", "?"))
    counts = Counter()
    t0 = time.time()
    for folder in args.folders:
        items = read_labels_tsv(folder / "labels.tsv")[: args.limit]
        for s in tqdm(range(0, len(items), args.batch_size), desc=folder.name, unit="batch"):
            chunk = items[s:s + args.batch_size]
            imgs, labels = [], []
            for path, label in chunk:
                try:
                    imgs.append(load_image(path)); labels.append(label)
                except InvalidImageError:
                    counts["unreadable"] += 1
            if not imgs:
                continue
            for img, label, pred in zip(imgs, labels, rec.read(imgs, fast=True)):
                right = pred.text == label
                try:
                    with Session.begin() as sess:
                        add_submission(sess, img, task, pred, None if right else label, model_id=rec.source,
                                       model_version=version, client_id="simulated")
                    counts["confirmed" if right else "corrected"] += 1
                except FeedbackError:
                    counts["refused label"] += 1
    if args.accept:
        accepted, conflicting = accept_pending(Session, task)
        counts["accepted labels"] = accepted
        counts["conflicting labels left for review"] = conflicting
    engine.dispose()
    print(f"store: {safe_url(resolve_url(args.db))}  ({time.time() - t0:.0f} s)")
    for k, v in counts.items():
        print(f"  {k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
