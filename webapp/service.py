"""The demo's logic, independent of Gradio so it can be tested directly.

    svc = DemoService(models, Session)
    reading = svc.recognize(image, "words")        # Reading: prediction, frames, GIF, timings
    sub_id, msg = svc.save(image, "words", "HELLO", client_id)

All user-facing failures raise UserError with a message for the page.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from sqlalchemy.exc import OperationalError

import numpy as np

from ocr import InvalidImageError, load_image, load_recognizer
from ocr.checkpoint import CheckpointError
from ocr.config import TASKS
from ocr.detect import TextBox
from ocr.images import check_content
from ocr.photo import crop_region, find_regions
from ocr.settings import serving_precision
from ocr.viz import attention_frames, save_gif

from feedback import FeedbackError, add_submission, undo_submission

log = logging.getLogger("ocr.app")
TASK_LABELS = {"words": "Words", "digits": "House number"}
def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _reading_threads(rec, n: int) -> None:
    """A reader that runs only ONNX Runtime (the int8 encoder) keeps its own thread count: give it torch's."""
    if hasattr(rec.reader, "threads"):
        rec.reader.threads = n


class UserError(Exception):
    """Something the person in front of the page must fix; the message says what."""


@dataclass(frozen=True)
class Refused:
    """An input the app's components refused before the handler ran (the handler tells the person)."""

    message: str


class Models:
    """Loads each task's recognizer once, on first use, and shares it between requests.

    With a store (`Session`), the model of a task is the registry's promoted version (feedback.registry): the
    configured source is registered as the starting version, and every `get` looks (at most every
    `check_every` seconds) whether another version was promoted or rolled back to since; if so, the new one is
    loaded and swapped in. A reading already under way keeps the recognizer it started with.
    """

    def __init__(self, sources: dict[str, str] | None = None, Session=None, check_every: float = 2.0):
        self.sources = {t: t for t in TASKS} | (sources or {})
        self.precision = serving_precision()  # checked at start-up: a bad OCR_PRECISION stops the app
        self.Session = Session
        self.check_every = check_every
        self._models: dict = {}
        self._loaded: dict = {}    # task -> version id of the loaded model (None: no registry)
        self._checked: dict = {}   # task -> time of the last registry look
        self._lock = threading.Lock()
        self._threads = None       # torch threads when no training job runs (read at the first look)

    def _source_path(self, task: str):
        from ocr.settings import shipped_model

        src = self.sources[task]
        return shipped_model(src) if src in TASKS else src

    def _wanted(self, task: str):
        """-> (version id, file) the registry says to read with, or None (no store, or no usable file)."""
        from pathlib import Path

        from feedback.registry import current, ensure_base, version_path

        if self.Session is None:
            return None
        try:
            with self.Session.begin() as s:
                self._share_cores(s)
                v = current(s, task)
                if v is None:
                    src = Path(self._source_path(task))
                    if not src.is_file():
                        return None
                    v = ensure_base(s, task, src)
                path = version_path(v)
                if not path.is_file():
                    log.warning("model version #%s of %s: file %s is missing; keeping the loaded model", v.id, task, path)
                    return None
                return v.id, path
        except (OperationalError, FeedbackError, OSError) as e:
            log.warning("model registry unavailable (%s); keeping the loaded model", str(e).splitlines()[0][:200])
            return None

    def _share_cores(self, session) -> None:
        """While a training job runs (its own process, one thread at the lowest priority), read on one thread
        fewer: two reading threads beside it made a photo ~30x slower (OpenMP waits for the thread that shares
        the job's core), one thread only ~1.5x."""
        import torch

        from feedback.jobs import active_job

        if self._threads is None:
            self._threads = torch.get_num_threads()
        want = max(1, self._threads - 1) if active_job(session) is not None else self._threads
        if torch.get_num_threads() != want:
            torch.set_num_threads(want)
            log.info("reading on %d thread(s)%s", want, " while a training job runs" if want < self._threads else "")
        for rec in self._models.values():
            _reading_threads(rec, want)

    def get(self, task: str):
        if task not in TASKS:
            raise UserError(f"Unknown task {task!r}: choose 'words' or 'digits'.")
        with self._lock:
            now = time.monotonic()
            want = None
            if task not in self._models or now - self._checked.get(task, -1e9) >= self.check_every:
                self._checked[task] = now
                want = self._wanted(task)
            if task not in self._models or (want is not None and want[0] != self._loaded.get(task)):
                source = str(want[1]) if want is not None else self.sources[task]
                try:
                    rec = load_recognizer(source, precision=self.precision)
                except CheckpointError as e:
                    if task in self._models:  # a bad new version never replaces a working model
                        log.error("model version #%s of %s cannot be loaded (%s); keeping the loaded one",
                                  want[0], task, e)
                        self._loaded[task] = want[0]
                        return self._models[task]
                    raise UserError(f"The {task} model could not be loaded: {e}") from None
                _reading_threads(rec, torch_threads())
                if task in self._models:
                    log.info("%s: now reading with model version #%s", task, want[0] if want else "?")
                self._models[task], self._loaded[task] = rec, (want[0] if want else None)
            return self._models[task]

    def refresh(self, task: str):
        """Look at the registry now (not at the next periodic look) and load what it says -> the recognizer."""
        with self._lock:
            self._checked.pop(task, None)
        return self.get(task)

    def loaded_version(self, task: str) -> int | None:
        """The registry id of the model `get(task)` returns now (None without a store)."""
        return self._loaded.get(task)


