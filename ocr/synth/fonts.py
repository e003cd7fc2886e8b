"""Find fonts that can draw a given set of characters (for the synthetic data engine).

Fonts are looked up in the folders given, the system font folders and matplotlib's bundled
fonts. A font is kept only if its character map covers the required characters, so symbol,
non-Latin and icon fonts drop out. The scan is cached per (folders, required) in the process.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

from ..settings import cache_dir

SYSTEM_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.fonts", "~/.local/share/fonts")
FONT_SUFFIXES = (".ttf", ".otf", ".TTF", ".OTF")


def _matplotlib_dir() -> str | None:
    try:
        import matplotlib
    except ImportError:
        return None
    return os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "fonts", "ttf")


@functools.lru_cache(maxsize=None)
def font_chars(path: str) -> frozenset:
    """Characters the font has glyphs for (its character map, read once per font and process)."""
    from fontTools.ttLib import TTFont

    try:
        with TTFont(path, lazy=True, fontNumber=0) as f:
            return frozenset(chr(c) for c in (f.getBestCmap() or {}))
    except Exception:
        return frozenset()


def _covers(path: Path, required: str) -> bool:
    return set(required) <= font_chars(str(path))


@functools.lru_cache(maxsize=8)
def find_fonts(extra_dirs: tuple[str, ...] = (), required: str = "", system: bool = True) -> tuple[str, ...]:
    """Sorted paths of usable font files.

    extra_dirs: folders searched first (e.g. `--fonts DIR`); system: also the system and
    matplotlib fonts; required: characters every returned font must contain.
    """
    dirs = list(extra_dirs)
    if system:
        dirs += [os.path.expanduser(d) for d in SYSTEM_FONT_DIRS]
        mpl = _matplotlib_dir()
        if mpl:
            dirs.append(mpl)
    seen, out = set(), []
    for d in dirs:
        if not os.path.isdir(d):
            continue
        for p in sorted(Path(d).rglob("*")):
            if p.suffix not in FONT_SUFFIXES or p.name.lower() in seen:
                continue
            seen.add(p.name.lower())
            if _covers(p, required):
                out.append(str(p))
    return tuple(out)


# --- legibility ------------------------------------------------------------------------------
# A font can have a glyph for "7" that is a heart or a box with an "A" in it (many decorative
# fonts do). Such a sample's label is wrong, so the synthetic engine only draws a character with
# a font whose glyph for it looks like that character: its nearest neighbour among reference
# renderings of all printable characters (matplotlib's bundled DejaVu/STIX fonts) must be the same
# character, up to case and the look-alike groups below. Seven-segment display fonts are a real
# style for digits, which this template test cannot judge, so they are trusted for digits only.
# With top=k (the v6 preset: 3) the character need only be among the k nearest distinct characters:
# the strict test refuses the G of about half the fonts whose C it keeps (their Gs come out nearest
# to C, O, 0 or 6), so the strict test draws C in styles whose G it never shows, and an upper-case G read as C
# was the most frequent one-letter misread of the words model before v6 (docs/HISTORY.md).

GLYPH = 20  # glyph bitmaps are scaled into GLYPH x GLYPH, aspect kept
REFERENCE_FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Italic.ttf",
                   "DejaVuSansMono.ttf", "STIXGeneral.ttf")
PRINTABLE = "".join(chr(c) for c in range(33, 127))
LOOK_ALIKE = ("0Oo", "1lI|", ",'`", "-_")
SEGMENT_DISPLAY = ("/dseg/",)


def _glyph_vector(font, ch: str):
    """Zero-mean unit-norm GLYPH*GLYPH vector of one rendered character, or None if it draws nothing."""
    import numpy as np
    from PIL import Image, ImageDraw

    img = Image.new("L", (3 * font.size, 2 * font.size))
    ImageDraw.Draw(img).text((font.size // 2, font.size // 4), ch, font=font, fill=255)
    box = img.getbbox()
    if not box:
        return None
    g = img.crop(box)
    s = GLYPH / max(g.size)
    g = g.resize((max(1, round(g.width * s)), max(1, round(g.height * s))), Image.BILINEAR)
    canvas = Image.new("L", (GLYPH, GLYPH))
    canvas.paste(g, ((GLYPH - g.width) // 2, (GLYPH - g.height) // 2))
    a = np.asarray(canvas, np.float32).ravel()
    a = a - a.mean()
    n = float(np.linalg.norm(a))
    return a / n if n > 0 else None


@functools.lru_cache(maxsize=1)
def _templates():
    """(vectors [N, GLYPH*GLYPH], characters [N]) of the reference fonts, or None without matplotlib."""
    import numpy as np
    from PIL import ImageFont

    mpl = _matplotlib_dir()
    if not mpl:
        return None
    vecs, labels = [], []
    for name in REFERENCE_FONTS:
        path = os.path.join(mpl, name)
        if not os.path.exists(path):
            continue
        font = ImageFont.truetype(path, 32)
        for ch in PRINTABLE:
            v = _glyph_vector(font, ch)
            if v is not None:
                vecs.append(v)
                labels.append(ch)
    return (np.stack(vecs), labels) if vecs else None


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower() or any(a in g and b in g for g in LOOK_ALIKE)


def _nearest(sims, labels, top: int) -> list[str]:
    """The `top` distinct characters (up to case) nearest by template similarity, nearest first."""
    out: list[str] = []
    for i in sims.argsort()[::-1]:
        if all(labels[i].lower() != c.lower() for c in out):
            out.append(labels[i])
            if len(out) >= top:
                break
    return out


def _legible(path: str, trusted: bool = False, top: int = 1) -> str:
    """The printable characters that the font at `path` draws recognizably (see above): each one is
    (up to `_same`) among the `top` nearest distinct characters; for a trusted font, every printable
    character its character map has and that draws something."""
    from PIL import ImageFont

    try:
        font = ImageFont.truetype(path, 32)
    except Exception:
        return ""
    if trusted:
        have = font_chars(path)
        return "".join(c for c in PRINTABLE if c in have and _glyph_vector(font, c) is not None)
    ref = _templates()
    if ref is None:  # no reference fonts: trust the character map
        return "".join(c for c in PRINTABLE if font.getbbox(c)[2] > 0)
    vecs, labels = ref
    out = set()
    for ch in PRINTABLE:
        v = _glyph_vector(font, ch)
        if v is None:
            continue
        sims = vecs @ v
        nearest = [labels[int(sims.argmax())]] if top == 1 else _nearest(sims, labels, top)
        if any(_same(near, ch) for near in nearest):
            out.add(ch)
    if any(s in path for s in SEGMENT_DISPLAY):
        out |= {c for c in "0123456789" if _glyph_vector(font, c) is not None}
    return "".join(sorted(out))


def _cache_file() -> Path:
    return cache_dir() / f"legible-v1-{GLYPH}.json"


_LEGIBLE: dict[str, str] = {}


def legibility(paths, trusted=(), top: int = 1) -> dict[str, frozenset]:
    """{font path: characters it draws legibly}, computed once per font file and cached on disk
    (`ocr.settings.cache_dir()`, keyed by path, size and modification time); ~0.1 s per new font.

    trusted: paths of fonts known to be text fonts (script and handwriting faces fail the
    template test although their letters are letters): every character they draw counts.
    top: a character counts if it is among the `top` nearest distinct reference characters (1: the
    nearest, the v2 and v4 presets; 3: v6).
    """
    import json

    from tqdm import tqdm

    trusted = frozenset(trusted)

    def key(p):
        st = os.stat(p)
        return (f"{p}|{st.st_size}|{int(st.st_mtime)}" + ("|trusted" if p in trusted else "")
                + (f"|top{top}" if top > 1 and p not in trusted else ""))

    keys = {p: key(p) for p in paths}
    if any(k not in _LEGIBLE for k in keys.values()):
        try:
            _LEGIBLE.update(json.loads(_cache_file().read_text()))
        except (OSError, ValueError):
            pass
    todo = [p for p, k in keys.items() if k not in _LEGIBLE]
    for p in tqdm(todo, desc="checking font legibility (cached)", unit="font", disable=len(todo) < 50):
        _LEGIBLE[keys[p]] = _legible(p, p in trusted, top)
    if todo:
        f = _cache_file()
        try:
            f.parent.mkdir(parents=True, exist_ok=True)
            tmp = f.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(_LEGIBLE))
            os.replace(tmp, f)
        except OSError:  # read-only home: recompute next time
            pass
    return {p: frozenset(_LEGIBLE[k]) for p, k in keys.items()}
