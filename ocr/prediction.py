"""What a model read from one image (NumPy only: the corrections store keeps these too)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Prediction:
    text: str
    confidence: float                 # product of the step probabilities, EOS included
    char_confidences: list[float]     # one per character
    attention: np.ndarray | None = None  # (steps, feat_h, feat_w), steps = len(text) + 1 when EOS was emitted
    view: int = 0                        # which test-time view it was read from (`ocr.views`; 0 = as given)
