#!/usr/bin/env python
"""Render the demo's example images (data/examples/) with the synthetic engine.

    python scripts/make_examples.py

Deterministic: fixed texts and seeds. Crops (`<task>_<n>_<text>.png`) are rendered by the v1 engine
from installed fonts; whole photos (`photo-<task>_<n>_<text>.png`, to try the crop) are a sign or a
house-number plate we draw on one of scikit-image's CC0 / public-domain sample photos (ocr.textures),
at an angle, with blur and JPEG loss. All are ours to ship, unlike the research-only benchmark images.
"""
from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageDraw, ImageFilter  # noqa: E402

from ocr.config import CHARSET_PRINTABLE  # noqa: E402
from ocr.synth import DigitSynth, WordSynth  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "data" / "examples"
WORDS = ["Coffee", "STATION", "welcome", "Parking", "OPEN", "$4.99"]
NUMBERS = ["27", "154", "8", "3012"]


# (task, text, photo, plate colour, text colour, position as fractions, angle)
PHOTOS = [("words", "Coffee", "coffee.png", (40, 32, 28), (236, 220, 190), (0.30, 0.08), -4),
          ("digits", "154", "brick.png", (235, 235, 225), (20, 40, 90), (0.38, 0.40), 3)]


def photo(task, text, name, plate, ink, where, angle, size=(640, 427)) -> Image.Image:
    """A whole 'photo': a plate with the text on a CC0 sample photo, slightly turned, blurred, JPEG'd."""
    import io

    from ocr import textures
    from ocr.fonts import find_fonts
    bg = Image.open(textures.photo_dir() / name).convert("RGB").resize(size, Image.BICUBIC)
    font_path = next(f for f in find_fonts(required=text) if f.endswith("DejaVuSans-Bold.ttf"))
    from PIL import ImageFont
    font = ImageFont.truetype(font_path, 64 if task == "words" else 56)
    w, h = (int(v) for v in font.getbbox(text)[2:])
    pad = 18
    sign = Image.new("RGBA", (w + 2 * pad, h + 2 * pad), (0, 0, 0, 0))
    d = ImageDraw.Draw(sign)
    d.rounded_rectangle([0, 0, sign.width - 1, sign.height - 1], radius=10, fill=plate + (255,))
    d.text((pad, pad - 4), text, font=font, fill=ink + (255,))
    sign = sign.rotate(angle, Image.BICUBIC, expand=True)
    bg.paste(sign, (int(where[0] * size[0]), int(where[1] * size[1])), sign)
    bg = bg.filter(ImageFilter.GaussianBlur(0.8))
    buf = io.BytesIO()
    bg.save(buf, "JPEG", quality=80)
    return Image.open(buf).convert("RGB")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    ws = WordSynth(CHARSET_PRINTABLE, seed=4242)
    for i, text in enumerate(WORDS):
        ws.render(text, random.Random(1000 + i)).save(OUT / f"words_{i + 1}_{text.strip('$').replace('.', '')}.png")
    ds = DigitSynth(seed=4242)
    for i, text in enumerate(NUMBERS):
        ds.render(text, random.Random(2000 + i)).save(OUT / f"digits_{i + 1}_{text}.png")
    for i, args in enumerate(PHOTOS):
        photo(*args).save(OUT / f"photo-{args[0]}_{i + 1}_{args[1]}.png")
    print(f"wrote {len(WORDS) + len(NUMBERS) + len(PHOTOS)} examples to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
