"""Datasets, label filtering, weighted mixing and training augmentation.

Every dataset here yields `(PIL image or bytes, label str)`; `Prepared` turns that into the
network input with the shared `preprocess`. Dataset specs on the command line:

    synth-words[:WEIGHT]          synthetic words (ocr.synth.WordSynth)
    synth-digits[:WEIGHT]         synthetic house numbers (ocr.synth.DigitSynth)
    folder:PATH[:WEIGHT]          PATH/labels.tsv with lines `relative/path<TAB>label`
    tight:PATH[:WEIGHT]           the same, images cut tight around the text (see below)
    mjsynth:PATH[:WEIGHT][@SPLIT] the MJSynth (Synth90k) folder, split train|val|test
    svhn:PATH[:WEIGHT][@SPLIT]    an SVHN format-1 split converted by scripts/prepare_svhn.py
    lmdb:PATH[:WEIGHT]            a scene-text LMDB (num-samples, image-%09d, label-%09d)
    corpus:PATH[:WEIGHT]          a pre-rendered synthetic corpus (ocr.corpus, scripts/prerender.py)

`tight:PATH` is a `folder:` of tight crops (boxes that touch the text, as word datasets are cut).
In the digits task they are framed as the SVHN protocol frames the union of the digit boxes:
30 % larger, here padded with edge pixels since there is no surrounding photo (`frame_tight`);
otherwise the 54/64 centre crop would cut the first and last digits. Words use them as they are.

Label rule (`normalize_label`): when the charset has no capital letters, labels are lower-cased;
a label that then still has a character outside the charset, is empty or is longer than max_len
is dropped and counted (never trained on).
"""
from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler
from torchvision.transforms import v2

from .config import SVHN_EXPAND, ModelConfig
from .preprocess import InvalidImageError, load_image, preprocess


