"""Dataset specs and the registry of dataset kinds.

A spec on the command line is `kind[:PATH][:WEIGHT][@SPLIT]`:

    synth-words[:WEIGHT][@PRESET] synthetic words (ocr.synth.WordSynth), preset v6 (the shipped words
                                  model's last) unless @v2 or @v4 is given (ocr.synth.SYNTH_PRESETS)
    synth-digits[:WEIGHT]         synthetic house numbers (ocr.synth.DigitSynth)
    folder:PATH[:WEIGHT]          PATH/labels.tsv with lines `relative/path<TAB>label`
    tight:PATH[:WEIGHT]           the same, images cut tight around the text (ocr.training.datasets.tight)
    mjsynth:PATH[:WEIGHT][@SPLIT] the MJSynth (Synth90k) folder, split train|val|test
    svhn:PATH[:WEIGHT][@SPLIT]    an SVHN format-1 split converted by scripts/prepare_svhn.py
    lmdb:PATH[:WEIGHT]            a scene-text LMDB (num-samples, image-%09d, label-%09d)
    corpus:PATH[:WEIGHT]          a pre-rendered synthetic corpus (ocr.training.corpus, scripts/prerender.py)

Other installed packages add kinds through the entry-point group `ocr.dataset_kinds` (name -> a `Kind`; the
corrections store adds `feedback[:DB]` in this project's pyproject.toml), loaded only when that kind is asked
for, so `ocr` itself imports none of them; `register_kind` adds one at run time.

    build_dataset("folder:data/val", cfg) -> a Dataset of (image, label), labels filtered by the label rule
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Callable

from torch.utils.data import Dataset

from ...config import ModelConfig
from .labels import folder_dataset


@dataclass
class Spec:
    kind: str
    path: str | None = None
    weight: float = 1.0
    split: str | None = None

    def __str__(self) -> str:
        s = self.kind + (f":{self.path}" if self.path else "") + f":{self.weight:g}"
        return s + (f"@{self.split}" if self.split else "")


@dataclass(frozen=True)
class Kind:
    """build(spec, cfg, seed=..., length=..., font_dirs=...) -> Dataset; path: "required", "optional" or "none"."""

    build: Callable[..., Dataset]
    path: str = "required"


KINDS: dict[str, Kind] = {}


def register_kind(name: str, build: Callable[..., Dataset], path: str = "required") -> None:
    """Make `name[:PATH]` a dataset kind. `build(spec, cfg, **options)` must accept and may ignore
    the options `seed`, `length` and `font_dirs`."""
    if path not in ("required", "optional", "none"):
        raise ValueError("path must be 'required', 'optional' or 'none'")
    KINDS[name] = Kind(build, path)


ENTRY_POINTS = "ocr.dataset_kinds"


def _kind(name: str, text: str) -> Kind:
    """A registered kind, or one an installed package declares under ENTRY_POINTS (loaded now)."""
    if name not in KINDS:
        from importlib.metadata import entry_points
        for ep in entry_points(group=ENTRY_POINTS, name=name):
            kind = ep.load()
            if not isinstance(kind, Kind):
                raise ValueError(f"the entry point {ep.value} for dataset kind {name!r} is not an ocr Kind")
            KINDS[name] = kind
            break
    if name not in KINDS:
        hint = f"; labelled images are given as folder:{text}" if "/" in name or "." in name else ""
        raise ValueError(f"unknown dataset kind {name!r} in {text!r}{hint}; one of {', '.join(sorted(KINDS))} (others "
                         f"come from installed packages: entry points {ENTRY_POINTS!r}; this project's need "
                         "`pip install -e .`)")
    return KINDS[name]


def parse_spec(text: str) -> Spec:
    """'kind[:path][:weight][@split]' -> Spec. Paths may contain ':' (the weight is the last field)."""
    split = None
    if "@" in text:
        text, split = text.rsplit("@", 1)
    name, _, rest = text.partition(":")
    kind = _kind(name, text)
    weight = 1.0
    head, _, tail = rest.rpartition(":")
    try:
        # the last field is a weight when something precedes it, or when the kind needs no path
        # ("synth-words:0.3", "feedback:0.2"; "feedback:DB:0.2" names a database)
        if tail and (head or kind.path != "required"):
            weight, rest = float(tail), head
    except ValueError:
        pass
    if kind.path == "none":
        if rest:
            try:
                weight = float(rest)
            except ValueError:
                raise ValueError(f"{name} takes only a weight, got {rest!r}") from None
        return Spec(name, None, weight, split)
    if not rest and kind.path == "required":
        raise ValueError(f"{name} needs a path: {name}:PATH[:WEIGHT]")
    return Spec(name, rest or None, weight, split)


def build_dataset(spec: Spec | str, cfg: ModelConfig, seed: int = 0, length: int | None = None,
                  font_dirs: tuple[str, ...] = ()) -> Dataset:
    """Spec -> (image, label) dataset, with labels filtered by the label rule.

    font_dirs: extra font folders for the synthetic kinds (searched with the system fonts).
    """
    if isinstance(spec, str):
        spec = parse_spec(spec)
    return KINDS[spec.kind].build(spec, cfg, seed=seed, length=length, font_dirs=tuple(font_dirs))


def _synth(spec: Spec, cfg: ModelConfig, seed: int = 0, length: int | None = None, font_dirs=(), **_):
    from ...synth.fonts import find_fonts
    from ...synth import DigitSynth, WordSynth
    kw = {"length": length} if length else {}
    if spec.kind == "synth-words":
        from ...synth import DEFAULT_ENGINE, SYNTH_PRESETS
        engine = spec.split or DEFAULT_ENGINE
        if engine not in SYNTH_PRESETS:
            raise ValueError(f"unknown word engine {engine!r} in synth-words@{engine}; one of {', '.join(SYNTH_PRESETS)}")
        fonts = find_fonts(font_dirs, required=string.ascii_letters + string.digits) if font_dirs else None
        return WordSynth(cfg.charset, fonts=fonts, seed=seed, max_len=cfg.max_len, engine=engine, **kw)
    fonts = find_fonts(font_dirs, required=string.digits) if font_dirs else None
    return DigitSynth(fonts=fonts, seed=seed, max_len=cfg.max_len, **kw)


def _tight(spec: Spec, cfg: ModelConfig, **_):
    from .tight import TightCrops
    ds = folder_dataset(spec.path, cfg)
    return TightCrops(ds) if cfg.resize_h > 0 else ds


def _mjsynth(spec: Spec, cfg: ModelConfig, **_):
    from .mjsynth import MJSynth
    return MJSynth(spec.path, split=spec.split or "train", cfg=cfg)


def _svhn(spec: Spec, cfg: ModelConfig, **_):
    from .svhn import SVHN
    return SVHN(spec.path, split=spec.split or "train", cfg=cfg)


def _lmdb(spec: Spec, cfg: ModelConfig, **_):
    from .lmdb_io import LmdbDataset
    return LmdbDataset(spec.path, cfg=cfg)


def _corpus(spec: Spec, cfg: ModelConfig, **_):
    from ..corpus import corpus_dataset
    return corpus_dataset(spec.path, cfg)


register_kind("synth-words", _synth, path="none")
register_kind("synth-digits", _synth, path="none")
register_kind("folder", lambda spec, cfg, **_: folder_dataset(spec.path, cfg))
register_kind("tight", _tight)
register_kind("mjsynth", _mjsynth)
register_kind("svhn", _svhn)
register_kind("lmdb", _lmdb)
register_kind("corpus", _corpus)
