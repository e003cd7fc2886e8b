"""From (image, label) samples to network input batches.

Every dataset (`ocr.training.datasets`) yields `(image, label)` (a PIL image, a path or bytes; a str); `Prepared` turns
that into the network input with the shared `preprocess`, and `collate` batches it:

    Prepared(ds, cfg)[i] -> (tensor (C, H, W), label) or (None, label) when the image is unreadable
    collate(samples)     -> (images (N, C, H, W), labels, skipped count)
"""
from __future__ import annotations

import torch
from torch.utils.data import Dataset

from ..config import ModelConfig
from ..images import InvalidImageError, load_image
from ..preprocess import preprocess


class Prepared(Dataset):
    """(image, label) dataset -> (tensor (C, H, W), label); unreadable images give (None, label).

    `augment` (a torchvision v2 transform on PIL images) is applied in training only.
    """

    def __init__(self, base: Dataset, cfg: ModelConfig, train: bool = False, augment=None):
        self.base, self.cfg, self.train, self.augment = base, cfg, train, augment

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        src, label = self.base[i]
        try:
            img = load_image(src)
            if self.augment is not None:
                img = self.augment(img)
            return preprocess(img, self.cfg, train=self.train), label
        except InvalidImageError:
            return None, label


def collate(batch):
    """Drops unreadable samples; -> (images (N, C, H, W), labels list[str], skipped count)."""
    good = [(x, y) for x, y in batch if x is not None]
    if not good:
        return None, [], len(batch)
    xs, ys = zip(*good)
    return torch.stack(xs), list(ys), len(batch) - len(good)


class Materialized(Dataset):
    """A fixed, in-memory copy of the first n samples of a dataset (for validation sets)."""

    def __init__(self, base: Dataset, n: int):
        self.items = [base[i] for i in range(min(n, len(base)))]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        return self.items[i]