@dataclass(frozen=True)
class Region:
    """One region of a photo as a tab keeps it: numbers only (no image); the photo itself stays in Gradio's
    upload folder and the crop is cut again from it when needed."""

    box: tuple[int, int, int, int]
    quad: tuple[tuple[float, float], ...]
    text: str
    confidence: float
    chars: tuple[float, ...]
    added: bool = False  # drawn by the person (the detector missed it)

    @staticmethod
    def of(region: TextBox, pred, added: bool = False) -> "Region":
        return Region(region.box, tuple((float(x), float(y)) for x, y in region.quad), pred.text,
                      float(pred.confidence), tuple(float(c) for c in pred.char_confidences), added)

    @property
    def text_box(self) -> TextBox:
        return TextBox(np.array(self.quad, dtype=np.float32))


@dataclass
class PhotoResult:
    regions: list[Region]
    whole: bool          # the image was read as one crop (no detection, or one word filling it)
    read_ms: float
    message: str = ""
    image: object = field(repr=False, default=None)  # the loaded photo (not kept by the page)


@dataclass
class Reading:
    prediction: object
    frames: list
    gif: bytes
    read_ms: float | None   # None: read together with the rest of its photo (PhotoResult.read_ms)
    render_ms: float
    image: object = field(repr=False, default=None)
    advice: str = ""   # unsure_advice(): a warning when the model is unsure

    @property
    def gif_data_uri(self) -> str:
        return "data:image/gif;base64," + base64.b64encode(self.gif).decode("ascii")


# A person's image is brought down to this size a side once, when it is loaded, before anything is cut from it:
# the detector reads at most 960 pixels a side and a word needs 32 rows; four times that is plenty (and bounded).
WORK_SIDE = 2048

LEVELS = ("low", "medium", "high")


def level(p: float) -> str:
    return "high" if p >= 0.9 else "medium" if p >= 0.5 else "low"


def confidence_spans(pred) -> list[tuple[str, str]]:
    """Characters tagged high / medium / low confidence, for highlighting: each letter its own confidence, but
    none green when the whole reading is below 0.5 (every letter can be sure while the reading misses one)."""
    cap = 2 if pred.confidence >= 0.5 else 1
    return [(c, LEVELS[min(cap, LEVELS.index(level(p)))]) for c, p in zip(pred.text, pred.char_confidences)]


def unsure_advice(confidence: float, below: float) -> str:
    """A warning for a reading less sure than `below` (the model's reading settings: `unsure_below`)."""
    if confidence < below:
        return f"The model is unsure (confidence {confidence:.2f}): check the reading."
    return ""


