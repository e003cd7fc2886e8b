"""Reading a whole photo: find every word (or the house number), cut each out upright, read them all at once.

    from ocr import read_photo
    for r in read_photo("street.jpg", task="words"):     # list[PhotoReading] in reading order
        print(r.box, r.text, r.confidence)               # box (x0, y0, x1, y1) in photo pixels; r.quad (4, 2)
    r.crop, r.char_confidences, r.attention              # what was read (PIL), per letter, (steps, h, w)

Words: `ocr.detect.find_text` finds the words; each is rectified (`ocr.detect.rectify`) with `WORD_MARGIN` x its
height on every side and read. An image that already is a crop of one word (`looks_like_crop`, or the detector
finds one word filling it) is read whole, as `TextRecognizer.read` would. House numbers: `ocr.numbers.find_number`
(candidate frames scored by the digits reader itself) gives one region per photo.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .detect import DEFAULT_DETECTOR, TextBox, find_text, rectify
from .images import load_image
from .prediction import Prediction

WORD_MARGIN = -0.1  # x the word's height, added on every side of a detected word (the detector's box is already loose:
                    # trimming a tenth read best on scenes of the real train crops, 0 to -0.15 within 1 word in 187)
CROP_MAX_HEIGHT = 160  # an image at most this tall and at least CROP_MIN_ASPECT x as wide is taken as a crop
CROP_MIN_ASPECT = 1.2
FILLS_IMAGE = 0.6   # one detected word at least this share of the image's width and height: the image is a crop


@dataclass
class PhotoReading:
    """One region of a photo and what was read in it."""

    box: tuple[int, int, int, int]      # (x0, y0, x1, y1) in photo pixels
    quad: np.ndarray = field(repr=False)  # (4, 2) corners, clockwise from the text's top-left
    text: str = ""
    confidence: float = 0.0
    char_confidences: list[float] = field(default_factory=list)
    attention: np.ndarray | None = field(default=None, repr=False)  # (steps, feat_h, feat_w)
    crop: Image.Image | None = field(default=None, repr=False)      # the upright image that was read
    score: float = 1.0                  # the detector's confidence in the region
    prediction: Prediction | None = field(default=None, repr=False)


def looks_like_crop(image: Image.Image, task: str = "words") -> bool:
    """True for an image shaped like one cropped word: not taller than CROP_MAX_HEIGHT and CROP_MIN_ASPECT x as
    wide, or small on both sides (a crop of a short word or one character, too small to be a photo)."""
    w, h = image.size
    return task == "words" and h <= CROP_MAX_HEIGHT and (w >= CROP_MIN_ASPECT * h or w <= CROP_MAX_HEIGHT)


@functools.lru_cache(maxsize=2)
def _recognizer(task: str):
    from .recognizer import load_recognizer
    return load_recognizer(task)


def find_regions(image, task: str = "words", recognizer=None, detector: str = DEFAULT_DETECTOR) -> list[TextBox]:
    """The regions `read_photo` reads: words in reading order, or the one house number; [] when none is found.
    An image that is already a crop gives one region covering it all."""
    img = load_image(image).convert("RGB")
    whole = TextBox.from_box(0, 0, img.width, img.height)
    if task == "digits":
        from .numbers import find_number
        return find_number(img, recognizer or _recognizer("digits"))
    if looks_like_crop(img, task):
        return [whole]
    boxes = find_text(img, detector=detector)
    if len(boxes) == 1:
        x0, y0, x1, y1 = boxes[0].box
        if (x1 - x0) >= FILLS_IMAGE * img.width and (y1 - y0) >= FILLS_IMAGE * img.height:
            return [whole]
    return boxes


def crop_region(image: Image.Image, region: TextBox, task: str = "words", margin: float = WORD_MARGIN) -> Image.Image:
    """The upright image of a region as the reader takes it: a house number's frame as it is, a word rectified
    with `margin` x its height around it; the whole image when the region covers all of it."""
    if region.box == (0, 0, image.width, image.height):
        return image
    return rectify(image, region.quad, 0.0 if task == "digits" else margin)


def read_photo(image, task: str = "words", recognizer=None, detector: str = DEFAULT_DETECTOR,
               beam_width: int | None = None, views: int | None = None, regions: list[TextBox] | None = None,
               margin: float = WORD_MARGIN, fast: bool = False) -> list[PhotoReading]:
    """Find the text of a photo and read it all in one batch -> list[PhotoReading] in reading order.

    recognizer: a `TextRecognizer` for the task (default: the shipped one); beam_width, views, fast: as for
    `TextRecognizer.read` (default: the recognizer's reading settings). regions: read these instead of
    detecting (e.g. a box the user drew). margin: around each word, x its height."""
    img = load_image(image).convert("RGB")
    rec = recognizer or _recognizer(task)
    regions = find_regions(img, task, rec, detector) if regions is None else regions
    if not regions:
        return []
    crops = [crop_region(img, r, task, margin) for r in regions]
    if rec.cfg.channels == 1:
        crops = [c.convert("L") for c in crops]
    preds = rec.read(crops, beam_width=beam_width, views=views, fast=fast)
    return [PhotoReading(r.box, r.quad, p.text, p.confidence, p.char_confidences, p.attention, c, r.score, p)
            for r, c, p in zip(regions, crops, preds)]
