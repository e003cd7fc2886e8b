"""Word scenes for measuring `read_photo`: real word crops pasted onto photos, with their true quads.

    make_scene(crops, rng, size=(1280, 960)) -> (RGB photo, [(quad (4, 2), label)])

Each crop is scaled to a random height, turned by up to `max_angle` degrees and pasted where it overlaps no
other word; the background is a random crop of one of the synthetic engine's texture photos (`ocr.synth.textures`),
scaled to the scene's size. A pure function of the rng's state and the crops given.
"""
from __future__ import annotations

import math
import random

import numpy as np
from PIL import Image, ImageFilter

from .textures import patch


def _turned(img: Image.Image, angle: float) -> tuple[Image.Image, Image.Image, np.ndarray]:
    """-> (turned RGB image, its mask, the crop's corners in the turned image (4, 2), clockwise from top-left)."""
    w, h = img.size
    mask = Image.new("L", (w, h), 255)
    rgb = img.convert("RGB").rotate(angle, Image.BICUBIC, expand=True)
    mask = mask.rotate(angle, Image.BILINEAR, expand=True)
    a = math.radians(-angle)  # PIL turns counter-clockwise for a positive angle; y points down
    c, s = math.cos(a), math.sin(a)
    corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    rot = corners @ np.array([[c, s], [-s, c]])
    rot += np.array(rgb.size) / 2
    return rgb, mask, rot.astype(np.float32)


def make_scene(crops: list[tuple[Image.Image, str]], rng: random.Random, size: tuple[int, int] = (1280, 960),
               heights: tuple[int, int] = (24, 110), max_angle: float = 15.0, tries: int = 50):
    """Paste the crops (image, label) onto a texture photo -> (photo, [(quad, label)]) of those that found room."""
    W, H = size
    photo = patch(rng, W, H).filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.5)))
    taken: list[tuple[float, float, float, float]] = []
    out = []
    for img, label in crops:
        th = rng.randint(*heights)
        tw = max(4, round(img.width * th / max(1, img.height)))
        if tw > 0.9 * W:
            th, tw = round(th * 0.9 * W / tw), round(0.9 * W)
        turned, mask, quad = _turned(img.convert("RGB").resize((tw, th), Image.BICUBIC),
                                     rng.uniform(-max_angle, max_angle))
        for _ in range(tries):
            x, y = rng.randint(0, W - turned.width) if W > turned.width else 0, \
                rng.randint(0, H - turned.height) if H > turned.height else 0
            box = (x, y, x + turned.width, y + turned.height)
            if all(box[2] <= b[0] or b[2] <= box[0] or box[3] <= b[1] or b[3] <= box[1] for b in taken):
                break
        else:
            continue
        taken.append(box)
        photo.paste(turned, (x, y), mask)
        out.append((quad + np.array([x, y], dtype=np.float32), label))
    return photo, out


def box_iou(a, b) -> float:
    """IoU of two axis-aligned boxes (x0, y0, x1, y1)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