def clip_box(img, box) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) from any four numbers, ordered and clipped to the image; UserError otherwise."""
    try:
        x0, y0, x1, y1 = (int(v) for v in box)
    except (TypeError, ValueError, OverflowError):
        raise UserError("The crop must be four numbers: x0, y0, x1, y1.") from None
    x0, x1 = sorted((max(0, min(img.width, x0)), max(0, min(img.width, x1))))
    y0, y1 = sorted((max(0, min(img.height, y0)), max(0, min(img.height, y1))))
    return x0, y0, x1, y1


def crop_box(img, box):
    """The region (x0, y0, x1, y1) of a PIL image, clipped to it; UserError if it holds no usable image."""
    x0, y0, x1, y1 = clip_box(img, box)
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
            return check_content(load_image(image, max_side=WORK_SIDE))
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

    def read_photo(self, image, task: str) -> PhotoResult:
        """Find every word (or the house number) and read them all as the task's model reads by default (the reading
        settings in its checkpoint, `ocr.reading`)."""
        rec = self.models.get(task)
        img = self._image(image)
        t0 = time.perf_counter()
        try:
            regions = find_regions(img, task, rec)
        except RuntimeError as e:  # the detector's weights are missing: read the image whole, and say so
            log.warning("text detection unavailable: %s", e)
            regions = [TextBox.from_box(0, 0, img.width, img.height)]
        whole = len(regions) == 1 and regions[0].box == (0, 0, img.width, img.height)
        if not regions:
            return PhotoResult([], False, (time.perf_counter() - t0) * 1000,
                               "No text found. If there is some, click two opposite corners around it on the photo.",
                               img)
        crops = [crop_region(img, r, task) for r in regions]
        preds = self._shown(rec, crops, rec.read(crops))
        for c, p in zip(crops, preds):
            self._recent.put(rec, c, p)
        out = [Region.of(r, p) for r, p in zip(regions, preds)]
        return PhotoResult(out, whole, (time.perf_counter() - t0) * 1000, image=img)

    @staticmethod
    def _shown(rec, images, preds):
        """The predictions with the reader's own confidences (`TextRecognizer.reader_confidences`: the decoder
        and the word prior together, as the text was chosen): what the page shows and colours by."""
        return [dataclasses.replace(p, confidence=c, char_confidences=cc)
                for p, (c, cc) in zip(preds, rec.reader_confidences(images, preds))]

    def add_region(self, image, task: str, box) -> Region:
        """Read a region the person drew, box (x0, y0, x1, y1) in photo pixels."""
        rec = self.models.get(task)
        img = self._image(image)
        crop = crop_box(img, box)
        region = TextBox.from_box(*clip_box(img, box))
        pred = self._shown(rec, [crop], rec.read(crop))[0]
        self._recent.put(rec, crop, pred)
        return Region.of(region, pred, added=True)

    def _region_crop(self, img, task: str, region: Region):
        if not isinstance(region, Region):
            raise UserError("Choose a region first: click a box on the photo or a row of the list.")
        try:
            return check_content(crop_region(img, region.text_box, task))
        except (InvalidImageError, ValueError) as e:
            raise UserError(f"That region cannot be read: {e}.") from None

    def detail(self, image, task: str, region: Region) -> Reading:
        """The reading of one region with its attention pictures (read again only if not read just before)."""
        rec = self.models.get(task)
        crop = self._region_crop(self._image(image), task, region)
        t0 = time.perf_counter()
        cached = self._recent.get(rec, crop)  # read with the photo just before: no time of its own
        pred = cached or self._shown(rec, [crop], rec.read(crop))[0]
        t1 = time.perf_counter()
        height = 80 if rec.cfg.img_w >= 2 * rec.cfg.img_h else 200  # a square input (house numbers) shown larger
        frames = attention_frames(rec.view_input(crop, pred.view), pred, rec.cfg, height=height)
        gif = save_gif(frames)
        return Reading(pred, frames, gif, None if cached else (t1 - t0) * 1000, (time.perf_counter() - t1) * 1000, crop,
                       unsure_advice(pred.confidence, rec.reading.unsure_below))

    def recognize(self, image, task: str, beam_width: int | None = None, box=None) -> Reading:
        """beam_width None: the model's reading settings. box (x0, y0, x1, y1) in image pixels: read
        only that region (the crop the person drew); `Reading.image` is then the crop."""
        rec = self.models.get(task)
        img = self._region(image, box)
        t0 = time.perf_counter()
        pred = rec.read(img, beam_width=beam_width)[0]
        pred = self._shown(rec, [img], [pred])[0]
        t1 = time.perf_counter()
        if beam_width is None:
            self._recent.put(rec, img, pred)
        frames = attention_frames(rec.view_input(img, pred.view), pred, rec.cfg)  # the input it was read from
        gif = save_gif(frames)
        t2 = time.perf_counter()
        return Reading(pred, frames, gif, (t1 - t0) * 1000, (t2 - t1) * 1000, img, unsure_advice(pred.confidence, rec.reading.unsure_below))

    def save(self, image, task: str, corrected_text: str | None, client_id: str, box=None,
             region: Region | None = None) -> tuple[int, str]:
        """Store a correction (or, with corrected_text None, a confirmation) of the image, of its region `box`
        (x0, y0, x1, y1), or of a region of the photo (the crop is stored with the photo and its box).
        -> (submission id, message)."""
        if corrected_text is not None and not isinstance(corrected_text, str):
            raise UserError("Not saved: the correction must be text.")
        rec = self.models.get(task)
        photo = None
        if region is not None:
            photo = self._image(image)
            img = self._region_crop(photo, task, region)
            if img.size == photo.size:
                photo = None  # the whole image is the crop: no photo to keep beside it
            box = region.box
        else:
            img = self._region(image, box)
        # what the model says about exactly this image: usually just read by recognize(), else read now
        pred = self._recent.get(rec, img) or self._shown(rec, [img], rec.read(img))[0]
        version = f"{rec.meta.get('steps', 'untrained')} steps"

        def write(s):
            sub = add_submission(s, img, task, pred, corrected_text, model_id=rec.source or task,
                                 model_version=version, client_id=client_id, photo=photo,
                                 box=box if photo is not None else None)
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


# ---------------------------------------------------------------------------------------------------------------
# The photo as the page shows it: every region boxed, coloured by confidence, numbered in reading order

BOX_COLOURS = {"high": (56, 158, 13), "medium": (212, 136, 6), "low": (207, 19, 34)}
SHOWN_MAX_SIDE = 1024  # the page's picture of a photo is at most this large (clicks are scaled back)


def draw_regions(image, regions: list[Region], selected: int = -1, corner=None):
    """-> (RGB picture, scale from photo pixels to the picture's): each region's quad in the colour of its
    confidence (`level`), its number beside it, the selected one thicker; `corner` (x, y) a first click."""
    from PIL import ImageDraw, ImageFont

    img = image.convert("RGB")
    k = min(1.0, SHOWN_MAX_SIDE / max(img.size))
    shown = img.resize((max(1, round(img.width * k)), max(1, round(img.height * k)))) if k < 1 else img.copy()
    d = ImageDraw.Draw(shown)
    width = max(2, round(max(shown.size) / 300))
    try:
        font = ImageFont.load_default(size=max(12, round(max(shown.size) / 45)))
    except TypeError:  # Pillow without FreeType sizes
        font = ImageFont.load_default()
    for i, r in enumerate(regions):
        colour = BOX_COLOURS[level(r.confidence)]
        pts = [(x * k, y * k) for x, y in r.quad]
        d.polygon(pts, outline=colour, width=width * (3 if i == selected else 1))
        label = str(i + 1)
        x, y = min(p[0] for p in pts), min(p[1] for p in pts)
        tb = d.textbbox((0, 0), label, font=font)
        tw, th = tb[2] - tb[0] + 6, tb[3] - tb[1] + 6
        y = y - th if y >= th else y
        d.rectangle([x, y, x + tw, y + th], fill=colour)
        d.text((x + 3 - tb[0], y + 3 - tb[1]), label, fill=(255, 255, 255), font=font)
    if corner is not None:
        cx, cy = corner[0] * k, corner[1] * k
        r = max(4, width * 2)
        d.ellipse([cx - r, cy - r, cx + r, cy + r], outline=(24, 144, 255), width=width)
    return shown, k


def region_at(regions: list[Region], x: float, y: float) -> int:
    """The index of the smallest region whose box holds (x, y) in photo pixels, or -1."""
    inside = [(r.box[2] - r.box[0]) * (r.box[3] - r.box[1]) for r in regions]
    hits = [i for i, r in enumerate(regions) if r.box[0] <= x <= r.box[2] and r.box[1] <= y <= r.box[3]]
    return min(hits, key=lambda i: inside[i]) if hits else -1


def all_text(regions: list[Region]) -> str:
    """The readings in reading order, one line of the photo per line (regions whose boxes share a line)."""
    lines: list[list[Region]] = []
    for r in regions:
        if lines and _same_line(lines[-1][-1], r):
            lines[-1].append(r)
        else:
            lines.append([r])
    return "\n".join(" ".join(r.text for r in line) for line in lines)


def _same_line(a: Region, b: Region) -> bool:
    top, bottom = max(a.box[1], b.box[1]), min(a.box[3], b.box[3])
    return bottom - top >= 0.5 * min(a.box[3] - a.box[1], b.box[3] - b.box[1]) and b.box[0] >= a.box[0]
