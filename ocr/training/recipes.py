"""How each shipped model is made, as code: corpora, stages (model, data mix, schedule, EMA, CTC) and export.

    python scripts/train.py --recipe words --real REAL --out runs/words      # all stages, resumable
    python scripts/train.py --recipe words --real REAL --out runs/words --dry-run   # print the plan

`run_recipe` splits the real crops (REAL: labelled folders such as IIIT5K / ICDAR / SVT train splits) into
train / validation lists by a hash of each path, renders each stage's corpus (`ocr.training.corpus.prerender`, resumable,
re-created from its seed), runs the stages in order (each starts from the checkpoint the stage before chose) and
exports the last stage's choice with the model's reading settings (`ocr.reading`) to OUT/<recipe>.safetensors
(and its encoder as ONNX beside it, OUT/<recipe>.onnx, for reading without PyTorch).
Run it again after an interruption: a finished stage is skipped (OUT/stages/<stage>/done.json), a started one
resumes exactly from its last checkpoint (optimizer, EMA, schedule, data position). The dev sets are never used.

In a stage's data, `corpus:{NAME}` stands for OUT/corpus/NAME and `{real}` for OUT/realsplit (train.tsv, val.tsv).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..reading import ReadingSettings


@dataclass(frozen=True)
class Corpus:
    """A pre-rendered synthetic corpus: samples [0, images) of an engine at a seed (`scripts/prerender.py`)."""

    task: str
    engine: str
    seed: int
    shard_size: int = 50_000


@dataclass(frozen=True)
class Stage:
    name: str
    data: tuple[str, ...]                    # dataset specs with {NAME} / {real} placeholders
    steps: int                               # the planned schedule (cosine after warm-up)
    lr: float
    corpora: dict[str, int] = field(default_factory=dict)   # corpus name -> images it needs rendered
    warmup: int = 500
    val_every: int = 1000
    keep_best: int = 3
    stop_at: int = 0                         # stop here, the schedule still planned for `steps`
    ema: float = 0.999
    ctc: float = 0.2
    seed: int = 0
    keep: str = "last"                       # "best" (on validation) or "last": what the next stage starts from
    context: int = 0                         # a new model's row-context BiLSTM (first stage only)


@dataclass(frozen=True)
class Recipe:
    name: str
    preset: str                              # ocr.config preset of the model
    summary: str
    hours: str                               # expected time on 2 CPU cores
    corpora: dict[str, Corpus]
    stages: tuple[Stage, ...]
    reading: ReadingSettings                 # written into the exported checkpoint
    val: tuple[str, ...] = ("folder:{real}/val.tsv",)
    val_size: int = 1500
    real_preset: str = "words"               # whose charset keeps a real crop
    int8: str = ""                           # crops that calibrate an int8 encoder (ocr.onnx_export); "": none


WORDS = Recipe(
    name="words", preset="words",
    summary="v4-engine pre-training with a row-context encoder, continued on the v6 engine, then a fine-tune "
            "on the real train crops mixed 1:1 with the v6 engine",
    hours="6 h 30 min of training on 2 cores when the pre-training runs in bf16 (AMX), an estimated 9 h in fp32 "
          "throughout, plus 1 h 15 min of rendering",
    corpora={"words-v4": Corpus("words", "v4", 1), "words-v6-big": Corpus("words", "v6", 6),
             "words-v6": Corpus("words", "v6", 5)},
    stages=(
        Stage("pretrain", ("corpus:{words-v4}",), steps=40_000, lr=1.5e-3, warmup=500, val_every=2000,
              corpora={"words-v4": 500_000}, seed=1, keep="best", context=128),
        Stage("continue", ("corpus:{words-v6-big}",), steps=14_000, lr=7e-4, warmup=300, val_every=2000,
              corpora={"words-v6-big": 500_000}, seed=2),
        Stage("finetune", ("corpus:{words-v6}:0.5", "folder:{real}/train.tsv:0.5"), steps=10_000, stop_at=5000,
              lr=5e-4, warmup=300, val_every=1000, corpora={"words-v6": 150_000}, seed=5),
    ),
    reading=ReadingSettings(lm_weight=0.25, beam_width=5, views=5),
    int8="{real}/train.tsv",
)

WORDS_SYNTH_ONLY = Recipe(
    name="words_synth_only", preset="words",
    summary="synthetic images only (the v2 engine): the start whose lift from the corrections loop is measured",
    hours="3 h 10 min of training on 2 cores in bf16 (AMX), an estimated 5 h in fp32, plus 1 h 30 min of rendering",
    corpora={"words-v2": Corpus("words", "v2", 1)},
    stages=(
        Stage("pretrain", ("corpus:{words-v2}",), steps=40_000, stop_at=28_000, lr=1.5e-3, warmup=500,
              corpora={"words-v2": 650_000}, ctc=0.0, keep="best"),
        Stage("continue", ("corpus:{words-v2}",), steps=20_000, lr=8e-4, warmup=500,
              corpora={"words-v2": 1_300_000}, keep="best"),
    ),
    reading=ReadingSettings(lm_weight=0.25, beam_width=5, views=5),
)

DIGITS = Recipe(
    name="digits", preset="digits",
    summary="synthetic house numbers, then a fine-tune mixing in the real number crops of the train splits "
            "(framed as SVHN frames its digit boxes); the shipped model's synthetic stage was four runs "
            "(24,300 steps) while the engine grew, trained here as one on today's engine",
    hours="about 3 h on 2 cores",
    corpora={},
    stages=(
        Stage("synthetic", ("synth-digits",), steps=24_300, lr=1e-3, warmup=500, ema=0.0, ctc=0.0, keep="best"),
        Stage("finetune", ("synth-digits:0.8", "tight:{real}/train.tsv:0.2"), steps=3000, lr=3e-4, warmup=200,
              val_every=250, keep_best=12, ema=0.0, ctc=0.0),
    ),
    reading=ReadingSettings(lm_weight=0.0, beam_width=1, views=5),
    val=("synth-digits", "tight:{real}/val.tsv"), val_size=1000, real_preset="digits",
)

RECIPES: dict[str, Recipe] = {r.name: r for r in (WORDS, WORDS_SYNTH_ONLY, DIGITS)}


def _fill(spec: str, out: Path, recipe: Recipe) -> str:
    names = {"real": str(out / "realsplit")} | {name: str(out / "corpus" / name) for name in recipe.corpora}
    for key, value in names.items():
        spec = spec.replace("{" + key + "}", value)
    return spec


def plan(recipe: Recipe, out: Path) -> list[str]:
    """The recipe as the steps `run_recipe` takes, one line each (for --dry-run and the logs)."""
    lines = [f"recipe {recipe.name}: {recipe.summary}; {recipe.hours}"]
    for s in recipe.stages:
        data = " ".join(s.data).replace("{", "").replace("}", "")
        stop = f" (stopped at {s.stop_at:,})" if s.stop_at else ""
        lines.append(f"  {s.name}: {data}; {s.steps:,} steps{stop}, lr {s.lr:g}, warm-up {s.warmup}, EMA {s.ema:g}, "
                     f"CTC {s.ctc:g}, seed {s.seed}; the next starts from its {s.keep} checkpoint"
                     + "".join(f"; renders {name} to {n:,} images" for name, n in s.corpora.items()))
    lines.append(f"  export: {out / (recipe.name + '.safetensors')}, reading {recipe.reading.describe()}")
    if recipe.int8:
        lines.append(f"  int8 encoder: calibrated on {_fill(recipe.int8, out, recipe)}")
    return lines


def _rendered(folder: Path, images: int, shard_size: int) -> bool:
    """Whether a corpus folder already holds every shard of samples [0, images)."""
    from .corpus import shard_dir
    return (folder / "corpus.json").is_file() and all(shard_dir(folder, k).is_dir()
                                                      for k in range(-(-images // shard_size)))


def _latest_run(folder: Path) -> Path | None:
    """The newest run folder of a stage with a resumable last checkpoint."""
    runs = sorted(p for p in folder.glob("*/last.safetensors") if p.with_suffix(".train.pt").is_file())
    return runs[-1] if runs else None


def run_recipe(recipe: Recipe, real: Path, out: Path, threads: int = 2, workers: int = 1,
               render_workers: int = 2, log=print) -> Path:
    """Make the recipe's model under OUT (see the module doc) -> the exported checkpoint's path."""
    import torch

    from ..checkpoint import load_checkpoint, read_header, save_checkpoint
    from ..config import preset
    from .corpus import prerender
    from .datasets.labels import split_folders, write_tsv
    from .options import TrainOptions
    from .trainer import train, training_sets

    out = Path(out)
    split = out / "realsplit"
    if not (split / "val.tsv").is_file():
        cfg = preset(recipe.real_preset)
        tr, va, dropped = split_folders(Path(real), cfg.charset, cfg.max_len, 0.2)
        split.mkdir(parents=True, exist_ok=True)
        write_tsv(tr, split / "train.tsv")
        write_tsv(va, split / "val.tsv")
        log(f"real crops: {len(tr)} train, {len(va)} validation -> {split} (dropped: {dict(dropped) or 'none'})")
    start: Path | None = None
    for stage in recipe.stages:
        folder = out / "stages" / stage.name
        done = folder / "done.json"
        if done.is_file():
            start = Path(json.loads(done.read_text())["checkpoint"])
            log(f"{stage.name}: done before ({start.name})")
            continue
        for name, images in stage.corpora.items():
            c = recipe.corpora[name]
            if _rendered(out / "corpus" / name, images, c.shard_size):
                continue
            prerender(c.task, out / "corpus" / name, images, seed=c.seed, engine=c.engine, workers=render_workers,
                      shard_size=c.shard_size)
        own = _latest_run(folder)
        restore = own or start
        cfg = read_header(restore)[0] if restore else preset(recipe.preset)
        if restore is None:
            cfg.context = stage.context
            cfg.validate()
        specs, datasets, vals = training_sets(cfg, [_fill(d, out, recipe) for d in stage.data],
                                              [_fill(v, out, recipe) for v in recipe.val], stage.seed, recipe.val_size)
        opt = TrainOptions(steps=stage.steps, lr=stage.lr, warmup=stage.warmup, val_every=stage.val_every,
                           keep_best=stage.keep_best, stop_at=stage.stop_at, ema=stage.ema, ctc=stage.ctc,
                           seed=stage.seed, threads=threads, workers=workers, out_dir=str(folder))
        meta = {"data": [str(s) for s in specs], "val": list(vals), "recipe": f"{recipe.name}/{stage.name}"}
        meta |= {"aux_ctc": stage.ctc} if stage.ctc else {}
        log(f"{stage.name}: {'resuming ' + str(own) if own else 'from ' + str(start or 'scratch')}")
        result = train(cfg, datasets, [s.weight for s in specs], vals, opt,
                       restore=str(restore) if restore else None, meta=meta)
        if result.steps < (stage.stop_at or stage.steps):
            raise RuntimeError(f"stage {stage.name} stopped at step {result.steps}: run the recipe again to resume")
        start = result.best_path if stage.keep == "best" else result.last
        done.write_text(json.dumps({"checkpoint": str(start), "steps": result.steps}))
        log(f"{stage.name}: finished, the next starts from {start.name}")
    model, meta = load_checkpoint(start)
    final = out / f"{recipe.name}.safetensors"
    meta = dict(meta, exported_from=str(start), export_dtype="fp16", reading=recipe.reading.to_dict(),
                recipe=recipe.name)
    save_checkpoint(model, final, meta, dtype=torch.float16)
    from ..onnx_export import int8_from_crops, write_graph
    log(f"exported {final} and its ONNX encoder {write_graph(final).name}")
    if recipe.int8:   # the int8 encoder for CPUs with VNNI, calibrated on the real train crops
        log(f"and its int8 encoder {int8_from_crops(final, _fill(recipe.int8, out, recipe)).name}")
    return final
