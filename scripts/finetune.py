#!/usr/bin/env python
"""Fine-tune a recognizer on saved corrections mixed with its base training data.

    python scripts/finetune.py --from-feedback --task words
    python scripts/finetune.py --from-feedback --task words --base saves/RUN/best.safetensors \\
        --mix synth-words:0.5 mjsynth:/data/mj:0.3 feedback:0.2 --steps 2000 --promote
    python scripts/finetune.py --from-feedback --task digits --mix synth-digits:0.5 feedback:0.5

The corrections come from the feedback store (--db or $OCR_FEEDBACK_DB): accepted labels, plus
pending ones with --include-pending; conflicting samples are never used. A deterministic
--holdout fraction of them (by label id) is kept out of training; the checkpoint is chosen on it.

Promotion gate (--promote). Corrections come from strangers and can be poisoned (48 crops all
"corrected" to one word lifted the held-out corrections and wrecked clean images), so the gate
never looks at them. It measures the base and the new model on sets the corrections cannot
change: --reference N synthetic images regenerated identically from a fixed seed, plus every
--val set the operator names. The new model is promoted only if no gate set falls by more than
--tolerance (default 0.01 = 1 point). The new checkpoint records its lineage (parent file and its
SHA-256, the store, the correction ids trained on, the mix); each replaced default is kept in
data/models/history/ (or next to --promote-to), and the promoted file is written with mode 0644.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import shutil
import sys
from pathlib import Path

import torch

from ocr import CheckpointError, load_checkpoint, save_checkpoint
from ocr.config import TASKS
from ocr.data import Materialized
from ocr.datasets.labels import LabelledList, stable_fraction
from ocr.datasets.specs import build_dataset, parse_spec
from ocr.settings import shipped_model
from ocr.trainer import TrainOptions, evaluate_model, train

from feedback.dataset import feedback_dataset
from feedback.db import resolve_url, safe_url


def held_out(label_id: int, fraction: float) -> bool:
    """Deterministic split of corrections by id (the same id is always on the same side)."""
    return stable_fraction(f"holdout-{label_id}") < fraction


REFERENCE_SEED = 424_242  # the gate's synthetic reference set: the same images on every run


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def gate_sets(cfg, task: str, reference: int, extra: list[str]) -> dict:
    """The promotion gate's sets: a fixed synthetic reference set and the operator's --val sets."""
    sets = {}
    if reference > 0:
        sets[f"reference synth-{task}"] = Materialized(build_dataset(f"synth-{task}", cfg, seed=REFERENCE_SEED), reference)
    for i, v in enumerate(extra):
        vs = parse_spec(v)
        sets[str(vs.path or vs.kind)] = Materialized(build_dataset(vs, cfg, seed=10_000 + i), 2000)
    return sets


def keep_previous(target: Path, task: str) -> Path | None:
    """Copy the default about to be replaced into history/ beside it, named by time and hash."""
    if not target.exists():
        return None
    history = target.parent / "history"
    history.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    kept = history / f"{task}-{stamp}-{file_sha256(target)[:12]}.safetensors"
    shutil.copy2(target, kept)
    return kept


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


def load_base(args) -> tuple:
    """-> (model, path) of the checkpoint to start from; exits with a message if it is unusable."""
    base = Path(args.base) if args.base else shipped_model(args.task)
    try:
        model, _ = load_checkpoint(base)
    except CheckpointError as e:
        raise SystemExit(f"error: {e}") from None
    if model.cfg.name != args.task:
        raise SystemExit(f"error: {base} is a {model.cfg.name!r} model, not {args.task!r}")
    return model, base


def split_corrections(args, cfg) -> tuple[LabelledList, LabelledList, list[int], tuple]:
    """The store's usable corrections split by id -> (training, held out, all ids, review states used)."""
    states = ("accepted", "pending") if args.include_pending else ("accepted",)
    fb = feedback_dataset(args.db, cfg, states=states)
    if fb.report.dropped:
        print(f"corrections outside the {args.task} charset or too long, not used: {fb.report}")
    if not fb.label_ids:
        hint = "" if args.include_pending else (" (only accepted ones are used; review with `python -m feedback review`"
                                                " or add --include-pending)")
        raise SystemExit(f"nothing to train on: no usable {args.task} corrections in the store{hint}")
    train_fb, val_fb = LabelledList([], name="feedback"), LabelledList([], name="feedback-holdout")
    train_fb.label_ids, val_fb.label_ids = [], []
    for lid, item in zip(fb.label_ids, fb.items):  # already filtered by the label rule: not filtered again
        part = val_fb if held_out(lid, args.holdout) else train_fb
        part.items.append(item)
        part.label_ids.append(lid)
    print(f"corrections: {len(train_fb)} for training, {len(val_fb)} held out for validation")
    return train_fb, val_fb, fb.label_ids, states


def training_mix(args, cfg, train_fb) -> tuple[list, list]:
    """--mix -> (specs, datasets); the feedback entry is the training part of the corrections."""
    specs = [parse_spec(s) for s in (args.mix or [f"synth-{args.task}:0.5", "feedback:0.5"])]
    if not any(s.kind == "feedback" for s in specs):
        print("warning: --mix has no 'feedback:W' entry; the corrections are not trained on", file=sys.stderr)
    datasets = [train_fb if s.kind == "feedback" else build_dataset(s, cfg, seed=1000 + 100 * i)
                for i, s in enumerate(specs)]
    return specs, datasets


