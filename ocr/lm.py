"""A character language model of words, fused into decoding as a prior ("shallow fusion").

    lm = word_lm()                                   # built once from data/synth/word_frequencies.tsv
    fusion = LMFusion(lm, tokenizer.charset, weight=0.25)
    fusion.bonus("Cent")   # -> (classes,) float32 added to the decoder's log-probabilities, or None

`CharNgramLM` is a character n-gram model of lower-case words (a-z, then the end of the word),
estimated with interpolated absolute discounting (Ney et al. 1994) from a weighted word list. The
distribution of every context seen in the list is computed when the model is built; an unseen
context backs off to its longest seen suffix, which is what the interpolation gives for it.

`LMFusion` turns it into a per-step bonus over the decoder's classes (Gulcehre et al. 2015, "shallow
fusion"): after a prefix of letters only, a letter (either case) gets weight * (log P_lm(letter) -
log 1/27) and the end of text weight * (log P_lm(end) - log 1/27); every other class gets 0. After a
prefix with any other character (digits, punctuation) there is no bonus: the list has no such words.
The decoder picks by the sum of its own log-probability and the bonus; the confidences it reports
stay its own probabilities. The list, order, weighting and weight were chosen on the real validation
split (docs/HISTORY.md).
"""
from __future__ import annotations

import functools
import math
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from .settings import data_dir
from .tokenizer import EOS

ALPHABET = "abcdefghijklmnopqrstuvwxyz"
END = len(ALPHABET)              # index of the end of the word in a distribution (27 entries)
WORD_FREQUENCIES = data_dir() / "synth" / "word_frequencies.tsv"
WEIGHTINGS = ("type", "sqrt", "zipf")
_START = "^"                     # pads the context before a word's first letter


class CharNgramLM:
    """P(next character | up to order - 1 previous characters) over a-z and the end of a word.

    words: (word, weight) pairs; words with anything but a-z are skipped. discount: the absolute
    discount subtracted from every seen count. source: what it was built from (for records).
    Raises ValueError without a usable word.
    """

    def __init__(self, words, order: int = 6, discount: float = 0.75, source: str = ""):
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        if not 0 < discount < 1:
            raise ValueError(f"discount must be in (0, 1), got {discount}")
        self.order = order
        self.source = source or f"order {order}"
        index = {c: i for i, c in enumerate(ALPHABET)}
        counts: list[dict[str, Counter]] = [defaultdict(Counter) for _ in range(order)]
        used = 0
        for word, weight in words:
            if not word or weight <= 0 or any(c not in index for c in word):
                continue
            used += 1
            s = _START * (order - 1) + word
            for i in range(order - 1, len(s) + 1):
                nxt = index[s[i]] if i < len(s) else END
                for k in range(order):
                    counts[k][s[i - k:i]][nxt] += weight
        if not used:
            raise ValueError("no usable word (a-z only, positive weight) to build the language model from")
        self.words = used
        self._row: dict[str, int] = {}
        rows = []
        unigram = np.zeros(END + 1)
        for j, c in counts[0][""].items():
            unigram[j] = c
        rows.append((unigram + 1) / (unigram.sum() + END + 1))   # add-one at the lowest order: nothing is impossible
        self._row[""] = 0
        for k in range(1, order):
            for ctx, cnt in counts[k].items():
                lower = rows[self._row[ctx[1:]]]
                c = np.zeros(END + 1)
                for j, v in cnt.items():
                    c[j] = v
                total = c.sum()
                p = np.maximum(c - discount, 0) / total + discount * len(cnt) / total * lower
                self._row[ctx] = len(rows)
                rows.append(p)
        self._logp = np.log(np.stack(rows)).astype(np.float32)   # (contexts, 27)

    def log_probs(self, prefix: str) -> np.ndarray:
        """Natural-log probabilities (27,) of a-z and the end after `prefix` (lower-case a-z)."""
        ctx = (_START * (self.order - 1) + prefix)[-(self.order - 1):] if self.order > 1 else ""
        while ctx not in self._row:  # unseen: back off to the longest seen suffix
            ctx = ctx[1:]
        return self._logp[self._row[ctx]]


