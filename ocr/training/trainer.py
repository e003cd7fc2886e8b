"""Training loop shared by scripts/train.py and scripts/finetune.py.

Single process, or DistributedDataParallel under `torchrun` (gloo on CPU, nccl on CUDA).
Writes to saves/<date-time>/: last.safetensors (+ last.train.pt for resuming), the best k
checkpoints by validation accuracy, log.csv and curves.png; `train` returns them as a TrainResult.
"""
from __future__ import annotations

import csv
import datetime as dt
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as distributed
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import ConcatDataset, DataLoader
from tqdm import tqdm

from ..checkpoint import load_checkpoint, load_train_state, save_checkpoint
from ..config import ModelConfig
from ..hardware import cpu_has_bf16
from .augment import train_augment
from .data import Prepared, collate
from .options import TrainOptions
from ..model import Recognizer
from .sampling import MixedBatchSampler


@dataclass
class TrainState:
    step: int = 0
    images_seen: int = 0
    wall_seconds: float = 0.0
    best: list = field(default_factory=list)  # [(accuracy, path)]


SYNTH_VAL_SIZE, REAL_VAL_CAP = 1000, 10_000


def training_sets(cfg: ModelConfig, data: list[str] | None, val: list[str] | None, seed: int = 0,
                  val_size: int | None = None, font_dirs: tuple[str, ...] = ()) -> tuple[list, list, dict]:
    """Dataset specs -> (parsed specs, training datasets, {name: fixed validation set}). data None: the task's
    synthetic engine; val None: 1000 held-out synthetic samples. Each training set i draws with seed + 100 i;
    synthetic validation with seeds 10,000+, never a training seed. val_size: samples per validation set; None:
    1000 of a synthetic set, all of a labelled one (at most the first 10,000, said when cut)."""
    from .data import Materialized
    from .datasets.specs import build_dataset, parse_spec

    task_synth = "synth-words" if cfg.name == "words" else "synth-digits"
    specs = [parse_spec(s) for s in (data or [task_synth])]
    datasets = []
    for i, s in enumerate(specs):
        ds = build_dataset(s, cfg, seed=seed + 100 * i, font_dirs=font_dirs)
        if hasattr(ds, "report") and dist_info()[0] == 0:
            print(f"{s}: {ds.report}")
        datasets.append(ds)
    vals = {}
    for i, v in enumerate(val if val is not None else [task_synth]):
        vs = parse_spec(v)
        ds = build_dataset(vs, cfg, seed=10_000 + i, font_dirs=font_dirs)
        synthetic = is_synthetic(ds)
        n = min(len(ds), val_size or (SYNTH_VAL_SIZE if synthetic else REAL_VAL_CAP))
        if dist_info()[0] == 0 and not synthetic:
            print(f"validation {vs}: {n} of {len(ds)} samples"
                  + ("" if n == len(ds) else " (the first ones; --val-size to change)"))
        vals[str(vs.path or vs.kind)] = Materialized(ds, n)
    return specs, datasets, vals


def is_synthetic(dataset) -> bool:
    """Synthetic data (the engines, pre-rendered corpora) brings its own distortions."""
    from ..synth import DigitSynth, WordSynth
    return isinstance(dataset, (WordSynth, DigitSynth)) or getattr(dataset, "synthetic", False)


def use_bf16(opt: TrainOptions, device: torch.device) -> bool:
    if opt.precision == "bf16":
        return True
    if opt.precision == "fp32":
        return False
    return device.type == "cuda" or cpu_has_bf16()


def dist_info() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) from torchrun's environment (0, 0, 1 otherwise)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


@torch.no_grad()
def evaluate_model(model: Recognizer, dataset, batch_size: int = 128, limit: int | None = None) -> dict:
    """Greedy-decode a (image, label) dataset with the training model itself, no word prior, batched (the
    validation of a run; `ocr.training.evaluation.evaluate`) -> {"count", "accuracy", "exact", "ned"}.
    An image that cannot be read counts as a misread, never as absent."""
    from .evaluation import evaluate
    from ..recognizer import TextRecognizer

    was_training = model.training
    try:
        res = evaluate(TextRecognizer(model, serving=False), dataset, limit, batch_size, fast=True)
    finally:
        model.train(was_training)
    res.pop("median_ms")
    return res


