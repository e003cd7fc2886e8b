"""Training augmentation of real images (torchvision v2 on PIL images).

    train_augment(cfg)            -> transform: PIL image -> PIL image
    train_augment(cfg, "strong")  -> the same kinds of change, more often and further (AUGMENTS)

Synthetic data brings its own distortions and does not get these.
"""
from __future__ import annotations

import random

import numpy as np
from PIL import Image
from torchvision.transforms import v2

from .config import AUGMENT_STRENGTHS, ModelConfig
from .synth import degrade


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


# Per strength: border jitter, affine (probability, degrees, shear, scale), perspective (probability,
# distortion), colour jitter (probability, brightness = contrast = saturation, hue), degradation probability.
_STRENGTHS = {
    "default": dict(borders=0.12, affine=(0.3, 4, (-10, 10, -3, 3), (0.9, 1.05)), perspective=(0.15, 0.2),
                    colour=(0.4, 0.4, 0.1), degrade=0.3),
    "strong": dict(borders=0.15, affine=(0.5, 12, (-15, 15, -5, 5), (0.85, 1.05)), perspective=(0.3, 0.3),
                   colour=(0.5, 0.5, 0.15), degrade=0.3),
}
AUGMENTS = tuple(_STRENGTHS)
assert AUGMENTS == AUGMENT_STRENGTHS, "ocr.config.AUGMENT_STRENGTHS names these strengths"


def train_augment(cfg: ModelConfig, strength: str = "default") -> v2.Transform:
    """Photometric and geometric changes for real training images (torchvision v2, on PIL images).

    "strong" turns the crops further (to 12 degrees, as incidental scene text such as IC15's often is,
    with bilinear resampling), shears and warps them more often and jitters colours more; the camera
    degradation stays as it is (at its strongest it already leaves some crops barely legible).
    Synthetic data brings its own distortions and does not get these.
    """
    if strength not in _STRENGTHS:
        raise ValueError(f"augmentation must be one of {', '.join(AUGMENTS)}, got {strength!r}")
    k = _STRENGTHS[strength]
    p_aff, degrees, shear, scale = k["affine"]
    p_persp, distortion = k["perspective"]
    p_col, bcs, hue = k["colour"]
    resample = v2.InterpolationMode.BILINEAR if strength == "strong" else v2.InterpolationMode.NEAREST
    return v2.Compose([
        v2.RandomApply([RandomBorders(k["borders"])], p=0.5),
        v2.RandomApply([v2.RandomAffine(degrees=degrees, shear=shear, scale=scale, interpolation=resample,
                                        fill=128)], p=p_aff),
        v2.RandomApply([v2.RandomPerspective(distortion, p=1.0, fill=128)], p=p_persp),
        v2.RandomApply([v2.ColorJitter(bcs, bcs, bcs, hue)], p=p_col),
        v2.RandomApply([Degrade(cfg.img_h)], p=k["degrade"]),
        v2.RandomInvert(p=0.1),
    ])
