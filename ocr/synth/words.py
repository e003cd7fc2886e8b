"""The synthetic word engine, after MJSynth, SynthText and SynthTIGER; one engine, its features named in `SynthConfig`.

    ws = WordSynth(charset, seed=s)             # the default preset, DEFAULT_ENGINE ("v6": the shipped model's)
    ws = WordSynth(charset, engine="v4")        # another preset (a shipped model or a kept corpus needs it)
    ws = WordSynth(charset, engine=SynthConfig(circles=0.3))   # any mix of the features
    image, text = ws[i]                         # a pure function of (seed, i): the same image on every machine
                                                # with the same fonts

Text: words of the lexicon (`data/lexicon.txt`), most of them drawn by English frequency when
`frequent_words` (`data/synth/word_frequencies.tsv`), with a case mix measured on real labels (about half
all-caps, a quarter title case) and punctuation; numbers, codes, dates, prices and random strings.
Drawing: a font that draws every character legibly (`ocr.synth.fonts.legibility`, the `legible_top` nearest
reference glyphs), borders, shadows and extrusion; elastic glyph distortion; partial neighbouring lines cut by the
crop; rotation, skew, trapezoid perspective, parabolic arcs, and a `circles` share of words bent along a circle;
text and background colours from clusters measured on real crops (`data/synth/colours.json`), real-photo textures
(`ocr.synth.textures`) and uneven light; then blur, noise, resolution loss and JPEG (`ocr.synth.render`).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import random
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from ..config import lower_if_caseless
from ..settings import data_dir
from . import textures
from .fonts import find_fonts
from .render import FontPicker, _background, _colour_pair, _draw_text, _font, _luma, _persp_coeffs, degrade


@dataclass(frozen=True)
class SynthConfig:
    """The word engine's features. The defaults are the shipped words model's last engine (the "v6" preset)."""

    frequent_words: bool = True   # lexicon words drawn by English frequency (FREQUENT_RATE of them), else uniformly
    circles: float = 0.15         # share of words bent along a circle (round plates, badges, logos)
    legible_top: int = 3          # a font draws a character if its glyph is among this many nearest references

    def __post_init__(self):
        if not 0 <= self.circles <= 1:
            raise ValueError(f"circles (the share of words bent along a circle) must be in [0, 1], got {self.circles!r}")
        if self.legible_top < 1:
            raise ValueError(f"legible_top must be at least 1, got {self.legible_top!r}")


# The presets a shipped model was trained on: words_synth_only on v2, the words model on v4 then v6.
SYNTH_PRESETS = {"v2": SynthConfig(frequent_words=False, circles=0.0, legible_top=1),
                 "v4": SynthConfig(frequent_words=True, circles=0.0, legible_top=1),
                 "v6": SynthConfig()}
DEFAULT_ENGINE = "v6"


def synth_config(engine: "str | SynthConfig") -> SynthConfig:
    if isinstance(engine, SynthConfig):
        return engine
    if engine not in SYNTH_PRESETS:
        raise ValueError(f"unknown engine {engine!r}; one of {', '.join(SYNTH_PRESETS)} or a SynthConfig")
    return SYNTH_PRESETS[engine]


LEXICON = data_dir() / "lexicon.txt"
# The v4 engine's word frequencies (scripts/word_frequencies.py, from wordfreq; CC BY-SA 4.0). Fitted on the
# real train labels (letters-only words): drawing FREQUENT_RATE of the lexicon words from this list with weight
# frequency ** FREQUENT_EXPONENT, the rest uniformly from the lexicon, puts 13 / 30 / 52 / 75 % of the words among
# the 100 / 1,000 / 5,000 / 20,000 most frequent, against 12.5 / 33 / 59 / 76 % of the real labels (the uniform
# lexicon alone: 0.1 / 1.4 / 7 / 26 %).
FREQUENT_WORDS = data_dir() / "synth" / "word_frequencies.tsv"
FREQUENT_RATE, FREQUENT_EXPONENT = 0.8, 0.7


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


class WordSynth:
    """Synthetic cropped-word images. `ws[i]` -> (PIL RGB image, text); deterministic in (seed, i)."""

    def __init__(self, charset: str, fonts: tuple[str, ...] | None = None, lexicon: list[str] | None = None,
                 seed: int = 0, length: int = 10_000_000, max_len: int = 25, min_contrast: float = 0.25,
                 engine: "str | SynthConfig" = DEFAULT_ENGINE, added_fonts: tuple[str, ...] = (),
                 added_rate: float = 0.4, circles: float | None = None):
        self.config = synth_config(engine)
        self.engine = engine if isinstance(engine, str) else "custom"
        if circles is not None:  # e.g. 1.0: a validation set of bent words only
            self.config = dataclasses.replace(self.config, circles=circles)
        self.circles = self.config.circles
        self.charset = charset
        self.chars = set(charset)
        self.fonts = fonts or find_fonts(required=string.ascii_letters + string.digits)
        if not self.fonts:
            raise RuntimeError("no usable fonts found; install some (docs/TRAINING.md) or pass --fonts DIR")
        self.pick_font = FontPicker(self.fonts, added=tuple(added_fonts), added_rate=added_rate,
                                    legible_top=self.config.legible_top)
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
            if self.config.frequent_words and rng.random() < FREQUENT_RATE:
                words, cum = frequent_words()
                w = rng.choices(words, cum_weights=cum)[0]
            else:
                w = rng.choice(self.lexicon)
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

    def __getitem__(self, index: int) -> tuple[Image.Image, str]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = random.Random(self.seed * 1_000_003 + index)
        text = self.sample_text(rng)
        return render(self, text, rng), text


COLOURS = data_dir() / "synth" / "colours.json"


@functools.lru_cache(maxsize=1)
def colour_clusters(path: str = str(COLOURS)) -> tuple[list, np.ndarray]:
    """(clusters, cumulative weights) from the colours file (see scripts/colour_clusters.py)."""
    clusters = json.loads(Path(path).read_text())["clusters"]
    return clusters, np.cumsum([c["count"] for c in clusters], dtype=np.float64)


def real_colours(rng: random.Random, min_contrast: float) -> tuple[tuple, tuple]:
    """(background, text) colours around a cluster of real crops, at least min_contrast apart in luma."""
    clusters, cum = colour_clusters()
    for _ in range(20):
        c = clusters[int(np.searchsorted(cum, rng.random() * cum[-1], side="right"))]
        s = c["std"]
        fg = tuple(int(min(255, max(0, rng.gauss(v, 0.8 * s[i])))) for i, v in enumerate(c["text"]))
        bg = tuple(int(min(255, max(0, rng.gauss(v, 0.8 * s[3 + i])))) for i, v in enumerate(c["background"]))
        if abs(_luma(bg) - _luma(fg)) >= min_contrast:
            return bg, fg
    return _colour_pair(rng, min_contrast)


def case_mix(word: str, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.5:
        return word.upper()
    if r < 0.77:
        return word.capitalize()
    if r < 0.97:
        return word.lower()
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in word)


def elastic(layers: Image.Image, rng: random.Random, amp: float, cell: int) -> Image.Image:
    """Smooth random warp: a mesh of `cell`-pixel squares whose shared corners move by up to amp px."""
    w, h = layers.size
    nx, ny = max(1, w // cell), max(1, h // cell)
    xs = np.linspace(0, w, nx + 1)
    ys = np.linspace(0, h, ny + 1)
    nrng = np.random.default_rng(rng.getrandbits(32))
    dx = nrng.uniform(-amp, amp, (ny + 1, nx + 1))
    dy = nrng.uniform(-amp, amp, (ny + 1, nx + 1))
    dx[[0, -1], :] = dx[:, [0, -1]] = 0  # the border stays put: nothing leaves the canvas
    dy[[0, -1], :] = dy[:, [0, -1]] = 0
    mesh = []
    for j in range(ny):
        for i in range(nx):
            box = (int(xs[i]), int(ys[j]), int(xs[i + 1]), int(ys[j + 1]))
            quad = []
            for (a, b) in ((j, i), (j + 1, i), (j + 1, i + 1), (j, i + 1)):  # NW, SW, SE, NE
                quad += [xs[b] + dx[a, b], ys[a] + dy[a, b]]
            mesh.append((box, quad))
    return layers.transform((w, h), Image.MESH, mesh, Image.BILINEAR)


def circular_arc(layers: Image.Image, rng: random.Random) -> Image.Image:
    """Bend the text line along a circle, each glyph turned to face outward (a hump) or inward
    (a bowl), as words are set on round plates, badges and logos. RGBA masks -> RGBA masks.

    The word's width covers an angle of 0.6-2.2 rad (less for short, tall images so that the
    inner edge keeps a positive radius). Every output pixel is sampled (bilinear) from the source
    point it maps back to; outside the source it is empty.
    """
    bowl = rng.random() < 0.4
    if bowl:  # a bowl is a hump of the upside-down image, turned back
        layers = layers.transpose(Image.FLIP_TOP_BOTTOM)
    w, h = layers.size
    span = min(rng.uniform(0.6, 2.2), w / (0.75 * h))
    radius = w / span                               # radius of the image's middle row
    edge = np.linspace(0, 1, 33)                    # the source's border, mapped forward -> output size
    bx = np.concatenate([edge * w, edge * w, np.zeros(33), np.full(33, w)])
    by = np.concatenate([np.zeros(33), np.full(33, h), edge * h, edge * h])
    theta, r = (bx - w / 2) / radius, radius + (h / 2 - by)
    fx, fy = r * np.sin(theta), -r * np.cos(theta)  # circle centre at (0, 0)
    ow, oh = int(np.ceil(fx.max() - fx.min())) + 1, int(np.ceil(fy.max() - fy.min())) + 1
    dy, dx = np.mgrid[0:oh, 0:ow].astype(np.float32)
    dx += np.float32(fx.min()); dy += np.float32(fy.min())
    sx = w / 2 + np.arctan2(dx, -dy) * radius - 0.5  # output pixel -> source pixel (centres)
    sy = h / 2 - (np.hypot(dx, dy) - radius) - 0.5
    inside = ((sx > -1) & (sx < w) & (sy > -1) & (sy < h))[..., None]
    x0, y0 = np.floor(sx).astype(np.int64), np.floor(sy).astype(np.int64)
    ax, ay = (sx - x0)[..., None], (sy - y0)[..., None]
    src = np.pad(np.asarray(layers, dtype=np.float32), ((1, 1), (1, 1), (0, 0)))   # zeros outside
    x0, y0 = np.clip(x0 + 1, 0, w), np.clip(y0 + 1, 0, h)
    x1, y1 = np.minimum(x0 + 1, w + 1), np.minimum(y0 + 1, h + 1)
    out = ((src[y0, x0] * (1 - ax) + src[y0, x1] * ax) * (1 - ay)
           + (src[y1, x0] * (1 - ax) + src[y1, x1] * ax) * ay) * inside
    img = Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8), "RGBA")
    return img.transpose(Image.FLIP_TOP_BOTTOM) if bowl else img


def geometry(layers: Image.Image, rng: random.Random, circular: float = 0.0) -> Image.Image:
    """Circular arc (with probability `circular`: `SynthConfig.circles`) / parabolic arc / skew / rotation
    (up to 10 deg) / trapezoid perspective on an RGBA mask image. circular=0 draws no random number
    for it, so the v2 preset's samples are those of an engine without it."""
    if circular and rng.random() < circular:
        layers = circular_arc(layers, rng)
    w, h = layers.size
    if rng.random() < 0.12:  # arc: the baseline bends along a parabola
        a = np.asarray(layers)
        amp = rng.uniform(0.1, 0.35) * h * rng.choice((-1, 1))
        t = np.linspace(-1, 1, w)
        shifts = (amp * (t ** 2 - 0.5)).astype(int)
        rows = (np.arange(h)[:, None] - shifts[None, :]) % h
        layers = Image.fromarray(a[rows, np.arange(w)[None, :]])
    elif rng.random() < 0.08:  # wave
        a = np.asarray(layers)
        amp = rng.uniform(0.05, 0.2) * h
        phase, freq = rng.uniform(0, 2 * math.pi), rng.uniform(0.5, 1.5) * math.pi / w
        shifts = (amp * np.sin(np.arange(w) * freq + phase)).astype(int)
        rows = (np.arange(h)[:, None] - shifts[None, :]) % h
        layers = Image.fromarray(a[rows, np.arange(w)[None, :]])
    if rng.random() < 0.3:  # skew (italic-like slant)
        k = rng.uniform(-0.3, 0.3)
        layers = layers.transform((w + int(abs(k) * h), h), Image.AFFINE,
                                  (1, k, -k * h / 2 - abs(k) * h / 2, 0, 1, 0), Image.BILINEAR)
        w, h = layers.size
    if rng.random() < 0.65:
        angle = max(-10.0, min(10.0, rng.gauss(0, 4)))
        layers = layers.rotate(angle, Image.BILINEAR, expand=True)
        w, h = layers.size
    if rng.random() < 0.7:  # trapezoid: one side shorter (a sign seen from the side), plus jitter
        d = rng.uniform(0.02, 0.25)
        j = 0.04
        jit = [(rng.uniform(-j, j) * w, rng.uniform(-j, j) * h) for _ in range(4)]
        if rng.random() < 0.75:  # left or right side shorter
            s = d * h
            tl, bl, tr, br = ((0, s), (0, h - s), (w, 0), (w, h)) if rng.random() < 0.5 else \
                ((0, 0), (0, h), (w, s), (w, h - s))
        else:  # top or bottom shorter
            s = d * w * 0.5
            tl, tr, bl, br = ((s, 0), (w - s, 0), (0, h), (w, h)) if rng.random() < 0.5 else \
                ((0, 0), (w, 0), (s, h), (w - s, h))
        dst = [(tl[0] + jit[0][0], tl[1] + jit[0][1]), (tr[0] + jit[1][0], tr[1] + jit[1][1]),
               (br[0] + jit[2][0], br[1] + jit[2][1]), (bl[0] + jit[3][0], bl[1] + jit[3][1])]
        src = [(0, 0), (w, 0), (w, h), (0, h)]
        layers = layers.transform((w, h), Image.PERSPECTIVE, _persp_coeffs(dst, src), Image.BILINEAR)
    return layers


