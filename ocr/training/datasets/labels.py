"""Labels: the one rule for what a model learns, and labelled folders.

Label rule (`normalize_label`): when the charset has no capital letters, labels are lower-cased;
a label that then still has a character outside the charset, is empty or is longer than max_len
is dropped and counted (never trained on). Every dataset applies it through `FilterReport.keep`.

    folder_dataset(PATH)   PATH/labels.tsv with lines `relative/path<TAB>label` -> LabelledList
"""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from torch.utils.data import Dataset

from ...config import ModelConfig, lower_if_caseless


def stable_hash32(key: str) -> int:
    """The first 32 bits of sha256(key): the same on every machine and run, for splits that never move."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)


def stable_fraction(key: str) -> float:
    """`stable_hash32(key)` as a number in [0, 1): the one way a path or an id falls into a hold-out share."""
    return stable_hash32(key) / 2**32


def drop_reason(text: str | None, charset: str, max_len: int) -> str | None:
    """Why a label cannot be learned ("missing", "empty", "too long", "outside charset"), or None."""
    if text is None:
        return "missing"
    text = lower_if_caseless(text, charset)
    if not text:
        return "empty"
    if len(text) > max_len:
        return "too long"
    if any(c not in charset for c in text):
        return "outside charset"
    return None


def normalize_label(text: str, charset: str, max_len: int) -> str | None:
    """The label as the model should learn it, or None if it must be dropped (see module doc)."""
    if drop_reason(text, charset, max_len) is not None:
        return None
    return lower_if_caseless(text, charset)


@dataclass
class FilterReport:
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)

    def keep(self, text: str | None, cfg: ModelConfig | None) -> str | None:
        """The label rule with counting: the normalized label (counted kept), or None (counted by reason).

        Without a config every present label is kept as it is.
        """
        if cfg is None and text is not None:
            self.kept += 1
            return text
        why = drop_reason(text, cfg.charset, cfg.max_len) if cfg is not None else "missing"
        if why is not None:
            self.dropped[why] += 1
            return None
        self.kept += 1
        return lower_if_caseless(text, cfg.charset)

    def add(self, other: "FilterReport") -> None:
        self.kept += other.kept
        self.dropped.update(other.dropped)

    def __str__(self) -> str:
        d = ", ".join(f"{k}: {v}" for k, v in self.dropped.items()) or "none"
        return f"{self.kept} kept, dropped {sum(self.dropped.values())} ({d})"


class LabelledList(Dataset):
    """A list of (image source, label) pairs filtered by the label rule.

    Sources are paths or bytes; images that cannot be read are found later, by the loader.
    """

    def __init__(self, items: list[tuple[object, str]], cfg: ModelConfig | None = None, name: str = ""):
        self.name = name
        self.report = FilterReport()
        self.items = [(src, lab) for src, label in items if (lab := self.report.keep(label, cfg)) is not None]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        return self.items[i]


def read_labels_tsv(path: Path) -> list[tuple[Path, str]]:
    """`relative/path<TAB>label` lines -> [(absolute path, label)]. Blank lines are skipped."""
    root = path.parent
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        if "\t" not in line:
            raise ValueError(f"{path}:{n}: expected 'relative/path<TAB>label', got {line!r}")
        rel, label = line.split("\t", 1)
        out.append((root / rel, label))
    return out


def folder_dataset(path: str | Path, cfg: ModelConfig | None = None, labels: str = "labels.tsv") -> LabelledList:
    path = Path(path)
    f = path / labels if path.is_dir() else path
    if not f.is_file():
        raise FileNotFoundError(f"no labels file {f} (expected lines 'relative/path<TAB>label')")
    return LabelledList(read_labels_tsv(f), cfg, name=f"folder:{path}")


def label_files(root: Path) -> list[Path]:
    if (root / "labels.tsv").is_file():
        return [root / "labels.tsv"]
    found = sorted(root.glob("*/labels.tsv"))
    if not found:
        raise FileNotFoundError(f"no labels.tsv in {root} or its sub-folders")
    return found


def split_folders(root: Path, charset: str, max_len: int, fraction: float):
    """Labelled folders (ROOT/labels.tsv or ROOT/*/labels.tsv) split by a hash of each path relative to ROOT
    (`scripts/split_labels.py`) -> (train, val, dropped): lists of (absolute path, label) and a Counter of the
    labels dropped per folder (outside the charset or too long)."""
    root = root.resolve()
    train, val, dropped = [], [], Counter()
    for f in label_files(root):
        for path, label in read_labels_tsv(f):
            if normalize_label(label, charset, max_len) is None:
                dropped[str(f.parent.relative_to(root))] += 1
                continue
            path = path.resolve()
            in_val = stable_fraction(path.relative_to(root).as_posix()) < fraction
            (val if in_val else train).append((path, label))
    return train, val, dropped


def write_tsv(rows, path: Path) -> None:
    path.write_text("".join(f"{p}\t{label}\n" for p, label in rows), encoding="utf-8")
