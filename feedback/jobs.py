"""Training jobs: a fine-tune from the accepted corrections, run by a separate low-priority process.

    job_id = start_job(Session, db_url, "words", FinetuneSettings(steps=300, max_minutes=15))
    job = get_job(Session, job_id)          # state, step / steps, phase, message, version_id
    cancel_job(Session, job_id)             # the run stops at its next step; no model is written
    mark_interrupted(Session)               # at start-up: jobs whose process is gone are marked so

The process (`python -m feedback.jobs JOB_ID`, the store's URL in $OCR_FEEDBACK_DB) runs one torch thread at the lowest CPU priority
(nice 19), so the page keeps reading while it trains. It starts from the task's current model version,
trains with `feedback.finetune`, and registers the result in the registry (`feedback.registry`): promoted
when the gate passes, refused otherwise. A model file is written completely (to a temporary name, then
renamed) before it is registered, so an interrupted job never leaves a half-written model behind.
Its output goes to <versions>/jobs/JOB_ID.log.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

from sqlalchemy import func, select

from .db import ENV_VAR, resolve_url
from .finetune import FinetuneSettings, SettingsError, file_sha256
from .models import Label, Sample, TrainingJob, utcnow
from .registry import add_version, current, version_path, versions_dir
from .store import FeedbackError

ACTIVE = ("queued", "running")
PROGRESS_EVERY = 2.0  # seconds between progress writes


def log_path(job_id: int) -> Path:
    return versions_dir() / "jobs" / f"{job_id}.log"


def active_job(session, task: str | None = None) -> TrainingJob | None:
    q = select(TrainingJob).where(TrainingJob.state.in_(ACTIVE)).order_by(TrainingJob.id.desc()).limit(1)
    if task:
        q = q.where(TrainingJob.task == task)
    return session.scalar(q)


def get_job(Session, job_id: int) -> TrainingJob:
    with Session.begin() as s:
        job = s.get(TrainingJob, job_id)
        if job is None:
            raise FeedbackError(f"no training job #{job_id}")
        return job


def jobs(Session, limit: int = 20) -> list[TrainingJob]:
    with Session.begin() as s:
        return list(s.scalars(select(TrainingJob).order_by(TrainingJob.id.desc()).limit(limit)))


def start_job(Session, db_url: str, task: str, settings: FinetuneSettings, trigger: str = "moderator",
              python: str = sys.executable) -> int:
    """Queue a job and start its process -> job id. One job at a time: FeedbackError if one is active."""
    settings.task = task
    settings.check()
    with Session.begin() as s:
        mark_interrupted_in(s)
        if active_job(s) is not None:
            raise FeedbackError("a training job is already running; wait for it or cancel it")
        job = TrainingJob(task=task, state="queued", settings=settings.to_dict(), steps=settings.steps, step=0,
                          phase="starting", message="", cancel_requested=False, trigger=trigger)
        s.add(job)
        s.flush()
        job_id = job.id
    log = log_path(job_id)
    log.parent.mkdir(parents=True, exist_ok=True)
    # the store's URL travels in the environment, not on the command line (which `ps` shows to every user)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TQDM_MININTERVAL="5", **{ENV_VAR: db_url})
    with open(log, "ab") as out:
        proc = subprocess.Popen([python, "-m", "feedback.jobs", str(job_id)], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True, preexec_fn=_lowest_priority)
    threading.Thread(target=proc.wait, daemon=True, name=f"job-{job_id}-reaper").start()  # no zombie when it ends
    with Session.begin() as s:
        job = s.get(TrainingJob, job_id)
        if job.pid is None:
            job.pid = proc.pid
    return job_id


def _lowest_priority() -> None:
    os.nice(19)


def cancel_job(Session, job_id: int) -> str:
    with Session.begin() as s:
        job = s.get(TrainingJob, job_id)
        if job is None:
            raise FeedbackError(f"no training job #{job_id}")
        if job.state not in ACTIVE:
            return f"job #{job_id} is already {job.state}"
        job.cancel_requested = True
        return f"job #{job_id}: asked to stop (it stops at its next step; no model is written)"


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a finished child not yet reaped is a zombie: gone for our purpose
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


def mark_interrupted_in(session) -> int:
    n = 0
    for job in session.scalars(select(TrainingJob).where(TrainingJob.state.in_(ACTIVE))):
        started_long_ago = (utcnow() - _aware(job.created_at)).total_seconds() > 120
        if (job.pid is not None and not _alive(job.pid)) or (job.pid is None and started_long_ago):
            job.state, job.ended_at = "interrupted", utcnow()
            job.message = "interrupted: its process ended before it finished (no model was written)"
            n += 1
    return n


def mark_interrupted(Session) -> int:
    """Jobs whose process is gone (an app restart, a crash) -> 'interrupted'; -> how many."""
    with Session.begin() as s:
        return mark_interrupted_in(s)


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def new_accepted(Session, task: str) -> int:
    """Accepted corrections of the task reviewed since the last job started (all of them before any job)."""
    with Session.begin() as s:
        last = s.scalar(select(func.max(TrainingJob.created_at)).where(TrainingJob.task == task))
        q = select(func.count(Label.id)).join(Sample).where(Sample.task == task, Label.state == "accepted")
        if last is not None:
            q = q.where(Label.updated_at > last)
        return int(s.scalar(q) or 0)


def auto_due(Session, task: str, min_new: int, every_hours: float) -> bool:
    """The automatic trigger: at least `min_new` newly accepted corrections and no job in the last `every_hours`."""
    if min_new <= 0:
        return False
    with Session.begin() as s:
        if active_job(s) is not None:
            return False
        last = s.scalar(select(func.max(TrainingJob.created_at)).where(TrainingJob.task == task))
    if last is not None and (utcnow() - _aware(last)).total_seconds() < every_hours * 3600:
        return False
    return new_accepted(Session, task) >= min_new


# ---------------------------------------------------------------- the job's own process


def _update(Session, job_id: int, **fields) -> TrainingJob:
    with Session.begin() as s:
        job = s.get(TrainingJob, job_id)
        for k, v in fields.items():
            setattr(job, k, v)
        return job


def _write_model(model, meta: dict, task: str) -> Path:
    """Save completely under a temporary name, then rename: a reader never sees half a file."""
    import torch

    from ocr import save_checkpoint

    folder = versions_dir()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{task}-{os.getpid()}-{time.time_ns()}.safetensors.part"
    save_checkpoint(model, tmp, meta, dtype=torch.float16)
    final = folder / f"{task}-{file_sha256(tmp)[:16]}.safetensors"
    os.replace(tmp, final)
    os.chmod(final, 0o644)
    return final


def run_job(db: str, job_id: int) -> int:
    """The body of the job's process: train, gate, write and register the model -> exit status."""
    from ocr.settings import shipped_model

    from .db import make_engine, session_factory
    from .finetune import finetune, gate, reads_as_accepted
    from .registry import ensure_base

    Session = session_factory(make_engine(db))
    job = _update(Session, job_id, state="running", started_at=utcnow(), pid=os.getpid(), phase="loading")
    stop = {"signal": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(signal=True))
    last = {"t": 0.0}

    def on_step(step: int, steps: int, loss: float) -> bool:
        now = time.monotonic()
        if now - last["t"] < PROGRESS_EVERY and step < steps and not stop["signal"]:
            return False
        last["t"] = now
        j = _update(Session, job_id, step=step, steps=steps)
        return stop["signal"] or j.cancel_requested

    try:
        settings = FinetuneSettings(**job.settings)
        with Session.begin() as s:
            base = current(s, job.task) or ensure_base(s, job.task, shipped_model(job.task))
            base_path, base_sha = version_path(base), base.sha256
        settings.base, settings.db = str(base_path), db
        settings.out = str(versions_dir() / "jobs" / str(job_id))
        settings.threads, settings.workers = 1, 0
        print(f"job #{job_id}: {job.task} from {base_sha[:12]}, {settings.steps} steps, "
              f"time limit {settings.max_minutes or 'none'} min", flush=True)
        run = finetune(settings, on_step=on_step, on_phase=lambda p: _update(Session, job_id, phase=p))
        if run.stopped_early and (stop["signal"] or get_job(Session, job_id).cancel_requested):
            _update(Session, job_id, state="cancelled", ended_at=utcnow(), phase="cancelled",
                    message="cancelled: no model was written")
            return 3
        _update(Session, job_id, phase="checking")
        decision = gate(run.before, run.after, run.gate_keys, settings.tolerance)
        helped = reads_as_accepted(run.model, run.base_model, run.heldout)
        figures = {k: (run.before[k]["accuracy"], run.after[k]["accuracy"]) for k in run.gate_keys}
        info = {"data": run.meta.get("data"), "gate": figures, "tolerance": settings.tolerance,
                "reason": decision.reason, "heldout": helped, "steps": settings.steps,
                "correction_label_ids": run.train_ids, "job": job_id}
        meta = dict(run.meta, gate_before=run.before, gate_after=run.after, gate_tolerance=settings.tolerance,
                    gate_passed=decision.passed)
        path = _write_model(run.model, meta, job.task)
        with Session.begin() as s:
            v = add_version(s, job.task, path, "promoted" if decision.passed else "refused", parent_sha256=base_sha,
                            corrections=len(run.train_ids), info=info, job_id=job_id)
            vid = v.id
        verdict = "promoted" if decision.passed else "refused"
        _update(Session, job_id, state="finished", ended_at=utcnow(), phase=verdict, version_id=vid,
                message=f"version #{vid} {verdict}: {decision.reason}; " + (
                    f"held-out corrections read as accepted {helped['before']} -> {helped['after']} of {helped['count']}"
                    if helped["count"] else "no corrections were held out to check it on"))
        print(f"job #{job_id}: version #{vid} {verdict}: {decision.reason}", flush=True)
        return 0 if decision.passed else 2
    except (SettingsError, FeedbackError, ValueError, OSError) as e:
        traceback.print_exc()
        _update(Session, job_id, state="failed", ended_at=utcnow(), phase="failed",
                message=f"failed: {str(e).splitlines()[0][:300] if str(e) else type(e).__name__}")
        return 1
    except BaseException as e:  # noqa: BLE001 - the job row must say it ended, whatever happened
        traceback.print_exc()
        _update(Session, job_id, state="failed", ended_at=utcnow(), phase="failed",
                message=f"failed: {type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}")
        return 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Run one training job of the corrections store (started by the demo).")
    p.add_argument("job_id", type=int)
    args = p.parse_args(argv)
    return run_job(resolve_url(None), args.job_id)


if __name__ == "__main__":
    sys.exit(main())
