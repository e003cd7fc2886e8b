"""Real-photo textures for synthetic backgrounds (training time only; nothing here is shipped).

The photos are scikit-image's bundled sample images that its documentation marks CC0 or public
domain (listed in PHOTOS with their licence). They are found in the installed package's data folder
without importing scikit-image; `pip install scikit-image` (requirements.txt) provides them.

    patch(rng, w, h) -> PIL RGB image (w, h): a random crop of a random photo at a random scale,
                        flipped or not; a pure function of the rng's state.
"""
from __future__ import annotations

import functools
import random
from pathlib import Path

from PIL import Image

from ..settings import installed_package_dir

# file -> licence, as scikit-image's `skimage.data` docstrings state them (version 0.26)
PHOTOS = {
    "astronaut.png": "public domain (NASA)",
    "brick.png": "CC0 (CC0Textures)",
    "camera.png": "CC0 (Lav Varshney)",
    "chelsea.png": "CC0 (Stefan van der Walt)",
    "coffee.png": "CC0 (Rachel Michetti)",
    "grass.png": "CC0 (CC0Textures)",
    "gravel.png": "CC0 (CC0Textures)",
    "rocket.jpg": "public domain (SpaceX)",
    "hubble_deep_field.jpg": "public domain (NASA)",
    "horse.png": "CC0 (Andreas Preuss)",
    "coins.png": "no known copyright restrictions",
    "clock_motion.png": "public domain (Stefan van der Walt)",
    "cell.png": "CC0",
}
MAX_SIDE = 512  # photos are kept at most this large in memory


class TexturesMissing(RuntimeError):
    pass


def photo_dir() -> Path:
    folder = installed_package_dir("skimage")
    if folder is None:
        raise TexturesMissing("the v2 word engine draws backgrounds from real photos: pip install scikit-image")
    return folder / "data"


@functools.lru_cache(maxsize=1)
def photos() -> tuple[Image.Image, ...]:
    """The texture photos as RGB images (at most MAX_SIDE pixels a side), in PHOTOS order."""
    folder = photo_dir()
    out = []
    for name in PHOTOS:
        path = folder / name
        if not path.is_file():
            raise TexturesMissing(f"texture photo {path} is missing (scikit-image {PHOTOS[name]})")
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((MAX_SIDE, MAX_SIDE), Image.BILINEAR)
            out.append(im)
    return tuple(out)


def patch(rng: random.Random, w: int, h: int) -> Image.Image:
    """A (w, h) RGB crop of a random photo: scale 0.3-3x of the crop size, random offset and flip."""
    im = rng.choice(photos())
    pw, ph = im.size
    scale = rng.uniform(0.3, 3.0)
    cw, ch = min(pw, max(4, int(w * scale))), min(ph, max(4, int(h * scale)))
    x, y = rng.randint(0, pw - cw), rng.randint(0, ph - ch)
    crop = im.crop((x, y, x + cw, y + ch)).resize((w, h), Image.BILINEAR)
    if rng.random() < 0.5:
        crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
    return crop
