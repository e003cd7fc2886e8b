"""Finding text in a photo: one small interface, pluggable backends.

    boxes = find_text(image)                 # list[TextBox] in reading order (top to bottom, left to right)
    boxes[0].quad                            # (4, 2) float array: corners in image pixels, clockwise from top-left
    boxes[0].box                             # (x0, y0, x1, y1): the quad's axis-aligned bounds
    boxes[0].score                           # the detector's confidence in [0, 1]

A backend is any callable `(RGB PIL image) -> list[TextBox]` in any order; `register_detector(name, factory)`
adds one and `find_text(image, detector=name)` uses it. The default, "ppocr-db", is PP-OCR's DB text detector
(`ocr.detectors.ppocr`): it finds lines, which `split_words` cuts into words at wide gaps. Backends are built on first
use (reading a crop never loads one) and kept for the process. Nothing else in the package imports a backend.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image

from .images import load_image

DEFAULT_DETECTOR = "ppocr-db"


@dataclass(frozen=True)
class TextBox:
    """A region of text: `quad` (4, 2) in image pixels, clockwise from the top-left corner of the text."""

    quad: np.ndarray = field(repr=False)
    score: float = 1.0

    @property
    def box(self) -> tuple[int, int, int, int]:
        x0, y0 = np.floor(self.quad.min(axis=0)).astype(int)
        x1, y1 = np.ceil(self.quad.max(axis=0)).astype(int)
        return int(x0), int(y0), int(x1), int(y1)

    @property
    def size(self) -> tuple[float, float]:
        """(length along the text, height across it) in pixels."""
        q = self.quad
        return (float(np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[2] - q[3])) / 2,
                float(np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2)

    @staticmethod
    def from_box(x0: float, y0: float, x1: float, y1: float, score: float = 1.0) -> "TextBox":
        return TextBox(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32), score)


def order_quad(points: np.ndarray) -> np.ndarray:
    """Four corners in any order -> clockwise from the top-left of the text: the first side is the one that
    runs most nearly left to right (text turned by up to 45 degrees either way; a word running downwards comes out
    tall, and the reader's quarter-turned views read it)."""
    p = np.asarray(points, dtype=np.float32).reshape(4, 2)
    c = p.mean(axis=0)
    p = p[np.argsort(np.arctan2(p[:, 1] - c[1], p[:, 0] - c[0]))]  # clockwise on screen (y down)
    sides = np.roll(p, -1, axis=0) - p
    start = int(np.argmax(sides[:, 0] / np.maximum(np.linalg.norm(sides, axis=1), 1e-6)))
    return np.roll(p, -start, axis=0)


def reading_order(boxes: list[TextBox]) -> list[TextBox]:
    """Top to bottom by lines, left to right within a line: two boxes share a line when their vertical
    spans overlap by at least half of the shorter one."""
    rest = sorted(boxes, key=lambda b: (b.quad[:, 1].mean(), b.quad[:, 0].min()))
    lines: list[list[TextBox]] = []
    for b in rest:
        y0, y1 = b.quad[:, 1].min(), b.quad[:, 1].max()
        for line in lines:
            ly0 = np.median([q.quad[:, 1].min() for q in line])
            ly1 = np.median([q.quad[:, 1].max() for q in line])
            if min(y1, ly1) - max(y0, ly0) >= 0.5 * min(y1 - y0, ly1 - ly0):
                line.append(b)
                break
        else:
            lines.append([b])
    lines.sort(key=lambda line: np.median([q.quad[:, 1].mean() for q in line]))
    return [b for line in lines for b in sorted(line, key=lambda q: q.quad[:, 0].min())]


def rectify(image: Image.Image, quad: np.ndarray, margin: float = 0.0, height: int | None = None) -> Image.Image:
    """The quad's content as an upright image (perspective-rectified), grown by `margin` x the text height on
    every side (clipped to nothing: outside the photo is edge-replicated). The text height is the quad's shorter
    side: a word written downwards (a quad taller than wide) keeps its letters and comes out tall, as the reader's
    quarter-turned views expect. height: the output height (default the quad's own height, at most 4x upscaled
    later by the reader's resize)."""
    return _rectify_ordered(image, order_quad(quad), margin, height)


def _rectify_ordered(image: Image.Image, q: np.ndarray, margin: float = 0.0, height: int | None = None) -> Image.Image:
    """`rectify` of corners already in order (the first side along the text)."""
    w = (np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[2] - q[3])) / 2
    h = (np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2
    if w < 1 or h < 1:
        raise ValueError("empty region")
    grow = margin * min(w, h)
    ex = (q[1] - q[0]) / max(w, 1e-6) * grow  # along the quad's top edge
    ey = (q[3] - q[0]) / max(h, 1e-6) * grow  # along its left edge
    src = np.array([q[0] - ex - ey, q[1] + ex - ey, q[2] + ex + ey, q[3] - ex + ey], dtype=np.float64)
    ow, oh = w + 2 * grow, h + 2 * grow
    scale = 1.0 if height is None else height / oh
    out_w, out_h = max(1, round(ow * scale)), max(1, round(oh * scale))
    dst = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], dtype=np.float64)
    coeffs = _perspective_coeffs(dst, src)  # output pixel -> input pixel
    return image.transform((out_w, out_h), Image.PERSPECTIVE, coeffs, Image.BICUBIC,
                           fillcolor=None if image.mode in ("L", "RGB") else 0)


def _perspective_coeffs(dst: np.ndarray, src: np.ndarray) -> tuple:
    """The 8 coefficients Pillow's PERSPECTIVE transform takes to map dst points onto src points."""
    a = []
    for (x, y), (u, v) in zip(dst, src):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    return tuple(np.linalg.solve(np.array(a), src.reshape(8)).tolist())


