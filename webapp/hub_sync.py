"""Keep accepted corrections beyond a Space's lifetime: push them to a Hugging Face dataset repo.

A Space's disk is wiped on restart. When OCR_HUB_DATASET (e.g. "me/ocr-corrections") and HF_TOKEN
are set, accepted corrections are exported to a local folder every few minutes and
huggingface_hub's CommitScheduler (the Hub's documented way to persist data from a Space)
commits that folder to the dataset repo in the background. Without them, corrections live only
in the local database, i.e. as long as the disk does.

Folder layout (append-only, so each scheduled commit only adds files):
    images/<label id>.png
    labels.jsonl          {"id", "task", "text", "image", "count", "accepted_at"} per line
"""
from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from feedback import accepted_rows
from ocr.settings import data_dir

log = logging.getLogger(__name__)
SYNC_DIR = data_dir() / "hub_sync"


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


def start_hub_sync(Session, every_minutes: float = 10.0, folder: Path = SYNC_DIR):
    """Start the export thread and CommitScheduler when configured; returns the scheduler or None."""
    repo = os.environ.get("OCR_HUB_DATASET")
    token = os.environ.get("HF_TOKEN")
    if not repo or not token:
        log.info("OCR_HUB_DATASET/HF_TOKEN not set: corrections are kept only in the local database")
        return None
    from huggingface_hub import CommitScheduler

    folder.mkdir(parents=True, exist_ok=True)
    scheduler = CommitScheduler(repo_id=repo, repo_type="dataset", folder_path=folder, every=every_minutes,
                                token=token, private=True)

    def loop():
        stop = threading.Event()
        while not stop.wait(every_minutes * 60 / 2):
            try:
                export_new_accepted(Session, folder, scheduler.lock)
            except Exception:  # keep the demo alive; the next round retries
                log.exception("exporting corrections for the Hub failed")

    threading.Thread(target=loop, daemon=True, name="hub-sync").start()
    return scheduler
