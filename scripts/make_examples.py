#!/usr/bin/env python
"""Render the demo's example images (data/examples/) with the synthetic engine.

    python scripts/make_examples.py

Deterministic: fixed texts and seeds. Every example is a sign or a house-number plate we draw (DejaVu Sans
Bold) on one of scikit-image's CC0 / public-domain sample photos (ocr.synth.textures), at an angle, with blur and
JPEG loss: whole photos (`photo-<task>_<n>_<words>.png`, the words it shows joined by "-", in reading order; the
first a street scene with several signs) and crops of such photos as a person
would cut them (`<task>_<n>_<text>.png`; house numbers with the SVHN protocol's 30 % margin). All are ours to ship, unlike the research-only benchmark images.
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter


OUT = Path(__file__).resolve().parent.parent / "data" / "examples"


# (task, text, photo, plate colour, text colour, position as fractions, angle)
PHOTOS = [("words", "Coffee", "coffee.png", (40, 32, 28), (236, 220, 190), (0.30, 0.08), -4),
          ("digits", "154", "brick.png", (235, 235, 225), (20, 40, 90), (0.38, 0.40), 3)]


def plate(text, px, colour, ink, angle) -> Image.Image:
    """A rounded plate with `text` in DejaVu Sans Bold at `px` pixels, turned by `angle` degrees (RGBA)."""
    from PIL import ImageFont

    from ocr.synth.fonts import find_fonts
    font_path = next(f for f in find_fonts(required=text) if f.endswith("DejaVuSans-Bold.ttf"))
    font = ImageFont.truetype(font_path, px)
    w, h = (int(v) for v in font.getbbox(text)[2:])
    pad = 18 if px >= 56 else max(8, px // 3)
    sign = Image.new("RGBA", (w + 2 * pad, h + 2 * pad), (0, 0, 0, 0))
    d = ImageDraw.Draw(sign)
    d.rounded_rectangle([0, 0, sign.width - 1, sign.height - 1], radius=10, fill=colour + (255,))
    d.text((pad, pad - 4), text, font=font, fill=ink + (255,))
    return sign.rotate(angle, Image.BICUBIC, expand=True)


def _as_photo(img: Image.Image) -> Image.Image:
    """Blurred a little and JPEG-compressed, as a phone photo is."""
    import io

    buf = io.BytesIO()
    img.filter(ImageFilter.GaussianBlur(0.8)).save(buf, "JPEG", quality=80)
    return Image.open(buf).convert("RGB")


def photo(task, text, name, colour, ink, where, angle, size=(640, 427)) -> Image.Image:
    """A whole 'photo': a plate with the text on a CC0 sample photo, slightly turned, blurred, JPEG'd."""
    from ocr.synth import textures
    bg = Image.open(textures.photo_dir() / name).convert("RGB").resize(size, Image.BICUBIC)
    sign = plate(text, 64 if task == "words" else 56, colour, ink, angle)
    x, y = int(where[0] * size[0]), int(where[1] * size[1])
    bg.paste(sign, (x, y), sign)
    return _as_photo(bg), (x, y, x + sign.width, y + sign.height)


# a street scene with several signs, photographed at a slant: (text, size, plate, ink, position, angle)
SCENE = ("brick.png", [("BAKERY", 84, (30, 30, 30), (240, 200, 90), (0.22, 0.06), -1),
                       ("OPEN", 48, (200, 20, 20), (255, 255, 255), (0.08, 0.45), 3),
                       ("Fresh bread", 40, (245, 240, 225), (120, 40, 20), (0.45, 0.42), -3),
                       ("27", 52, (30, 60, 140), (245, 245, 245), (0.78, 0.70), 2),
                       ("No parking", 34, (250, 250, 250), (200, 20, 20), (0.12, 0.75), -2)])


def scene(name, signs, size=(960, 640)) -> Image.Image:
    """Several plates on a CC0 sample photo, the whole seen at a slant (a perspective warp), blurred, JPEG'd."""
    from ocr.synth import textures
    w, h = size
    bg = Image.open(textures.photo_dir() / name).convert("RGB").resize((w + 140, h + 120), Image.BICUBIC)
    for text, px, colour, ink, (fx, fy), angle in signs:
        sign = plate(text, px, colour, ink, angle)
        bg.paste(sign, (int(fx * w) + 70, int(fy * h) + 60), sign)
    # the output's corners (upper left, lower left, lower right, upper right) come from this quadrilateral of the
    # wall: a photo taken from the left, a little below
    quad = [(40, 70), (60, h + 60), (w + 100, h + 110), (w + 120, 20)]
    return _as_photo(bg.transform(size, Image.QUAD, [c for xy in quad for c in xy], Image.BICUBIC))


# crops as a person would cut them from a photo: (text, photo, plate, ink, angle)
CROPS = {"words": [("Coffee", "coffee.png", (40, 32, 28), (236, 220, 190), -3),
                   ("STATION", "brick.png", (20, 60, 120), (240, 240, 240), 2),
                   ("welcome", "grass.png", (245, 240, 225), (150, 30, 30), -2),
                   ("Parking", "gravel.png", (20, 80, 160), (250, 250, 250), 4),
                   ("OPEN", "rocket.jpg", (200, 20, 20), (255, 255, 255), -5),
                   ("$4.99", "chelsea.png", (250, 230, 60), (20, 20, 20), 3)],
         "digits": [("27", "brick.png", (240, 240, 235), (10, 10, 10), 2),
                    ("154", "gravel.png", (30, 60, 140), (245, 245, 245), -3),
                    ("8", "grass.png", (250, 250, 250), (30, 30, 30), 4),
                    ("3012", "coffee.png", (60, 45, 35), (235, 215, 160), -2)]}


def photo_crop(task, text, name, colour, ink, angle, seed) -> Image.Image:
    """A crop of a sign in a photo: the sign's box with a margin (words: a little; digits: the SVHN 30 %)."""
    rng = random.Random(seed)
    img, (x0, y0, x1, y1) = photo(task, text, name, colour, ink, (rng.uniform(0.1, 0.4), rng.uniform(0.1, 0.5)),
                                  angle)
    mx, my = ((x1 - x0) * 0.15, (y1 - y0) * 0.15) if task == "digits" else (6, 4)
    return img.crop((int(x0 - mx), int(y0 - my), int(x1 + mx), int(y1 + my)))


def main(argv=None) -> int:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    n = 0
    for task, crops in CROPS.items():
        for i, (text, name, colour, ink, angle) in enumerate(crops):
            photo_crop(task, text, name, colour, ink, angle, seed=100 * i + 7).save(
                OUT / f"{task}_{i + 1}_{text.strip('$').replace('.', '')}.png")
            n += 1
    for i, args in enumerate(PHOTOS):
        photo(*args)[0].save(OUT / f"photo-{args[0]}_{i + 1}_{args[1]}.png")
    words = "-".join(w for text, *_ in SCENE[1] for w in text.split())
    scene(*SCENE).save(OUT / f"photo-words_0_{words}.png")
    print(f"wrote {n + len(PHOTOS) + 1} examples to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
