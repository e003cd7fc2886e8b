"""MJSynth / Synth90k (Jaderberg et al. 2014) in its distributed layout.

    ROOT/lexicon.txt              one word per line
    ROOT/annotation_train.txt     lines `./2911/6/77_heretical_35885.jpg 35885` (also _val, _test)
    ROOT/2911/6/77_heretical_35885.jpg

The number after the path indexes lexicon.txt counting from 0 (line 35886 of the file holds
"heretical"); the lexicon is lower-case. The middle part of the file name keeps the rendered
case (`Heretical`, `HERETICAL`), so `case="filename"` (default) gives case-sensitive labels and
`case="lexicon"` the lower-case lexicon word.

The split file is parsed once and cached as a .npy index (7.2 M train lines); images are only
opened when a sample is read. About 30 MJSynth JPEGs are empty or corrupt: reading one gives
(path, label) whose image fails to decode, and the training loop skips and counts it.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from ...config import ModelConfig
from ...settings import cache_dir
from .labels import FilterReport, normalize_label

SPLITS = ("train", "val", "test")


def word_from_filename(rel: str) -> str:
    """'./2911/6/77_Heretical_35885.jpg' -> 'Heretical' (the word may itself contain '_')."""
    stem = Path(rel).stem
    first, last = stem.find("_"), stem.rfind("_")
    if first < 0 or last <= first:
        raise ValueError(f"not an MJSynth file name: {rel}")
    return stem[first + 1:last]


def _index(ann: Path) -> np.ndarray:
    """Annotation file -> array of (relative path bytes, lexicon index), cached by size and mtime."""
    st = ann.stat()
    key = hashlib.sha1(f"{ann.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    cache = cache_dir() / f"mjsynth-{key}.npy"
    if cache.is_file():
        return np.load(cache, allow_pickle=False)
    paths, idx = [], []
    with open(ann, "rb") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                p, i = line.rsplit(b" ", 1)
                idx.append(int(i))
            except ValueError:
                raise ValueError(f"{ann}:{n}: expected '<path> <lexicon index>', got {line[:80]!r}") from None
            paths.append(p)
    arr = np.empty(len(paths), dtype=[("path", f"S{max(map(len, paths), default=1)}"), ("lex", "<i4")])
    arr["path"], arr["lex"] = paths, idx
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, arr, allow_pickle=False)
    except OSError:
        pass  # a read-only home only costs re-parsing next time
    return arr


class MJSynth(Dataset):
    """(image path, label) samples of one MJSynth split, labels filtered by the charset rule."""

    def __init__(self, root: str | Path, split: str = "train", cfg: ModelConfig | None = None, case: str = "filename"):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}")
        if case not in ("filename", "lexicon"):
            raise ValueError("case must be 'filename' or 'lexicon'")
        self.root = Path(root)
        ann = self.root / f"annotation_{split}.txt"
        if not ann.is_file():
            raise FileNotFoundError(f"{ann} not found: is {self.root} the MJSynth folder (with lexicon.txt)?")
        self.case = case
        self.lexicon = None
        if case == "lexicon":
            self.lexicon = (self.root / "lexicon.txt").read_text(encoding="utf-8", errors="replace").splitlines()
        arr = _index(ann)
        self.report = FilterReport()
        if cfg is not None:  # drop labels the model cannot learn (one Python pass; ~10 s per million lines)
            keep = np.array([self.report.keep(self._label(p.decode(), int(lex)), cfg) is not None for p, lex in arr],
                            dtype=bool)
            arr = arr[keep]
        else:
            self.report.kept = len(arr)
        self.cfg = cfg
        self.index = arr

    def _label(self, rel: str, lex: int) -> str:
        return self.lexicon[lex] if self.lexicon is not None else word_from_filename(rel)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int):
        rel, lex = self.index[i]
        rel = rel.decode()
        label = self._label(rel, int(lex))
        if self.cfg is not None:
            label = normalize_label(label, self.cfg.charset, self.cfg.max_len)
        return self.root / rel, label
