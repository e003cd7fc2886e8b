"""The loop in the page, independent of Gradio: train a new model from the accepted corrections, follow the
job, list the model versions, roll back; the automatic trigger.

    loop = Loop(Session, db_url, models, LoopSettings(steps=300, minutes=15, auto_after=200, auto_hours=24))
    loop.start("words")                   # -> message; the job runs in its own low-priority process
    loop.status()                         # JobView: progress 0..1, one line, the log's tail
    loop.rollback("words", 3)             # read with version #3 again (the app swaps it in, no restart)

The policy (gate, job, registry) lives in the `feedback` package; this class only calls it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from feedback import FeedbackError
from feedback.finetune import FinetuneSettings, SettingsError
from feedback.jobs import auto_due, cancel_job, jobs, log_path, mark_interrupted, new_accepted, start_job
from feedback.registry import current, describe, rollback, versions

VERSION_COLUMNS = ["version", "task", "state", "created (UTC)", "corrections", "gate before -> after",
                   "held-out corrections read as accepted"]


@dataclass
class LoopSettings:
    steps: int = 300                # training steps of a job
    minutes: float = 15.0           # a job's time limit
    mix: dict = field(default_factory=dict)   # task -> dataset specs (default: half synthetic, half corrections)
    val: list = field(default_factory=list)   # extra gate sets (e.g. folder:clean_val)
    auto_after: int = 0             # automatic trigger: at least this many newly accepted corrections (0: off)
    auto_hours: float = 24.0        # ... and at most one job in this many hours
    lr: float = 1e-4                # a gentle fine-tune: the reading model must not forget what it knew
    tolerance: float = 0.01         # the gate's largest fall on any gate set
    reference: int = 1000           # synthetic images in the gate's reference set
    batch_size: int = 64

    def finetune_settings(self, task: str) -> FinetuneSettings:
        return FinetuneSettings(task=task, steps=int(self.steps), max_minutes=float(self.minutes),
                                mix=self.mix.get(task), val=list(self.val), val_every=max(1, int(self.steps) // 3),
                                lr=self.lr, tolerance=self.tolerance, reference=self.reference,
                                batch_size=self.batch_size)


@dataclass
class JobView:
    active: bool
    progress: float       # 0..1
    line: str
    log: str


class Loop:
    def __init__(self, Session, db_url: str, models=None, settings: LoopSettings | None = None):
        self.Session, self.db_url, self.models = Session, db_url, models
        self.settings = settings or LoopSettings()
        mark_interrupted(Session)  # a job of an earlier run of the app that did not finish says so

    def start(self, task: str, steps=None, minutes=None, trigger: str = "moderator") -> str:
        st = self.settings.finetune_settings(task)
        try:
            if steps is not None:
                st.steps = whole_number(steps, "the training steps")
                st.val_every = max(1, st.steps // 3)
            if minutes is not None:
                st.max_minutes = number(minutes, "the time limit in minutes", 0, 10_000)
            job_id = start_job(self.Session, self.db_url, task, st, trigger=trigger)
        except (SettingsError, FeedbackError) as e:
            raise FeedbackError(str(e)) from None
        return (f"Training job #{job_id} started ({task}, {st.steps} steps, at most {st.max_minutes:g} min). "
                "Reading stays available meanwhile.")

    def cancel(self) -> str:
        active = [j for j in jobs(self.Session, 5) if j.state in ("queued", "running")]
        if not active:
            return "No training job is running."
        return cancel_job(self.Session, active[0].id)

    def status(self) -> JobView:
        mark_interrupted(self.Session)
        recent = jobs(self.Session, 1)
        if not recent:
            return JobView(False, 0.0, "No training job yet.", "")
        j = recent[0]
        active = j.state in ("queued", "running")
        progress = (j.step / j.steps) if j.steps else 0.0
        line = (f"Job #{j.id} ({j.task}, {j.trigger}): {j.state}"
                + (f", {j.phase}, step {j.step} of {j.steps}" if active else "")
                + (f". {j.message}" if j.message else ""))
        return JobView(active, 1.0 if j.state == "finished" else progress, line, _tail(log_path(j.id)))

    def versions_table(self, task: str | None = None) -> list[list]:
        with self.Session.begin() as s:
            rows = []
            for v in versions(s, task or None):
                info = v.info or {}
                gate = "; ".join(f"{k}: {b:.3f} -> {a:.3f}" for k, (b, a) in (info.get("gate") or {}).items())
                held = info.get("heldout") or {}
                helped = f"{held['before']} -> {held['after']} of {held['count']}" if held.get("count") else ""
                rows.append([v.id, v.task, v.state, f"{v.created_at:%Y-%m-%d %H:%M}",
                             "base" if info.get("origin") == "base" else v.corrections, gate, helped])
            return rows

    def current_line(self, task: str) -> str:
        with self.Session.begin() as s:
            v = current(s, task)
            return describe(v) if v is not None else "the shipped model (no version registered yet)"

    def rollback(self, task: str, version_id) -> str:
        vid = whole_number(version_id, "the version")
        with self.Session.begin() as s:
            v = rollback(s, task, vid)
            text = describe(v)
        if self.models is not None:
            self.models.refresh(task)  # swapped in now, not at the next periodic look
        return f"{task} now reads with {text}"

    def new_accepted(self, task: str) -> int:
        return new_accepted(self.Session, task)

    def maybe_auto(self, tasks=("words", "digits")) -> str | None:
        """Start a job when the automatic trigger is due for a task -> its message, else None."""
        for task in tasks:
            if auto_due(self.Session, task, self.settings.auto_after, self.settings.auto_hours):
                try:
                    return self.start(task, trigger="automatic")
                except FeedbackError:
                    return None
        return None


def number(value, what: str, low: float, high: float) -> float:
    """A value typed into the page -> a finite float in [low, high], else FeedbackError saying so."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        f = float("nan")
    if not low <= f <= high:  # also refuses nan
        raise FeedbackError(f"{what} must be a number from {low:g} to {high:g}")
    return f


def whole_number(value, what: str, minimum: int = 1, maximum: int = 10_000_000) -> int:
    f = number(value, what, minimum, maximum)
    if not f.is_integer():
        raise FeedbackError(f"{what} must be a whole number")
    return int(f)


def _tail(path, lines: int = 12, max_bytes: int = 16_384) -> str:
    """The last lines of a job's log (progress-bar redraws folded to their last state)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    out = [ln.split("\r")[-1] for ln in text.splitlines() if ln.split("\r")[-1].strip()]
    return "\n".join(out[-lines:])
