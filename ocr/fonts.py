"""Find fonts that can draw a given set of characters (for the synthetic data engine).

Fonts are looked up in the folders given, the system font folders and matplotlib's bundled
fonts. A font is kept only if its character map covers the required characters, so symbol,
non-Latin and icon fonts drop out. The scan is cached per (folders, required) in the process.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

SYSTEM_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.fonts", "~/.local/share/fonts")
FONT_SUFFIXES = (".ttf", ".otf", ".TTF", ".OTF")


def _matplotlib_dir() -> str | None:
    try:
        import matplotlib
    except ImportError:
        return None
    return os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "fonts", "ttf")


def _covers(path: Path, required: str) -> bool:
    from fontTools.ttLib import TTFont

    try:
        with TTFont(str(path), lazy=True, fontNumber=0) as f:
            cmap = f.getBestCmap() or {}
    except Exception:
        return False
    return all(ord(c) in cmap for c in required)


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
