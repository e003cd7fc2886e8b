"""Small helpers shared by the command-line scripts."""
from __future__ import annotations

import argparse
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
