"""The one evaluation loop: read labelled images with a recognizer, score them (`ocr.training.metrics`), time them.

    res = evaluate(rec, dataset)                               # as the model reads by default (ocr.reading)
    res = evaluate(rec, dataset, fast=True, batch_size=128)    # greedy and batched: validation while training
    res = evaluate(rec, dataset, each=lambda img, pred, label, right: ...)   # plots, baselines, error lists

dataset: any sequence of (image source, label) (`ocr.training.datasets`); an image that cannot be read counts as a misread,
never as absent. -> {"count", "accuracy" (standard protocol), "case" (case-sensitive
protocol), "exact", "ned", "median_ms" (per image)}.
"""
from __future__ import annotations

import statistics
import time

from .metrics import Scores
from ..preprocess import InvalidImageError, load_image


def evaluate(rec, dataset, limit: int | None = None, batch_size: int = 1, each=None, desc: str | None = None,
             **read) -> dict:
    """read: keywords of `TextRecognizer.read` (beam_width, views, fast); each(image, prediction, label, right)
    is called for every sample, in order (image and prediction None when the image cannot be read); desc: a
    progress bar's title (None: no bar)."""
    from tqdm import tqdm

    scores, times = Scores(), []
    n = len(dataset) if limit is None else min(limit, len(dataset))
    bar = tqdm(total=n, desc=desc, unit="img", leave=False, **({} if desc else {"disable": True}))
    for start in range(0, n, batch_size):
        images, labels = [], []
        for i in range(start, min(n, start + batch_size)):
            src, label = dataset[i]
            try:
                images.append(load_image(src))
                labels.append(label)
            except InvalidImageError:
                scores.add("", label)
                if each is not None:
                    each(None, None, label, False)
        t = time.perf_counter()
        preds = _read(rec, images, batch_size, read)
        if images:
            times.append((time.perf_counter() - t) * 1000 / len(images))
        for img, pred, label in zip(images, preds, labels):
            right = scores.add("" if pred is None else pred.text, label)
            if each is not None:
                each(img if pred is not None else None, pred, label, right)
        bar.update(min(n, start + batch_size) - start)
    bar.close()
    return dict(scores.as_dict(), median_ms=statistics.median(times) if times else float("nan"))


def _read(rec, images: list, batch_size: int, read: dict) -> list:
    """Predictions of a batch; when an image fails preprocessing, the others are read one by one (None for it)."""
    if not images:
        return []
    try:
        return rec.read(images, batch_size=batch_size, **read)
    except InvalidImageError:
        out = []
        for img in images:
            try:
                out.append(rec.read(img, **read)[0])
            except InvalidImageError:
                out.append(None)
        return out
