"""Training the house-number finder (`ocr.finder.NumberFinder`) on the digits engine's scenes.

    train_finder(out_dir, steps=20000)     # resumable: run again with the same out_dir and it goes on exactly

Scene i of seed S is `DigitSynth(seed=S).scene(i)`, so the data position is the step: step t trains on scenes
t*batch ... (t+1)*batch - 1 and a resumed run sees exactly what it would have seen. The targets are CenterNet's:
a Gaussian bump on the heat map at the frame's centre (sigma a third of the frame's smaller side, in cells), and
at that cell the sub-cell offset and log frame size. Loss: the penalty-reduced focal loss on the heat map plus L1
on offset and size at the centre cell.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from ..checkpoint import load_train_state
from ..finder import NumberFinder, load_finder, save_finder
from ..numbers import SIZE, STRIDE, letterbox, peaks

GRID = SIZE // STRIDE


@dataclass
class FinderOptions:
    steps: int = 20000
    batch_size: int = 32
    lr: float = 2e-3
    warmup: int = 300
    seed: int = 1
    val_seed: int = 77_001
    val_size: int = 500
    val_every: int = 1000
    threads: int = 1
    max_minutes: float = 0.0


def sample(ds, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scene `index` -> (input (3, SIZE, SIZE), heat target (GRID, GRID), box target (5,): cell x, cell y,
    dx, dy, log w, log h packed as (gx, gy, dx, dy, lw, lh) minus nothing: see `targets`)."""
    img, _, (x0, y0, x1, y1) = ds.scene(index)
    x, s, (ox, oy) = letterbox(img)
    cx, cy = ((x0 + x1) / 2) * s + ox, ((y0 + y1) / 2) * s + oy
    w, h = (x1 - x0) * s, (y1 - y0) * s
    return torch.from_numpy(x), *targets(cx, cy, w, h)


def targets(cx: float, cy: float, w: float, h: float) -> tuple[torch.Tensor, torch.Tensor]:
    gx = min(GRID - 1, max(0, int(cx / STRIDE)))
    gy = min(GRID - 1, max(0, int(cy / STRIDE)))
    sigma = max(0.5, min(w, h) / STRIDE / 3)
    ys, xs = torch.meshgrid(torch.arange(GRID, dtype=torch.float32), torch.arange(GRID, dtype=torch.float32),
                            indexing="ij")
    heat = torch.exp(-((xs - gx) ** 2 + (ys - gy) ** 2) / (2 * sigma ** 2))
    reg = torch.tensor([gx, gy, cx / STRIDE - gx - 0.5, cy / STRIDE - gy - 0.5,
                        math.log(max(w, 1.0) / SIZE), math.log(max(h, 1.0) / SIZE)])
    return heat, reg


