"""Shrink a trained recognizer's encoder to fewer channels per stage, keeping its most important channels.

`narrow(model, widths)` returns a new `Recognizer` whose encoder stage s has `widths[s]` channels (each at most the
old width; same convolutions, pools and decoder sizes). A stage's channels are ranked by the summed magnitude of
their BatchNorm scales over the stage's convolutions (a channel whose scale is small contributes little after its
ReLU: "network slimming", Liu et al. 2017), and the top ones keep their weights everywhere they are read: the next
stage's first convolution, the position embedding, the `RowContext`, the attention keys, the first recurrent cell
and the output layer (their feature-dimension columns are sliced alike).

Keeping every channel gives back the same model; fewer channels give a smaller, faster model that reads worse until
trained, a warm start for distillation (`scripts/narrow.py`, then `train.py --restore OUT --teacher CKPT --kd W`).
Shapes: the encoder still maps (N, C, H, W) -> (N, feat_h * feat_w, D) with D = widths[-1].
"""
from __future__ import annotations

import dataclasses

import torch

from ..model import Recognizer


def channel_order(model: Recognizer) -> list[torch.Tensor]:
    """Per encoder stage: its channel indices, the most important first."""
    order = []
    for stage in model.encoder.blocks:
        score = sum(block[1].weight.detach().abs() for block in stage)
        order.append(torch.argsort(score, descending=True, stable=True))
    return order


def narrow(model: Recognizer, widths: tuple[int, ...]) -> Recognizer:
    """A copy of `model` with `widths[s]` channels in encoder stage s (ValueError if a width grows or the count of
    stages differs)."""
    old = model.cfg
    widths = tuple(int(w) for w in widths)
    if len(widths) != len(old.widths):
        raise ValueError(f"narrow keeps the {len(old.widths)} stages: got widths {widths}")
    if any(not 1 <= w <= o for w, o in zip(widths, old.widths)):
        raise ValueError(f"narrow only shrinks, to at least 1 channel: widths {old.widths} -> {widths}")
    keep = [idx[:w].sort().values for idx, w in zip(channel_order(model), widths)]
    feat = keep[-1]
    cfg = dataclasses.replace(old, widths=widths)
    new = Recognizer(cfg)
    src = model.state_dict()
    out = {}
    e, h = old.embed_dim, old.hidden
    for name, target in new.state_dict().items():
        w = src[name]
        parts = name.split(".")
        if parts[:2] == ["encoder", "blocks"]:
            s, i, kind = int(parts[2]), int(parts[3]), parts[4]
            if w.dim() == 0:                                   # BatchNorm's num_batches_tracked
                pass
            elif kind == "0":                                  # conv (out, in, 3, 3)
                w = w[keep[s]]
                if i > 0:
                    w = w[:, keep[s]]
                elif s > 0:
                    w = w[:, keep[s - 1]]
            else:                                              # BatchNorm vectors
                w = w[keep[s]]
        elif name == "encoder.pos":
            w = w[:, feat]
        elif name.startswith("encoder.context.rnn.weight_ih"):
            w = w[:, feat]
        elif name == "encoder.context.proj.weight":
            w = w[feat]
        elif name == "encoder.context.proj.bias":
            w = w[feat]
        elif name == "decoder.key.weight":
            w = w[:, feat]
        elif name == "decoder.cells.0.weight_ih":
            w = torch.cat([w[:, :e], w[:, e:][:, feat]], dim=1)
        elif name == "decoder.out.weight":
            w = torch.cat([w[:, :h], w[:, h:][:, feat]], dim=1)
        if w.shape != target.shape:
            raise ValueError(f"narrow cannot map {name}: {tuple(w.shape)} -> {tuple(target.shape)}")
        out[name] = w.clone()
    new.load_state_dict(out)
    return new.eval()
