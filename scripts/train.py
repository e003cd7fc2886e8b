#!/usr/bin/env python
"""Train a recognizer on a weighted mix of datasets.

Examples:
  python scripts/train.py --preset words --data synth-words
  python scripts/train.py --preset words --data mjsynth:/data/mjsynth:0.7 synth-words:0.3
  python scripts/train.py --preset digits --data svhn:/data/svhn:0.5 synth-digits:0.5
  python scripts/train.py --restore saves/RUN/last.safetensors --data ...    # resume or fine-tune
  torchrun --nproc_per_node=2 scripts/train.py --preset words --data synth-words   # multi-process

Resuming: --restore with the same --data continues the run (optimizer, step); a different
--data starts a fine-tune from those weights (the parent is recorded in the new checkpoints).

A shipped model from its recipe (ocr/training/recipes.py: every stage's data, schedule, EMA and CTC, then the export with
its reading settings), all stages in order; run the same command again to resume after an interruption:
  python scripts/train.py --recipe words --real REAL --out runs/words     # REAL: labelled real train crops
  python scripts/train.py --recipe words --real REAL --out runs/words --dry-run
"""
from __future__ import annotations

import argparse
import sys

from ocr.config import CHARSET_ALNUM_LOWER, PRESETS, preset
from ocr.training.options import TrainOptions
from ocr.training.recipes import RECIPES


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    r = p.add_argument_group("recipes")
    r.add_argument("--recipe", choices=sorted(RECIPES), help="make a shipped model by its recipe (all stages)")
    r.add_argument("--real", help="--recipe: labelled real train crops (a folder with labels.tsv or of such folders)")
    r.add_argument("--dry-run", action="store_true", help="--recipe: print the stages and stop")
    p.add_argument("--preset", choices=PRESETS, default="words", help="model configuration (default: words)")
    p.add_argument("--alnum", action="store_true", help="words: 36-class lower-case alphanumeric charset")
    p.add_argument("--context", type=int, default=0, metavar="H",
                   help="new models: a residual BiLSTM with H units per direction along each encoder feature row "
                        "(ocr.model.RowContext; default 0: none). To add one to a trained model: scripts/widen.py --context")
    p.add_argument("--widths", type=int, nargs="+", metavar="C",
                   help="new models: channels of each encoder stage (default: the preset's, e.g. words 16 48 128 256); "
                        "a smaller encoder reads faster; it can learn from a trained model (--teacher, --kd)")
    d = p.add_argument_group("distillation")
    d.add_argument("--teacher", help="a trained checkpoint with the same input size and charset to learn from")
    d.add_argument("--kd", type=float, default=0.0,
                   help="weight of the distillation loss (the teacher's per-step character distributions; default 0)")
    d.add_argument("--kd-temp", type=float, default=TrainOptions.kd_temp, help="its temperature (default 2)")
    p.add_argument("--data", nargs="+", default=None,
                   help="training datasets kind[:PATH][:WEIGHT][@SPLIT]; default synth-words / synth-digits")
    p.add_argument("--val", nargs="*", default=None,
                   help="validation datasets (default: 1000 held-out synthetic samples of the task)")
    p.add_argument("--val-size", type=int, default=None,
                   help="samples per validation set (default: 1000 of a synthetic set, all of a labelled one, at most "
                        "10,000)")
    p.add_argument("--restore", help="checkpoint to resume (same --data) or fine-tune from (other --data)")
    p.add_argument("--steps", type=int, default=TrainOptions.steps)
    p.add_argument("--batch-size", type=int, default=TrainOptions.batch_size)
    p.add_argument("--lr", type=float, default=TrainOptions.lr)
    p.add_argument("--warmup", type=int, default=TrainOptions.warmup)
    p.add_argument("--val-every", type=int, default=TrainOptions.val_every)
    p.add_argument("--keep-best", type=int, default=TrainOptions.keep_best)
    p.add_argument("--workers", type=int, default=TrainOptions.workers, help="data-loading processes")
    p.add_argument("--threads", type=int, default=0, help="torch threads per process (0: torch default)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="auto: bf16 autocast only where the CPU has native bf16 (AVX512-BF16/AMX) or on CUDA")
    p.add_argument("--no-channels-last", action="store_true")
    p.add_argument("--max-minutes", type=float, default=0.0, help="stop cleanly after this many minutes")
    p.add_argument("--stop-at", type=int, default=0,
                   help="stop cleanly at this step, the schedule still planned for --steps (resume later)")
    p.add_argument("--ctc", type=float, default=0.0,
                   help="weight of an auxiliary CTC loss on the encoder during training (e.g. 0.2); 0 = off. "
                        "The attention decoder still reads; give the same value when resuming")
    p.add_argument("--ema", type=float, default=0.0,
                   help="exponential moving average of the weights, e.g. 0.999 (validated and saved); 0 = off")
    p.add_argument("--fonts", action="append", default=[], metavar="DIR",
                   help="extra font folder for synthetic data (repeatable; system and matplotlib fonts are also used)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="saves", help="runs are written to OUT/<date-time>/ (default saves)")
    return p


if __name__ == "__main__":  # --help and bad flags answer before torch is loaded
    build_parser().parse_known_args()

from ocr.checkpoint import read_header  # noqa: E402
from ocr.training.trainer import check_teacher, dist_info, train, training_sets  # noqa: E402


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.recipe:
        return recipe_main(parser, args)
    if args.restore:
        if args.context or args.widths:
            parser.error("--context and --widths build a new model; add a context to a trained one with "
                         "scripts/widen.py --context")
        cfg, _ = read_header(args.restore)
    else:
        cfg = preset(args.preset)
        if args.alnum:
            cfg.charset = CHARSET_ALNUM_LOWER
        cfg.context = args.context
        if args.widths:
            if len(args.widths) != len(cfg.widths):
                parser.error(f"--widths needs {len(cfg.widths)} numbers for the {args.preset} preset's stages")
            cfg.widths = tuple(args.widths)
        try:
            cfg.validate()
        except ValueError as e:
            parser.error(str(e))
    if args.kd < 0 or args.kd_temp <= 0 or (args.kd > 0) != bool(args.teacher):
        parser.error("distillation needs both --teacher and --kd > 0 (and --kd-temp > 0)")
    if args.teacher:
        try:
            check_teacher(read_header(args.teacher)[0], cfg)
        except (OSError, ValueError) as e:
            parser.error(f"--teacher: {e}")
    try:
        specs, datasets, vals = training_sets(cfg, args.data, args.val, args.seed, args.val_size, tuple(args.fonts))
    except (OSError, ValueError) as e:   # a bad dataset spec, a missing folder or corpus
        parser.error(str(e))
    opt = TrainOptions(steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=args.warmup,
                       val_every=args.val_every, keep_best=args.keep_best, workers=args.workers,
                       threads=args.threads, precision=args.precision, channels_last=not args.no_channels_last,
                       max_minutes=args.max_minutes, seed=args.seed, out_dir=args.out, ema=args.ema, ctc=args.ctc,
                       stop_at=args.stop_at, teacher=args.teacher or "", kd=args.kd, kd_temp=args.kd_temp)
    meta = {"data": [str(s) for s in specs], "val": list(vals)} | ({"aux_ctc": args.ctc} if args.ctc else {})
    result = train(cfg, datasets, [s.weight for s in specs], vals, opt, restore=args.restore, meta=meta)
    if dist_info()[0] == 0:
        print(f"saved to {result.run} (best: {result.best_path.name})")
    return 0


def recipe_main(parser, args) -> int:
    from pathlib import Path

    from ocr.training.recipes import plan, run_recipe
    recipe = RECIPES[args.recipe]
    out = Path(args.out if args.out != "saves" else f"runs/{recipe.name}")
    print("\n".join(plan(recipe, out)))
    if args.dry_run:
        return 0
    if not args.real or not Path(args.real).is_dir():
        parser.error("--recipe needs --real FOLDER: the labelled real train crops")
    try:
        run_recipe(recipe, Path(args.real), out, threads=args.threads or 2, workers=args.workers)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
