"""Bounds on what strangers can put on the server's disk through the demo's upload route.

    launch(..., max_file_size=MAX_UPLOAD, app_kwargs={"middleware": [upload_limit(folder)]})
    start_janitor(folder)        # a daemon thread: uploads older than an hour go, and the oldest first
                                 # whenever the folder holds more than 512 MB

Each upload is at most MAX_UPLOAD bytes (Gradio refuses larger ones); while the upload folder holds more than
`max_total` bytes, new uploads are refused with 503 and a message (reading an example or an already uploaded
image still works), until the janitor has made room.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse

log = logging.getLogger("ocr.uploads")
MAX_UPLOAD = 25 * 1024 * 1024      # a 12-Mpixel PNG photo fits; the reader brings images down to 2,048 px anyway
MAX_TOTAL = 512 * 1024 * 1024      # the upload folder's total
MAX_AGE = 60 * 60                  # seconds an upload is kept (a page reads it again when a region is clicked)


def folder_size(folder: Path) -> int:
    total = 0
    for p in Path(folder).rglob("*"):
        try:
            if p.is_file():
                total += p.stat().st_size
        except OSError:  # removed meanwhile
            pass
    return total


def sweep(folder: Path, max_age: float = MAX_AGE, max_total: int = MAX_TOTAL, now: float | None = None) -> int:
    """Delete uploads older than max_age, then the oldest until the folder holds at most max_total -> files deleted."""
    now = time.time() if now is None else now
    files = []
    for p in Path(folder).rglob("*"):
        try:
            if p.is_file():
                st = p.stat()
                files.append((st.st_mtime, st.st_size, p))
        except OSError:
            pass
    files.sort()
    total, deleted = sum(size for _, size, _ in files), 0
    for mtime, size, p in files:
        if now - mtime <= max_age and total <= max_total:
            break
        try:
            p.unlink()
            total -= size
            deleted += 1
        except OSError:
            pass
    return deleted


class _UploadLimit:
    """ASGI middleware: refuse POSTs to the upload route while the folder is over its total."""

    def __init__(self, app, folder: Path, max_total: int = MAX_TOTAL, recheck: float = 2.0):
        self.app, self.folder, self.max_total, self.recheck = app, Path(folder), max_total, recheck
        self._size, self._at = 0, 0.0
        self._lock = threading.Lock()

    def _full(self) -> bool:
        with self._lock:
            if time.monotonic() - self._at > self.recheck:
                self._size, self._at = folder_size(self.folder), time.monotonic()
            return self._size > self.max_total

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("method") == "POST" and scope.get("path", "").endswith("/upload") \
                and self._full():
            log.warning("upload refused: the upload folder holds more than %d MB", self.max_total >> 20)
            response = PlainTextResponse("The server's space for uploads is full just now: try again in a few minutes.",
                                         status_code=503)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def upload_limit(folder: Path, max_total: int = MAX_TOTAL) -> Middleware:
    return Middleware(_UploadLimit, folder=folder, max_total=max_total)


def start_janitor(folder: Path, every: float = 30.0, max_age: float = MAX_AGE, max_total: int = MAX_TOTAL):
    def loop():
        while True:
            try:
                n = sweep(folder, max_age, max_total)
                if n:
                    log.info("upload folder: %d old uploads deleted", n)
            except Exception:  # noqa: BLE001 - keep sweeping
                log.exception("sweeping the upload folder failed")
            time.sleep(every)

    thread = threading.Thread(target=loop, daemon=True, name="upload-janitor")
    thread.start()
    return thread
