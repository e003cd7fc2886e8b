"""Synthetic training images for words and house numbers, after the MJSynth recipe.

Each sample is a pure function of (seed, index): `WordSynth(seed=s)[i]` is the same image on every
machine with the same fonts, so datasets can be re-created, split and sharded without storing them.

Word pipeline (Jaderberg et al. 2014): text from a lexicon or generators (numbers, dates, prices,
random strings) -> font, size, spacing, underline -> fill / border / shadow layers -> rotation,
perspective and curved-baseline distortion -> procedural background texture and colours with a
minimum contrast -> alpha blending -> crop with random padding -> blur, noise, resolution loss, JPEG.

House numbers: 1-5 digits (length frequencies of the real SVHN test set) on walls and plates,
digit boxes whose union is expanded by 30 % and cropped (the SVHN protocol), with neighbouring
distractor characters at the edges; 15 % of the numbers are painted by hand (`ocr.strokes`).
"""
from __future__ import annotations

import functools
import io
import math
import random
import string
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from .config import WORD_ENGINES, lower_if_caseless, svhn_frame
from .fonts import find_fonts, font_chars, legibility
from .settings import data_dir
from .strokes import draw_strokes

LEXICON = data_dir() / "lexicon.txt"
# The v4 engine's word frequencies (scripts/word_frequencies.py, from wordfreq; CC BY-SA 4.0). Fitted on the
# real train labels (letters-only words): drawing FREQUENT_RATE of the lexicon words from this list with weight
# frequency ** FREQUENT_EXPONENT, the rest uniformly from the lexicon, puts 13 / 30 / 52 / 75 % of the words among
# the 100 / 1,000 / 5,000 / 20,000 most frequent, against 12.5 / 33 / 59 / 76 % of the real labels (the uniform
# lexicon alone: 0.1 / 1.4 / 7 / 26 %).
FREQUENT_WORDS = data_dir() / "synth" / "word_frequencies.tsv"
FREQUENT_RATE, FREQUENT_EXPONENT = 0.8, 0.7
# Digits per house number in the SVHN test annotation (13,068 images): 1..5.
SVHN_LENGTH_FREQ = (2483, 8356, 2081, 146, 2)


def load_lexicon(path: str | Path = LEXICON) -> list[str]:
    words = [w.strip() for w in Path(path).read_text(encoding="utf-8").splitlines()]
    return [w for w in words if w]


@functools.lru_cache(maxsize=1)
def frequent_words(path: str = str(FREQUENT_WORDS), exponent: float = FREQUENT_EXPONENT) -> tuple[list[str], list[float]]:
    """(words, cumulative weights) of the word-frequency list, weight = frequency ** exponent."""
    words, cum, total = [], [], 0.0
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        try:
            word, zipf = line.split("\t")
            total += 10 ** (exponent * float(zipf))
        except ValueError:
            raise ValueError(f"{path}:{n}: expected 'word<TAB>zipf frequency', got {line!r}") from None
        words.append(word)
        cum.append(total)
    if not words:
        raise ValueError(f"{path} lists no words")
    return words, cum


@functools.lru_cache(maxsize=2048)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


