"""The one preprocessing function shared by training, evaluation and the app.

    input_array(img, config) -> float32 array (C, H, W) in [-1, 1], the network input (NumPy; no torch needed)
    preprocess(img, config)  -> the same as a torch tensor (train=True: a digits image is cropped at random)
    network_image(img, config) -> the small PIL image that input is cut from

Images are read by `ocr.images.load_image`; failures raise `InvalidImageError`. The scaling is torchvision's
`ToImage` + `ToDtype(float32, scale=True)` followed by (x - 0.5) / 0.5, done in float32 with NumPy so that reading
works without PyTorch; tests/test_checkpoint_and_images.py checks it equals the torchvision pipeline bit for bit.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .config import ModelConfig
from .images import InvalidImageError, load_image

if TYPE_CHECKING:
    import torch

__all__ = ["InvalidImageError", "input_array", "load_image", "network_image", "preprocess", "to_pil"]


def network_image(source, config: ModelConfig) -> Image.Image:
    """One image -> the PIL image the network input is cut from (before any crop).

    Words: greyscale, resized to (img_w, img_h) ignoring aspect ratio.
    Digits (resize_h > 0): RGB, resized to (resize_w, resize_h); `preprocess` then crops it.
    `preprocess(network_image(x, c), c)` equals `preprocess(x, c)`: a pre-rendered corpus
    (`ocr.training.corpus`) stores these small images and trains on exactly what it would have seen.
    """
    img = load_image(source)
    img = img.convert("L" if config.channels == 1 else "RGB")
    if config.resize_h > 0:
        return img.resize((config.resize_w, config.resize_h), Image.BILINEAR)
    return img.resize((config.img_w, config.img_h), Image.BILINEAR)


def _center_crop(img: Image.Image, h: int, w: int) -> Image.Image:
    top, left = int(round((img.height - h) / 2.0)), int(round((img.width - w) / 2.0))
    return img.crop((left, top, left + w, top + h))


def _scaled(img: Image.Image) -> np.ndarray:
    """PIL image -> (C, H, W) float32 in [-1, 1]."""
    a = np.asarray(img, dtype=np.uint8)
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    x = a.astype(np.float32) * np.float32(1.0 / 255)
    return np.ascontiguousarray((x - np.float32(0.5)) / np.float32(0.5))


def input_array(source, config: ModelConfig) -> np.ndarray:
    """One image -> network input (C, H, W) float32 in [-1, 1]: words `network_image` as it is, digits its centre
    crop of (img_h, img_w) from the 64x64 `network_image`, as in the SVHN protocol's evaluation."""
    img = network_image(source, config)
    if config.resize_h > 0:
        img = _center_crop(img, config.img_h, config.img_w)
    return _scaled(img)


def preprocess(source, config: ModelConfig, train: bool = False) -> torch.Tensor:
    """One image -> network input (C, H, W) float32 tensor in [-1, 1]: `input_array`, or with train=True for
    digits a random crop of (img_h, img_w) (torchvision's RandomCrop) instead of the centre one."""
    import torch

    if train and config.resize_h > 0:
        from torchvision.transforms import v2

        img = v2.RandomCrop((config.img_h, config.img_w))(network_image(source, config))
        return torch.from_numpy(_scaled(img))
    return torch.from_numpy(input_array(source, config))


def to_pil(x) -> Image.Image:
    """Inverse of preprocess for display: (C, H, W) in [-1, 1] (a tensor or an array) -> PIL image."""
    if not isinstance(x, np.ndarray):
        x = x.detach().float().cpu().numpy()
    a = np.round((np.clip(x.astype(np.float32), -1, 1) + 1) * 127.5).astype(np.uint8).transpose(1, 2, 0)
    return Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
