#!/usr/bin/env python
"""Fine-tune a recognizer on saved corrections mixed with its base training data.

    python scripts/finetune.py --from-feedback --task words
    python scripts/finetune.py --from-feedback --task words --base saves/RUN/best.safetensors \\
        --mix synth-words:0.5 mjsynth:/data/mj:0.3 feedback:0.2 --steps 2000 --promote
    python scripts/finetune.py --from-feedback --task digits --mix synth-digits:0.5 feedback:0.5

The corrections come from the feedback store (--db or $OCR_FEEDBACK_DB): accepted labels, plus
pending ones with --include-pending; conflicting samples are never used. A deterministic
--holdout fraction of them (by label id) is kept out of training; the checkpoint is chosen on it.

Promotion gate (--promote; the policy is feedback.finetune, shared with the demo's training job).
Corrections come from strangers and can be poisoned, so the gate never looks at them. It measures
the base and the new model on sets the corrections cannot change: --reference N synthetic images
regenerated identically from a fixed seed, plus every --val set the operator names. The new model
is promoted only if no gate set falls by more than --tolerance (default 0.01 = 1 point). The new
checkpoint records its lineage (parent file and its SHA-256, the store, the correction ids trained
on, the mix); each replaced default is kept in data/models/history/ (or next to --promote-to), and
the promoted file is written with mode 0644.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
from pathlib import Path

TASKS = ("words", "digits")  # checked again by the library; here only for --help without torch
FLAGS = {"tolerance", "holdout", "lr", "steps", "batch-size", "val-every", "max-minutes"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--from-feedback", action="store_true", required=True, help="train on the corrections store")
    p.add_argument("--task", choices=TASKS, default="words")
    p.add_argument("--base", help="checkpoint to start from (default: the shipped model of the task)")
    p.add_argument("--db", help="feedback database (path or SQLAlchemy URL; default $OCR_FEEDBACK_DB or data/feedback.sqlite)")
    p.add_argument("--mix", nargs="+", default=None,
                   help="datasets and weights; 'feedback:W' is the corrections (default synth-<task>:0.5 feedback:0.5)")
    p.add_argument("--include-pending", action="store_true", help="also train on corrections not yet reviewed")
    p.add_argument("--holdout", type=float, default=0.1, help="fraction of corrections kept for validation (default 0.1)")
    p.add_argument("--val", nargs="*", default=[],
                   help="datasets the promotion gate also measures (e.g. folder:clean_val); never corrections")
    p.add_argument("--reference", type=int, default=1000,
                   help="synthetic images of the task in the gate's fixed reference set (default 1000)")
    p.add_argument("--tolerance", type=float, default=0.01,
                   help="largest accuracy drop on any gate set that still promotes (default 0.01)")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--val-every", type=int, default=250)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--max-minutes", type=float, default=0.0)
    p.add_argument("--out", default="saves/finetune")
    p.add_argument("--promote", action="store_true",
                   help="replace the shipped default if no gate set (reference + --val) gets worse than --tolerance")
    p.add_argument("--promote-to", type=Path, default=None,
                   help="where --promote writes (default data/models/<task>.safetensors)")
    return p


def settings_of(args):
    from feedback.finetune import FinetuneSettings

    return FinetuneSettings(task=args.task, base=args.base, db=args.db, mix=args.mix,
                            include_pending=args.include_pending, holdout=args.holdout, val=args.val,
                            reference=args.reference, tolerance=args.tolerance, steps=args.steps, lr=args.lr,
                            batch_size=args.batch_size, val_every=args.val_every, workers=args.workers,
                            threads=args.threads, max_minutes=args.max_minutes, out=args.out)


def keep_previous(target: Path, task: str) -> Path | None:
    """Copy the default about to be replaced into history/ beside it, named by time and hash."""
    from feedback.finetune import file_sha256

    if not target.exists():
        return None
    history = target.parent / "history"
    history.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    kept = history / f"{task}-{stamp}-{file_sha256(target)[:12]}.safetensors"
    shutil.copy2(target, kept)
    return kept


def promote(args, run, decision) -> int:
    """0 and the new default written when the gate passed, else 2."""
    import torch

    from ocr import save_checkpoint
    from ocr.settings import shipped_model

    if not decision.passed:
        print(f"not promoted: {decision.reason}")
        return 2
    target = args.promote_to or shipped_model(args.task)
    kept = keep_previous(target, args.task)
    meta = dict(run.meta, promoted_from=str(run.chosen), promoted_at=dt.datetime.now(dt.timezone.utc).isoformat(),
                gate_before=run.before, gate_after=run.after, gate_tolerance=args.tolerance)
    save_checkpoint(run.model, target, meta, dtype=torch.float16)
    os.chmod(target, 0o644)
    from ocr.onnx_export import write_graph
    graph = write_graph(target)   # its encoder for reading without PyTorch (ocr.onnx_reader), beside it
    print(f"promoted to {target}, with {graph.name}" + (f" (the previous one is kept as {kept})" if kept else ""))
    return 0


def check_store(db) -> None:
    """The corrections store answers, or exit with one line saying why (an unreachable server, a bad URL)."""
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from feedback import make_engine
    from feedback.db import resolve_url, safe_url

    try:
        make_engine(db).dispose()
    except (SQLAlchemyError, ArgumentError, ImportError, ValueError, OSError) as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0][:300]
        raise SystemExit(f"error: the corrections store {safe_url(resolve_url(db))} cannot be opened: {reason}") from None


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    from feedback.finetune import SettingsError, finetune, gate, print_table
    from ocr import CheckpointError

    settings = settings_of(args)
    try:
        settings.check()
    except SettingsError as e:  # "tolerance must be ..." -> "--tolerance must be ..."
        p.error(f"--{e}" if str(e).split()[0] in FLAGS else str(e))
    check_store(args.db)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    try:
        run = finetune(settings)
    except (SettingsError, CheckpointError) as e:
        hint = ("; review them with `python -m feedback review` or add --include-pending"
                if "nothing to train on" in str(e) and not args.include_pending else "")
        raise SystemExit(f"error: {e}{hint}") from None
    print_table(run)
    print(f"new checkpoint: {run.chosen}")
    decision = gate(run.before, run.after, run.gate_keys, args.tolerance)
    return promote(args, run, decision) if args.promote else 0


if __name__ == "__main__":
    sys.exit(main())
