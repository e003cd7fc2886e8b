"""Attention-based text recognition: a CNN encoder and an attention RNN decoder.

    from ocr import load_recognizer
    rec = load_recognizer("words")
    pred = rec.read("word.png")[0]
    pred.text, pred.confidence, pred.char_confidences, pred.attention
"""
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import ModelConfig, preset
from .preprocess import InvalidImageError, load_image, preprocess
from .recognizer import Prediction, TextRecognizer, UntrainedModelWarning, load_recognizer

__all__ = [
    "CheckpointError", "InvalidImageError", "ModelConfig", "Prediction", "TextRecognizer",
    "UntrainedModelWarning", "load_checkpoint", "load_image", "load_recognizer", "preprocess", "preset",
    "save_checkpoint",
]
