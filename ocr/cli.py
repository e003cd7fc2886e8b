"""Small helpers shared by the command-line scripts."""
from __future__ import annotations

from .checkpoint import CheckpointError
from .recognizer import TextRecognizer, load_recognizer


def recognizer_or_exit(name_or_path: str, precision: str = "fp32") -> TextRecognizer:
    """`load_recognizer`, or exit with status 1 and the reason on stderr (no traceback)."""
    try:
        return load_recognizer(name_or_path, precision=precision)
    except CheckpointError as e:
        raise SystemExit(f"error: {e}") from None