def read_word_list(path: str | Path = WORD_FREQUENCIES, weighting: str = "sqrt"):
    """(word, weight) pairs of a `word<TAB>zipf` file: weight 1 ("type"), the square root of the
    word's frequency ("sqrt", 10 ** ((zipf - 1) / 2)) or 1 + zipf ("zipf")."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        word, _, zipf = line.partition("\t")
        z = float(zipf or 0)
        w = 1.0 if weighting == "type" else 10 ** ((z - 1) / 2) if weighting == "sqrt" else 1 + z
        out.append((word.strip(), w))
    return out


# The word prior's order and word weighting (chosen on the real validation split, docs/HISTORY.md); how much a
# model leans on it is the "lm_weight" of its checkpoint's reading settings (`ocr.reading`).
DEFAULT_ORDER, DEFAULT_WEIGHTING = 6, "sqrt"


@functools.lru_cache(maxsize=4)
def word_lm(order: int = DEFAULT_ORDER, weighting: str = DEFAULT_WEIGHTING, path: str = str(WORD_FREQUENCIES)) -> CharNgramLM:
    """The n-gram model of the engine's word list, built once per process (a few seconds)."""
    return CharNgramLM(read_word_list(path, weighting), order=order, source=f"{Path(path).name} order {order} {weighting}")


class LMFusion:
    """Per-step bonuses over a decoder's classes (EOS = 0, charset[i] = i + 1) from a `CharNgramLM`."""

    def __init__(self, lm: CharNgramLM, charset: str, weight: float):
        if not weight > 0:
            raise ValueError(f"the fusion weight must be > 0, got {weight!r}")
        self.lm = lm
        self.weight = float(weight)
        self.charset = charset
        self._classes = np.array([i + 1 for i, c in enumerate(charset) if c.lower() in ALPHABET], dtype=np.int64)
        self._letters = np.array([ALPHABET.index(charset[i - 1].lower()) for i in self._classes], dtype=np.int64)
        self._cache: dict[str, np.ndarray | None] = {}

    def describe(self) -> str:
        return f"{self.lm.source} weight {self.weight:g}"

    def bonus(self, prefix: str) -> np.ndarray | None:
        """prefix: the text decoded so far -> (classes,) float32 bonus, or None (no prior applies)."""
        if prefix in self._cache:
            return self._cache[prefix]
        low = prefix.lower()
        if any(c not in ALPHABET for c in low):
            out = None
        else:
            lp = self.lm.log_probs(low) - math.log(1 / (END + 1))
            out = np.zeros(len(self.charset) + 1, dtype=np.float32)
            out[self._classes] = self.weight * lp[self._letters]
            out[EOS] = self.weight * lp[END]
        if len(self._cache) < 4096:  # the common prefixes; bounded, whatever strangers send
            self._cache[prefix] = out
        return out

    def score(self, text: str) -> float:
        """The prior's total for a whole reading: the bonuses its decoder was given along `text`, one per
        character and one for the end, up to the first character after which no prior applies. (A reading
        cut at the model's maximum length never picked the end; it is scored as if it had.)"""
        total = 0.0
        for i in range(len(text) + 1):
            b = self.bonus(text[:i])
            if b is None:
                break
            if i == len(text):
                total += float(b[EOS])
            else:
                c = self.charset.find(text[i])
                total += float(b[c + 1]) if c >= 0 else 0.0
        return total

    def apply(self, logp: np.ndarray, prefixes: list[str], active=None) -> np.ndarray:
        """logp (N, classes) log-probabilities -> a fused copy; rows where `active` (N,) is False are
        kept (default: every row is fused)."""
        out = logp.copy()
        for r, prefix in enumerate(prefixes):
            if active is None or active[r]:
                b = self.bonus(prefix)
                if b is not None:
                    out[r] += b
        return out

    def extend(self, prefixes: list[str], toks, done) -> list[str]:
        """The prefixes after one decoding step: toks (N,) picked classes; rows that are done, or
        picked EOS, keep their prefix."""
        return [p if d or t == EOS else p + self.charset[t - 1] for p, t, d in zip(prefixes, toks, done)]


def default_fusion(cfg, weight: float, strict: bool = True) -> LMFusion | None:
    """The word prior for a model config at `weight` (0 = none; None also when the charset has no letters, e.g.
    digits). If the word list cannot be read: strict raises ValueError, else it reads without a prior (with a
    warning: a checkpoint's own setting should not stop a model from reading)."""
    if weight is None or weight < 0 or not math.isfinite(weight):
        raise ValueError(f"the LM weight must be a number >= 0, got {weight!r}")
    if weight == 0 or not any(c.lower() in ALPHABET for c in cfg.charset):
        return None
    try:
        lm = word_lm(DEFAULT_ORDER, DEFAULT_WEIGHTING)
    except (OSError, ValueError) as e:
        if strict:
            raise ValueError(f"cannot build the word prior from {WORD_FREQUENCIES}: {e}") from None
        warnings.warn(f"reading without the word prior: cannot build it from {WORD_FREQUENCIES} ({e})", stacklevel=2)
        return None
    return LMFusion(lm, cfg.charset, weight)