def loss_fn(out: torch.Tensor, heat: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    """out (N, 5, G, G), heat (N, G, G), reg (N, 6) -> scalar."""
    p = torch.sigmoid(out[:, 0]).clamp(1e-4, 1 - 1e-4)
    pos = heat.eq(1).float()
    focal = -(pos * (1 - p) ** 2 * torch.log(p) + (1 - pos) * (1 - heat) ** 4 * p ** 2 * torch.log(1 - p)).sum()
    focal = focal / pos.sum().clamp(min=1)
    n = torch.arange(out.shape[0])
    gx, gy = reg[:, 0].long(), reg[:, 1].long()
    at = out[n, 1:, gy, gx]                                    # (N, 4)
    return focal + nn.functional.l1_loss(at, reg[:, 2:])


def batch(ds, start: int, size: int):
    xs, hs, rs = zip(*(sample(ds, i) for i in range(start, start + size)))
    return torch.stack(xs), torch.stack(hs), torch.stack(rs)


@torch.no_grad()
def evaluate_finder(model: NumberFinder, ds, n: int) -> dict:
    """Share of scenes whose strongest peak has its centre inside the true frame's middle half and its size
    within 1.5x of the truth in both directions."""
    model.eval()
    hits = 0
    for i in range(n):
        img, _, (x0, y0, x1, y1) = ds.scene(i)
        x, s, (ox, oy) = letterbox(img)
        ps = peaks(model(torch.from_numpy(x)[None])[0].numpy(), 1)
        if not ps:
            continue
        _, cx, cy, w, h = ps[0]
        cx, cy, w, h = (cx - ox) / s, (cy - oy) / s, w / s, h / s
        tw, th = x1 - x0, y1 - y0
        ok = abs(cx - (x0 + x1) / 2) <= tw / 4 and abs(cy - (y0 + y1) / 2) <= th / 4
        ok &= 1 / 1.5 <= w / tw <= 1.5 and 1 / 1.5 <= h / th <= 1.5
        hits += ok
    model.train()
    return {"hit_rate": hits / max(1, n), "count": n}


def train_finder(out_dir: str | Path, opt: FinderOptions, fonts: tuple[str, ...] | None = None) -> Path:
    """Train (or resume, when out_dir holds last.safetensors + last.train.pt) -> the best checkpoint's path."""
    from ..synth import DigitSynth

    torch.set_num_threads(opt.threads)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ds, val = DigitSynth(fonts=fonts, seed=opt.seed), DigitSynth(fonts=fonts, seed=opt.val_seed)
    model = NumberFinder()
    optim = torch.optim.AdamW(model.parameters(), lr=opt.lr, weight_decay=1e-4)
    step, best = 0, -1.0
    if (out / "last.safetensors").is_file() and (out / "last.train.pt").is_file():
        model, _ = load_finder(out / "last.safetensors")
        model.train()
        optim = torch.optim.AdamW(model.parameters(), lr=opt.lr, weight_decay=1e-4)
        st = load_train_state(out / "last.train.pt")
        optim.load_state_dict(st["optimizer"])
        step, best = int(st["step"]), float(st["best"])
        print(f"resuming at step {step} (best hit rate {best:.3f})")
    model.train()

    def lr_at(t):
        if t < opt.warmup:
            return opt.lr * (t + 1) / opt.warmup
        return opt.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (t - opt.warmup) / max(1, opt.steps - opt.warmup))))

    def save():
        nonlocal best
        m = evaluate_finder(model, val, opt.val_size)
        meta = {"steps": step, "images_seen": step * opt.batch_size, "data": f"digits engine scenes, seed {opt.seed}",
                "validation": m | {"seed": opt.val_seed}}
        save_finder(model, out / "last.safetensors", meta)
        if m["hit_rate"] > best:
            best = m["hit_rate"]
            save_finder(model, out / "best.safetensors", meta)
        torch.save({"optimizer": optim.state_dict(), "step": step, "best": best}, out / "last.train.pt")
        with open(out / "log.csv", "a") as f:
            f.write(f"{step},{m['hit_rate']:.4f}\n")
        tqdm.write(f"step {step}: validation hit rate {m['hit_rate']:.3f} (best {best:.3f})")

    t0 = time.time()
    bar = tqdm(total=opt.steps, initial=step, desc="train finder", dynamic_ncols=True)
    avg = None
    while step < opt.steps:
        for g in optim.param_groups:
            g["lr"] = lr_at(step)
        x, heat, reg = batch(ds, step * opt.batch_size, opt.batch_size)
        loss = loss_fn(model(x), heat, reg)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        step += 1
        v = loss.item()
        avg = v if avg is None else 0.98 * avg + 0.02 * v
        bar.update(1)
        bar.set_postfix(loss=f"{avg:.3f}")
        if step % opt.val_every == 0 or step == opt.steps:
            save()
        if opt.max_minutes and time.time() - t0 > opt.max_minutes * 60:
            if step % opt.val_every:
                save()
            tqdm.write(f"stopping at step {step} (--max-minutes); run again to resume")
            break
    bar.close()
    return out / "best.safetensors"
