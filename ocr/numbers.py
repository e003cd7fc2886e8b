"""Finding the house number in a photo: a small CNN that points at it, then the digits reader checks the frame.

    regions = find_number(photo, digits_recognizer)   # [TextBox] of the number's SVHN frame, or [] if none

A generic scene-text detector misses most house numbers in small, blurry street-view frames, so numbers get
their own finder (`NumberFinder`, ~0.2 M parameters, trained on the digits engine's scenes by
`scripts/train_numbers.py`). The photo is letterboxed into a SIZE x SIZE square; the network predicts, on a grid
of stride 8, how likely each cell holds the centre of a number (a heat map) and, there, the centre's offset and
the number's SVHN frame size (CenterNet-style: Zhou et al., "Objects as Points", 2019). The strongest peaks
become candidate frames, each read by the digits model together with a few frames around it; the reading with
the highest confidence x peak score wins. Its checkpoint, `data/models/numbers.safetensors`, is a safetensors file
(format "ocr-numberfinder/1": tensors, config, meta, digest; loading runs no code).

Shapes: NumberFinder(x (N, 3, SIZE, SIZE) in [-1, 1]) -> (N, 5, SIZE/8, SIZE/8): heat logit, dx, dy (cell units),
log(frame w / SIZE), log(frame h / SIZE).
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from .checkpoint import tensor_digest
from .detect import TextBox

SIZE = 128
STRIDE = 8
FORMAT = "ocr-numberfinder/1"
MIN_PEAK = 0.2        # a peak weaker than this is no number
MIN_CONFIDENCE = 0.3  # a frame read less confidently than this is no number


def _block(cin: int, cout: int, stride: int, convs: int = 2) -> nn.Sequential:
    layers = []
    for i in range(convs):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, stride if i == 0 else 1, 1, bias=False),
                   nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class NumberFinder(nn.Module):
    """Four stride-2 stages (the first a single conv), the last one's output added back at stride 8, a small head."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64, 96)):
        super().__init__()
        self.widths = tuple(widths)
        w1, w2, w3, w4 = self.widths
        self.s1, self.s2 = _block(3, w1, 2, convs=1), _block(w1, w2, 2)
        self.s3, self.s4 = _block(w2, w3, 2), _block(w3, w4, 2)
        self.lateral = nn.Conv2d(w4, w3, 1)
        self.head = nn.Sequential(nn.Conv2d(w3, w3, 3, 1, 1), nn.ReLU(inplace=True), nn.Conv2d(w3, 5, 1))
        nn.init.constant_(self.head[-1].bias, 0.0)
        with torch.no_grad():
            self.head[-1].bias[0] = -2.2  # the heat map starts near 0.1 (CenterNet's prior)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c3 = self.s3(self.s2(self.s1(x)))                    # (N, w3, SIZE/8, SIZE/8)
        c4 = self.s4(c3)                                     # (N, w4, SIZE/16, SIZE/16)
        up = nn.functional.interpolate(self.lateral(c4), size=c3.shape[-2:], mode="nearest")
        return self.head(c3 + up)                            # (N, 5, SIZE/8, SIZE/8)


def letterbox(img: Image.Image, size: int = SIZE) -> tuple[torch.Tensor, float, tuple[int, int]]:
    """RGB image -> ((3, size, size) in [-1, 1], scale, (left, top) offset): the photo scaled to fit, centred,
    the rest filled with its mean colour."""
    img = img.convert("RGB")
    s = size / max(img.width, img.height)
    w, h = max(1, round(img.width * s)), max(1, round(img.height * s))
    small = img.resize((w, h), Image.BILINEAR)
    mean = tuple(int(v) for v in np.asarray(small).reshape(-1, 3).mean(0))
    canvas = Image.new("RGB", (size, size), mean)
    off = ((size - w) // 2, (size - h) // 2)
    canvas.paste(small, off)
    x = torch.from_numpy(np.asarray(canvas, dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1
    return x, s, off


def peaks(out: torch.Tensor, k: int = 3) -> list[tuple[float, float, float, float, float]]:
    """Network output (5, G, G) of one image -> up to k (score, cx, cy, w, h) in letterboxed pixels, strongest
    first; a peak is a cell at least as strong as its 8 neighbours."""
    heat = torch.sigmoid(out[0])
    local = nn.functional.max_pool2d(heat[None, None], 3, 1, 1)[0, 0]
    cand = ((heat == local) & (heat >= MIN_PEAK)).nonzero().tolist()
    cand.sort(key=lambda yx: -float(heat[yx[0], yx[1]]))
    res = []
    for y, x in cand[:k]:
        cx, cy = (x + 0.5 + float(out[1, y, x])) * STRIDE, (y + 0.5 + float(out[2, y, x])) * STRIDE
        w, h = float(torch.exp(out[3, y, x].clamp(-6, 2))) * SIZE, float(torch.exp(out[4, y, x].clamp(-6, 2))) * SIZE
        res.append((float(heat[y, x]), cx, cy, w, h))
    return res


def save_finder(model: NumberFinder, path: str | Path, meta: dict | None = None) -> Path:
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(sd, str(path), metadata={"format": FORMAT, "config": json.dumps({"widths": list(model.widths)}),
                                       "meta": json.dumps(meta or {}, default=str), "sha256": tensor_digest(sd)})
    return path


def load_finder(path: str | Path) -> tuple[NumberFinder, dict]:
    """-> (model in eval mode, meta); CheckpointError for a missing, altered or foreign file."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    from .checkpoint import CheckpointError

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"number finder not found: {path}")
    try:
        with safe_open(str(path), "pt") as f:
            header = f.metadata() or {}
        sd = load_file(str(path))
        if header.get("format") != FORMAT:
            raise CheckpointError(f"{path} is not a number finder (format {header.get('format')!r})")
        if header.get("sha256") != tensor_digest(sd):
            raise CheckpointError(f"{path} fails its integrity check (altered or truncated)")
        cfg = json.loads(header["config"])
        widths = tuple(int(w) for w in cfg["widths"])
        if len(widths) != 4 or not all(1 <= w <= 512 for w in widths):
            raise CheckpointError(f"{path}: bad widths {widths}")
        model = NumberFinder(widths)
        model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    except CheckpointError:
        raise
    except (SafetensorError, OSError, ValueError, KeyError, RuntimeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path} is not a usable number finder: {e}") from None
    return model.eval(), json.loads(header.get("meta", "{}"))


@functools.lru_cache(maxsize=1)
def default_finder() -> NumberFinder:
    from .settings import models_dir
    return load_finder(models_dir() / "numbers.safetensors")[0]


JITTER = ((0, 0, 1.0), (0, 0, 1.15), (0, 0, 0.87), (-0.08, 0, 1.0), (0.08, 0, 1.0), (0, -0.08, 1.0), (0, 0.08, 1.0))


@torch.inference_mode()
def find_number(image: Image.Image, recognizer, finder: NumberFinder | None = None, k: int = 3) -> list[TextBox]:
    """The house number's SVHN frame in the photo as one TextBox (score: the winning frame's peak x reading
    confidence), or [] when no peak or reading is strong enough. recognizer: the digits TextRecognizer."""
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
