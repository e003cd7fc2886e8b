"""Test-time views of a crop: read a few transformed copies, keep the most confident reading.

    views(img, n) -> [img, view 1, ..., view n-1]   (PIL images or None, the first is `img` itself)
    view_of(img, k) -> view k alone (None where it does not apply)

A crop is read as it is and, with n > 1, also turned by -8 and +8 degrees, with a 15 % edge-coloured
margin, with 5 % trimmed from each side, and, when it is tall (higher than 1.3 x its width: a word written
downwards), turned a quarter clockwise and a quarter anticlockwise (`VIEWS`, in this order; n takes the first
n). A view that does not apply to a crop (a quarter turn of a wide one) is None and is not read. Every view
goes through the same `ocr.preprocess.input_array` as the crop itself (the transforms are PIL's, the pixels
torchvision's functional ops give for PIL images, which tests/test_views.py checks; reading needs no torch).
`TextRecognizer.read(..., views=n)` reads the crop as given; only when that reading's sequence probability
(`Prediction.confidence`, EOS included) is below `VIEWS_BELOW` it reads the other n - 1 views too
and keeps the most confident reading of all; `Prediction.view` says which view that was. With a word
prior (`ocr.lm`), "most confident" is the highest log-confidence + the prior's score of the text, the
sum the decoder picked by at every step (+17 of 1,500 validation crops at beam 5).

The list, its order and the threshold were chosen on the real validation split (1,500 crops of the
IIIT5K, IC15, SVT and IC03 train sets; never the dev sets), adding one view at a time, the one that
raised accuracy most: `data/models/words.md` has the figures.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image


def _border_fill(img: Image.Image) -> list[float]:
    """The median colour of the image's outermost rows and columns (per channel): the fill of a
    turned view's corners, so they look like background rather than black bars."""
    a = np.asarray(img)
    a = a[:, :, None] if a.ndim == 2 else a
    edge = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    return [float(v) for v in np.median(edge, axis=0)]


def _turn(degrees: float) -> Callable[[Image.Image], Image.Image]:
    def view(img: Image.Image) -> Image.Image:
        fill = tuple(int(v) for v in _border_fill(img))
        return img.rotate(degrees, Image.BILINEAR, expand=False, fillcolor=fill if len(fill) > 1 else fill[0])
    return view


def _margin(img: Image.Image, share: float = 0.15) -> Image.Image:
    w, h = img.size
    px, py = round(w * share), round(h * share)
    a = np.asarray(img)
    pad = ((py, py), (px, px)) + (((0, 0),) if a.ndim == 3 else ())
    return Image.fromarray(np.pad(a, pad, mode="edge"), mode=img.mode)


def _trim(img: Image.Image, share: float = 0.05) -> Image.Image:
    w, h = img.size
    px, py = int(w * share), int(h * share)
    if w - 2 * px < 4 or h - 2 * py < 4:
        return img
    return img.crop((px, py, w - px, h - py))


TALL = 1.3  # a crop higher than this times its width may be a word written downwards


def _quarter(degrees: int) -> Callable[[Image.Image], "Image.Image | None"]:
    def view(img: Image.Image) -> "Image.Image | None":
        return img.rotate(degrees, expand=True) if img.height > TALL * img.width else None
    return view


VIEWS: tuple[tuple[str, Callable[[Image.Image], "Image.Image | None"]], ...] = (
    ("as given", lambda img: img),
    ("turned -8°", _turn(-8)),
    ("turned +8°", _turn(8)),
    ("15 % margin", _margin),
    ("5 % trimmed", _trim),
    ("a tall crop turned a quarter clockwise", _quarter(-90)),
    ("a tall crop turned a quarter anticlockwise", _quarter(90)),
)
MAX_VIEWS = len(VIEWS)
VIEWS_BELOW = 0.7  # readings at least this confident are kept without reading other views


def check_views(n) -> int:
    """n as an int in [1, MAX_VIEWS], or ValueError."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_VIEWS:
        raise ValueError(f"views must be an integer from 1 to {MAX_VIEWS}, got {n!r}")
    return int(n)


def view_of(img: Image.Image, k: int) -> "Image.Image | None":
    """View k of a loaded image (0: the image itself), without making the views before it; None where view k does
    not apply to it."""
    return VIEWS[check_views(k + 1) - 1][1](img)


def views(img: Image.Image, n: int) -> "list[Image.Image | None]":
    """The first n views of a loaded image (n = 1: the image alone); None for a view that does not apply to it."""
    return [fn(img) for _, fn in VIEWS[:check_views(n)]]
