#!/usr/bin/env python
"""Save a grid of original vs augmented training samples, to check the augmentation by eye.

    python scripts/show_augment.py folder:../shared/data/real/train/iiit5k_train aug.png
    python scripts/show_augment.py synth-digits aug.png --preset digits -n 12

Each row: the original image, then `--variants` draws of the training augmentation (torchvision
v2, ocr.training.augment.train_augment), all shown as the network sees them after preprocessing.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from ocr.config import PRESETS, preset


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", help="dataset spec, e.g. folder:PATH or synth-words")
    p.add_argument("out", type=Path, help="PNG to write")
    p.add_argument("--preset", choices=PRESETS, default="words")
    p.add_argument("-n", type=int, default=8, help="rows (samples)")
    p.add_argument("--variants", type=int, default=4, help="augmented copies per sample")
    p.add_argument("--scale", type=int, default=2)
    return p


if __name__ == "__main__":  # --help and bad flags answer before torch is loaded
    build_parser().parse_known_args()

from PIL import Image, ImageDraw  # noqa: E402
from ocr import load_image  # noqa: E402
from ocr.training.augment import train_augment  # noqa: E402
from ocr.training.datasets.specs import build_dataset  # noqa: E402
from ocr.preprocess import preprocess, to_pil  # noqa: E402


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    cfg = preset(args.preset)
    ds = build_dataset(args.spec, cfg, seed=1)
    aug = train_augment(cfg)
    w, h = cfg.img_w * args.scale, cfg.img_h * args.scale
    sheet = Image.new("RGB", ((args.variants + 1) * (w + 4), args.n * (h + 16)), "white")
    draw = ImageDraw.Draw(sheet)
    for r in range(min(args.n, len(ds))):
        src, label = ds[r]
        img = load_image(src)
        views = [preprocess(img, cfg)] + [preprocess(aug(img), cfg, train=True) for _ in range(args.variants)]
        for c, x in enumerate(views):
            sheet.paste(to_pil(x).convert("RGB").resize((w, h)), (c * (w + 4), r * (h + 16)))
        draw.text((2, r * (h + 16) + h + 2), f"{label}   (left: original, then augmented)", fill=(200, 0, 0))
    sheet.save(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