def plot_curves(csv_path: Path, png_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(open(csv_path)))
    if not rows:
        return
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    tr = [r for r in rows if r["loss"]]
    ax[0].plot([int(r["step"]) for r in tr], [float(r["loss"]) for r in tr])
    ax[0].set_yscale("log"); ax[0].set_xlabel("step"); ax[0].set_title("training loss")
    va = [r for r in rows if r["val_accuracy"]]
    ax[1].plot([int(r["step"]) for r in va], [float(r["val_accuracy"]) for r in va], marker="o")
    ax[1].set_xlabel("step"); ax[1].set_title("validation word accuracy"); ax[1].set_ylim(0, 1)
    fig.tight_layout(); fig.savefig(png_path, dpi=80); plt.close(fig)


def lr_at(step: int, opt: TrainOptions) -> float:
    if step < opt.warmup:
        return opt.lr * (step + 1) / opt.warmup
    p = min(1.0, (step - opt.warmup) / max(1, opt.steps - opt.warmup))
    return opt.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * p)))


class CTCHead(nn.Module):
    """Training-only auxiliary classifier on the encoder: features (N, fh*fw, D) -> per-column logits
    (N, fw, classes + 1), the last class being the CTC blank. The attention decoder stays the reader;
    the head only adds a loss that asks every feature column to know its character."""

    def __init__(self, cfg: ModelConfig, dim: int, classes: int):
        super().__init__()
        self.fh, self.fw = cfg.feat_hw
        self.blank = classes
        self.proj = nn.Linear(dim, classes + 1)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        n = feats.shape[0]
        return self.proj(feats.reshape(n, self.fh, self.fw, -1).mean(1))

    def loss(self, logits: torch.Tensor, targets: torch.Tensor, lengths: list[int]) -> torch.Tensor:
        """logits (N, fw, classes + 1); targets (N, T+1) from Tokenizer.encode (characters are 1..C);
        lengths: characters per label. Labels too long for fw columns add nothing (zero_infinity)."""
        log_probs = torch.log_softmax(logits.float(), dim=2).transpose(0, 1)          # (fw, N, classes + 1)
        flat = torch.cat([t[:k] for t, k in zip(targets, lengths)])
        n = logits.shape[0]
        return F.ctc_loss(log_probs, flat, torch.full((n,), self.fw, dtype=torch.long),
                          torch.tensor(lengths, dtype=torch.long), blank=self.blank, zero_infinity=True)


class _WithCTC(nn.Module):
    """What DDP and the optimizer see when --ctc is on: the recognizer and its auxiliary head."""

    def __init__(self, core: Recognizer, head: CTCHead):
        super().__init__()
        self.core, self.head = core, head

    def forward(self, xs, targets):
        logits, feats = self.core(xs, targets, return_feats=True)
        return logits, self.head(feats)


@dataclass
class TrainResult:
    """What a run kept: its folder, the last checkpoint and the best k by validation accuracy (best first)."""

    run: Path
    last: Path
    best: list[tuple[float, Path]]
    steps: int

    @property
    def best_path(self) -> Path:
        """The best checkpoint, or the last one when nothing was validated."""
        return self.best[0][1] if self.best else self.last


@dataclass
class _Restored:
    model: Recognizer
    optimizer: dict | None = None   # optimizer state (same run only)
    raw_model: dict | None = None   # the raw weights when the checkpoint holds the EMA
    rng: torch.Tensor | None = None
    run: Path | None = None         # the run folder to go on in (same run only)
    ctc_head: dict | None = None    # the auxiliary CTC head (same run, --ctc)


def _restore(restore: str | None, cfg: ModelConfig, meta: dict, state: TrainState) -> _Restored:
    """A new model, or one restored from a checkpoint. The same run (a `.train.pt` beside the checkpoint
    and the same data) resumes exactly: optimizer, EMA, step counters, best list, random state."""
    if not restore:
        return _Restored(Recognizer(cfg))
    parent, pmeta = load_checkpoint(restore)
    model = Recognizer(parent.cfg)
    model.load_state_dict(parent.state_dict())
    train_pt = Path(restore).with_suffix(".train.pt")
    if "reading" in pmeta:  # a fine-tuned model reads as its parent did (until its own are chosen and exported)
        meta.setdefault("reading", pmeta["reading"])
    if not (train_pt.is_file() and pmeta.get("data") == meta.get("data")):
        meta["parent"] = str(restore)
        meta["parent_meta"] = {k: pmeta.get(k) for k in ("data", "steps", "images_seen", "metrics")}
        # what was measured for the nearest measured ancestor (`ocr.reading`: "figures"), for the demo's About
        meta["parent_meta"]["figures"] = pmeta.get("figures") or (pmeta.get("parent_meta") or {}).get("figures")
        return _Restored(model)
    ts = load_train_state(train_pt)
    state.step, state.images_seen, state.wall_seconds = ts["step"], ts["images_seen"], ts["wall_seconds"]
    state.best = [tuple(b) for b in ts.get("best", [])]
    meta["parent"] = pmeta.get("parent")
    meta["resumed_from"] = str(restore)
    return _Restored(model, ts["optimizer"], ts.get("raw_model"), ts.get("torch_rng"), Path(restore).parent,
                     ts.get("ctc_head"))