def stable_hash32(key: str) -> int:
    """The first 32 bits of sha256(key): the same on every machine and run, for splits that never move."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)


def normalize_label(text: str, charset: str, max_len: int) -> str | None:
    """The label as the model should learn it, or None if it must be dropped (see module doc)."""
    if not any(c.isupper() for c in charset):
        text = text.lower()
    if not text or len(text) > max_len or any(c not in charset for c in text):
        return None
    return text


@dataclass
class FilterReport:
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)

    def __str__(self) -> str:
        d = ", ".join(f"{k}: {v}" for k, v in self.dropped.items()) or "none"
        return f"{self.kept} kept, dropped {sum(self.dropped.values())} ({d})"


class LabelledList(Dataset):
    """A list of (image source, label) pairs filtered by the label rule.

    Sources are paths or bytes; `load_errors` counts images that could not be read later.
    """

    def __init__(self, items: list[tuple[object, str]], cfg: ModelConfig | None = None, name: str = ""):
        self.name = name
        self.report = FilterReport()
        if cfg is None:
            self.items = items
            self.report.kept = len(items)
            return
        self.items = []
        for src, label in items:
            lab = normalize_label(label, cfg.charset, cfg.max_len)
            if lab is None:
                why = "too long" if len(label) > cfg.max_len else "empty" if not label else "outside charset"
                self.report.dropped[why] += 1
                continue
            self.items.append((src, lab))
        self.report.kept = len(self.items)

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


def frame_tight(img: Image.Image, expand: float = SVHN_EXPAND) -> Image.Image:
    """A tight crop -> the same crop with expand/2 of its width (height) added left and right
    (top and bottom), edge pixels repeated: PIL image (w, h) -> about ((1+expand) w, (1+expand) h)."""
    a = np.asarray(img)
    px, py = round(expand / 2 * a.shape[1]), round(expand / 2 * a.shape[0])
    return Image.fromarray(np.pad(a, [(py, py), (px, px)] + [(0, 0)] * (a.ndim - 2), mode="edge"))


class TightCrops(Dataset):
    """A dataset of tight crops -> the same samples framed by `frame_tight` (digits task).

    Unreadable images give b"" (skipped and counted by the loader, an error in evaluation).
    """

    def __init__(self, base: Dataset):
        self.base = base
        self.name = getattr(base, "name", "")
        self.report = getattr(base, "report", None)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        src, label = self.base[i]
        try:
            return frame_tight(load_image(src)), label
        except InvalidImageError:
            return b"", label


class Prepared(Dataset):
    """(image, label) dataset -> (tensor (C, H, W), label); unreadable images give (None, label).

    `augment` (a torchvision v2 transform on PIL images) is applied in training only.
    """

    def __init__(self, base: Dataset, cfg: ModelConfig, train: bool = False, augment=None):
        self.base, self.cfg, self.train, self.augment = base, cfg, train, augment

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        src, label = self.base[i]
        try:
            img = load_image(src)
            if self.augment is not None:
                img = self.augment(img)
            return preprocess(img, self.cfg, train=self.train), label
        except InvalidImageError:
            return None, label


def collate(batch):
    """Drops unreadable samples; -> (images (N, C, H, W), labels list[str], skipped count)."""
    good = [(x, y) for x, y in batch if x is not None]
    if not good:
        return None, [], len(batch)
    xs, ys = zip(*good)
    return torch.stack(xs), list(ys), len(batch) - len(good)


class RandomBorders:
    """Move each side of a crop in or out by up to `frac` of the image height (outside: edge pixels).

    Real word crops are boxed loosely or tightly by different annotators; this teaches both.
    PIL image -> PIL image of a slightly different size (preprocess resizes it anyway).
    """

    def __init__(self, frac: float = 0.12):
        self.frac = frac

    def __call__(self, img: Image.Image) -> Image.Image:
        w, h = img.size
        m = max(1, round(self.frac * h))
        left, top, right, bottom = (random.randint(-m, m) for _ in range(4))  # >0 cuts, <0 pads
        if left + right >= w - 2 or top + bottom >= h - 2:
            return img
        a = np.asarray(img)
        pad = [(max(0, -top), max(0, -bottom)), (max(0, -left), max(0, -right))] + [(0, 0)] * (a.ndim - 2)
        a = np.pad(a, pad, mode="edge")
        a = a[max(0, top): a.shape[0] - max(0, bottom), max(0, left): a.shape[1] - max(0, right)]
        return Image.fromarray(a)


class Degrade:
    """The synthetic engine's camera artefacts (blur, resolution loss, noise, JPEG) as a transform.

    The image is first scaled to `height` pixels (the network's input height), so a blur of
    a given radius is as strong on a 15-pixel crop as on a 300-pixel one.
    """

    def __init__(self, height: int):
        self.height = height

    def __call__(self, img: Image.Image) -> Image.Image:
        from .synth import degrade
        w, h = img.size
        img = img.resize((max(1, round(w * self.height / h)), self.height), Image.BILINEAR)
        return degrade(img, random.Random(random.getrandbits(32)))


def train_augment(cfg: ModelConfig) -> v2.Transform:
    """Photometric and geometric changes for real training images (torchvision v2, on PIL images).

    Synthetic data brings its own distortions and does not get these.
    """
    return v2.Compose([
        v2.RandomApply([RandomBorders(0.12)], p=0.5),
        v2.RandomApply([v2.RandomAffine(degrees=4, shear=(-10, 10, -3, 3), scale=(0.9, 1.05), fill=128)], p=0.3),
        v2.RandomApply([v2.RandomPerspective(0.2, p=1.0, fill=128)], p=0.15),
        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.4),
        v2.RandomApply([Degrade(cfg.img_h)], p=0.3),
        v2.RandomInvert(p=0.1),
    ])


class MixedBatchSampler(Sampler[list[int]]):
    """Batches over a ConcatDataset in which each part fills its share of every batch.

    weights are normalized; a part's count per batch is floor(share * batch) plus the largest
    remainders, so a batch of 64 at 0.5/0.3/0.2 holds 32/19/13 (or 32/20/12) samples.
    Infinite when `batches` is None. Batch n is a pure function of (seed, rank, n), so a run
    resumed at step `start` draws exactly the batches the uninterrupted run would have drawn;
    `rank`/`world` give each distributed process its own stream.
    """

    def __init__(self, sizes: list[int], weights: list[float], batch_size: int, seed: int = 0,
                 batches: int | None = None, rank: int = 0, world: int = 1, start: int = 0):
        if len(sizes) != len(weights) or not sizes:
            raise ValueError("need one weight per dataset")
        if any(s <= 0 for s in sizes):
            raise ValueError("a dataset in the mix is empty")
        total = float(sum(weights))
        self.shares = [w / total for w in weights]
        self.sizes, self.batch_size, self.batches = sizes, batch_size, batches
        self.offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        self.seed, self.rank, self.world, self.start = seed, rank, world, start

    def counts(self, rng: random.Random) -> list[int]:
        raw = [s * self.batch_size for s in self.shares]
        counts = [int(r) for r in raw]
        rest = sorted(range(len(raw)), key=lambda i: (raw[i] - counts[i], rng.random()), reverse=True)
        for i in rest[: self.batch_size - sum(counts)]:
            counts[i] += 1
        return counts

    def batch(self, n: int) -> list[int]:
        """The indices of batch n (global batch number, counted from the start of the run)."""
        rng = random.Random(f"{self.seed}:{self.rank}:{n}")
        batch = []
        for off, size, k in zip(self.offsets, self.sizes, self.counts(rng)):
            batch += [off + rng.randrange(size) for _ in range(k)]
        rng.shuffle(batch)
        return batch

    def __iter__(self):
        n = 0
        while self.batches is None or n < self.batches:
            yield self.batch(self.start + n)
            n += 1

    def __len__(self) -> int:
        return self.batches if self.batches is not None else 2**31


@dataclass
class Spec:
    kind: str
    path: str | None = None
    weight: float = 1.0
    split: str | None = None

    def __str__(self) -> str:
        s = self.kind + (f":{self.path}" if self.path else "") + f":{self.weight:g}"
        return s + (f"@{self.split}" if self.split else "")


KINDS_WITH_PATH = ("folder", "tight", "mjsynth", "svhn", "lmdb", "corpus", "feedback")
KINDS_NO_PATH = ("synth-words", "synth-digits")


def parse_spec(text: str) -> Spec:
    """'kind[:path][:weight][@split]' -> Spec. Paths may contain ':' (the weight is the last field)."""
    split = None
    if "@" in text:
        text, split = text.rsplit("@", 1)
    kind, _, rest = text.partition(":")
    if kind not in KINDS_WITH_PATH + KINDS_NO_PATH:
        raise ValueError(f"unknown dataset kind {kind!r} in {text!r}; one of {', '.join(KINDS_WITH_PATH + KINDS_NO_PATH)}")
    weight = 1.0
    head, _, tail = rest.rpartition(":")
    try:
        # the last field is a weight when something precedes it, or when the kind needs no path
        # ("synth-words:0.3", "feedback:0.2"; "feedback:DB:0.2" names a database)
        if tail and (head or kind in KINDS_NO_PATH or kind == "feedback"):
            weight, rest = float(tail), head
    except ValueError:
        pass
    if kind in KINDS_NO_PATH:
        if rest:
            try:
                weight = float(rest)
            except ValueError:
                raise ValueError(f"{kind} takes only a weight, got {rest!r}") from None
        return Spec(kind, None, weight, split)
    if not rest and kind != "feedback":
        raise ValueError(f"{kind} needs a path: {kind}:PATH[:WEIGHT]")
    return Spec(kind, rest or None, weight, split)


def build_dataset(spec: Spec | str, cfg: ModelConfig, seed: int = 0, length: int | None = None,
                  font_dirs: tuple[str, ...] = ()):
    """Spec -> (image, label) dataset, with labels filtered by the charset rule.

    font_dirs: extra font folders for the synthetic kinds (searched with the system fonts).
    """
    if isinstance(spec, str):
        spec = parse_spec(spec)
    if spec.kind in ("synth-words", "synth-digits"):
        import string

        from .fonts import find_fonts
        from .synth import DigitSynth, WordSynth
        kw = {"length": length} if length else {}
        if spec.kind == "synth-words":
            fonts = find_fonts(tuple(font_dirs), required=string.ascii_letters + string.digits) if font_dirs else None
            return WordSynth(cfg.charset, fonts=fonts, seed=seed, max_len=cfg.max_len, **kw)
        fonts = find_fonts(tuple(font_dirs), required=string.digits) if font_dirs else None
        return DigitSynth(fonts=fonts, seed=seed, max_len=cfg.max_len, **kw)
    if spec.kind == "folder":
        return folder_dataset(spec.path, cfg)
    if spec.kind == "tight":
        ds = folder_dataset(spec.path, cfg)
        return TightCrops(ds) if cfg.resize_h > 0 else ds
    if spec.kind == "mjsynth":
        from .datasets.mjsynth import MJSynth
        return MJSynth(spec.path, split=spec.split or "train", cfg=cfg)
    if spec.kind == "svhn":
        from .datasets.svhn import SVHN
        return SVHN(spec.path, split=spec.split or "train", cfg=cfg)
    if spec.kind == "lmdb":
        from .datasets.lmdb_io import LmdbDataset
        return LmdbDataset(spec.path, cfg=cfg)
    if spec.kind == "corpus":
        from .corpus import corpus_dataset
        return corpus_dataset(spec.path, cfg)
    if spec.kind == "feedback":
        from feedback.dataset import feedback_dataset
        return feedback_dataset(spec.path, cfg)
    raise ValueError(spec.kind)


class Materialized(Dataset):
    """A fixed, in-memory copy of the first n samples of a dataset (for validation sets)."""

    def __init__(self, base: Dataset, n: int):
        self.items = [base[i] for i in range(min(n, len(base)))]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        return self.items[i]
