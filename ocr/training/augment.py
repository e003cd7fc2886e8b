"""Training augmentation of real images (torchvision v2 on PIL images).

    train_augment(cfg)            -> transform: PIL image -> PIL image

Synthetic data brings its own distortions and does not get these.
"""
from __future__ import annotations

import random

import numpy as np
from PIL import Image
from torchvision.transforms import v2

from ..config import ModelConfig
from ..synth.render import degrade


class RandomBorders:
    """Move each side of a crop in or out by up to `frac` of the image height (outside: edge pixels).

    Real word crops are boxed loosely or tightly by different annotators; this teaches both.
    PIL image -> PIL image of a slightly different size (preprocess resizes it anyway).
    """

    def __init__(self, frac: float = 0.12):
        self.frac = frac

    def __call__(self, img: Image.Image) -> Image.Image:
        w, h = img.size
        m = max(1, round(self.frac * h))
        left, top, right, bottom = (random.randint(-m, m) for _ in range(4))  # >0 cuts, <0 pads
        if left + right >= w - 2 or top + bottom >= h - 2:
            return img
        a = np.asarray(img)
        pad = [(max(0, -top), max(0, -bottom)), (max(0, -left), max(0, -right))] + [(0, 0)] * (a.ndim - 2)
        a = np.pad(a, pad, mode="edge")
        a = a[max(0, top): a.shape[0] - max(0, bottom), max(0, left): a.shape[1] - max(0, right)]
        return Image.fromarray(a)


class Degrade:
    """The synthetic engine's camera artefacts (blur, resolution loss, noise, JPEG) as a transform.

    The image is first scaled to `height` pixels (the network's input height), so a blur of
    a given radius is as strong on a 15-pixel crop as on a 300-pixel one.
    """

    def __init__(self, height: int):
        self.height = height

    def __call__(self, img: Image.Image) -> Image.Image:
        w, h = img.size
        img = img.resize((max(1, round(w * self.height / h)), self.height), Image.BILINEAR)
        return degrade(img, random.Random(random.getrandbits(32)))


# Border jitter, affine (probability, degrees, shear, scale), perspective (probability, distortion), colour jitter
# (probability, brightness = contrast = saturation, hue), degradation probability.
BORDERS, AFFINE, PERSPECTIVE, COLOUR, DEGRADE = 0.12, (0.3, 4, (-10, 10, -3, 3), (0.9, 1.05)), (0.15, 0.2), \
    (0.4, 0.4, 0.1), 0.3


def train_augment(cfg: ModelConfig) -> v2.Transform:
    """Photometric and geometric changes for real training images (torchvision v2, on PIL images).
    Synthetic data brings its own distortions and does not get these."""
    p_aff, degrees, shear, scale = AFFINE
    p_persp, distortion = PERSPECTIVE
    p_col, bcs, hue = COLOUR
    return v2.Compose([
        v2.RandomApply([RandomBorders(BORDERS)], p=0.5),
        v2.RandomApply([v2.RandomAffine(degrees=degrees, shear=shear, scale=scale,
                                        interpolation=v2.InterpolationMode.NEAREST, fill=128)], p=p_aff),
        v2.RandomApply([v2.RandomPerspective(distortion, p=1.0, fill=128)], p=p_persp),
        v2.RandomApply([v2.ColorJitter(bcs, bcs, bcs, hue)], p=p_col),
        v2.RandomApply([Degrade(cfg.img_h)], p=DEGRADE),
        v2.RandomInvert(p=0.1),
    ])
