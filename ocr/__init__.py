"""Attention-based text recognition: a CNN encoder and an attention RNN decoder.

    from ocr import load_recognizer
    rec = load_recognizer("words")
    pred = rec.read("word.png")[0]
    pred.text, pred.confidence, pred.char_confidences, pred.attention
    for r in read_photo("street.jpg"):       # find every word of a photo and read them all
        r.box, r.text, r.confidence

The names below are loaded on first use, so `import ocr.images` or `ocr.config` (what the
corrections store needs) does not load torch. The preprocessing function is
`ocr.preprocess.preprocess` (a module of that name cannot also be an attribute here).
"""
from __future__ import annotations

import importlib

_WHERE = {
    "CheckpointError": "checkpoint", "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
    "ModelConfig": "config", "preset": "config",
    "InvalidImageError": "images", "load_image": "images",
    "Prediction": "prediction", "TextRecognizer": "recognizer", "UntrainedModelWarning": "recognizer",
    "load_recognizer": "recognizer",
    "TextBox": "detect", "find_text": "detect", "PhotoReading": "photo", "read_photo": "photo",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'ocr' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
