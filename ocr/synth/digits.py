"""The synthetic house-number engine: SVHN-style crops and street scenes around them.

    ds = DigitSynth(seed=s); image, digits = ds[i]          # a pure function of (seed, i)
    image, digits, frame = ds.scene(i)                      # a scene with the number's SVHN frame (the finder's data)

1-5 digits (the length frequencies of the real SVHN test set) on walls and plates, digit boxes whose union is
expanded by 30 % and cropped (the SVHN protocol), neighbouring distractor characters at the edges; 15 % of the
numbers are painted by hand (`ocr.synth.strokes`).
"""
from __future__ import annotations

import random
import string

from PIL import Image, ImageDraw

from ..config import svhn_frame
from .fonts import find_fonts
from .render import FontPicker, _background, _colour_pair, _draw_text, _font, _luma, _warp, degrade
from .strokes import draw_strokes

# Digits per house number in the SVHN test annotation (13,068 images): 1..5.
SVHN_LENGTH_FREQ = (2483, 8356, 2081, 146, 2)


class DigitSynth:
    """Synthetic house-number crops (SVHN protocol). `ds[i]` -> (PIL RGB image, digits)."""

    def __init__(self, fonts: tuple[str, ...] | None = None, seed: int = 0, length: int = 10_000_000,
                 max_len: int = 5, min_contrast: float = 0.25, painted_rate: float = 0.15):
        self.fonts = fonts or find_fonts(required=string.digits)
        if not self.fonts:
            raise RuntimeError("no usable fonts found; install some (docs/TRAINING.md) or pass --fonts DIR")
        self.pick_font = FontPicker(self.fonts)
        self.seed, self.length, self.max_len, self.min_contrast = seed, length, max_len, min_contrast
        self.painted_rate = painted_rate  # share of numbers painted with ocr.synth.strokes instead of a font
        self.lengths = list(range(1, 6))[:max_len]
        self.weights = [w + 60 for w in SVHN_LENGTH_FREQ][:max_len]  # flatten the tail a little

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[Image.Image, str]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = random.Random(self.seed * 1_000_003 + index + 7)
        n = rng.choices(self.lengths, self.weights)[0]
        text = str(rng.randint(1, 9)) + "".join(rng.choice(string.digits) for _ in range(n - 1))
        if rng.random() < 0.15:
            text = "".join(rng.choice(string.digits) for _ in range(n))
        return self.render(text, rng), text

    def render(self, text: str, rng: random.Random, context: tuple[float, float, float, float] | None = None
               ) -> Image.Image:
        """The number as an SVHN crop; context (sx, sy, ox, oy): a wider view instead, the crop grown sx times
        in width and sy in height and its centre moved by (ox, oy) of the grown size (a house-number scene:
        `scene`)."""
        font = _font(self.pick_font(rng, text, extra="0123456789ABCDEFabcdef"), rng.randint(24, 64))
        size = font.size
        spacing = rng.uniform(-0.05, 0.4) * size
        stroke = rng.choice((1, 2)) if rng.random() < 0.1 else 0
        # neighbours: characters beyond the number, separated by a gap, partly inside the crop
        left = "".join(rng.choice(string.digits + "ABCDEF") for _ in range(rng.randint(1, 2))) if rng.random() < 0.3 else ""
        right = "".join(rng.choice(string.digits + "abcdef") for _ in range(rng.randint(1, 2))) if rng.random() < 0.3 else ""
        gap = rng.uniform(0.4, 1.2) * size
        pad = 2 * size
        total = sum(font.getlength(c) + spacing for c in left + text + right) + 2 * gap + 2 * pad
        W, H = int(total), int(size * 1.6 + 2 * pad)
        masks = [Image.new("L", (W, H), 0) for _ in range(3)]
        draws = [ImageDraw.Draw(m) for m in masks[:2]]
        x = pad
        if left:
            x = _draw_text(draws, (x, pad), left, font, spacing, stroke)[-1][2] + gap
        if rng.random() < self.painted_rate:  # hand-painted digits (ocr.synth.strokes) instead of the font
            boxes = draw_strokes(draws, (x, pad + 0.2 * size), text, int(0.75 * size), spacing, rng)
        else:
            boxes = _draw_text(draws, (x, pad), text, font, spacing, stroke)
        if right:
            _draw_text(draws, (boxes[-1][2] + gap, pad), right, font, spacing, stroke)
        # union of the digit boxes, expanded by 30 % about its centre (SVHN protocol), kept square-ish
        x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
        x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
        cx, cy, bw, bh = svhn_frame(x0, y0, x1, y1)
        cx += rng.uniform(-0.06, 0.06) * bw
        cy += rng.uniform(-0.06, 0.06) * bh
        # plate behind the number (drawn into the shadow channel as a flat shape)
        if rng.random() < 0.35:
            m = rng.uniform(0.1, 0.5) * size
            ImageDraw.Draw(masks[2]).rounded_rectangle(
                [x0 - m, y0 - m, x1 + m, y1 + m], radius=rng.uniform(0, m), fill=255)
        layers = Image.merge("RGB", masks)
        if context is not None:
            sx, sy, ox, oy = context
            bw, bh = bw * sx, bh * sy
            cx, cy = cx + ox * bw, cy + oy * bh
        box = (int(cx - bw / 2), int(cy - bh / 2), int(cx + bw / 2), int(cy + bh / 2))
        layers = layers.crop(box)  # pads with black (= empty mask) outside the canvas
        layers = _warp(layers, rng, rot=25.0, persp=0.4, curve=0.0, shear=0.3).resize(layers.size, Image.BILINEAR)
        img = self._compose(rng, layers)
        return degrade(img, rng)

    def scene(self, index: int) -> tuple[Image.Image, str, tuple[float, float, float, float]]:
        """A house-number scene: the number with up to 5x more of its surroundings than an SVHN crop (a quarter
        of them about as tight as the crop itself), anywhere in the picture -> (RGB image, digits, the number's
        SVHN frame (x0, y0, x1, y1), approximately: the warp moves it a little). A pure function of the index."""
        rng = random.Random(self.seed * 1_000_003 + index + 99_991)
        n = rng.choices(self.lengths, self.weights)[0]
        text = str(rng.randint(1, 9)) + "".join(rng.choice(string.digits) for _ in range(n - 1))
        if rng.random() < 0.25:
            sx, sy = rng.uniform(1.0, 1.25), rng.uniform(1.0, 1.25)
        else:
            sx, sy = rng.uniform(1.25, 5.0), rng.uniform(1.2, 3.5)
        ox, oy = rng.uniform(-0.45, 0.45) * (1 - 1 / sx), rng.uniform(-0.45, 0.45) * (1 - 1 / sy)
        img = self.render(text, rng, context=(sx, sy, ox, oy))
        w, h = img.size
        fw, fh = w / sx, h / sy
        cx, cy = w / 2 - ox * w, h / 2 - oy * h
        return img, text, (cx - fw / 2, cy - fh / 2, cx + fw / 2, cy + fh / 2)

    def _compose(self, rng: random.Random, masks: Image.Image) -> Image.Image:
        w, h = masks.size
        bg_col, fg_col = _colour_pair(rng, self.min_contrast)
        img = _background(rng, w, h, bg_col)
        fill, border, plate = masks.split()
        if plate.getbbox():
            pc, _ = _colour_pair(rng, 0.0)
            for _ in range(20):
                if abs(_luma(pc) - _luma(fg_col)) >= self.min_contrast:
                    break
                pc = tuple(rng.randint(0, 255) for _ in range(3))
            img.paste(Image.new("RGB", (w, h), pc), (0, 0), plate)
        if border.getbbox():
            img.paste(Image.new("RGB", (w, h), tuple(255 - c for c in fg_col)), (0, 0), border)
        img.paste(Image.new("RGB", (w, h), fg_col), (0, 0), fill)
        return img