def _loader(cfg: ModelConfig, datasets: list, weights: list[float], opt: TrainOptions, start: int,
            rank: int, world: int) -> DataLoader:
    """Batches (images (N, C, H, W), labels, skipped) from step `start` to opt.steps.
    Synthetic data brings its own distortions; the torchvision augmentation is for real images."""
    aug = train_augment(cfg)
    prepared = ConcatDataset([Prepared(d, cfg, train=True, augment=None if is_synthetic(d) else aug) for d in datasets])
    sampler = MixedBatchSampler([len(d) for d in datasets], weights, opt.batch_size, seed=opt.seed,
                                batches=max(0, opt.steps - start), rank=rank, world=world, start=start)
    return DataLoader(prepared, batch_sampler=sampler, num_workers=opt.workers, collate_fn=collate,
                      persistent_workers=False, prefetch_factor=4 if opt.workers else None)


class _Keeper:
    """Validation and what is kept on disk: last.safetensors + last.train.pt, the best k, log.csv, curves.png."""

    def __init__(self, run: Path, val_sets: dict, keep_best: int, state: TrainState, fresh_log: bool):
        self.run, self.val_sets, self.keep_best, self.state = run, val_sets, keep_best, state
        self.log = run / "log.csv"
        if fresh_log:
            with open(self.log, "w", newline="") as f:
                csv.writer(f).writerow(["step", "loss", "val_accuracy", "wall_seconds"])

    def log_loss(self, loss: float, wall: float) -> None:
        with open(self.log, "a", newline="") as f:
            csv.writer(f).writerow([self.state.step, f"{loss:.4f}", "", round(wall)])

    def save(self, kept: Recognizer, resume: dict, meta: dict) -> Path:
        """Validate `kept` (the EMA or the raw model), save it and the resume state; -> last.safetensors."""
        st = self.state
        metrics = {name: evaluate_model(kept, ds) for name, ds in self.val_sets.items()}
        acc = sum(m["accuracy"] for m in metrics.values()) / max(1, len(metrics))
        m = dict(meta, steps=st.step, images_seen=st.images_seen, wall_seconds=round(st.wall_seconds), metrics=metrics)
        name = self._name(acc)
        if self.val_sets:  # a step saved twice (a resumed run's last step) is ranked once
            st.best = sorted([b for b in st.best if b[1] != name] + [(acc, name)], reverse=True)
        last = save_checkpoint(kept, self.run / "last.safetensors", m)
        if (acc, name) in st.best[: self.keep_best]:
            save_checkpoint(kept, self.run / name, m)
        for _, old in st.best[self.keep_best:]:
            (self.run / old).unlink(missing_ok=True)
        st.best = st.best[: self.keep_best]
        torch.save({**resume, "step": st.step, "images_seen": st.images_seen, "wall_seconds": st.wall_seconds,
                    "best": [list(b) for b in st.best], "torch_rng": torch.get_rng_state()},
                   self.run / "last.train.pt")
        with open(self.log, "a", newline="") as f:
            csv.writer(f).writerow([st.step, "", f"{acc:.4f}" if self.val_sets else "", round(st.wall_seconds)])
        plot_curves(self.log, self.run / "curves.png")
        tqdm.write(f"step {st.step}: " + "  ".join(f"{k} acc {v['accuracy']:.3f} ned {v['ned']:.3f}"
                                                 for k, v in metrics.items()))
        return last

    def _name(self, acc: float) -> str:
        return f"step{self.state.step:07d}-acc{acc:.4f}.safetensors"  # the accuracy is for people browsing

    def result(self) -> TrainResult:
        return TrainResult(self.run, self.run / "last.safetensors",
                           [(a, self.run / n) for a, n in self.state.best], self.state.step)


