"""Keep accepted corrections and model versions beyond a Space's lifetime: push them to Hugging Face repos.

A Space's disk is wiped on restart. When OCR_HUB_DATASET (e.g. "me/ocr-corrections") and HF_TOKEN
are set, accepted corrections are exported to a local folder every few minutes and
huggingface_hub's CommitScheduler (the Hub's documented way to persist data from a Space)
commits that folder to the dataset repo in the background. Without them, corrections live only
in the local database, i.e. as long as the disk does.

Folder layout (append-only, so each scheduled commit only adds files):
    images/<label id>.png
    labels.jsonl          {"id", "task", "text", "image", "count", "accepted_at"} per line

Model versions, the same way: when OCR_HUB_MODELS (a model repo id) and HF_TOKEN are set, every version the
loop makes is copied to a folder committed to that repo, with an append-only log of the registry
(versions.jsonl: one line per version and state change). At start the app downloads that repo and restores
the registry from it, so a restarted Space reads with the version it had promoted.
    models/<task>-<sha256 prefix>.safetensors
    versions.jsonl        {"task", "sha256", "file", "parent_sha256", "state", "promoted_at", "corrections", "info"}
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from pathlib import Path

from feedback import accepted_rows
from ocr.settings import data_dir

log = logging.getLogger(__name__)
SYNC_DIR = data_dir() / "hub_sync"
MODELS_SYNC_DIR = data_dir() / "hub_models"


def export_new_accepted(Session, folder: Path, lock=None) -> int:
    """Append accepted labels not yet in `folder` (by id); returns how many were added."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "images").mkdir(exist_ok=True)
    index = folder / "labels.jsonl"
    done = set()
    if index.is_file():
        done = {json.loads(line)["id"] for line in index.read_text(encoding="utf-8").splitlines() if line.strip()}
    with Session.begin() as s:
        rows = accepted_rows(s)
    new = [r for r in rows if r[0] not in done]
    if not new:
        return 0
    ctx = lock if lock is not None else threading.Lock()
    with ctx:
        with open(index, "a", encoding="utf-8") as f:
            for lid, task, text, png, count, updated in new:
                rel = f"images/{lid:08d}.png"
                (folder / rel).write_bytes(png)
                f.write(json.dumps({"id": lid, "task": task, "text": text, "image": rel, "count": count,
                                    "accepted_at": updated.isoformat() if updated else None}) + "\n")
    return len(new)


def _version_line(v) -> dict:
    return {"task": v.task, "sha256": v.sha256, "file": f"models/{v.task}-{v.sha256[:16]}.safetensors",
            "parent_sha256": v.parent_sha256, "state": v.state, "corrections": v.corrections, "info": v.info or {},
            "promoted_at": v.promoted_at.isoformat() if v.promoted_at else None}


def export_versions(Session, folder: Path, lock=None) -> int:
    """Copy new model versions into `folder` and log every version whose state changed -> lines written."""
    from feedback.registry import version_path, versions

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "models").mkdir(exist_ok=True)
    log_file = folder / "versions.jsonl"
    last = {}
    if log_file.is_file():
        for line in log_file.read_text(encoding="utf-8").splitlines():
            if line.strip():
                d = json.loads(line)
                last[(d["task"], d["sha256"])] = (d["state"], d["promoted_at"])
    with Session.begin() as s:
        lines = [(_version_line(v), version_path(v)) for v in reversed(versions(s, limit=10_000))]
    new = [(d, src) for d, src in lines if last.get((d["task"], d["sha256"])) != (d["state"], d["promoted_at"])]
    if not new:
        return 0
    with lock if lock is not None else threading.Lock():
        for d, src in new:
            target = folder / d["file"]
            if not target.is_file() and src.is_file():
                shutil.copyfile(src, target)
        with open(log_file, "a", encoding="utf-8") as f:
            for d, _ in new:
                f.write(json.dumps(d) + "\n")
    return len(new)


def restore_versions(Session, folder: Path) -> int:
    """Register the versions logged in `folder` (their last state) whose file is there -> how many were added or
    changed. The reading model becomes the one promoted last, as before the restart."""
    import datetime as dt

    from feedback.registry import add_version, versions_dir

    log_file = folder / "versions.jsonl"
    if not log_file.is_file():
        return 0
    latest: dict = {}
    for line in log_file.read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            latest[(d["task"], d["sha256"])] = d  # the last line of a version is its state now
    target_dir = versions_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    for d in sorted(latest.values(), key=lambda d: d["promoted_at"] or ""):
        src = folder / d["file"]
        if not src.is_file():
            log.warning("model version %s of %s is logged but its file is missing; skipped", d["sha256"][:12], d["task"])
            continue
        dst = target_dir / Path(d["file"]).name
        if not dst.is_file():
            shutil.copyfile(src, dst)
        with Session.begin() as s:
            v = add_version(s, d["task"], dst, d["state"], parent_sha256=d["parent_sha256"],
                            corrections=d["corrections"], info=d["info"])
            v.promoted_at = dt.datetime.fromisoformat(d["promoted_at"]) if d["promoted_at"] else None
        n += 1
    return n


def start_hub_sync(Session, every_minutes: float = 10.0, folder: Path = SYNC_DIR):
    """Start the export thread and CommitScheduler when configured; returns the scheduler or None."""
    repo = os.environ.get("OCR_HUB_DATASET")
    token = os.environ.get("HF_TOKEN")
    if not repo or not token:
        log.info("OCR_HUB_DATASET/HF_TOKEN not set: corrections are kept only in the local database")
        return None
    folder.mkdir(parents=True, exist_ok=True)
    return _push_every(repo, "dataset", folder, token, every_minutes,
                       lambda lock: export_new_accepted(Session, folder, lock), "corrections")


def start_models_sync(Session, every_minutes: float = 10.0, folder: Path = MODELS_SYNC_DIR):
    """With OCR_HUB_MODELS and HF_TOKEN: restore the registry from the model repo now, then push new versions
    every few minutes; returns the scheduler or None."""
    repo = os.environ.get("OCR_HUB_MODELS")
    token = os.environ.get("HF_TOKEN")
    if not repo or not token:
        log.info("OCR_HUB_MODELS/HF_TOKEN not set: model versions are kept only on this disk")
        return None
    from huggingface_hub import snapshot_download

    folder.mkdir(parents=True, exist_ok=True)
    try:
        snapshot_download(repo_id=repo, repo_type="model", local_dir=folder, token=token)
        log.info("model versions restored from %s: %d", repo, restore_versions(Session, folder))
    except Exception:  # a new repo has nothing yet; the app starts with what it has
        log.warning("could not restore model versions from %s", repo, exc_info=True)
    return _push_every(repo, "model", folder, token, every_minutes,
                       lambda lock: export_versions(Session, folder, lock), "model versions")


def _push_every(repo: str, repo_type: str, folder: Path, token: str, every_minutes: float, export, what: str):
    """A CommitScheduler on `folder` and a thread that calls export(scheduler.lock) twice per period."""
    from huggingface_hub import CommitScheduler

    scheduler = CommitScheduler(repo_id=repo, repo_type=repo_type, folder_path=folder, every=every_minutes,
                                token=token, private=True)

    def loop():
        stop = threading.Event()
        while not stop.wait(every_minutes * 60 / 2):
            try:
                export(scheduler.lock)
            except Exception:  # keep the demo alive; the next round retries
                log.exception("exporting %s for the Hub failed", what)

    threading.Thread(target=loop, daemon=True, name=f"hub-sync-{repo_type}").start()
    return scheduler