def print_table(before: dict, after: dict, selection: dict) -> None:
    print(f"\n{'validation set':28} {'count':>6} {'before':>8} {'after':>8}  role")
    for k in before:
        role = "chooses the checkpoint" if k in selection else "promotion gate"
        print(f"{k[-28:]:28} {before[k]['count']:6d} {before[k]['accuracy']:8.3f} {after[k]['accuracy']:8.3f}  {role}")


def promote(args, new, new_meta: dict, chosen: Path, before: dict, after: dict, gate: dict) -> int:
    """The gate: 0 and the new default written when no gate set fell more than --tolerance, else 2."""
    falls = {k: before[k]["accuracy"] - after[k]["accuracy"] for k in gate}
    worse = {k: d for k, d in falls.items() if d > args.tolerance}
    if not gate or worse:
        why = ", ".join(f"{k} fell {d:.3f}" for k, d in worse.items()) or "no gate set"
        print(f"not promoted: {why} (tolerance {args.tolerance})")
        return 2
    target = args.promote_to or shipped_model(args.task)
    kept = keep_previous(target, args.task)
    new_meta = dict(new_meta, promoted_from=str(chosen), promoted_at=dt.datetime.now(dt.timezone.utc).isoformat(),
                    gate_before=before, gate_after=after, gate_tolerance=args.tolerance)
    save_checkpoint(new, target, new_meta, dtype=torch.float16)
    os.chmod(target, 0o644)
    print(f"promoted to {target}" + (f" (the previous one is kept as {kept})" if kept else ""))
    return 0


def check_settings(p: argparse.ArgumentParser, args) -> None:
    """Refuse, before anything is loaded or trained, settings that would make the gate or the run meaningless."""
    import math

    if not (math.isfinite(args.tolerance) and 0 <= args.tolerance <= 1):
        p.error(f"--tolerance must be a number from 0 to 1 (an accuracy drop), got {args.tolerance}")
    if not (math.isfinite(args.holdout) and 0 <= args.holdout < 1):
        p.error(f"--holdout must be a fraction in [0, 1), got {args.holdout}")
    if not (math.isfinite(args.lr) and 0 < args.lr <= 1):
        p.error(f"--lr must be in (0, 1], got {args.lr}")
    for name in ("steps", "batch_size", "val_every"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.reference < 0 or args.workers < 0 or args.threads < 0 or not math.isfinite(args.max_minutes) \
            or args.max_minutes < 0:
        p.error("--reference, --workers, --threads and --max-minutes cannot be negative")


def check_store(db) -> None:
    """The corrections store answers, or exit with one line saying why (an unreachable server, a bad URL)."""
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from feedback import make_engine

    try:
        make_engine(db).dispose()
    except (SQLAlchemyError, ArgumentError, ImportError, ValueError, OSError) as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0][:300]
        raise SystemExit(f"error: the corrections store {safe_url(resolve_url(db))} cannot be opened: {reason}") from None


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    check_settings(p, args)
    check_store(args.db)
    if args.threads:
        torch.set_num_threads(args.threads)
    model, base = load_base(args)
    cfg = model.cfg
    train_fb, val_fb, ids, states = split_corrections(args, cfg)
    specs, datasets = training_mix(args, cfg, train_fb)
    selection = {"feedback-holdout": val_fb} if len(val_fb) else {}
    gate = gate_sets(cfg, args.task, args.reference, args.val)
    if not selection and not gate:
        raise SystemExit("error: no validation data: raise --holdout, --reference or give --val")
    empty = [name for name, ds in gate.items() if len(ds) == 0]
    if empty:  # an empty set scores 0 before and after: it would pass any model
        raise SystemExit(f"error: the gate set {', '.join(empty)} has no usable images")

    before = {k: evaluate_model(model, v) for k, v in (selection | gate).items()}
    meta = {"data": [str(s) for s in specs], "finetune_from_feedback": True,
            "correction_label_ids": sorted(train_fb.label_ids), "heldout_label_ids": sorted(val_fb.label_ids),
            "feedback_states": list(states), "parent_sha256": file_sha256(base),
            "store": {"url": safe_url(resolve_url(args.db)), "labels": len(ids), "max_label_id": max(ids)}}
    opt = TrainOptions(steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=min(200, args.steps // 10),
                       val_every=args.val_every, keep_best=1, workers=args.workers, threads=args.threads,
                       max_minutes=args.max_minutes, out_dir=args.out)
    # the checkpoint is chosen on the held-out corrections only; the gate sets stay unseen until the gate
    result = train(cfg, datasets, [s.weight for s in specs], selection, opt, restore=str(base), meta=meta)
    chosen = result.best_path  # none held out: the last one
    new, new_meta = load_checkpoint(chosen)
    after = {k: evaluate_model(new, v) for k, v in (selection | gate).items()}
    print_table(before, after, selection)
    print(f"new checkpoint: {chosen}")
    return promote(args, new, new_meta, chosen, before, after, gate) if args.promote else 0


if __name__ == "__main__":
    sys.exit(main())
