#!/usr/bin/env python
"""Measure text and background colours on real word crops and cluster them for the synthetic engine.

    python scripts/colour_clusters.py ../shared/data/real/train/*/ --out data/synth/colours.json

For each crop: Otsu's threshold on its grey levels splits it in two; the part that touches the
crop's border more is the background, the other the text. The (text RGB, background RGB) pairs
are clustered with k-means (scipy); the engine (ocr.synth.words) draws a cluster by its size and a
pair around its mean with the cluster's spread. Only colour statistics are written, no image.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", help="folders with labels.tsv (real word crops)")
    p.add_argument("--out", type=Path, default=Path("data/synth/colours.json"))
    p.add_argument("-k", type=int, default=48, help="clusters (default 48)")
    return p


if __name__ == "__main__":  # --help and bad flags answer before torch is loaded
    build_parser().parse_known_args()

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402
from ocr.training.datasets.labels import folder_dataset  # noqa: E402
from ocr.images import InvalidImageError, load_image  # noqa: E402


def otsu(grey: np.ndarray) -> float:
    hist = np.bincount(grey.ravel(), minlength=256).astype(np.float64)
    p = hist / hist.sum()
    omega, mu = np.cumsum(p), np.cumsum(p * np.arange(256))
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * omega - mu) ** 2 / (omega * (1 - omega))
    return float(np.nanargmax(between))


def text_and_background(img) -> tuple[np.ndarray, np.ndarray] | None:
    """RGB crop -> (mean text colour, mean background colour), or None if it does not split."""
    a = np.asarray(img.convert("RGB").resize((96, 32)), dtype=np.float64)
    grey = (a @ [0.299, 0.587, 0.114]).astype(np.uint8)
    t = otsu(grey)
    dark = grey <= t
    border = np.concatenate([dark[0], dark[-1], dark[:, 0], dark[:, -1]])
    text = ~dark if border.mean() > 0.5 else dark   # the border is mostly background
    if not 0.05 < text.mean() < 0.7:
        return None
    return a[text].mean(0), a[~text].mean(0)


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    from scipy.cluster.vq import kmeans2

    pairs = []
    for folder in args.folders:
        for src, _ in tqdm(folder_dataset(folder), desc=Path(folder).name, unit="img"):
            try:
                r = text_and_background(load_image(src))
            except InvalidImageError:
                continue
            if r is not None:
                pairs.append(np.concatenate(r))
    x = np.array(pairs)
    centres, labels = kmeans2(x, args.k, seed=0, minit="++")
    clusters = []
    for c in range(args.k):
        m = x[labels == c]
        if len(m) < 5:
            continue
        clusters.append({"count": int(len(m)), "text": centres[c, :3].round(1).tolist(),
                         "background": centres[c, 3:].round(1).tolist(), "std": m.std(0).round(1).tolist()})
    clusters.sort(key=lambda c: -c["count"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"source": [Path(f).name for f in args.folders], "pairs": len(x),
                                    "clusters": clusters}, indent=1))
    print(f"{len(x)} colour pairs from {len(args.folders)} folders -> {len(clusters)} clusters in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
