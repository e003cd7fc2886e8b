"""Scene-text metrics.

Standard protocol (IIIT5K / SVT / ICDAR benchmarks): lower-case both sides and keep only 0-9 a-z
before comparing. Case-sensitive protocol: keep only 0-9 a-z A-Z on both sides, case compared (labels
such as IIIT5K's leave punctuation out, so a reading that keeps an apostrophe is not a case error).
Exact: the whole strings equal. Normalized edit distance score: 1 - ED / max(len(pred), len(gt)) (1.0 when both
are empty).
"""
from __future__ import annotations

import re

_NOT_ALNUM = re.compile(r"[^0-9a-z]")
_NOT_ALNUM_CASED = re.compile(r"[^0-9a-zA-Z]")


def standard(text: str) -> str:
    return _NOT_ALNUM.sub("", text.lower())


def cased(text: str) -> str:
    """The case-sensitive protocol's form of a text: its letters and digits, case kept."""
    return _NOT_ALNUM_CASED.sub("", text)


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def ned_score(pred: str, gt: str) -> float:
    n = max(len(pred), len(gt))
    return 1.0 if n == 0 else 1.0 - edit_distance(pred, gt) / n


class Scores:
    """Accumulates word accuracy (standard and case-sensitive protocols), exact accuracy and NED score."""

    def __init__(self):
        self.n = self.std = self.case = self.exact = 0
        self.ned = 0.0

    def add(self, pred: str, gt: str) -> bool:
        """Count one reading; True when it is right under the standard protocol."""
        right = standard(pred) == standard(gt)
        self.n += 1
        self.std += right
        self.case += cased(pred) == cased(gt)
        self.exact += pred == gt
        self.ned += ned_score(standard(pred), standard(gt))
        return right

    def as_dict(self) -> dict:
        d = max(self.n, 1)
        return {"count": self.n, "accuracy": self.std / d, "case": self.case / d, "exact": self.exact / d,
                "ned": self.ned / d}
