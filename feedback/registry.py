"""Model versions in the store: which file each task reads with, where it came from, and what the gate saw.

    with Session.begin() as s:
        base = ensure_base(s, "words", shipped_model("words"))     # the starting model, registered once
        v = add_version(s, "words", path, state="promoted", parent_sha256=base.sha256, info={...})
        current(s, "words")                                         # the promoted version read with now
        rollback(s, "words", base.id)                               # promote an earlier version again

States: candidate (made, not decided), promoted, refused (the gate said no), rolled back (was the reading
model until a moderator went back to an earlier one). The reading model of a task is its promoted version
with the latest `promoted_at`. Files live in the versions folder (`versions_dir()`: $OCR_VERSIONS_DIR,
default <data>/versions), named by task and hash, written completely before they are registered.
"""
from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ocr.settings import data_dir

from .finetune import file_sha256
from .models import VERSION_STATES, ModelVersion, utcnow
from .store import FeedbackError

ENV_VAR = "OCR_VERSIONS_DIR"


def versions_dir() -> Path:
    return Path(os.environ.get(ENV_VAR) or data_dir() / "versions")


def version_path(v: ModelVersion) -> Path:
    p = Path(v.path)
    return p if p.is_absolute() else versions_dir() / p


def _stored_path(path: Path) -> str:
    """Relative to the versions folder when inside it (the folder may move, e.g. synced to a new host)."""
    try:
        return str(Path(path).resolve().relative_to(versions_dir().resolve()))
    except ValueError:
        return str(Path(path).resolve())


def ensure_base(session: Session, task: str, path: Path) -> ModelVersion:
    """The model the app starts from, registered (promoted) the first time it is seen; if the registry already
    has a promoted version of the task, that stays the reading model."""
    sha = file_sha256(path)
    v = session.scalar(select(ModelVersion).where(ModelVersion.task == task, ModelVersion.sha256 == sha))
    if v is None:
        promoted = current(session, task)
        v = ModelVersion(task=task, sha256=sha, path=_stored_path(path), state="candidate" if promoted else "promoted",
                         promoted_at=None if promoted else utcnow(), corrections=0, info={"origin": "base"})
        session.add(v)
        session.flush()
    return v


def add_version(session: Session, task: str, path: Path, state: str, parent_sha256: str | None = None,
                corrections: int = 0, info: dict | None = None, job_id: int | None = None) -> ModelVersion:
    if state not in VERSION_STATES:
        raise FeedbackError(f"unknown version state {state!r}")
    sha = file_sha256(path)
    v = session.scalar(select(ModelVersion).where(ModelVersion.task == task, ModelVersion.sha256 == sha))
    if v is None:
        v = ModelVersion(task=task, sha256=sha, path=_stored_path(path), parent_sha256=parent_sha256,
                         corrections=corrections, info=info or {}, job_id=job_id, state=state)
        session.add(v)
    else:  # the same weights again (e.g. a job that changed nothing): one row, its newest decision
        v.state, v.info = state, dict(v.info or {}) | (info or {})
    v.promoted_at = utcnow() if state == "promoted" else v.promoted_at
    session.flush()
    return v


def current(session: Session, task: str) -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(ModelVersion.task == task, ModelVersion.state == "promoted")
                          .order_by(ModelVersion.promoted_at.desc(), ModelVersion.id.desc()).limit(1))


def versions(session: Session, task: str | None = None, limit: int = 50) -> list[ModelVersion]:
    q = select(ModelVersion).order_by(ModelVersion.id.desc()).limit(limit)
    if task:
        q = q.where(ModelVersion.task == task)
    return list(session.scalars(q))


def get_version(session: Session, version_id: int) -> ModelVersion:
    v = session.get(ModelVersion, version_id)
    if v is None:
        raise FeedbackError(f"no model version #{version_id}")
    return v


def rollback(session: Session, task: str, version_id: int) -> ModelVersion:
    """Read with an earlier version again: the current one becomes 'rolled back', the chosen one promoted.
    Only a version that was promoted before (or the base) can come back; a refused one never does."""
    target = get_version(session, version_id)
    if target.task != task:
        raise FeedbackError(f"version #{version_id} is a {target.task} model, not {task}")
    if target.promoted_at is None and (target.info or {}).get("origin") != "base":
        raise FeedbackError(f"version #{version_id} was never promoted (state {target.state}); it cannot be rolled back to")
    if not version_path(target).is_file():
        raise FeedbackError(f"the file of version #{version_id} is missing ({target.path})")
    now = current(session, task)
    if now is not None and now.id == target.id:
        return target
    if now is not None:
        now.state = "rolled back"
    target.state, target.promoted_at = "promoted", utcnow()
    session.flush()
    return target


def describe(v: ModelVersion) -> str:
    """One line for the page: 'version #3 (1a2b3c4d, promoted 2026-12-07 10:00 UTC): 312 corrections; reference 0.910 -> 0.912'."""
    info = v.info or {}
    when = (v.promoted_at or v.created_at)
    text = f"version #{v.id} ({v.sha256[:8]}, {v.state} {when:%Y-%m-%d %H:%M} UTC)"
    if info.get("origin") == "base":
        return text + ": the starting model"
    parts = [f"trained on {v.corrections} corrections"]
    for k, (b, a) in (info.get("gate") or {}).items():
        parts.append(f"{k} {b:.3f} -> {a:.3f}")
    return text + ": " + "; ".join(parts)
