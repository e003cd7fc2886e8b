"""The demo's logic, independent of Gradio so it can be tested directly.

    svc = DemoService(models, Session)
    reading = svc.recognize(image, "words")        # Reading: prediction, frames, GIF, timings
    sub_id, msg = svc.save(image, "words", "HELLO", client_id)

All user-facing failures raise UserError with a message for the page.
"""
from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy.exc import OperationalError

from ocr import InvalidImageError, load_image, load_recognizer
from ocr.checkpoint import CheckpointError
from ocr.preprocess import check_content
from ocr.viz import attention_frames, save_gif

from feedback import FeedbackError, add_submission, undo_submission

TASKS = ("words", "digits")
TASK_LABELS = {"words": "Word (cropped)", "digits": "House number"}
# Decoding per task. Words: beam search of width 5 (+0.9 / +1.7 points on IIIT5K / SVT over greedy, 13 ms
# instead of 7.7 ms per image on 2 threads, data/models/words.md). Digits: greedy (beam changed nothing measurable).
DEFAULT_BEAM = {"words": 5, "digits": 1}


class UserError(Exception):
    """Something the person in front of the page must fix; the message says what."""


@dataclass(frozen=True)
class Refused:
    """An input the app's components refused before the handler ran (the handler tells the person)."""

    message: str


class Models:
    """Loads each task's recognizer once, on first use, and shares it between requests."""

    def __init__(self, sources: dict[str, str] | None = None):
        self.sources = {t: t for t in TASKS} | (sources or {})
        self._models: dict = {}
        self._lock = threading.Lock()

    def get(self, task: str):
        if task not in TASKS:
            raise UserError(f"Unknown task {task!r}: choose 'words' or 'digits'.")
        with self._lock:
            if task not in self._models:
                try:
                    self._models[task] = load_recognizer(self.sources[task])
                except CheckpointError as e:
                    raise UserError(f"The {task} model could not be loaded: {e}") from None
            return self._models[task]


@dataclass
class Reading:
    prediction: object
    frames: list
    gif: bytes
    read_ms: float
    render_ms: float
    image: object = field(repr=False, default=None)

    @property
    def gif_data_uri(self) -> str:
        return "data:image/gif;base64," + base64.b64encode(self.gif).decode("ascii")


def confidence_spans(pred) -> list[tuple[str, str]]:
    """Characters tagged high / medium / low confidence, for highlighting."""
    out = []
    for c, p in zip(pred.text, pred.char_confidences):
        out.append((c, "high" if p >= 0.9 else "medium" if p >= 0.5 else "low"))
    return out


class DemoService:
    def __init__(self, models: Models, Session):
        self.models = models
        self.Session = Session

    def _image(self, image):
        """The person's image, or UserError. Callers pass an uploaded file's path, bytes or a PIL image;
        the app checks that a path is one Gradio stored for this upload (app.UploadedImage)."""
        if isinstance(image, Refused):
            raise UserError(image.message)
        if image is None or (isinstance(image, str) and not image):
            raise UserError("Please give an image first (upload, paste, webcam or an example).")
        try:
            return check_content(load_image(image))
        except InvalidImageError as e:
            raise UserError(f"This file cannot be read as an image: {e}.") from None

    def recognize(self, image, task: str, beam_width: int | None = None) -> Reading:
        """beam_width None: the task's default (DEFAULT_BEAM)."""
        rec = self.models.get(task)
        img = self._image(image)
        t0 = time.perf_counter()
        pred = rec.read(img, beam_width=beam_width or DEFAULT_BEAM.get(task, 1))[0]
        t1 = time.perf_counter()
        frames = attention_frames(img, pred, rec.cfg)
        gif = save_gif(frames)
        t2 = time.perf_counter()
        return Reading(pred, frames, gif, (t1 - t0) * 1000, (t2 - t1) * 1000, img)

    def save(self, image, task: str, corrected_text: str | None, client_id: str) -> tuple[int, str]:
        """Store a correction (or, with corrected_text None, a confirmation). -> (submission id, message)."""
        if corrected_text is not None and not isinstance(corrected_text, str):
            raise UserError("Not saved: the correction must be text.")
        rec = self.models.get(task)
        img = self._image(image)
        pred = rec.read(img, beam_width=DEFAULT_BEAM.get(task, 1))[0]  # what the model says about exactly this image
        version = f"{rec.meta.get('steps', 'untrained')} steps"

        def write(s):
            sub = add_submission(s, img, task, pred, corrected_text, model_id=rec.source or task,
                                 model_version=version, client_id=client_id)
            return sub.id, sub.corrected_text, sub.confirmed

        sid, text, confirmed = self._write(write, "Not saved")
        what = "Confirmed" if confirmed else "Saved correction"
        return sid, f"{what} #{sid}: {text}"

    def _write(self, action, refused: str, tries: int = 3, wait: float = 0.5):
        """Run action(session) in one transaction; a locked store is retried briefly, then told."""
        for attempt in range(tries):
            try:
                with self.Session.begin() as s:
                    return action(s)
            except FeedbackError as e:
                raise UserError(f"{refused}: {e}.") from None
            except OperationalError as e:
                if "locked" not in str(e).lower() and "busy" not in str(e).lower():
                    raise
                if attempt + 1 == tries:
                    raise UserError(f"{refused}: the corrections store is busy right now. "
                                    "Try again in a moment.") from None
                time.sleep(wait * (attempt + 1))

    def undo(self, submission_id: int, client_id: str) -> str:
        self._write(lambda s: undo_submission(s, submission_id, client_id), "Cannot undo")
        return f"Undid #{submission_id}."
