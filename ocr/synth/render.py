"""What both synthetic engines draw with: fonts picked per character, colours, backgrounds, the camera's warp and
degradations (blur, noise, resolution loss, JPEG), text drawn into mask layers. Pure functions of an rng's state."""
from __future__ import annotations

import functools
import io
import math
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from .fonts import font_chars, legibility

@functools.lru_cache(maxsize=2048)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


class FontPicker:
    """Chooses fonts at random, drawing decorative collections (fonts-aenigma) at a set rate.

    A font is used for a text only if it draws every character of it legibly
    (`ocr.synth.fonts.legibility`): a decorative font whose "7" is a heart never labels a heart "7".
    `added` fonts (e.g. script and handwriting faces) are trusted text fonts,
    drawn for `added_rate` of the texts; with none, the choice is exactly as without the option.
    `legible_top`: the legibility test's `top` (1: strict; 3 for the v6 preset, `SynthConfig.legible_top`).
    """

    DECORATIVE = ("/aenigma/",)

    def __init__(self, fonts: tuple[str, ...], decorative_rate: float = 0.2, added: tuple[str, ...] = (),
                 added_rate: float = 0.4, legible_top: int = 1):
        if not 0 <= decorative_rate + (added_rate if added else 0) <= 1:
            raise ValueError("decorative_rate + added_rate must be within [0, 1]")
        have = {Path(f).name.lower() for f in fonts}
        added = tuple(f for f in added if Path(f).name.lower() not in have)  # the same file twice
        self.legible = legibility(tuple(fonts) + added, trusted=added, top=legible_top)
        usable = [f for f in fonts if self.legible[f]] or list(fonts)
        self.plain = [f for f in usable if not any(d in f for d in self.DECORATIVE)]
        self.fancy = [f for f in usable if any(d in f for d in self.DECORATIVE)]
        if not self.plain:
            self.plain, self.fancy = self.fancy, []
        self.rate = decorative_rate if self.fancy else 0.0
        self.added = [f for f in added if self.legible[f]]
        self.added_rate = added_rate if self.added else 0.0

    def _group(self, r: float) -> list[str]:
        if r < self.rate:
            return self.fancy
        return self.added if r < self.rate + self.added_rate else self.plain

    def __call__(self, rng: random.Random, text: str = "", extra: str = "") -> str:
        """A random font that draws every character of `text` legibly and has a glyph for each
        character of `extra` (distractors; never a missing-glyph box)."""
        need, also = set(text), set(extra)
        for _ in range(30):
            path = rng.choice(self._group(rng.random()))
            if need <= self.legible[path] and also <= font_chars(path):
                return path
        for path in self.plain + self.fancy + self.added:  # rare characters: first font that has them all
            if need <= self.legible[path] and also <= font_chars(path):
                return path
        for path in self.plain + self.fancy + self.added:  # none draws them recognizably: any that has them
            if need | also <= font_chars(path):
                return path
        raise ValueError(f"no font can draw {text!r}")


def _luma(c) -> float:
    return (0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]) / 255.0


def _colour(rng: random.Random) -> tuple:
    c = [rng.randint(0, 255) for _ in range(3)]
    if rng.random() < 0.5:  # many real signs are near-grey: pull the channels together
        g, k = sum(c) / 3, rng.uniform(0.0, 0.6)
        c = [int(g + (v - g) * k) for v in c]
    return tuple(c)


def _colour_pair(rng: random.Random, min_contrast: float) -> tuple[tuple, tuple]:
    """Background and foreground colours whose luminance differs by at least min_contrast."""
    for _ in range(50):
        bg, fg = _colour(rng), _colour(rng)
        if abs(_luma(bg) - _luma(fg)) >= min_contrast:
            return bg, fg
    return (255, 255, 255), (0, 0, 0)


