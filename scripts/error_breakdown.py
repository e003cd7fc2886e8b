#!/usr/bin/env python
"""Where a word model fails: dev-set accuracy by crop height, word length, case and lexicon, as a plot.

    python scripts/error_breakdown.py words folder:../shared/data/real/dev/iiit5k_test \\
        folder:../shared/data/real/dev/svt_test --out docs/words_error_breakdown.png

Each image is read as the model reads by default (its checkpoint's reading settings, `ocr.reading`; --fast:
greedy, one view; --beam-width, --views, --lm-weight override one setting) and scored with the standard
protocol; an unreadable image is left out. The bins: crop height in pixels, label length, the label's case (all-caps, title, lower,
mixed, no letters), and whether the lower-cased label is in the engine's lexicon (data/lexicon.txt).
One panel per bin kind, one bar per bin with its accuracy and count, every dataset pooled; the
table is also printed.

--misreads SHEET.png also draws the misread images themselves (label -> reading, crop size), so the
reason behind a weak bin can be seen: `--misreads-bin "crop height (px)=>=64"` keeps one bin's
misreads only (a kind and a bin name as the table prints them), `--max-misreads` caps the sheet.
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from ocr.cli import add_reading_options, reading_args, recognizer_or_exit


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("datasets", nargs="+")
    p.add_argument("--out", type=Path, default=Path("docs/words_error_breakdown.png"))
    add_reading_options(p)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--misreads", type=Path, metavar="SHEET.png",
                   help="also draw the misread images (label -> reading) on a contact sheet")
    p.add_argument("--misreads-bin", default="", metavar="KIND=BIN",
                   help='only the misreads of one bin, e.g. "crop height (px)=>=64" or "case of the label=MiXed"')
    p.add_argument("--max-misreads", type=int, default=60, help="at most this many images on the sheet (60)")
    return p


if __name__ == "__main__":  # --help and bad flags answer before torch is loaded
    build_parser().parse_known_args()

import torch  # noqa: E402
from ocr.training.datasets.specs import build_dataset, parse_spec  # noqa: E402
from ocr.training.evaluation import evaluate  # noqa: E402
from ocr.training.metrics import standard  # noqa: E402
from ocr.synth import load_lexicon  # noqa: E402
from ocr.viz import contact_sheet  # noqa: E402


HEIGHTS = (0, 16, 24, 32, 48, 64, 10 ** 9)
KINDS = ("crop height (px)", "word length", "case of the label", "lexicon")


def case_of(label: str) -> str:
    letters = [c for c in label if c.isalpha()]
    if not letters:
        return "no letters"
    if all(c.isupper() for c in letters):
        return "ALL CAPS"
    if all(c.islower() for c in letters):
        return "lower"
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return "Title"
    return "MiXed"


def bins_of(img, label: str, lexicon: set) -> dict:
    h = img.height
    k = next(i for i in range(len(HEIGHTS) - 1) if HEIGHTS[i] <= h < HEIGHTS[i + 1])
    hi = HEIGHTS[k + 1]
    n = len(standard(label))
    return dict(zip(KINDS, (f"{HEIGHTS[k]}-{hi - 1}" if hi < 10 ** 9 else f">={HEIGHTS[k]}",
                            str(n) if n < 10 else "10+",
                            case_of(label),
                            "in lexicon" if standard(label) in lexicon else "not in lexicon")))


def in_bin(bins: dict, selector: str) -> bool:
    """True if `selector` ("KIND=BIN", or "" for every image) names one of this image's `bins`."""
    if not selector:
        return True
    kind, name = selector.split("=", 1)
    return bins.get(kind) == name


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    if args.misreads_bin and args.misreads_bin.split("=", 1)[0] not in KINDS:
        p.error(f"--misreads-bin must be KIND=BIN with KIND one of: {', '.join(KINDS)}")
    if args.max_misreads < 1:
        p.error("--max-misreads must be at least 1")
    torch.set_num_threads(args.threads)
    rec = recognizer_or_exit(args.checkpoint, lm_weight=args.lm_weight)
    lexicon = {standard(w) for w in load_lexicon()}
    tally: dict = defaultdict(lambda: defaultdict(lambda: [0, 0]))  # kind -> bin -> [right, count]
    misread = []                                                   # (image, "label -> reading (w x h)")

    def each(img, pred, label, right):
        if pred is None:  # unreadable: no height to bin it by
            return
        bins = bins_of(img, label, lexicon)
        for kind, b in bins.items():
            tally[kind][b][0] += right
            tally[kind][b][1] += 1
        if args.misreads and not right and in_bin(bins, args.misreads_bin) and len(misread) < args.max_misreads:
            caption = f"{label} -> {pred.text or '(nothing)'} ({img.width}x{img.height})"
            img = img.copy()
            img.thumbnail((240, 90))        # the sheet's cell; keeps memory small
            misread.append((img, caption))

    for s in args.datasets:
        evaluate(rec, build_dataset(parse_spec(s), rec.cfg), each=each, desc=s[-30:], **reading_args(args))
    if args.misreads:
        contact_sheet(misread, args.misreads, cell=(240, 90), cols=6)
        print(f"misreads: {len(misread)} image{'' if len(misread) == 1 else 's'} drawn on {args.misreads}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8))
    for ax, (kind, bins) in zip(axes, tally.items()):
        names = sorted(bins, key=lambda b: (len(b) if kind == "word length" else 0, b)) if kind != "crop height (px)" \
            else sorted(bins, key=lambda b: int(b.lstrip(">=").split("-")[0]))
        acc = [bins[b][0] / bins[b][1] for b in names]
        ax.bar(range(len(names)), acc, color="#4c78a8")
        for x, b in enumerate(names):
            ax.text(x, acc[x] + 0.02, f"{bins[b][1]}", ha="center", fontsize=7)
        ax.set_xticks(range(len(names)), names, rotation=40, ha="right", fontsize=8)
        ax.set_ylim(0, 1.1)
        ax.set_title(kind, fontsize=10)
        ax.set_ylabel("word accuracy" if kind == "crop height (px)" else "")
        print(f"{kind}: " + "  ".join(f"{b} {bins[b][0] / bins[b][1]:.3f} ({bins[b][1]})" for b in names))
    prior = f"word prior weight {rec.lm.weight:g}" if rec.lm else "no word prior"
    fig.suptitle(f"{Path(str(rec.source)).name} ({prior}): accuracy by bin (number above a bar: images), "
                 + ", ".join(Path(s).name for s in args.datasets), fontsize=10)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"plot: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
