#!/usr/bin/env python
"""Evaluate a checkpoint on one or more datasets.

    python scripts/evaluate.py CHECKPOINT DATASET [DATASET ...]
    python scripts/evaluate.py words folder:../shared/data/real/dev/iiit5k_test folder:../shared/data/real/dev/svt_test
    python scripts/evaluate.py digits synth-digits --limit 2000 --plot 8
    python scripts/evaluate.py words folder:DIR --baseline tesseract
    python scripts/evaluate.py words folder:DEV/iiit5k_test folder:DEV/svt_test --fast --record IIIT5K SVT

CHECKPOINT is a .safetensors path or a shipped name (words, digits). DATASET is a spec as
for training (folder:PATH, tight:PATH, mjsynth:PATH@test, svhn:PATH@test, lmdb:PATH, synth-words, ...);
a bare folder path means folder:PATH.

Printed per dataset: count, word accuracy under the standard scene-text protocol (lower-case,
only 0-9 a-z kept on both sides), case-sensitive accuracy (0-9 a-z A-Z kept, case compared),
exact accuracy (whole strings, punctuation too), mean normalized edit distance
score (1 - ED / max length, standard protocol) and the median ms per image (batch of 1).
For house numbers the whole number must match. Unreadable images count as errors.

Images are read as the model reads by default: with the reading settings in its checkpoint (`ocr.reading`: word
prior, beam width, test-time views), as the demo reads. --fast reads greedily with one view (the word prior kept);
--beam-width, --views and --lm-weight override single settings.

--record NAME... stores the accuracy on each dataset (one NAME each) in the checkpoint's metadata ("figures":
NAME -> reader -> %, the reader being "as the demo reads", "greedy" (--fast) or the settings used; with
--baseline, "Tesseract 5" too). The demo's About tab draws them. The weights are not touched.

--plot N writes, for the first N samples of each dataset, an animated GIF of the attention at
every step with the text read so far, and one static grid of those samples (PLOT_DIR).
--errors N lists the first N misreads of each dataset and draws them, with the attention of every
step, in PLOT_DIR/<dataset>_errors_*.png: where to look first when a figure is lower than expected.
--baseline tesseract reads the same images with Tesseract 5 (pip install tesserocr; Debian
tesseract-ocr-eng) in single-line mode and prints its figures beside ours.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from ocr.cli import add_reading_options, reader_label, reading_args, recognizer_or_exit
from ocr.config import PRECISIONS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="checkpoint path or shipped name (words, digits)")
    p.add_argument("datasets", nargs="+", help="dataset specs (a bare path means folder:PATH)")
    p.add_argument("--limit", type=int, default=None, help="at most N samples per dataset (default all; synth: 1000)")
    add_reading_options(p)
    p.add_argument("--record", nargs="+", metavar="NAME",
                   help="store the accuracy on each dataset under NAME in the checkpoint's figures (About)")
    p.add_argument("--baseline", choices=("tesseract",), help="also read with this engine and compare")
    p.add_argument("--plot", type=int, default=0, metavar="N", help="attention GIFs + grid for N samples per dataset")
    p.add_argument("--errors", type=int, default=0, metavar="N",
                   help="list the first N misreads per dataset and draw them with their attention (PLOT_DIR)")
    p.add_argument("--plot-dir", type=Path, default=Path("plots"))
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="the serving encoder's precision: fp32 (default), bf16, int8 (the checkpoint's int8 "
                        "encoder, .int8.onnx), or auto as the demo reads (int8 where the CPU has VNNI and the model has "
                        "one, else bf16 where the CPU has AMX / AVX512-BF16, else fp32)")
    p.add_argument("--json", type=Path, help="also write the results as JSON")
    p.add_argument("--seed", type=int, default=20_000, help="seed of synthetic evaluation sets (never a training seed)")
    return p


if __name__ == "__main__":  # --help and bad flags answer before torch is loaded
    build_parser().parse_known_args()

import torch  # noqa: E402
from ocr.training.baselines import Tesseract  # noqa: E402
from ocr.training.datasets.specs import build_dataset, parse_spec  # noqa: E402
from ocr.training.evaluation import evaluate as read_all  # noqa: E402
from ocr.training.metrics import Scores  # noqa: E402
from ocr.views import view_of  # noqa: E402


def evaluate(rec, dataset, limit=None, baseline=None, plot=0, plot_dir=None, name="data", errors=0, **read):
    """-> (our scores, the baseline's or None, [(label, reading)] of the first `errors` misreads). read: keywords
    of `TextRecognizer.read`."""
    theirs = Scores()
    plotted, wrong = [], []

    def each(img, pred, label, right):
        if pred is None:  # unreadable: a misread for both
            if baseline:
                theirs.add("", label)
            return
        if pred.view:  # drawn over the view it was read from
            img = view_of(img, pred.view)
        if not right and len(wrong) < errors:
            wrong.append((img, pred, label))
        if baseline:
            theirs.add(baseline.read(img.convert("RGB")), label)
        if len(plotted) < plot:
            plotted.append((img, pred, label))

    res = read_all(rec, dataset, limit, each=each, desc=name, **read)
    if plotted or wrong:
        draw(rec.cfg, plotted, wrong, plot_dir, name.replace("/", "_").replace(":", "_"))
    return res, (theirs.as_dict() if baseline else None), [(label, pred.text) for _, pred, label in wrong]


def draw(cfg, plotted, wrong, plot_dir: Path, safe: str) -> None:
    """GIFs + grid of the `plotted` samples; the `wrong` ones on sheets of 40 (PLOT_DIR)."""
    from ocr.viz import attention_frames, attention_grid, save_gif
    plot_dir.mkdir(parents=True, exist_ok=True)
    for k, (img, pred, label) in enumerate(plotted):
        save_gif(attention_frames(img, pred, cfg), plot_dir / f"{safe}_{k:03d}.gif")
    if plotted:
        attention_grid(plotted, cfg, plot_dir / f"{safe}_grid.png")
    for start in range(0, len(wrong), 40):
        attention_grid(wrong[start:start + 40], cfg, plot_dir / f"{safe}_errors_{start // 40:02d}.png")


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    if args.record and len(args.record) != len(args.datasets):
        p.error(f"--record needs one NAME per dataset ({len(args.datasets)}), got {len(args.record)}")
    torch.set_num_threads(args.threads)
    rec = recognizer_or_exit(args.checkpoint, args.precision, args.lm_weight)
    if hasattr(rec.reader, "threads"):   # a reader run by ONNX Runtime alone (the int8 encoder)
        rec.reader.threads = args.threads
    baseline = Tesseract(digits=rec.cfg.name == "digits") if args.baseline else None
    results = {}
    for s in args.datasets:
        spec = parse_spec(s if ":" in s or s.startswith("synth") else f"folder:{s}")
        try:
            ds = build_dataset(spec, rec.cfg, seed=args.seed)
        except (FileNotFoundError, ValueError) as e:
            print(f"error: {s}: {e}", file=sys.stderr)
            return 1
        limit = args.limit or (1000 if spec.kind.startswith("synth") else None)
        if hasattr(ds, "report") and sum(ds.report.dropped.values()):
            print(f"{s}: labels {ds.report}")
        res, base, wrong = evaluate(rec, ds, limit, baseline, args.plot, args.plot_dir, name=s, errors=args.errors,
                                    **reading_args(args))
        results[s] = {"ours": res, "baseline": base, "errors": wrong}
        if wrong:
            print(f"{s}: first {len(wrong)} misreads (label -> read), drawn in {args.plot_dir}/")
            print("  " + "  ".join(f"{t!r}->{r!r}" for t, r in wrong))
    print(f"\nmodel: {rec.source}  read: {reader_label(args)} ({rec.settings(args.beam_width, args.views, fast=args.fast).describe()})  "
          f"encoder precision {rec.precision}")
    head = f"{'dataset':46} {'count':>6} {'acc':>7} {'case':>7} {'exact':>7} {'1-NED':>7} {'ms/img':>7}"
    if baseline:
        head += f" | {'tess acc':>8} {'tess case':>9} {'tess exact':>10} {'tess 1-NED':>10}"
    print(head)
    for s, r in results.items():
        o, b = r["ours"], r["baseline"]
        line = (f"{s[-46:]:46} {o['count']:6d} {o['accuracy']:7.3f} {o['case']:7.3f} {o['exact']:7.3f} {o['ned']:7.3f} "
                f"{o['median_ms']:7.1f}")
        if b:
            line += f" | {b['accuracy']:8.3f} {b['case']:9.3f} {b['exact']:10.3f} {b['ned']:10.3f}"
        print(line)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if args.record:
        record(args, rec, results)
    return 0


def record(args, rec, results: dict) -> None:
    """Store the accuracies in the checkpoint's "figures" (NAME -> reader -> %)."""
    from ocr.checkpoint import record_figures
    figures = {}
    for name, r in zip(args.record, results.values()):
        figures[name] = {reader_label(args): round(100 * r["ours"]["accuracy"], 1)}
        if r["baseline"]:
            figures[name]["Tesseract 5"] = round(100 * r["baseline"]["accuracy"], 1)
    merged = record_figures(rec.source, figures)
    print(f"recorded in {rec.source}: " + "; ".join(f"{k}: {v}" for k, v in merged.items()))


if __name__ == "__main__":
    sys.exit(main())
