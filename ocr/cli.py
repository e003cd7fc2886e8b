"""Small helpers shared by the command-line scripts."""
from __future__ import annotations

import argparse
import string
import sys
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


def add_reading_options(p: argparse.ArgumentParser) -> None:
    """--fast, --beam-width, --views and --lm-weight, for the scripts that read images: by default a model reads
    with its checkpoint's reading settings (`ocr.reading`: what the demo does); pass them on with `reading_args`."""
    from .views import MAX_VIEWS, VIEWS, VIEWS_BELOW

    others = ", ".join(name for name, _ in VIEWS[1:]).replace("%", "%%")  # argparse formats help with %
    g = p.add_argument_group("reading (default: the checkpoint's reading settings, as the demo reads)")
    g.add_argument("--fast", action="store_true",
                   help="greedy and one view, the word prior kept (the protocol of the greedy figures)")
    g.add_argument("--beam-width", type=int, default=None, metavar="N", help="1 = greedy")
    g.add_argument("--views", type=int, default=None, choices=range(1, MAX_VIEWS + 1), metavar="N",
                   help=f"test-time views (ocr.views; 1 to {MAX_VIEWS}): a reading less confident than the "
                        f"checkpoint's threshold (default {VIEWS_BELOW}) is read again in the first N - 1 of: "
                        f"{others}; the most confident reading is kept")
    add_lm_option(g)


def reader_label(args) -> str:
    """How a run of add_reading_options' flags read, as recorded figures name it ("as the demo reads", "greedy")."""
    if args.beam_width is None and args.views is None and args.lm_weight is None:
        return "greedy" if args.fast else "as the demo reads"
    parts = [f"beam {args.beam_width}" if args.beam_width else "", f"{args.views} views" if args.views else "",
             f"word prior {args.lm_weight:g}" if args.lm_weight is not None else "", "fast" if args.fast else ""]
    return ", ".join(p for p in parts if p)


def reading_args(args) -> dict:
    """The keywords of `TextRecognizer.read` / `ocr.read_photo` chosen by add_reading_options' flags."""
    return {"beam_width": args.beam_width, "views": args.views, "fast": args.fast}


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


def add_lm_option(p) -> None:
    """--lm-weight W (the word prior of `ocr.lm`, 0 to 10), for the scripts that read images."""
    p.add_argument("--lm-weight", type=_lm_weight, default=None, metavar="W",
                   help="weight of the word prior fused into decoding (ocr.lm, a character n-gram model of "
                        "data/synth/word_frequencies.tsv); 0 reads without it; default: the checkpoint's "
                        "reading settings (ocr.reading)")


# ---- writing a checked checkpoint (export, average, widen)


def agreement(a: TextRecognizer, b: TextRecognizer, n: int, seed: int = 31_337) -> float:
    """Fraction of `n` synthetic samples of the task on which the two recognizers read the same text."""
    from tqdm import tqdm

    from .synth import DigitSynth, WordSynth

    synth = DigitSynth(seed=seed) if a.cfg.name == "digits" else WordSynth(a.cfg.charset, seed=seed)
    same = 0
    for start in tqdm(range(0, n, 32), desc="comparing readings", unit="batch", leave=False):
        images = [synth[i][0] for i in range(start, min(n, start + 32))]
        same += sum(p.text == q.text for p, q in zip(a.read(images, fast=True), b.read(images, fast=True)))
    return same / n


def agrees_enough(args, a: TextRecognizer, b: TextRecognizer, what: str, hint: str = "") -> bool:
    """Compare two recognizers on args.check synthetic samples; print the agreement ('<what> on X% of N
    synthetic samples'), and False (after saying why on stderr) below args.min_agree."""
    agree = agreement(a, b, args.check)
    print(f"{what} on {agree:.1%} of {args.check} synthetic samples")
    if agree < args.min_agree:
        print(f"error: agreement below --min-agree {args.min_agree:.0%}; nothing written{hint}", file=sys.stderr)
        return False
    return True


def add_checked_write_options(p: argparse.ArgumentParser, what: str, min_agree: float = 0.98) -> None:
    """--check, --min-agree, --force, --threads: shared by the scripts that write a checked checkpoint."""
    p.add_argument("--check", type=int, default=256, metavar="N",
                   help=f"synthetic samples read by both {what} to compare (default 256; 0 skips)")
    p.add_argument("--min-agree", type=float, default=min_agree, help=f"fail below this agreement (default {min_agree})")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.add_argument("--threads", type=int, default=2)


def refuse_overwrite(args) -> bool:
    """True (after saying why on stderr) when args.out exists and --force was not given."""
    if args.out.exists() and not args.force:
        print(f"error: {args.out} exists (pass --force to replace it)", file=sys.stderr)
        return True
    return False
