"""The house-number finder's network (PyTorch): `NumberFinder`, and its checkpoint format.

`ocr.numbers` uses it (or its ONNX export, without PyTorch) to find the number in a photo;
`ocr.training.numbers_training` trains it. A checkpoint is a safetensors file (format "ocr-numberfinder/1":
tensors, config, meta, digest; loading runs no code).

Shapes: NumberFinder(x (N, 3, SIZE, SIZE) in [-1, 1]) -> (N, 5, SIZE/8, SIZE/8): heat logit, dx, dy (cell units),
log(frame w / SIZE), log(frame h / SIZE).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from .checkpoint import tensor_digest

FORMAT = "ocr-numberfinder/1"


def _block(cin: int, cout: int, stride: int, convs: int = 2) -> nn.Sequential:
    layers = []
    for i in range(convs):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, stride if i == 0 else 1, 1, bias=False),
                   nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class NumberFinder(nn.Module):
    """Four stride-2 stages (the first a single conv), the last one's output added back at stride 8, a small head."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64, 96)):
        super().__init__()
        self.widths = tuple(widths)
        w1, w2, w3, w4 = self.widths
        self.s1, self.s2 = _block(3, w1, 2, convs=1), _block(w1, w2, 2)
        self.s3, self.s4 = _block(w2, w3, 2), _block(w3, w4, 2)
        self.lateral = nn.Conv2d(w4, w3, 1)
        self.head = nn.Sequential(nn.Conv2d(w3, w3, 3, 1, 1), nn.ReLU(inplace=True), nn.Conv2d(w3, 5, 1))
        nn.init.constant_(self.head[-1].bias, 0.0)
        with torch.no_grad():
            self.head[-1].bias[0] = -2.2  # the heat map starts near 0.1 (CenterNet's prior)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c3 = self.s3(self.s2(self.s1(x)))                    # (N, w3, SIZE/8, SIZE/8)
        c4 = self.s4(c3)                                     # (N, w4, SIZE/16, SIZE/16)
        up = nn.functional.interpolate(self.lateral(c4), size=c3.shape[-2:], mode="nearest")
        return self.head(c3 + up)                            # (N, 5, SIZE/8, SIZE/8)


def save_finder(model: NumberFinder, path: str | Path, meta: dict | None = None) -> Path:
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(sd, str(path), metadata={"format": FORMAT, "config": json.dumps({"widths": list(model.widths)}),
                                       "meta": json.dumps(meta or {}, default=str), "sha256": tensor_digest(sd)})
    return path


def load_finder(path: str | Path) -> tuple[NumberFinder, dict]:
    """-> (model in eval mode, meta); CheckpointError for a missing, altered or foreign file."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    from .checkpoint import CheckpointError

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"number finder not found: {path}")
    try:
        with safe_open(str(path), "pt") as f:
            header = f.metadata() or {}
        sd = load_file(str(path))
        if header.get("format") != FORMAT:
            raise CheckpointError(f"{path} is not a number finder (format {header.get('format')!r})")
        if header.get("sha256") != tensor_digest(sd):
            raise CheckpointError(f"{path} fails its integrity check (altered or truncated)")
        cfg = json.loads(header["config"])
        widths = tuple(int(w) for w in cfg["widths"])
        if len(widths) != 4 or not all(1 <= w <= 512 for w in widths):
            raise CheckpointError(f"{path}: bad widths {widths}")
        model = NumberFinder(widths)
        model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    except CheckpointError:
        raise
    except (SafetensorError, OSError, ValueError, KeyError, RuntimeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path} is not a usable number finder: {e}") from None
    return model.eval(), json.loads(header.get("meta", "{}"))