def check_teacher(t: ModelConfig, cfg: ModelConfig) -> None:
    """ValueError unless a teacher of config `t` reads the same input (channels, height, width) with the same
    charset as the model of config `cfg`."""
    if (t.channels, t.img_h, t.img_w) != (cfg.channels, cfg.img_h, cfg.img_w) or t.charset != cfg.charset:
        raise ValueError(f"the teacher reads {t.channels}x{t.img_h}x{t.img_w} images with {len(t.charset)} "
                         f"characters, the model {cfg.channels}x{cfg.img_h}x{cfg.img_w} with {len(cfg.charset)}: "
                         "distillation needs the same input size and charset")


def load_teacher(path: str, cfg: ModelConfig, device) -> Recognizer:
    """The distillation teacher: a trained model that passes `check_teacher`, frozen in eval mode."""
    teacher, _ = load_checkpoint(path, map_location="cpu")
    check_teacher(teacher.cfg, cfg)
    teacher.to(device).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def distill_loss(logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor, pad: int,
                 temp: float) -> torch.Tensor:
    """KL(teacher || student) of the per-step character distributions at temperature `temp`, times temp^2 (so its
    gradient scale does not depend on temp), averaged over the steps that are not padding.
    logits, teacher_logits (N, T+1, classes); targets (N, T+1)."""
    keep = (targets != pad).flatten()
    s = F.log_softmax(logits.float().flatten(0, 1)[keep] / temp, dim=-1)
    t = F.log_softmax(teacher_logits.float().flatten(0, 1)[keep] / temp, dim=-1)
    return F.kl_div(s, t, log_target=True, reduction="batchmean") * temp * temp


def _step(model, core: Recognizer, head: "CTCHead | None", optimizer, xs, ys, lr: float, device, opt: TrainOptions,
          bf16: bool, teacher: Recognizer | None = None) -> float:
    """One optimisation step on a batch; -> the loss. head: the auxiliary CTC head when --ctc is on; teacher: the
    distillation teacher when --kd is on."""
    for g in optimizer.param_groups:
        g["lr"] = lr
    xs = xs.to(device, non_blocking=True)
    if opt.channels_last:
        xs = xs.contiguous(memory_format=torch.channels_last)
    targets = core.tokenizer.encode(ys).to(device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        out = model(xs, targets)   # model may be a DDP wrapper, of core or of _WithCTC
        logits, ctc_logits = out if head is not None else (out, None)
        loss = core.loss(logits, targets)
        if head is not None:
            loss = loss + opt.ctc * head.loss(ctc_logits, targets, [len(y) for y in ys])
        if teacher is not None:
            with torch.no_grad():
                teacher_logits = teacher(xs, targets)
            loss = loss + opt.kd * distill_loss(logits, teacher_logits, targets, core.tokenizer.pad, opt.kd_temp)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], opt.grad_clip)
    optimizer.step()
    return loss.item()


def _out_of_time(opt: TrainOptions, step: int, session_start: float, world: int) -> bool:
    """--stop-at reached, or --max-minutes passed (checked every 50 steps; all processes agree)."""
    if opt.stop_at and step >= opt.stop_at:
        return True
    if not opt.max_minutes or step % 50:
        return False
    flag = torch.tensor([float(time.time() - session_start > opt.max_minutes * 60)])
    if world > 1:
        distributed.all_reduce(flag, op=distributed.ReduceOp.MAX)
    return bool(flag.item())


def _run_folder(resumed: Path | None, opt: TrainOptions, rank: int, world: int) -> Path:
    run = resumed or Path(opt.out_dir) / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    if world > 1:  # every process must agree on the folder: take rank 0's
        obj = [str(run)]
        distributed.broadcast_object_list(obj, 0)
        run = Path(obj[0])
    if rank == 0:
        run.mkdir(parents=True, exist_ok=True)
    return run


