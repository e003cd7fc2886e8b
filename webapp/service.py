"""The demo's logic, independent of Gradio so it can be tested directly.

    svc = DemoService(models, Session)
    reading = svc.recognize(image, "words")        # Reading: prediction, frames, GIF, timings
    sub_id, msg = svc.save(image, "words", "HELLO", client_id)

All user-facing failures raise UserError with a message for the page.
"""
from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from sqlalchemy.exc import OperationalError

from ocr import InvalidImageError, load_image, load_recognizer
from ocr.checkpoint import CheckpointError
from ocr.config import TASKS
from ocr.images import check_content
from ocr.settings import serving_precision
from ocr.viz import attention_frames, save_gif

from feedback import FeedbackError, add_submission, undo_submission

TASK_LABELS = {"words": "Word (cropped)", "digits": "House number"}
# Decoding per task. Words: beam search of width 5 with the model's word prior (ocr.lm; +2.7 / +4.8 points on IIIT5K /
# SVT over greedy for the stop-31 default, 6.6 instead of 4.5 ms per image on one thread with the bf16 encoder, README).
# Digits: greedy (beam changed nothing measurable).
DEFAULT_BEAM = {"words": 5, "digits": 1}
# Test-time views per task (ocr.views): a reading less confident than ocr.views.VIEWS_BELOW is read again
# turned -8 / +8 degrees, with a margin and trimmed, and the most confident reading is kept (with the word prior: the
# highest log-confidence + prior score, stop 32). Model card: chosen on the real validation split; digits: on held-out
# synthetic numbers and the real number crops' validation split.
DEFAULT_VIEWS = {"words": 5, "digits": 5}


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
        self.precision = serving_precision()  # checked at start-up: a bad OCR_PRECISION stops the app
        self._models: dict = {}
        self._lock = threading.Lock()

    def get(self, task: str):
        if task not in TASKS:
            raise UserError(f"Unknown task {task!r}: choose 'words' or 'digits'.")
        with self._lock:
            if task not in self._models:
                try:
                    self._models[task] = load_recognizer(self.sources[task], precision=self.precision)
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
    advice: str = ""   # crop_advice(): a warning when the image is not a tight crop or the model is unsure

    @property
    def gif_data_uri(self) -> str:
        return "data:image/gif;base64," + base64.b64encode(self.gif).decode("ascii")


LEVELS = ("low", "medium", "high")


def level(p: float) -> str:
    return "high" if p >= 0.9 else "medium" if p >= 0.5 else "low"


def confidence_spans(pred) -> list[tuple[str, str]]:
    """Characters tagged high / medium / low confidence, for highlighting.

    No character is shown more confident than the whole reading allows: below 0.5 for the word no letter
    is green, below 0.2 every letter is red, however sure the model was of each letter on its own.
    """
    cap = 2 if pred.confidence >= 0.5 else 1 if pred.confidence >= 0.2 else 0
    return [(c, LEVELS[min(cap, LEVELS.index(level(p)))]) for c, p in zip(pred.text, pred.char_confidences)]


# When an image is clearly not a tight crop of one word / one house number, the reading is not to be trusted.
UNCROPPED = {"words": {"max_height": 160, "min_aspect": 1.2}, "digits": {"max_side": 400}}
LOW_CONFIDENCE = 0.4


def crop_advice(image, task: str, confidence: float) -> str:
    """A warning for the page when the image looks like a whole photo or the reading is very unsure, else ""."""
    w, h = image.size
    if task == "words" and (h > UNCROPPED["words"]["max_height"] or w < UNCROPPED["words"]["min_aspect"] * h):
        return ("This looks like a whole photo, not one cropped word: the reading is probably wrong. "
                "Click two corners around the word on the photo and read again.")
    if task == "digits" and max(w, h) > UNCROPPED["digits"]["max_side"]:
        return ("This looks like a whole photo, not a cropped house number: the reading is probably wrong. "
                "Click two corners around the number on the photo and read again.")
    if confidence < LOW_CONFIDENCE:
        return (f"The model is unsure (confidence {confidence:.2f}): check the reading; "
                "a tighter crop often helps.")
    return ""