def background(rng: random.Random, w: int, h: int, colour) -> Image.Image:
    """Procedural or real-photo texture, tinted to `colour`, with uneven lighting."""
    base = _background(rng, w, h, colour)
    r = rng.random()
    if r < 0.55:  # photo texture around the colour: its detail, the cluster's colour
        tex = np.asarray(textures.patch(rng, w, h), dtype=np.float32)
        if rng.random() < 0.5:
            tex = tex.mean(2, keepdims=True)
        tex = tex - tex.mean((0, 1), keepdims=True)
        if rng.random() < 0.5:
            tex = np.asarray(Image.fromarray(np.clip(tex[..., 0] + 128, 0, 255).astype(np.uint8) if tex.shape[2] == 1
                                             else np.clip(tex + 128, 0, 255).astype(np.uint8))
                             .filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2))), dtype=np.float32) - 128
            if tex.ndim == 2:
                tex = tex[..., None]
        a = np.asarray(base, dtype=np.float32) + tex * rng.uniform(0.15, 0.7)
    elif r < 0.65:  # the photo itself, mixed with the colour
        tex = np.asarray(textures.patch(rng, w, h), dtype=np.float32)
        k = rng.uniform(0.3, 0.8)
        a = np.asarray(base, dtype=np.float32) * (1 - k) + tex * k
    else:
        a = np.asarray(base, dtype=np.float32)
    if rng.random() < 0.4:  # lighting: a linear gradient of brightness across the crop
        ang = rng.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        t = (xx / max(1, w) - 0.5) * math.cos(ang) + (yy / max(1, h) - 0.5) * math.sin(ang)
        a = a * (1 + rng.uniform(0.2, 0.6) * t)[..., None]
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