def train(cfg: ModelConfig, datasets: list, weights: list[float], val_sets: dict, opt: TrainOptions,
          restore: str | None = None, meta: dict | None = None,
          on_step: Callable[[int, float], bool] | None = None) -> TrainResult:
    """Train on (image, label) `datasets` mixed by `weights`; validate on `val_sets` every opt.val_every
    steps. -> TrainResult (the run folder, the last and the best checkpoints).

    on_step(step, smoothed loss), if given, is called after every step (rank 0); returning True stops the
    run cleanly (single-process runs), as --stop-at does (the step is checkpointed)."""
    rank, local_rank, world = dist_info()
    if world > 1 and not distributed.is_initialized():
        distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if opt.threads:
        torch.set_num_threads(opt.threads)
    torch.manual_seed(opt.seed + rank)
    bf16 = use_bf16(opt, device)
    meta = dict(meta or {})
    state = TrainState()
    restored = _restore(restore, cfg, meta, state)
    core = restored.model
    cfg = core.cfg
    ema = None
    if opt.ema:
        ema = AveragedModel(core, multi_avg_fn=get_ema_multi_avg_fn(opt.ema), use_buffers=True)
        if restored.raw_model is not None:  # the checkpoint holds the average; the raw weights go on here
            core.load_state_dict(restored.raw_model)
            ema.n_averaged.fill_(max(1, state.step))  # the average goes on (0 would restart it as a copy)
        ema.to(device)
    core.to(device)
    if opt.channels_last:
        core.to(memory_format=torch.channels_last)
    model, head = core, None
    if opt.ctc:
        head = CTCHead(cfg, core.encoder.dim, core.tokenizer.num_classes)
        if restored.ctc_head is not None:
            head.load_state_dict(restored.ctc_head)
        model = _WithCTC(core, head.to(device))
    if world > 1:
        model = DistributedDataParallel(model, device_ids=[local_rank] if device.type == "cuda" else None)
    teacher = None
    if opt.kd:
        if not opt.teacher:
            raise ValueError("kd > 0 needs a teacher checkpoint")
        teacher = load_teacher(opt.teacher, cfg, device)
        if opt.channels_last:
            teacher.to(memory_format=torch.channels_last)
        meta["distilled_from"] = {"teacher": Path(opt.teacher).name, "kd": opt.kd, "kd_temp": opt.kd_temp}
    optimizer = torch.optim.AdamW(model.parameters(), lr=opt.lr, weight_decay=opt.weight_decay)
    if restored.optimizer:
        optimizer.load_state_dict(restored.optimizer)

    run = _run_folder(restored.run, opt, rank, world)
    keeper = _Keeper(run, val_sets, opt.keep_best, state,
                     fresh_log=rank == 0 and not (restored.run and (run / "log.csv").is_file()))
    loader = _loader(cfg, datasets, weights, opt, state.step, rank, world)
    meta.update({"config": cfg.to_dict(), "precision": "bf16" if bf16 else "fp32", "world_size": world})
    t0 = time.time() - state.wall_seconds
    session_start = time.time()
    skipped = 0
    saved_at = state.step  # the step of the newest checkpoint on disk (a resumed run starts from one)

    def checkpoint():
        state.wall_seconds = time.time() - t0
        resume = {"optimizer": optimizer.state_dict()} | ({"raw_model": core.state_dict()} if ema is not None else {})
        if head is not None:
            resume["ctc_head"] = head.state_dict()
        keeper.save(ema.module if ema is not None else core, resume, dict(meta, skipped_unreadable=skipped))

    bar = tqdm(total=opt.steps, initial=state.step, disable=rank != 0, dynamic_ncols=True, desc="train")
    model.train()
    loss_avg = None
    batches = iter(loader)  # creating it draws a base seed from torch's generator: restore after it
    if restored.rng is not None:
        torch.set_rng_state(restored.rng)
    for xs, ys, bad in batches:
        skipped += bad
        if xs is None:
            continue
        loss = _step(model, core, head, optimizer, xs, ys, lr_at(state.step, opt), device, opt, bf16, teacher)
        if ema is not None:
            ema.update_parameters(core)
        state.step += 1
        state.images_seen += len(ys) * world
        loss_avg = loss if loss_avg is None else 0.98 * loss_avg + 0.02 * loss
        bar.update(1)
        bar.set_postfix(loss=f"{loss_avg:.3f}", lr=f"{lr_at(state.step, opt):.1e}")
        if rank == 0 and state.step % 50 == 0:
            keeper.log_loss(loss_avg, time.time() - t0)
        stop = _out_of_time(opt, state.step, session_start, world)
        if on_step is not None and rank == 0 and on_step(state.step, loss_avg) and world == 1:
            stop = True
        if rank == 0 and (state.step % opt.val_every == 0 or state.step >= opt.steps):
            checkpoint()
            saved_at = state.step
        if stop:
            tqdm.write(f"stopping at step {state.step} (--stop-at / --max-minutes / asked to stop)")
            break
    bar.close()
    if rank == 0 and saved_at != state.step:
        checkpoint()
    if world > 1:
        distributed.barrier()
    return keeper.result()