class FontPicker:
    """Chooses fonts at random, drawing decorative collections (fonts-aenigma) at a set rate.

    A font is used for a text only if it draws every character of it legibly
    (`ocr.fonts.legibility`): a decorative font whose "7" is a heart never labels a heart "7".
    `added` fonts (e.g. script and handwriting faces given with `--add-fonts`) are trusted text fonts,
    drawn for `added_rate` of the texts; with none, the choice is exactly as without the option.
    `legible_top`: the legibility test's `top` (1: strict, engines v1-v5; LEGIBLE_TOP for the others).
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


def _compose(rng: random.Random, masks: Image.Image, min_contrast: float) -> Image.Image:
    """Masks (R=fill, G=border, B=shadow) -> coloured text on a textured background."""
    w, h = masks.size
    bg_col, fg_col = _colour_pair(rng, min_contrast)
    img = _background(rng, w, h, bg_col)
    fill, border, shadow = masks.split()
    if shadow.getbbox():
        shadow = shadow.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.5)))
        sc = tuple(int(c * 0.3) for c in bg_col) if _luma(bg_col) > 0.5 else tuple(min(255, c + 90) for c in bg_col)
        img.paste(Image.new("RGB", (w, h), sc), (0, 0), shadow.point(lambda v: int(v * 0.8)))
    if border.getbbox():
        bc = tuple(255 - c for c in fg_col) if rng.random() < 0.5 else _colour_pair(rng, min_contrast)[1]
        img.paste(Image.new("RGB", (w, h), bc), (0, 0), border)
    alpha = rng.uniform(0.75, 1.0)
    img.paste(Image.new("RGB", (w, h), fg_col), (0, 0), fill.point(lambda v: int(v * alpha)))
    return img


# v1: the engine of the first shipped models; v2, v3: see ocr.synth_v2; v4: v2 whose lexicon words follow the
# frequencies of English words (FREQUENT_WORDS) instead of a uniform draw from the lexicon; v5: v4 + v3's words
# bent along a circle (ocr.synth_v2.CIRCULAR_ARC); v6: v5 whose fonts draw a character if it is among the three
# nearest reference characters (LEGIBLE_TOP, `ocr.fonts.legibility`), not only the nearest.
ENGINES = WORD_ENGINES
FREQUENCY_ENGINES = ("v4", "v5", "v6")   # engines whose lexicon words follow FREQUENT_WORDS
LEGIBLE_TOP = {"v6": 3}   # engine -> the legibility test's `top` (1 for the others)


class WordSynth:
    """Synthetic cropped-word images. `ws[i]` -> (PIL RGB image, text); deterministic in (seed, i)."""

    def __init__(self, charset: str, fonts: tuple[str, ...] | None = None, lexicon: list[str] | None = None,
                 seed: int = 0, length: int = 10_000_000, max_len: int = 25, min_contrast: float = 0.25,
                 engine: str = "v1", added_fonts: tuple[str, ...] = (), added_rate: float = 0.4,
                 circles: float | None = None):
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; one of {', '.join(ENGINES)}")
        from .synth_v2 import CIRCULAR_ARC
        if circles is not None and (engine not in CIRCULAR_ARC or not 0 <= circles <= 1):
            raise ValueError(f"circles (the share of words bent along a circle) is a number in [0, 1] for the "
                             f"engines {', '.join(CIRCULAR_ARC)}; got {circles!r} for {engine}")
        self.engine = engine
        # share of words bent along a circle: the engine's own unless told (1.0: a bent-word validation set)
        self.circles = CIRCULAR_ARC.get(engine, 0.0) if circles is None else float(circles)
        self.charset = charset
        self.chars = set(charset)
        self.fonts = fonts or find_fonts(required=string.ascii_letters + string.digits)
        if not self.fonts:
            raise RuntimeError("no usable fonts found; install some (docs/TRAINING.md) or pass --fonts DIR")
        self.pick_font = FontPicker(self.fonts, added=tuple(added_fonts), added_rate=added_rate,
                                    legible_top=LEGIBLE_TOP.get(engine, 1))
        lex = lexicon if lexicon is not None else load_lexicon()
        self.lexicon = [w for w in lex if len(w) <= max_len] or ["text"]
        self.seed, self.length, self.max_len, self.min_contrast = seed, length, max_len, min_contrast

    def __len__(self) -> int:
        return self.length

    def _fit(self, text: str) -> str:
        """Keep only characters of the charset (lower-case letters if the charset has no capitals)."""
        text = "".join(c for c in lower_if_caseless(text, self.charset) if c in self.chars)[: self.max_len]
        return text or self.charset[0]

    def sample_text(self, rng: random.Random) -> str:
        r = rng.random()
        if r < 0.62:
            if self.engine in FREQUENCY_ENGINES and rng.random() < FREQUENT_RATE:
                words, cum = frequent_words()
                w = rng.choices(words, cum_weights=cum)[0]
            else:
                w = rng.choice(self.lexicon)
            if self.engine == "v1":
                c = rng.random()
                w = w.lower() if c < 0.4 else w.capitalize() if c < 0.72 else w.upper()
            else:
                from .synth_v2 import case_mix
                w = case_mix(w, rng)
            if rng.random() < 0.12:
                p = rng.choice([".", ",", "!", "?", ":", ";", "'s", "-", ")", '"'])
                w = ("(" + w if p == ")" else '"' + w if p == '"' else w) + p
            return self._fit(w)
        if r < 0.74:  # numbers and codes
            k = rng.random()
            if k < 0.4:
                t = str(rng.randint(0, 10 ** rng.randint(1, 6)))
            elif k < 0.6:
                t = f"{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
            elif k < 0.8:
                t = f"{rng.randint(0, 999)}.{rng.randint(0, 99):02d}"
            else:
                t = "".join(rng.choice(string.ascii_uppercase) for _ in range(rng.randint(1, 3))) + str(rng.randint(1, 9999))
            return self._fit(t)
        if r < 0.80:  # dates and times
            y, m, d = rng.randint(1950, 2035), rng.randint(1, 12), rng.randint(1, 28)
            t = rng.choice([f"{d:02d}/{m:02d}/{y}", f"{y}-{m:02d}-{d:02d}", f"{m}/{d}/{y % 100:02d}",
                            f"{rng.randint(0, 23)}:{rng.randint(0, 59):02d}", f"{d}.{m}.{y}"])
            return self._fit(t)
        if r < 0.86:  # prices and percentages
            v = rng.randint(0, 9999)
            t = rng.choice([f"${v // 100}.{v % 100:02d}", f"${v}", f"{v % 100}%", f"{v}.{rng.randint(0, 99):02d}",
                            f"£{v % 500}", f"#{v}"])
            return self._fit(t)
        # random strings
        n = rng.randint(1, 12)
        pool = rng.choice([string.ascii_lowercase, string.ascii_uppercase, string.ascii_letters + string.digits,
                           self.charset])
        return self._fit("".join(rng.choice(pool) for _ in range(n)))

    def render(self, text: str, rng: random.Random) -> Image.Image:
        font = _font(self.pick_font(rng, text), rng.randint(18, 44))
        size = font.size
        stroke = rng.choice((1, 2, 3)) if rng.random() < 0.15 else 0
        spacing = rng.uniform(-0.05, 0.35) * size if rng.random() < 0.25 else 0.0
        pad = size
        width = int(sum(font.getlength(c) for c in text) + spacing * len(text) + 2 * pad + 2 * stroke)
        height = int(size * 1.6 + 2 * pad)
        masks = [Image.new("L", (max(width, 1), height), 0) for _ in range(3)]
        draws = [ImageDraw.Draw(m) for m in masks[:2]]
        boxes = _draw_text(draws, (pad, pad), text, font, spacing, stroke)
        if rng.random() < 0.05:
            x0, x1 = boxes[0][0], boxes[-1][2]
            yb = max(b[3] for b in boxes) + max(1, size // 12)
            draws[0].line([(x0, yb), (x1, yb)], fill=255, width=max(1, size // 14))
        if rng.random() < 0.2:  # drop shadow
            dx, dy = rng.randint(-3, 3) or 1, rng.randint(1, 4)
            src = masks[1] if stroke else masks[0]
            masks[2].paste(src, (dx * max(1, size // 20), dy * max(1, size // 20)))
        layers = _warp(Image.merge("RGB", masks), rng, rot=5.0, persp=0.3, curve=0.1)
        bbox = layers.getbbox() or (0, 0, layers.width, layers.height)
        # random padding around the text box (sometimes cutting into it slightly)
        bh = bbox[3] - bbox[1]
        l, r = (int(bh * rng.uniform(-0.05, 0.35)) for _ in range(2))
        t, b = (int(bh * rng.uniform(-0.05, 0.3)) for _ in range(2))
        box = (max(0, bbox[0] - l), max(0, bbox[1] - t), min(layers.width, bbox[2] + r), min(layers.height, bbox[3] + b))
        layers = layers.crop(box)
        img = _compose(rng, layers, self.min_contrast if rng.random() < 0.9 else 0.12)
        return degrade(img, rng)

    def __getitem__(self, index: int) -> tuple[Image.Image, str]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = random.Random(self.seed * 1_000_003 + index)
        text = self.sample_text(rng)
        if self.engine != "v1":
            from . import synth_v2
            return synth_v2.render(self, text, rng), text
        return self.render(text, rng), text


class DigitSynth:
    """Synthetic house-number crops (SVHN protocol). `ds[i]` -> (PIL RGB image, digits)."""

    def __init__(self, fonts: tuple[str, ...] | None = None, seed: int = 0, length: int = 10_000_000,
                 max_len: int = 5, min_contrast: float = 0.25, painted_rate: float = 0.15):
        self.fonts = fonts or find_fonts(required=string.digits)
        if not self.fonts:
            raise RuntimeError("no usable fonts found; install some (docs/TRAINING.md) or pass --fonts DIR")
        self.pick_font = FontPicker(self.fonts)
        self.seed, self.length, self.max_len, self.min_contrast = seed, length, max_len, min_contrast
        self.painted_rate = painted_rate  # share of numbers painted with ocr.strokes instead of a font
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
        if rng.random() < self.painted_rate:  # hand-painted digits (ocr.strokes) instead of the font
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
