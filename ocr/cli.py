"""Small helpers shared by the command-line scripts."""
from __future__ import annotations

import argparse
import string
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported only by the scripts that load a model, not by those that render
    from .recognizer import TextRecognizer


def recognizer_or_exit(name_or_path: str, precision: str = "fp32", lm_weight: float | None = None) -> TextRecognizer:
    """`load_recognizer`, or exit with status 1 and the reason on stderr (no traceback)."""
    from .checkpoint import CheckpointError
    from .recognizer import load_recognizer

    try:
        return load_recognizer(name_or_path, precision=precision, lm_weight=lm_weight)
    except CheckpointError as e:
        raise SystemExit(f"error: {e}") from None


def add_views_option(p: argparse.ArgumentParser, help: str | None = None) -> None:
    """--views N (test-time views, `ocr.views`), for the scripts that read images."""
    from .views import MAX_VIEWS, VIEWS, VIEWS_BELOW

    others = ", ".join(name for name, _ in VIEWS[1:]).replace("%", "%%")  # argparse formats help with %
    p.add_argument("--views", type=int, default=1, choices=range(1, MAX_VIEWS + 1), metavar="N",
                   help=help or f"test-time views (ocr.views; 1 to {MAX_VIEWS}, default 1): a reading less confident "
                                f"than {VIEWS_BELOW} is read again in the first N - 1 of: {others}; the most "
                                f"confident reading is kept")


def add_font_options(p: argparse.ArgumentParser) -> None:
    """--add-fonts DIR... and --add-fonts-rate, for the scripts that render words."""
    p.add_argument("--add-fonts", nargs="+", metavar="DIR", default=[],
                   help="words: folders of extra text fonts (script, handwriting, display faces) drawn for "
                        "--add-fonts-rate of the words; trusted for every character they draw, so add only "
                        "real text fonts (docs/TRAINING.md: fonts)")
    p.add_argument("--add-fonts-rate", type=float, default=0.4,
                   help="share of the words drawn with the added fonts (default 0.4)")


def added_fonts(p: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[str, ...]:
    """The fonts of --add-fonts (checked; `p.error` on a bad folder, rate or task)."""
    from .fonts import find_fonts

    if not args.add_fonts:
        return ()
    if args.task != "words":
        p.error("--add-fonts is for the words engine only")
    if not 0 < args.add_fonts_rate <= 0.8:
        p.error("--add-fonts-rate must be in (0, 0.8]")
    missing = [d for d in args.add_fonts if not Path(d).is_dir()]
    if missing:
        p.error(f"--add-fonts: no such folder: {', '.join(missing)}")
    fonts = find_fonts(tuple(args.add_fonts), required=string.ascii_letters + string.digits, system=False)
    if not fonts:
        p.error("--add-fonts: no font there draws all of a-z, A-Z and 0-9")
    return fonts


def _lm_weight(text: str) -> float:
    try:
        w = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= w <= 10:
        raise argparse.ArgumentTypeError(f"must be from 0 to 10, got {text}")
    return w


def add_lm_option(p: argparse.ArgumentParser) -> None:
    """--lm-weight W (the word prior of `ocr.lm`, 0 to 10), for the scripts that read images."""
    p.add_argument("--lm-weight", type=_lm_weight, default=None, metavar="W",
                   help="weight of the word prior fused into decoding (ocr.lm, a character n-gram model of "
                        "data/synth/word_frequencies.tsv); 0 reads without it; default: the model task's "
                        "default (ocr.lm.DEFAULT_WEIGHT)")