def _background(rng: random.Random, w: int, h: int, colour) -> Image.Image:
    """Procedural texture around a base colour: flat, gradient, multi-scale noise or stripes."""
    base = np.array(colour, dtype=np.float32)[None, None, :]
    kind = rng.random()
    nrng = np.random.default_rng(rng.getrandbits(32))
    if kind < 0.3:
        a = np.repeat(np.repeat(base, h, 0), w, 1)
    elif kind < 0.55:
        other = np.array([rng.randint(0, 255) for _ in range(3)], np.float32)
        t = np.linspace(0, 1, w if rng.random() < 0.6 else h, dtype=np.float32)
        t = t[None, :, None] if t.shape[0] == w else t[:, None, None]
        mix = rng.uniform(0.1, 0.5)
        a = base * (1 - mix * t) + other * (mix * t)
        a = np.broadcast_to(a, (h, w, 3)).copy()
    elif kind < 0.9:
        a = np.repeat(np.repeat(base, h, 0), w, 1)
        for scale in (rng.choice((2, 4, 8)), rng.choice((8, 16, 32))):
            sh, sw = max(1, h // scale), max(1, w // scale)
            sigma = rng.uniform(3, 25)
            chans = 3 if rng.random() < 0.3 else 1
            n = [np.asarray(Image.fromarray(nrng.normal(0, sigma, (sh, sw)).astype(np.float32), "F")
                            .resize((w, h), Image.BICUBIC)) for _ in range(chans)]
            a = a + np.stack(n, 2)
    else:
        a = np.repeat(np.repeat(base, h, 0), w, 1)
        period = rng.uniform(3, 20)
        ang = rng.uniform(0, math.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        s = np.sin((xx * math.cos(ang) + yy * math.sin(ang)) * 2 * math.pi / period)
        a = a + s[:, :, None] * rng.uniform(3, 20)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


def degrade(img: Image.Image, rng: random.Random) -> Image.Image:
    """Camera and compression artefacts: blur, resolution loss, noise, JPEG."""
    if rng.random() < 0.35:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.6)))
    if rng.random() < 0.3:
        w, h = img.size
        f = rng.uniform(0.3, 0.8)
        img = img.resize((max(1, int(w * f)), max(1, int(h * f))), Image.BILINEAR).resize((w, h), Image.BILINEAR)
    if rng.random() < 0.4:
        a = np.asarray(img, dtype=np.float32)
        nrng = np.random.default_rng(rng.getrandbits(32))
        noise = nrng.normal(0, rng.uniform(2, 14), a.shape[:2]).astype(np.float32)
        a = a + (noise[..., None] if a.ndim == 3 else noise)  # RGB or greyscale
        img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    if rng.random() < 0.5:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=rng.randint(15, 90))
        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return img


def _warp(layers: Image.Image, rng: random.Random, rot: float, persp: float, curve: float,
          shear: float = 0.0) -> Image.Image:
    """Apply geometric distortions to an RGB image whose channels are text masks.

    rot: maximum rotation in degrees (applied half the time); persp, curve: probabilities of a
    perspective and a sine-curve distortion; shear: probability of an italic-like slant
    (x shifted by up to 0.35 * (y - h/2), the canvas widened so nothing is cut).
    """
    w, h = layers.size
    if shear and rng.random() < shear:
        k = rng.uniform(-0.35, 0.35)
        layers = layers.transform((w + int(abs(k) * h), h), Image.AFFINE, (1, k, -k * h / 2 - abs(k) * h / 2, 0, 1, 0),
                                  Image.BILINEAR)
        w, h = layers.size
    if curve and rng.random() < curve:
        a = np.asarray(layers)
        amp = rng.uniform(0.05, 0.25) * h
        phase, freq = rng.uniform(0, 2 * math.pi), rng.uniform(0.5, 1.5) * math.pi / w
        shifts = (amp * np.sin(np.arange(w) * freq + phase)).astype(int)
        rows = (np.arange(h)[:, None] - shifts[None, :]) % h      # (h, w): source row of each pixel
        layers = Image.fromarray(a[rows, np.arange(w)[None, :]])
    if rot and rng.random() < 0.5:
        layers = layers.rotate(rng.uniform(-rot, rot), Image.BILINEAR, expand=True)
        w, h = layers.size
    if persp and rng.random() < persp:
        d = 0.08
        src = [(rng.uniform(-d, d) * w, rng.uniform(-d, d) * h), (w + rng.uniform(-d, d) * w, rng.uniform(-d, d) * h),
               (w + rng.uniform(-d, d) * w, h + rng.uniform(-d, d) * h), (rng.uniform(-d, d) * w, h + rng.uniform(-d, d) * h)]
        dst = [(0, 0), (w, 0), (w, h), (0, h)]
        layers = layers.transform((w, h), Image.PERSPECTIVE, _persp_coeffs(dst, src), Image.BILINEAR)
    return layers


def _persp_coeffs(dst, src):
    m = []
    for (x, y), (u, v) in zip(dst, src):
        m.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        m.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    return np.linalg.solve(np.array(m, float), np.array(src, float).reshape(8)).tolist()


def _draw_text(draw_layers: list[ImageDraw.ImageDraw], xy, text, font, spacing: float, stroke: int, curve_y=None):
    """Draw text into the fill (0) and border (1) masks; per character when spacing or curve is set.

    Returns the list of character boxes (x0, y0, x1, y1) in layer coordinates.
    """
    fill, border = draw_layers
    x, y = xy
    if not spacing and curve_y is None:  # fast path: one call for the whole string
        if stroke:
            border.text((x, y), text, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
        fill.text((x, y), text, font=font, fill=255)
        return [fill.textbbox((x, y), text, font=font)]
    boxes = []
    for i, ch in enumerate(text):
        dy = curve_y(i) if curve_y else 0
        bb = fill.textbbox((x, y + dy), ch, font=font)
        if stroke:
            border.text((x, y + dy), ch, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
        fill.text((x, y + dy), ch, font=font, fill=255)
        boxes.append(bb)
        x += font.getlength(ch) + spacing
    return boxes

