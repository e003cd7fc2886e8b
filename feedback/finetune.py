"""Fine-tune a recognizer on the store's corrections and decide whether it may replace the current one.

    settings = FinetuneSettings(task="words", db="data/feedback.sqlite", steps=300)
    settings.check()                                  # SettingsError: one line saying what is wrong
    run = finetune(settings)                          # trains; run.before / run.after: {set: scores}
    decision = gate(run.before, run.after, run.gate_keys, settings.tolerance)
    decision.passed, decision.reason

The script (`scripts/finetune.py --from-feedback`) and the page's training job (`feedback.jobs`) both call
this module, so the policy is one piece of code.

Corrections come from strangers and can be poisoned (crops all "corrected" to one word lift the held-out
corrections and wreck clean images), so the gate never looks at them: it measures the base and the new
model on sets the corrections cannot change, a synthetic reference set regenerated identically from a
fixed seed and every `val` set the operator names. The new model passes only if no gate set falls by more
than `tolerance` (a fall exactly equal to the tolerance passes). The checkpoint is chosen on a
deterministic held-out part of the corrections (by label id), which the model never trains on; the same
part later tells whether the new model reads those images as the moderator accepted them.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ocr.config import TASKS
from ocr.training.datasets.labels import LabelledList, stable_fraction

REFERENCE_SEED = 424_242  # the gate's synthetic reference set: the same images on every run


class SettingsError(ValueError):
    """A fine-tune setting that would make the run or its gate meaningless (the message says which)."""


@dataclass
class FinetuneSettings:
    task: str = "words"
    base: str | None = None          # checkpoint to start from (default: the shipped model of the task)
    db: str | None = None            # the corrections store (path or SQLAlchemy URL)
    mix: list[str] | None = None     # dataset specs with weights; "feedback:W" is the corrections
    include_pending: bool = False    # also train on corrections not yet reviewed
    holdout: float = 0.1             # fraction of corrections kept out (checkpoint choice, "did it help")
    val: list[str] = field(default_factory=list)  # more gate sets (never corrections)
    reference: int = 1000            # synthetic images in the gate's reference set
    tolerance: float = 0.01          # largest accuracy fall on any gate set that still passes
    steps: int = 1000
    lr: float = 5e-4
    batch_size: int = 64
    val_every: int = 250
    workers: int = 1
    threads: int = 0
    max_minutes: float = 0.0
    out: str = "saves/finetune"

    def default_mix(self) -> list[str]:
        return self.mix or [f"synth-{self.task}:0.5", "feedback:0.5"]

    def check(self) -> None:
        """Refuse, before anything is loaded or trained, settings that would make the gate or the run meaningless."""
        if self.task not in TASKS:
            raise SettingsError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if not (_finite(self.tolerance) and 0 <= self.tolerance <= 1):
            raise SettingsError(f"tolerance must be a number from 0 to 1 (an accuracy drop), got {self.tolerance}")
        if not (_finite(self.holdout) and 0 <= self.holdout < 1):
            raise SettingsError(f"holdout must be a fraction in [0, 1), got {self.holdout}")
        if not (_finite(self.lr) and 0 < self.lr <= 1):
            raise SettingsError(f"lr must be in (0, 1], got {self.lr}")
        for name in ("steps", "batch_size", "val_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise SettingsError(f"{name.replace('_', '-')} must be a whole number of at least 1")
        if self.reference < 0 or self.workers < 0 or self.threads < 0:
            raise SettingsError("reference, workers and threads cannot be negative")
        if not (_finite(self.max_minutes) and self.max_minutes >= 0):
            raise SettingsError(f"max-minutes must be 0 (no limit) or more, got {self.max_minutes}")

    def to_dict(self) -> dict:
        return asdict(self)


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    falls: dict          # gate set -> accuracy before minus after (positive: it fell)
    reason: str          # one line


def gate(before: dict, after: dict, gate_keys, tolerance: float) -> GateDecision:
    """Pass when every gate set's accuracy fell by at most `tolerance`; no gate set at all never passes."""
    falls = {k: before[k]["accuracy"] - after[k]["accuracy"] for k in gate_keys}
    worse = {k: d for k, d in falls.items() if d > tolerance + 1e-12}
    if not falls:
        return GateDecision(False, falls, "no gate set to measure")
    if worse:
        return GateDecision(False, falls, ", ".join(f"{k} fell {d:.3f}" for k, d in worse.items())
                            + f" (tolerance {tolerance})")
    return GateDecision(True, falls, "no gate set fell more than the tolerance "
                        + f"({', '.join(f'{k} {-d:+.3f}' for k, d in falls.items())})")


