"""Tight crops: a `folder:` of crops whose boxes touch the text (`tight:PATH`).

In the digits task each crop is framed as the SVHN protocol frames the union of the digit boxes:
30 % larger, here padded with edge pixels since there is no surrounding photo (`frame_tight`);
otherwise the 54/64 centre crop would cut the first and last digits. Words use them as they are.
"""
from __future__ import annotations

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from ...config import SVHN_EXPAND
from ...images import InvalidImageError, load_image


def frame_tight(img: Image.Image, expand: float = SVHN_EXPAND) -> Image.Image:
    """A tight crop -> the same crop with expand/2 of its width (height) added left and right
    (top and bottom), edge pixels repeated: PIL image (w, h) -> about ((1+expand) w, (1+expand) h)."""
    a = np.asarray(img)
    px, py = round(expand / 2 * a.shape[1]), round(expand / 2 * a.shape[0])
    return Image.fromarray(np.pad(a, [(py, py), (px, px)] + [(0, 0)] * (a.ndim - 2), mode="edge"))


class TightCrops(Dataset):
    """A dataset of tight crops -> the same samples framed by `frame_tight` (digits task).

    Unreadable images give b"" (skipped and counted by the loader, an error in evaluation).
    """

    def __init__(self, base: Dataset):
        self.base = base
        self.name = getattr(base, "name", "")
        self.report = getattr(base, "report", None)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        src, label = self.base[i]
        try:
            return frame_tight(load_image(src)), label
        except InvalidImageError:
            return b"", label