def _distractor_text(ws, rng: random.Random) -> str:
    n = rng.randint(1, 3)
    return " ".join(case_mix(rng.choice(ws.lexicon), rng) for _ in range(n))


def render(ws, text: str, rng: random.Random) -> Image.Image:
    """One word image (PIL RGB) for `text`, drawn by the WordSynth `ws` (fonts, lexicon, contrast)."""
    font_path = ws.pick_font(rng, text)
    font = _font(font_path, rng.randint(18, 48))
    size = font.size
    stroke = rng.choice((1, 2, 3)) if rng.random() < 0.15 else 0
    spacing = rng.uniform(-0.05, 0.35) * size if rng.random() < 0.25 else 0.0
    extrude = rng.random() < 0.12
    neighbours = [side for side in ("above", "below") if rng.random() < 0.25]
    pad = size
    line_h = int(size * 1.6)
    width = int(sum(font.getlength(c) for c in text) + spacing * len(text) + 2 * pad + 2 * stroke)
    height = line_h + 2 * pad + line_h * len(neighbours)
    y_text = pad + (line_h if "above" in neighbours else 0)
    fill, border, extra, main = (Image.new("L", (max(width, 1), height), 0) for _ in range(4))
    draws = [ImageDraw.Draw(fill), ImageDraw.Draw(border)]
    boxes = _draw_text(draws, (pad, y_text), text, font, spacing, stroke)
    main.paste(255, (0, 0), ImageChops.lighter(fill, border))  # where the word is: the crop follows it
    if rng.random() < 0.05:
        x0, x1 = boxes[0][0], boxes[-1][2]
        yb = max(b[3] for b in boxes) + max(1, size // 12)
        draws[0].line([(x0, yb), (x1, yb)], fill=255, width=max(1, size // 14))
    for side in neighbours:  # a neighbouring line: same sign, often another size and offset
        other = _distractor_text(ws, rng)
        dfont = _font(ws.pick_font(rng, "", extra=other.replace(" ", "")) if rng.random() < 0.3 else font_path,
                      max(10, int(size * rng.uniform(0.6, 1.2))))
        gap = rng.uniform(0.05, 0.45) * size
        dy = y_text - gap - dfont.size * 1.1 if side == "above" else max(b[3] for b in boxes) + gap
        dx = pad + rng.uniform(-0.5, 0.3) * width
        draws[0].text((dx, dy), other, font=dfont, fill=255)
    src = border if stroke else fill
    if extrude:  # extrusion: the glyphs repeated along one direction, behind the face
        ang = rng.uniform(0, 2 * math.pi)
        depth = rng.randint(2, max(3, size // 6))
        for k in range(1, depth + 1):
            extra.paste(255, (round(k * math.cos(ang)), round(k * math.sin(ang))), src)
    elif rng.random() < 0.2:  # drop shadow
        dx, dy = rng.randint(-3, 3) or 1, rng.randint(1, 4)
        extra.paste(src, (dx * max(1, size // 20), dy * max(1, size // 20)))
    layers = Image.merge("RGBA", (fill, border, extra, main))
    if rng.random() < 0.3:
        layers = elastic(layers, rng, amp=rng.uniform(0.02, 0.06) * size, cell=max(6, size // 2))
    layers = geometry(layers, rng, circular=ws.circles)
    bbox = layers.getchannel("A").getbbox() or (0, 0, layers.width, layers.height)
    bh = bbox[3] - bbox[1]
    l, r = (int(bh * rng.uniform(-0.05, 0.35)) for _ in range(2))
    t, b = (int(bh * rng.uniform(-0.05, 0.35)) for _ in range(2))
    box = (max(0, bbox[0] - l), max(0, bbox[1] - t), min(layers.width, bbox[2] + r), min(layers.height, bbox[3] + b))
    layers = layers.crop(box)
    img = compose(rng, layers, ws.min_contrast if rng.random() < 0.85 else 0.1, extrude)
    return degrade(img, rng)


def compose(rng: random.Random, layers: Image.Image, min_contrast: float, extruded: bool) -> Image.Image:
    """RGBA masks (R fill, G border, B extrusion or shadow) -> coloured text on a background."""
    w, h = layers.size
    bg_col, fg_col = real_colours(rng, min_contrast) if rng.random() < 0.75 else _colour_pair(rng, min_contrast)
    img = background(rng, w, h, bg_col)
    fill, border, extra, _ = layers.split()
    if extra.getbbox():
        if extruded:  # the side of the letters: the text colour darkened (or lightened)
            k = rng.uniform(0.35, 0.7)
            ec = tuple(int(c * k) for c in fg_col) if _luma(fg_col) > 0.3 else tuple(min(255, int(c + 80)) for c in fg_col)
        else:
            extra = extra.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.5)))
            ec = tuple(int(c * 0.3) for c in bg_col) if _luma(bg_col) > 0.5 else tuple(min(255, c + 90) for c in bg_col)
            extra = extra.point(lambda v: int(v * 0.8))
        img.paste(Image.new("RGB", (w, h), ec), (0, 0), extra)
    if border.getbbox():
        bc = tuple(255 - c for c in fg_col) if rng.random() < 0.5 else _colour_pair(rng, min_contrast)[1]
        img.paste(Image.new("RGB", (w, h), bc), (0, 0), border)
    alpha = rng.uniform(0.7, 1.0)
    if rng.random() < 0.2:  # textured ink: the face of the letters carries a photo's detail
        tex = np.asarray(textures.patch(rng, w, h).convert("L"), dtype=np.float32)
        ink = np.asarray(Image.new("RGB", (w, h), fg_col), dtype=np.float32) + (tex - tex.mean())[..., None] * 0.4
        face = Image.fromarray(np.clip(ink, 0, 255).astype(np.uint8), "RGB")
    else:
        face = Image.new("RGB", (w, h), fg_col)
    img.paste(face, (0, 0), fill.point(lambda v: int(v * alpha)))
    if rng.random() < 0.1:  # emboss: a light and a dark rim from the fill mask
        e = fill.filter(ImageFilter.EMBOSS)
        a = np.asarray(img, dtype=np.float32) + (np.asarray(e, dtype=np.float32) - 128)[..., None] * 0.5
        img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")
    return img