def held_out(label_id: int, fraction: float) -> bool:
    """Deterministic split of corrections by id (the same id is always on the same side)."""
    return stable_fraction(f"holdout-{label_id}") < fraction


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Finetuned:
    """What `finetune` produced: the chosen checkpoint, the figures before and after, and the lineage."""

    base: Path
    chosen: Path
    model: object                    # the new Recognizer
    base_model: object
    meta: dict
    before: dict                     # set name -> {"count", "accuracy", ...}
    after: dict
    selection_keys: list[str]
    gate_keys: list[str]
    train_ids: list[int]
    heldout: LabelledList            # the held-out corrections (label_ids beside items)
    stopped_early: bool = False


def gate_sets(cfg, task: str, reference: int, extra: list[str]) -> dict:
    """The gate's sets: a fixed synthetic reference set and the operator's extra sets."""
    from ocr.training.data import Materialized
    from ocr.training.datasets.specs import build_dataset, parse_spec

    sets = {}
    if reference > 0:
        sets[f"reference synth-{task}"] = Materialized(build_dataset(f"synth-{task}", cfg, seed=REFERENCE_SEED), reference)
    for i, v in enumerate(extra):
        vs = parse_spec(v)
        sets[str(vs.path or vs.kind)] = Materialized(build_dataset(vs, cfg, seed=10_000 + i), 2000)
    return sets


def load_base(settings: FinetuneSettings):
    """-> (model, path) of the checkpoint to start from; CheckpointError / SettingsError if unusable."""
    from ocr import load_checkpoint
    from ocr.settings import shipped_model

    base = Path(settings.base) if settings.base else shipped_model(settings.task)
    model, _ = load_checkpoint(base)
    if model.cfg.name != settings.task:
        raise SettingsError(f"{base} is a {model.cfg.name!r} model, not {settings.task!r}")
    return model, base


def split_corrections(settings: FinetuneSettings, cfg, log=print) -> tuple[LabelledList, LabelledList, list[int]]:
    """The store's usable corrections split by id -> (training, held out, all ids)."""
    from .dataset import feedback_dataset

    fb = feedback_dataset(settings.db, cfg, states=settings_states(settings))
    if fb.report.dropped:
        log(f"corrections outside the {settings.task} charset or too long, not used: {fb.report}")
    if not fb.label_ids:
        hint = "" if settings.include_pending else " (only accepted ones are used: review them first)"
        raise SettingsError(f"nothing to train on: no usable {settings.task} corrections in the store{hint}")
    train_fb, val_fb = LabelledList([], name="feedback"), LabelledList([], name="feedback-holdout")
    train_fb.label_ids, val_fb.label_ids = [], []
    for lid, item in zip(fb.label_ids, fb.items):  # already filtered by the label rule: not filtered again
        part = val_fb if held_out(lid, settings.holdout) else train_fb
        part.items.append(item)
        part.label_ids.append(lid)
    log(f"corrections: {len(train_fb)} for training, {len(val_fb)} held out for validation")
    return train_fb, val_fb, fb.label_ids


def settings_states(settings: FinetuneSettings) -> tuple[str, ...]:
    return ("accepted", "pending") if settings.include_pending else ("accepted",)


def training_mix(settings: FinetuneSettings, cfg, train_fb, log=print) -> tuple[list, list]:
    """The mix -> (specs, datasets); the feedback entry is the training part of the corrections."""
    from ocr.training.datasets.specs import build_dataset, parse_spec

    specs = [parse_spec(s) for s in settings.default_mix()]
    if not any(s.kind == "feedback" for s in specs):
        log("warning: the mix has no 'feedback:W' entry; the corrections are not trained on")
    datasets = [train_fb if s.kind == "feedback" else build_dataset(s, cfg, seed=1000 + 100 * i)
                for i, s in enumerate(specs)]
    return specs, datasets


