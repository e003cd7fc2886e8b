"""The one preprocessing function shared by training, evaluation and the app.

    preprocess(img, config)  -> float tensor (C, H, W) in [-1, 1], the network input
    network_image(img, config) -> the small PIL image that input is cut from

Images are read by `ocr.images.load_image`; failures raise `InvalidImageError`.
"""
from __future__ import annotations

import torch
from PIL import Image
from torchvision.transforms import v2

from .config import ModelConfig
from .images import InvalidImageError, load_image

__all__ = ["InvalidImageError", "load_image", "network_image", "preprocess", "to_pil"]

_NORMALIZE = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])


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


def preprocess(source, config: ModelConfig, train: bool = False) -> torch.Tensor:
    """One image -> network input (C, H, W) float32 in [-1, 1].

    Words: `network_image` as it is. Digits: the centre crop (evaluation) or a random crop
    (train=True) of (img_h, img_w) from the 64x64 `network_image`, as in the SVHN protocol.
    """
    img = network_image(source, config)
    if config.resize_h > 0:
        crop = v2.RandomCrop if train else v2.CenterCrop
        img = crop((config.img_h, config.img_w))(img)
    x = _NORMALIZE(img)
    return x.sub_(0.5).div_(0.5)


def to_pil(x: torch.Tensor) -> Image.Image:
    """Inverse of preprocess for display: (C, H, W) in [-1, 1] -> PIL image."""
    a = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
