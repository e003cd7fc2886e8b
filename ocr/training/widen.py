"""Grow a trained recognizer's encoder (wider stages, more residual convolutions) from its weights.

`widen(model, widths, convs)` returns a new `Recognizer` whose encoder has `widths[s]` channels and
`convs[s]` convolutions in stage s (each at least the old value; same pools, same last width, so the
position embedding and the whole decoder carry over unchanged). It reads what the old model reads:

- an old convolution keeps its weights for its old output channels and gets zero weights from every
  new input channel, so new channels never reach an old one; new output channels start random.
  Their values do reach the next stage's new channels, but an old channel sees none of them, and the
  last stage's width is unchanged, so the features the decoder reads are the old ones exactly;
- a new residual convolution (a stage grows from n to more convs) starts with its BatchNorm scale at
  `new_gain` (1e-3) and shift 0, so it adds almost nothing (x + relu(1e-3 * ...)) yet gets gradients
  (a scale of exactly 0 would put every ReLU input at 0, where its gradient is 0, and it would never
  learn).

`widen(..., context=H)` also adds a `RowContext` (a residual BiLSTM of H units per direction along
each feature-map row) to a model that has none; its output projection starts at zero, so the
features are exactly the old ones until it has trained.

The grown model is a warm start for further training (`scripts/widen.py`, then `train.py --restore`).
Shapes: the encoder still maps (N, C, H, W) -> (N, feat_h * feat_w, D) with the same D.
"""
from __future__ import annotations

import dataclasses

import torch

from ..model import Recognizer

NEW_GAIN = 1e-3


def _check(old, widths: tuple[int, ...], convs: tuple[int, ...]) -> None:
    if len(widths) != len(old.widths) or len(convs) != len(old.convs):
        raise ValueError(f"widen keeps the {len(old.widths)} stages: got widths {widths}, convs {convs}")
    if any(w < o for w, o in zip(widths, old.widths)) or any(c < o for c, o in zip(convs, old.convs)):
        raise ValueError(f"widen only grows: widths {old.widths} -> {widths}, convs {old.convs} -> {convs}")
    if widths[-1] != old.widths[-1]:
        raise ValueError(f"the last width feeds the decoder and must stay {old.widths[-1]}, got {widths[-1]}")


@torch.no_grad()
def widen(model: Recognizer, widths, convs, new_gain: float = NEW_GAIN, context: int = 0) -> Recognizer:
    """A grown copy of `model` (eval mode, fp32) that reads (almost exactly) what `model` reads."""
    old_cfg = model.cfg
    widths, convs = tuple(int(w) for w in widths), tuple(int(c) for c in convs)
    _check(old_cfg, widths, convs)
    if context and old_cfg.context:
        raise ValueError(f"the model already has a context module ({old_cfg.context} units)")
    cfg = dataclasses.replace(old_cfg, widths=widths, convs=convs, context=int(context) or old_cfg.context).validate()
    grown = Recognizer(cfg)
    old_sd = {k: v.float() for k, v in model.state_dict().items()}
    new_sd = grown.state_dict()
    for key, value in old_sd.items():
        if not key.startswith("encoder.blocks."):
            new_sd[key].copy_(value)  # position embedding and decoder: same shapes
    for s, (n_old, n_new) in enumerate(zip(old_cfg.convs, convs)):
        for i in range(n_new):
            conv, bn = f"encoder.blocks.{s}.{i}.0.weight", f"encoder.blocks.{s}.{i}.1."
            if i >= n_old:  # a new residual convolution: almost silent, still trainable
                new_sd[bn + "weight"].fill_(new_gain)
                new_sd[bn + "bias"].zero_()
                continue
            w_old = old_sd[conv]                                  # (cout_old, cin_old, 3, 3)
            co, ci = w_old.shape[:2]
            new_sd[conv][:co].zero_()
            new_sd[conv][:co, :ci] = w_old
            for part in ("weight", "bias", "running_mean", "running_var"):
                new_sd[bn + part][:co] = old_sd[bn + part]
            new_sd[bn + "num_batches_tracked"].copy_(old_sd[bn + "num_batches_tracked"])
    grown.load_state_dict(new_sd)
    return grown.eval()


def reshape_input(model: Recognizer, img_w: int) -> Recognizer:
    """A copy of a words model that reads `img_w`-pixel-wide inputs (the encoder's feature map grows in width by the
    same factor). Every weight carries over; the learned position embedding (1, D, fh, fw) is resized along the width
    (bilinear). It reads roughly what the old one read, each letter over more feature columns: a warm start for a
    fine-tune on data of the new width (`scripts/prerender.py --img-w`), not a finished model."""
    import torch.nn.functional as F

    old_cfg = model.cfg
    if old_cfg.resize_h:
        raise ValueError("reshape_input is for words models (a fixed crop of a resized image is the digits' input)")
    if img_w == old_cfg.img_w:
        raise ValueError(f"the model already reads {img_w}-pixel-wide inputs")
    cfg = dataclasses.replace(old_cfg, img_w=int(img_w)).validate()
    new = Recognizer(cfg)
    sd = {k: v.float() for k, v in model.state_dict().items()}
    fh, fw = new.encoder.pos.shape[-2:]
    sd["encoder.pos"] = F.interpolate(sd["encoder.pos"], size=(fh, fw), mode="bilinear", align_corners=False)
    new.load_state_dict(sd)
    return new.eval()
