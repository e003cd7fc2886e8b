"""Finding the house number in a photo: a small CNN that points at it, then the digits reader checks the frame.

    regions = find_number(photo, digits_recognizer)   # [TextBox] of the number's SVHN frame, or [] if none

A generic scene-text detector misses most house numbers in small, blurry street-view frames, so numbers get
their own finder (`ocr.finder.NumberFinder`, ~0.2 M parameters, trained on the digits engine's scenes by
`scripts/train_numbers.py`). The photo is letterboxed into a SIZE x SIZE square; the network predicts, on a grid
of stride 8, how likely each cell holds the centre of a number (a heat map) and, there, the centre's offset and
the number's SVHN frame size (CenterNet-style: Zhou et al., "Objects as Points", 2019). The strongest peaks
become candidate frames, each read by the digits model together with a few frames around it; the reading with
the highest confidence x peak score wins. Its checkpoint is `data/models/numbers.safetensors`; without PyTorch
the finder runs from its ONNX export beside it (`numbers.onnx`, `ocr.onnx_export`).

Shapes: letterbox -> (3, SIZE, SIZE) float32 in [-1, 1]; the network's output (5, SIZE/8, SIZE/8): heat logit,
dx, dy (cell units), log(frame w / SIZE), log(frame h / SIZE).
"""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np
from PIL import Image

from .detect import TextBox

SIZE = 128
STRIDE = 8
MIN_PEAK = 0.2        # a peak weaker than this is no number
MIN_CONFIDENCE = 0.3  # a frame read less confidently than this is no number


def letterbox(img: Image.Image, size: int = SIZE) -> tuple[np.ndarray, float, tuple[int, int]]:
    """RGB image -> ((3, size, size) float32 in [-1, 1], scale, (left, top) offset): the photo scaled to fit,
    centred, the rest filled with its mean colour."""
    img = img.convert("RGB")
    s = size / max(img.width, img.height)
    w, h = max(1, round(img.width * s)), max(1, round(img.height * s))
    small = img.resize((w, h), Image.BILINEAR)
    mean = tuple(int(v) for v in np.asarray(small).reshape(-1, 3).mean(0))
    canvas = Image.new("RGB", (size, size), mean)
    off = ((size - w) // 2, (size - h) // 2)
    canvas.paste(small, off)
    x = np.asarray(canvas, dtype=np.float32).transpose(2, 0, 1) / np.float32(127.5) - np.float32(1)
    return np.ascontiguousarray(x), s, off


def _max3x3(a: np.ndarray) -> np.ndarray:
    """The maximum over each cell's 3 x 3 neighbourhood (the edges padded with -inf)."""
    p = np.pad(a, 1, constant_values=-np.inf)
    h, w = a.shape
    return np.max([p[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)], axis=0)


def peaks(out: np.ndarray, k: int = 3) -> list[tuple[float, float, float, float, float]]:
    """Network output (5, G, G) of one image -> up to k (score, cx, cy, w, h) in letterboxed pixels, strongest
    first; a peak is a cell at least as strong as its 8 neighbours."""
    out = np.asarray(out, dtype=np.float32)
    heat = 1 / (1 + np.exp(-out[0]))
    cand = np.argwhere((heat == _max3x3(heat)) & (heat >= MIN_PEAK)).tolist()
    cand.sort(key=lambda yx: -float(heat[yx[0], yx[1]]))
    res = []
    for y, x in cand[:k]:
        cx, cy = (x + 0.5 + float(out[1, y, x])) * STRIDE, (y + 0.5 + float(out[2, y, x])) * STRIDE
        w = float(np.exp(np.clip(out[3, y, x], -6, 2))) * SIZE
        h = float(np.exp(np.clip(out[4, y, x], -6, 2))) * SIZE
        res.append((float(heat[y, x]), cx, cy, w, h))
    return res


def torch_finder(model) -> Callable[[np.ndarray], np.ndarray]:
    """A `NumberFinder` (eval mode) as images (N, 3, SIZE, SIZE) -> output (N, 5, G, G), NumPy in and out."""
    import torch

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()
    return run


def onnx_finder(path) -> Callable[[np.ndarray], np.ndarray]:
    """A finder checkpoint's ONNX export (`ocr.onnx_reader.open_graph`) run by ONNX Runtime; CheckpointError for a
    missing or broken graph or one made from other weights."""
    from safetensors import safe_open

    from .onnx_reader import open_graph

    with safe_open(str(path), framework="np") as f:
        digest = (f.metadata() or {}).get("sha256")
    session = open_graph(path, digest)
    return lambda x: session.run({"images": np.ascontiguousarray(x, dtype=np.float32)})[0]


@functools.lru_cache(maxsize=1)
def default_finder() -> Callable[[np.ndarray], np.ndarray]:
    """The shipped finder (`data/models/numbers.safetensors`): run by PyTorch where it is installed, else from
    its ONNX export by ONNX Runtime."""
    from .settings import models_dir

    path = models_dir() / "numbers.safetensors"
    try:
        import torch  # noqa: F401
    except ImportError:
        return onnx_finder(path)
    from .finder import load_finder
    return torch_finder(load_finder(path)[0])


JITTER = ((0, 0, 1.0), (0, 0, 1.15), (0, 0, 0.87), (-0.08, 0, 1.0), (0.08, 0, 1.0), (0, -0.08, 1.0), (0, 0.08, 1.0))


def find_number(image: Image.Image, recognizer, finder: Callable[[np.ndarray], np.ndarray] | None = None,
                k: int = 3) -> list[TextBox]:
    """The house number's SVHN frame in the photo as one TextBox (score: the winning frame's peak x reading
    confidence), or [] when no peak or reading is strong enough. recognizer: the digits TextRecognizer; finder:
    images (N, 3, SIZE, SIZE) -> network output (N, 5, G, G) (default: the shipped finder, `default_finder`)."""
    finder = finder or default_finder()
    img = image.convert("RGB")
    x, s, (ox, oy) = letterbox(img)
    cands = peaks(finder(x[None])[0], k)
    if not cands:
        return []
    frames, owners = [], []
    for i, (score, cx, cy, w, h) in enumerate(cands):
        cx, cy, w, h = (cx - ox) / s, (cy - oy) / s, w / s, h / s  # photo pixels
        for dx, dy, z in JITTER:
            frames.append((cx + dx * w, cy + dy * h, w * z, h * z))
            owners.append(i)
    crops = [img.crop((round(cx - w / 2), round(cy - h / 2), round(cx + w / 2), round(cy + h / 2)))
             for cx, cy, w, h in frames]
    preds = recognizer.read(crops, fast=True)
    best = max(range(len(frames)), key=lambda j: cands[owners[j]][0] * preds[j].confidence)
    if not preds[best].text or preds[best].confidence < MIN_CONFIDENCE:
        return []
    cx, cy, w, h = frames[best]
    return [TextBox.from_box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2,
                             cands[owners[best]][0] * preds[best].confidence)]