# ---------------------------------------------------------------------------------------------------------------
# Backends

_FACTORIES: dict[str, Callable[[], Callable]] = {}
_BUILT: dict[str, Callable] = {}
_LOCK = threading.Lock()


def register_detector(name: str, factory: Callable[..., Callable]) -> None:
    """factory(**options) -> detector; called once without options, on the first find_text that names it."""
    _FACTORIES[name] = factory


def make_detector(name: str = DEFAULT_DETECTOR, **options) -> Callable:
    """A new detector of a registered backend with options of its own (e.g. threads=1), not shared."""
    if name not in _FACTORIES:
        raise ValueError(f"unknown text detector {name!r}; known: {', '.join(sorted(_FACTORIES))}")
    return _FACTORIES[name](**options)


def _ppocr(**options):
    from .detectors.ppocr import DBDetector
    return DBDetector(**options)


register_detector("ppocr-db", _ppocr)


def get_detector(name: str = DEFAULT_DETECTOR) -> Callable:
    if name not in _FACTORIES:
        raise ValueError(f"unknown text detector {name!r}; known: {', '.join(sorted(_FACTORIES))}")
    with _LOCK:
        if name not in _BUILT:
            _BUILT[name] = _FACTORIES[name]()
        return _BUILT[name]


def find_text(image, detector: str = DEFAULT_DETECTOR, words: bool = True) -> list[TextBox]:
    """Every text region of the image, in reading order. words=True cuts detected lines into words
    (`split_words`); False keeps the detector's own regions. image: anything `ocr.load_image` takes."""
    img = load_image(image).convert("RGB")
    boxes = get_detector(detector)(img)
    if words:
        boxes = [w for b in boxes for w in split_words(img, b)]
    return reading_order(boxes)


# ---------------------------------------------------------------------------------------------------------------
# Lines -> words

WORD_GAP = 0.35  # a gap in the ink wider than this x the ink's height separates two words


LETTER_GAPS = 2.5  # ... and wider than this x the median gap of the line


def split_words(image: Image.Image, line: TextBox, gap: float = WORD_GAP) -> list[TextBox]:
    """A detected line cut into words where the ink leaves a column gap wider than `gap` x the ink's height and
    LETTER_GAPS x the line's median gap.

    The ink is found in the rectified line: the pixels that differ from the line's background colour (its
    median) by more than Otsu's threshold of that difference. A line with no such gap is one word. A line more
    than twice as tall as wide runs downwards (or upwards): it is cut along its long side."""
    q = order_quad(line.quad)
    w, h = TextBox(q).size
    if h > 2 * w:  # start at its top-right corner: the long side becomes the line's length
        q = np.roll(q, -1, axis=0)
        w, h = h, w
    if w < 2 * h:  # too short to hold two words with a real gap between them
        return [TextBox(q, line.score)]
    scale = min(1.0, 48.0 / max(h, 1.0))
    crop = np.asarray(_rectify_ordered(image, q, 0.0, height=max(8, round(h * scale))).convert("L"), dtype=np.float32)
    diff = np.abs(crop - np.median(crop))
    t = _otsu(diff)
    if t <= 8:  # no contrast: nothing to cut on
        return [TextBox(q, line.score)]
    mask = diff > t
    rows = np.flatnonzero(mask.sum(axis=1) > 0.02 * mask.shape[1])  # the ink's height, not the box's (it is loose)
    ink_h = rows[-1] - rows[0] + 1 if len(rows) else crop.shape[0]
    ink = mask.sum(axis=0) > 0  # columns holding ink
    cw = crop.shape[1]
    runs, start = [], None  # gaps (start, end) in columns
    for x, on in enumerate(ink):
        if not on and start is None:
            start = x
        elif on and start is not None:
            runs.append((start, x)); start = None
    inner = [(a, b) for a, b in runs if a > 0]  # gaps between inks (not the margins at the ends)
    letter_gap = float(np.median([b - a for a, b in inner])) if inner else 0.0
    # a space is wide for the ink's height and wide beside the line's own gaps between letters (a sign with
    # widely spaced letters is still one word)
    min_gap = max(gap * ink_h, LETTER_GAPS * letter_gap)
    cuts = [(a + b) / 2 for a, b in inner if b - a >= min_gap]
    if not cuts:
        return [TextBox(q, line.score)]
    edges = [0.0, *cuts, float(cw)]
    out = []
    for a, b in zip(edges, edges[1:]):
        seg = ink[int(a):int(np.ceil(b))]
        if not seg.any():
            continue
        on = np.flatnonzero(seg)
        lo, hi = int(a) + on[0], int(a) + on[-1] + 1  # the word's ink, then a little air around it
        pad = 0.15 * crop.shape[0]
        lo, hi = max(0.0, lo - pad), min(float(cw), hi + pad)
        f0, f1 = lo / cw, hi / cw
        top = q[0] + (q[1] - q[0]) * f0, q[0] + (q[1] - q[0]) * f1
        bot = q[3] + (q[2] - q[3]) * f0, q[3] + (q[2] - q[3]) * f1
        out.append(TextBox(np.array([top[0], top[1], bot[1], bot[0]], dtype=np.float32), line.score))
    return out or [TextBox(q, line.score)]


def _otsu(values: np.ndarray) -> float:
    hist, edges = np.histogram(values, bins=64, range=(0, max(1.0, float(values.max()))))
    p = hist / max(1, hist.sum())
    mids = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p); w1 = 1 - w0
    m0 = np.cumsum(p * mids); mt = m0[-1]
    between = (mt * w0 - m0) ** 2 / np.maximum(w0 * w1, 1e-12)
    return float(mids[int(np.argmax(between))])