def finetune(settings: FinetuneSettings, on_step: Callable[[int, int, float], bool] | None = None,
             on_phase: Callable[[str], None] | None = None, log=print) -> Finetuned:
    """Train from the base on the mix; measure base and new model on the selection and gate sets.

    on_step(step, steps, loss) is called every step; returning True stops the run cleanly (a cancel).
    on_phase(text) says what it does now ("measuring the base", "training", ...).
    """
    from ocr import load_checkpoint
    from ocr.training.trainer import TrainOptions, evaluate_model, train

    from .db import resolve_url, safe_url

    settings.check()
    phase = on_phase or (lambda _: None)
    phase("loading")
    model, base = load_base(settings)
    cfg = model.cfg
    train_fb, val_fb, ids = split_corrections(settings, cfg, log)
    specs, datasets = training_mix(settings, cfg, train_fb, log)
    selection = {"feedback-holdout": val_fb} if len(val_fb) else {}
    gates = gate_sets(cfg, settings.task, settings.reference, settings.val)
    if not gates:
        raise SettingsError("no gate set: give a reference size above 0 or a val set")
    empty = [name for name, ds in gates.items() if len(ds) == 0]
    if empty:  # an empty set scores 0 before and after: it would pass any model
        raise SettingsError(f"the gate set {', '.join(empty)} has no usable images")

    phase("measuring the base")
    before = {k: evaluate_model(model, v) for k, v in (selection | gates).items()}
    meta = {"data": [str(s) for s in specs], "finetune_from_feedback": True,
            "correction_label_ids": sorted(train_fb.label_ids), "heldout_label_ids": sorted(val_fb.label_ids),
            "feedback_states": list(settings_states(settings)), "parent_sha256": file_sha256(base),
            "store": {"url": safe_url(resolve_url(settings.db)), "labels": len(ids), "max_label_id": max(ids)}}
    opt = TrainOptions(steps=settings.steps, batch_size=settings.batch_size, lr=settings.lr,
                       warmup=min(200, settings.steps // 10), val_every=settings.val_every, keep_best=1,
                       workers=settings.workers, threads=settings.threads, max_minutes=settings.max_minutes,
                       out_dir=settings.out)
    phase("training")
    stopped = []

    def step_hook(step: int, loss: float) -> bool:
        stop = bool(on_step and on_step(step, settings.steps, loss))
        if stop:
            stopped.append(step)
        return stop

    # the checkpoint is chosen on the held-out corrections only; the gate sets stay unseen until the gate
    result = train(cfg, datasets, [s.weight for s in specs], selection, opt, restore=str(base), meta=meta,
                   on_step=step_hook)
    new, new_meta = load_checkpoint(result.best_path)  # none held out: the last one
    phase("measuring the new model")
    after = {k: evaluate_model(new, v) for k, v in (selection | gates).items()}
    return Finetuned(base=base, chosen=result.best_path, model=new, base_model=model, meta=new_meta,
                     before=before, after=after, selection_keys=list(selection), gate_keys=list(gates),
                     train_ids=sorted(train_fb.label_ids), heldout=val_fb, stopped_early=bool(stopped))


def reads_as_accepted(model, base_model, heldout: LabelledList) -> dict:
    """"Did it help?": of the held-out corrections (never trained on), how many the base and the new
    model read exactly as the moderator accepted them -> {"count", "before", "after"}."""
    from ocr.training.trainer import evaluate_model

    if not len(heldout):
        return {"count": 0, "before": 0, "after": 0}
    old, new = evaluate_model(base_model, heldout), evaluate_model(model, heldout)
    return {"count": old["count"], "before": round(old["exact"] * old["count"]),
            "after": round(new["exact"] * new["count"])}


def print_table(run: Finetuned, log=print) -> None:
    log(f"\n{'validation set':28} {'count':>6} {'before':>8} {'after':>8}  role")
    for k in run.before:
        role = "chooses the checkpoint" if k in run.selection_keys else "promotion gate"
        log(f"{k[-28:]:28} {run.before[k]['count']:6d} {run.before[k]['accuracy']:8.3f} "
            f"{run.after[k]['accuracy']:8.3f}  {role}")
