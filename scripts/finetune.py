#!/usr/bin/env python
"""Fine-tune a recognizer on saved corrections mixed with its base training data.

    python scripts/finetune.py --from-feedback --task words
    python scripts/finetune.py --from-feedback --task words --base saves/RUN/best.safetensors \\
        --mix synth-words:0.5 mjsynth:/data/mj:0.3 feedback:0.2 --steps 2000 --promote
    python scripts/finetune.py --from-feedback --task digits --mix synth-digits:0.5 feedback:0.5

The corrections come from the feedback store (--db or $OCR_FEEDBACK_DB): accepted labels, plus
pending ones with --include-pending; conflicting samples are never used. A deterministic
--holdout fraction of them (by label id) is kept out of training and, with any --val datasets,
forms the validation set: the model is evaluated on it before and after, and both are printed.
The new checkpoint records its lineage (parent, the correction ids trained on, the mix).
--promote copies it over the shipped default (data/models/<task>.safetensors, fp16) only if it
is not worse on that validation set.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from ocr import CheckpointError, load_checkpoint, save_checkpoint  # noqa: E402
from ocr.data import LabelledList, Materialized, build_dataset, parse_spec, stable_hash32  # noqa: E402
from ocr.recognizer import SHIPPED  # noqa: E402
from ocr.trainer import TrainOptions, evaluate_model, train  # noqa: E402


def held_out(label_id: int, fraction: float) -> bool:
    """Deterministic split of corrections by id (the same id is always on the same side)."""
    return stable_hash32(f"holdout-{label_id}") / 0xFFFFFFFF < fraction


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--from-feedback", action="store_true", required=True, help="train on the corrections store")
    p.add_argument("--task", choices=("words", "digits"), default="words")
    p.add_argument("--base", help="checkpoint to start from (default: the shipped model of the task)")
    p.add_argument("--db", help="feedback database (path or SQLAlchemy URL; default $OCR_FEEDBACK_DB or data/feedback.sqlite)")
    p.add_argument("--mix", nargs="+", default=None,
                   help="datasets and weights; 'feedback:W' is the corrections (default synth-<task>:0.5 feedback:0.5)")
    p.add_argument("--include-pending", action="store_true", help="also train on corrections not yet reviewed")
    p.add_argument("--holdout", type=float, default=0.1, help="fraction of corrections kept for validation (default 0.1)")
    p.add_argument("--val", nargs="*", default=[], help="more validation datasets (never the corrections trained on)")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--val-every", type=int, default=250)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--max-minutes", type=float, default=0.0)
    p.add_argument("--out", default="saves/finetune")
    p.add_argument("--promote", action="store_true", help="replace the shipped default if not worse on validation")
    p.add_argument("--promote-to", type=Path, default=None,
                   help="where --promote writes (default data/models/<task>.safetensors)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    base = Path(args.base) if args.base else SHIPPED[args.task]
    try:
        model, base_meta = load_checkpoint(base)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    cfg = model.cfg
    if cfg.name != args.task:
        print(f"error: {base} is a {cfg.name!r} model, not {args.task!r}", file=sys.stderr)
        return 1

    from feedback.dataset import feedback_dataset
    states = ("accepted", "pending") if args.include_pending else ("accepted",)
    fb = feedback_dataset(args.db, cfg, states=states)
    if fb.report.dropped:
        print(f"corrections outside the {args.task} charset or too long, not used: {fb.report}")
    ids = fb.label_ids
    if not ids:
        hint = "" if args.include_pending else " (only accepted ones are used; review with `python -m feedback review` or add --include-pending)"
        print(f"nothing to train on: no usable {args.task} corrections in the store{hint}", file=sys.stderr)
        return 1
    train_ids = {i for i in ids if not held_out(i, args.holdout)}
    val_ids = set(ids) - train_ids
    train_fb = LabelledList([it for i, it in zip(ids, fb.items) if i in train_ids], cfg, name="feedback")
    val_fb = LabelledList([it for i, it in zip(ids, fb.items) if i in val_ids], cfg, name="feedback-holdout")
    print(f"corrections: {len(train_fb)} for training, {len(val_fb)} held out for validation")

    specs = [parse_spec(s) for s in (args.mix or [f"synth-{args.task}:0.5", "feedback:0.5"])]
    datasets = []
    for i, s in enumerate(specs):
        datasets.append(train_fb if s.kind == "feedback" else build_dataset(s, cfg, seed=1000 + 100 * i))
    if not any(s.kind == "feedback" for s in specs):
        print("warning: --mix has no 'feedback:W' entry; the corrections are not trained on", file=sys.stderr)
    vals = {}
    if len(val_fb):
        vals["feedback-holdout"] = val_fb
    for i, v in enumerate(args.val):
        vs = parse_spec(v)
        vals[str(vs.path or vs.kind)] = Materialized(build_dataset(vs, cfg, seed=10_000 + i), 2000)
    if not vals:
        print("error: no validation data: raise --holdout or give --val", file=sys.stderr)
        return 1

    before = {k: evaluate_model(model, v) for k, v in vals.items()}
    meta = {"data": [str(s) for s in specs], "finetune_from_feedback": True,
            "correction_label_ids": sorted(train_ids), "heldout_label_ids": sorted(val_ids),
            "feedback_states": list(states)}
    opt = TrainOptions(steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=min(200, args.steps // 10),
                       val_every=args.val_every, keep_best=1, workers=args.workers, threads=args.threads,
                       max_minutes=args.max_minutes, out_dir=args.out)
    run = train(cfg, datasets, [s.weight for s in specs], vals, opt, restore=str(base), meta=meta)
    best = sorted(run.glob("step*-acc*.safetensors"))
    best = max(best, key=lambda q: float(q.stem.split("acc")[1])) if best else run / "last.safetensors"
    new, new_meta = load_checkpoint(best)
    after = {k: evaluate_model(new, v) for k, v in vals.items()}

    print(f"\n{'validation set':28} {'count':>6} {'before':>8} {'after':>8}")
    for k in vals:
        print(f"{k[-28:]:28} {before[k]['count']:6d} {before[k]['accuracy']:8.3f} {after[k]['accuracy']:8.3f}")
    mean = lambda d: sum(v["accuracy"] for v in d.values()) / len(d)  # noqa: E731
    print(f"new checkpoint: {best}")
    if args.promote:
        if mean(after) >= mean(before):
            target = args.promote_to or SHIPPED[args.task]
            if target.exists():
                shutil.copy2(target, target.with_suffix(".previous.safetensors"))
            new_meta = dict(new_meta, promoted_from=str(best), validation_before=before, validation_after=after)
            save_checkpoint(new, target, new_meta, dtype=torch.float16)
            print(f"promoted to {target} (previous kept as {target.with_suffix('.previous.safetensors').name})")
        else:
            print("not promoted: the new model is worse on the validation set")
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
