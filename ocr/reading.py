"""How a model reads unless told otherwise: settings that travel in its checkpoint.

    settings = ReadingSettings.of(meta)            # the checkpoint's "reading" entry (defaults where absent)
    settings.fast()                                # greedy, one view, the same word prior
    meta["reading"] = settings.to_dict()           # written by scripts/export.py and by the loop's promotion

A checkpoint's metadata (`ocr.checkpoint`) may hold a "reading" entry:

    lm_weight     weight of the word prior (`ocr.lm`) fused into each step's choice; 0 = none
    beam_width    1 = greedy
    views         test-time views (`ocr.views`): a reading less sure than `views_below` is read again in
                  views - 1 turned / trimmed copies and the best reading kept; 1 = none
    views_below   see views
    unsure_below  a reading less sure than this is flagged for the person to check (the demo's warning)

`TextRecognizer.read` reads with these unless the call says otherwise (`fast=True`, or explicit arguments), so the
library, the evaluation, the benchmark and the demo read alike. A checkpoint without the entry reads greedily with
no prior and one view. Its "figures" entry holds what was measured for it (`scripts/evaluate.py --record`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from .views import MAX_VIEWS, VIEWS_BELOW

UNSURE_BELOW = 0.4  # readings less sure than this are flagged


@dataclass(frozen=True)
class ReadingSettings:
    lm_weight: float = 0.0
    beam_width: int = 1
    views: int = 1
    views_below: float = VIEWS_BELOW
    unsure_below: float = UNSURE_BELOW

    def __post_init__(self):
        problems = []
        if not (isinstance(self.lm_weight, (int, float)) and math.isfinite(self.lm_weight) and self.lm_weight >= 0):
            problems.append(f"lm_weight must be a number >= 0, got {self.lm_weight!r}")
        if not (isinstance(self.beam_width, int) and not isinstance(self.beam_width, bool) and self.beam_width >= 1):
            problems.append(f"beam_width must be a whole number >= 1, got {self.beam_width!r}")
        if not (isinstance(self.views, int) and 1 <= self.views <= MAX_VIEWS):
            problems.append(f"views must be a whole number from 1 to {MAX_VIEWS}, got {self.views!r}")
        for name in ("views_below", "unsure_below"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and 0 <= v <= 1):
                problems.append(f"{name} must be a confidence from 0 to 1, got {v!r}")
        if problems:
            raise ValueError("; ".join(problems))

    def fast(self) -> "ReadingSettings":
        """Greedy and one view, with the same word prior (the protocol of the greedy figures)."""
        return replace(self, beam_width=1, views=1)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def of(cls, meta: dict | None) -> "ReadingSettings":
        """The settings in a checkpoint's metadata; ValueError names a broken entry."""
        raw = (meta or {}).get("reading") or {}
        if not isinstance(raw, dict):
            raise ValueError(f"the checkpoint's reading entry is not an object: {raw!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown reading settings in the checkpoint: {', '.join(unknown)}")
        return cls(**raw)

    def describe(self) -> str:
        views = f"views {self.views}" + (f" (below {self.views_below:g})" if self.views > 1 else "")
        prior = f"word prior {self.lm_weight:g}" if self.lm_weight else "no word prior"
        return f"beam {self.beam_width}, {views}, {prior}"