def crop_box(img, box):
    """The region (x0, y0, x1, y1) of a PIL image, clipped to it; UserError if it holds no usable image."""
    try:
        x0, y0, x1, y1 = (int(v) for v in box)
    except (TypeError, ValueError):
        raise UserError("The crop must be four numbers: x0, y0, x1, y1.") from None
    x0, x1 = sorted((max(0, min(img.width, x0)), max(0, min(img.width, x1))))
    y0, y1 = sorted((max(0, min(img.height, y0)), max(0, min(img.height, y1))))
    try:
        return check_content(img.crop((x0, y0, x1, y1)))
    except InvalidImageError as e:
        raise UserError(f"The crop cannot be read: {e}. Click two corners around the text.") from None


class RecentReadings:
    """The last readings made with each task's default decoding, by model and image content, so that saving
    a correction right after reading the same image (or region) does not read it again. Keys are computed
    here from the pixels, so a client cannot hand in a reading of its own. Bounded; thread-safe."""

    def __init__(self, size: int = 256):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(rec, img) -> tuple:
        return id(rec), img.mode, img.size, hashlib.blake2b(img.tobytes(), digest_size=16).digest()

    def put(self, rec, img, pred) -> None:
        with self._lock:
            self._items[self._key(rec, img)] = pred
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def get(self, rec, img):
        with self._lock:
            return self._items.get(self._key(rec, img))


class DemoService:
    def __init__(self, models: Models, Session):
        self.models = models
        self.Session = Session
        self._recent = RecentReadings()

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

    def _region(self, image, box):
        """The person's image, or only its region box (x0, y0, x1, y1) when they cropped it."""
        img = self._image(image)
        return img if box is None else crop_box(img, box)

    def preview(self, image, box):
        """The person's photo (PIL RGB) for clicking corners, with the crop box (or the first corner) drawn on
        it. Coordinates are those of the full image (Gradio reports clicks in them)."""
        from PIL import ImageDraw
        shown = self._image(image).convert("RGB")  # a new image: the drawing never touches the loaded one
        d = ImageDraw.Draw(shown)
        r = max(2, round(max(shown.size) / 150))
        if len(box or []) == 2:
            x, y = box
            d.ellipse([x - r, y - r, x + r, y + r], outline=(255, 0, 0), width=r)
        elif len(box or []) == 4:
            d.rectangle(list(box), outline=(255, 0, 0), width=r)
        return shown

    def recognize(self, image, task: str, beam_width: int | None = None, box=None) -> Reading:
        """beam_width None: the task's default (DEFAULT_BEAM). box (x0, y0, x1, y1) in image pixels: read
        only that region (the crop the person drew); `Reading.image` is then the crop."""
        rec = self.models.get(task)
        img = self._region(image, box)
        t0 = time.perf_counter()
        pred = rec.read(img, beam_width=beam_width or DEFAULT_BEAM.get(task, 1), views=DEFAULT_VIEWS.get(task, 1))[0]
        t1 = time.perf_counter()
        if beam_width is None:
            self._recent.put(rec, img, pred)
        frames = attention_frames(rec.view_input(img, pred.view), pred, rec.cfg)  # the input it was read from
        gif = save_gif(frames)
        t2 = time.perf_counter()
        return Reading(pred, frames, gif, (t1 - t0) * 1000, (t2 - t1) * 1000, img,
                       crop_advice(img, task, pred.confidence))

    def save(self, image, task: str, corrected_text: str | None, client_id: str, box=None) -> tuple[int, str]:
        """Store a correction (or, with corrected_text None, a confirmation) of the image, or of its region
        `box` (x0, y0, x1, y1) when the person cropped it. -> (submission id, message)."""
        if corrected_text is not None and not isinstance(corrected_text, str):
            raise UserError("Not saved: the correction must be text.")
        rec = self.models.get(task)
        img = self._region(image, box)
        # what the model says about exactly this image: usually just read by recognize(), else read now
        pred = self._recent.get(rec, img) or rec.read(img, beam_width=DEFAULT_BEAM.get(task, 1),
                                                      views=DEFAULT_VIEWS.get(task, 1))[0]
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
