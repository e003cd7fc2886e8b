"""The public reading API.

    rec = load_recognizer("words")          # or "digits", or a path to a .safetensors checkpoint
    preds = rec.read(images)                # images: one or a list of PIL images, paths, bytes, arrays
    preds = rec.read(images, fast=True)     # greedy and one view (the checkpoint's word prior kept)
    preds = rec.read(images, beam_width=1, views=3)   # explicit settings win
    load_recognizer("words", lm_weight=0)   # without the word prior (`ocr.lm`); None = the checkpoint's

A recognizer reads as its checkpoint says (`ocr.reading.ReadingSettings`, `rec.reading`: word prior, beam width,
test-time views): the library reads as the demo does unless the call says otherwise.

Each Prediction has text, confidence (product of the step probabilities, EOS included),
char_confidences (one per character) and attention (steps, feat_h, feat_w): one map per
decoding step, the last one being the step that emitted the end of text; `view` is the index of
the view it was read from (0 = the image as given; `view_input` rebuilds that view's network input).

Without PyTorch installed (the reading-only install), `load_recognizer` reads with the checkpoint's ONNX export
(`ocr.onnx_reader`: the encoder by ONNX Runtime, the decoder in NumPy); the readings are the same up to float
rounding (tests/test_onnx_reader.py). `backend="onnx"` chooses that path with PyTorch installed too.
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .checkpoint import CheckpointError
from .config import PRECISIONS, TASKS, preset
from .lm import LMFusion, default_fusion
from .prediction import Prediction
from .preprocess import InvalidImageError, input_array, load_image
from .reading import ReadingSettings
from .settings import shipped_model
from .tokenizer import EOS, Tokenizer
from .views import check_views, view_of, views as make_views

if TYPE_CHECKING:
    from .decoding import Reader
    from .model import Recognizer

BACKENDS = ("auto", "torch", "onnx")   # what load_recognizer reads with ("auto": torch where installed, else onnx)


class UntrainedModelWarning(UserWarning):
    """A shipped model name was asked for but its checkpoint is missing: the model is random."""


class TextRecognizer:
    """Reads images with a trained model.

    On CPU reading goes through `ocr.serving.ServingModel` (same readings, less time per image);
    `serving=False` reads with the training model itself. precision: the serving encoder's, "fp32"
    (readings equal to the training model's up to float rounding), "bf16" (faster with native bf16;
    readings agree up to bf16 rounding) or "auto" (bf16 where the CPU has AMX / AVX512-BF16, else
    fp32); "int8" only names a given `reader` that reads with the checkpoint's int8 encoder (`load_recognizer`
    builds it; "auto" there prefers it on CPUs with VNNI); engine: what runs an fp32 encoder
    (`ocr.serving.ENGINES`: "auto" is ONNX Runtime where installed, else PyTorch). Weights are copied when the
    recognizer is built: after changing the model's weights, build a new TextRecognizer. lm: an `ocr.lm.LMFusion`
    (a word prior fused into the choice of each character, greedy and beam) or None. reading: the default reading
    settings (default: those in `meta`); its lm_weight is that of `lm` (what this recognizer really fuses;
    `load_recognizer` builds the prior from it).

    model=None with `reader` given: read through that `ocr.decoding.Reader` alone (e.g. an `ocr.onnx_reader.
    OnnxReader`, without PyTorch); `self.model` is then None. Images go in and out of the reader as NumPy arrays:
    `prepare` gives (N, C, H, W) float32.
    """

    def __init__(self, model: Recognizer | None, meta: dict | None = None, source: str = "", untrained: bool = False,
                 serving: bool = True, precision: str = "fp32", lm: LMFusion | None = None,
                 reading: ReadingSettings | None = None, engine: str = "auto", reader: Reader | None = None):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if model is None and reader is None:
            raise ValueError("a TextRecognizer needs a model or a reader")
        if precision == "int8" and reader is None:
            raise ValueError("int8 reads with a checkpoint's int8 graph: load_recognizer(path, precision='int8')")
        self.model = model.eval() if model is not None else None
        self.cfg = model.cfg if model is not None else reader.cfg
        self.tokenizer = Tokenizer(self.cfg.charset)
        self.meta = meta or {}
        self.source = source
        self.untrained = untrained
        self.precision = "int8" if precision == "int8" else "fp32"
        if reader is None:
            from .hardware import cpu_has_bf16
            from .serving import ModelReader, ServingModel

            on_cpu = next(model.parameters()).device.type == "cpu"
            bf16 = precision == "bf16" or (precision == "auto" and cpu_has_bf16())
            self.precision = "bf16" if bf16 and serving and on_cpu else "fp32"
            reader = ServingModel(self.model, bf16=bf16, engine=engine) if serving and on_cpu else ModelReader(model)
        self.reader = reader
        self.lm = lm
        reading = reading or ReadingSettings.of(self.meta)
        self.reading = dataclasses.replace(reading, lm_weight=lm.weight if lm else 0.0)

    @property
    def device(self):
        """The torch device of the model (None when reading without one)."""
        return next(self.model.parameters()).device if self.model is not None else None

    @staticmethod
    def _items(images, action):
        """action(item) for each of images (one or a list); InvalidImageError names the bad item."""
        items = images if isinstance(images, (list, tuple)) else [images]
        if not items:
            raise InvalidImageError("no images given")
        out = []
        for i, im in enumerate(items):
            try:
                out.append(action(im))
            except InvalidImageError as e:
                raise InvalidImageError(f"image {i}: {e}" if len(items) > 1 else str(e)) from None
        return out

    def prepare(self, images) -> np.ndarray:
        """images (one or a list) -> batch (N, C, H, W) float32. Raises InvalidImageError naming the bad item."""
        return np.stack(self._items(images, lambda im: input_array(im, self.cfg)))

    def view_input(self, image, view: int) -> np.ndarray:
        """The network input (C, H, W) of one view of an image (`ocr.views`; 0 = as given): what a
        prediction with that `view` was read from, e.g. to draw its attention over."""
        return input_array(view_of(load_image(image), view), self.cfg)

    def _prediction(self, toks: np.ndarray, probs: np.ndarray, attn: np.ndarray) -> Prediction:
        toks, probs = np.asarray(toks).tolist(), np.asarray(probs, dtype=np.float32).tolist()
        n = min(toks.index(EOS) if EOS in toks else len(toks), self.cfg.max_len)
        steps = min(len(toks), n + 1)
        fh, fw = self.cfg.feat_hw
        conf = float(np.prod(probs[:steps])) if steps else 0.0
        return Prediction(
            text=self.tokenizer.decode_ids(toks[:n]),
            confidence=conf,
            char_confidences=[float(p) for p in probs[:n]],
            attention=np.asarray(attn[:steps], dtype=np.float32).reshape(steps, fh, fw),
        )

    def read(self, images, beam_width: int | None = None, batch_size: int = 32, views: int | None = None,
             below: float | None = None, fast: bool = False) -> list[Prediction]:
        """Read one image or a list; returns one Prediction per image, in order.

        beam_width, views, below: None = the recognizer's reading settings (`self.reading`, from its checkpoint);
        fast=True: greedy and one view unless given. views > 1: an image read with a confidence below `below` is
        read again in views - 1 transformed copies (`ocr.views`), and the most confident of its readings is kept
        (`Prediction.view` says which; with a word prior, the highest log-confidence + prior score); confident
        readings cost nothing more.
        """
        r = self.settings(beam_width, views, below, fast)
        beam_width, views, below = r.beam_width, r.views, r.views_below
        if views == 1:
            return self.read_prepared(self.prepare(images), beam_width, batch_size)
        loaded = self._items(images, load_image)
        preds = self.read_prepared(self.prepare(loaded), beam_width, batch_size)
        unsure = [i for i, p in enumerate(preds) if p.confidence < below]
        if not unsure:
            return preds
        owners, extra = [], []
        for i in unsure:
            for k, v in enumerate(make_views(loaded[i], views)[1:], 1):
                if v is not None:  # views that do not apply to this crop are not read
                    owners.append((i, k))
                    extra.append(input_array(v, self.cfg))
        more = self.read_prepared(np.stack(extra), beam_width, batch_size) if extra else []
        groups = {i: [(0, preds[i])] for i in unsure}
        for (i, k), p in zip(owners, more):
            groups[i].append((k, p))
        for i, group in groups.items():
            k, best = max(group, key=lambda kp: self._view_score(kp[1]))  # ties: the earlier view
            best.view = k
            preds[i] = best
        return preds

    def settings(self, beam_width: int | None = None, views: int | None = None, below: float | None = None,
                 fast: bool = False) -> ReadingSettings:
        """The reading settings a `read` with these arguments uses: the recognizer's own (`self.reading`; with
        fast=True greedy and one view), each argument given replacing one."""
        r = self.reading.fast() if fast else self.reading
        if views is not None:
            views = check_views(views)
        if below is not None and not 0 <= below <= 1:
            raise ValueError(f"below must be a confidence from 0 to 1, got {below!r}")
        if beam_width is not None and beam_width < 1:
            raise ValueError("beam_width must be >= 1")
        given = {"beam_width": beam_width, "views": views, "views_below": below}
        return dataclasses.replace(r, **{k: v for k, v in given.items() if v is not None})

    def _view_score(self, pred: Prediction) -> float:
        """What picks among the views of one crop: the log of the decoder's confidence, plus the word
        prior's score of the text when reading with one (the sum the decoder picked by at each step)."""
        score = math.log(max(pred.confidence, 1e-30))
        return score + self.lm.score(pred.text) if self.lm else score

    def reader_confidences(self, images, preds: list[Prediction]) -> list[tuple[float, list[float]]]:
        """How sure the whole reader is of each reading: per character (and the end), the probability of the
        character read under the distribution it was picked from: the decoder's, fused with the word prior when
        there is one (the decoder alone can be unsure of a letter that the prior then decides). -> one
        (confidence, char_confidences) per prediction; without a prior, the predictions' own. images: the images
        the predictions were read from (their views are rebuilt from `Prediction.view`)."""
        if self.lm is None:
            return [(p.confidence, list(p.char_confidences)) for p in preds]
        items = images if isinstance(images, (list, tuple)) else [images]
        x = np.stack([self.view_input(im, p.view) for im, p in zip(items, preds)])
        ids = [[self.cfg.charset.index(c) + 1 for c in p.text] + [EOS]
               for p in preds]
        steps = max(len(i) for i in ids)
        targets = np.full((len(ids), steps), self.tokenizer.pad, dtype=np.int64)
        for r, i in enumerate(ids):
            targets[r, : len(i)] = i
        logp = self.reader.forced(x, targets)
        out = []
        for r, (p, i) in enumerate(zip(preds, ids)):
            probs = []
            for t, c in enumerate(i):
                row = logp[r, t] + (b if (b := self.lm.bonus(p.text[:t])) is not None else 0.0)
                row = np.exp(row - row.max())
                probs.append(float(row[c] / row.sum()))
            out.append((float(np.prod(probs)), probs[: len(p.text)]))
        return out

    def read_prepared(self, batch: np.ndarray, beam_width: int = 1, batch_size: int = 32) -> list[Prediction]:
        """Read a batch (N, C, H, W) from `prepare` (for callers that also show the network input; a CPU tensor
        is taken too)."""
        if beam_width < 1:
            raise ValueError("beam_width must be >= 1")
        batch = np.asarray(batch, dtype=np.float32)
        out: list[Prediction] = []
        for s in range(0, batch.shape[0], batch_size):
            x = batch[s : s + batch_size]
            if beam_width == 1:
                toks, probs, attn = self.reader.greedy(x, lm=self.lm)
                out += [self._prediction(toks[i], probs[i], attn[i]) for i in range(x.shape[0])]
            else:
                out += [self._prediction(*self.reader.beam(x[i : i + 1], beam_width, lm=self.lm)) for i in range(x.shape[0])]
        return out


def _torch_installed() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _int8_reader(path: Path, precision: str):
    """(the checkpoint's int8 reader (`ocr.onnx_reader.OnnxReader`), its meta) when precision asks for it: "int8" always
    (CheckpointError without a usable graph), "auto" on CPUs with VNNI when a graph made from these weights is
    there (else None, with a warning for a graph made from other weights)."""
    if precision not in ("int8", "auto"):
        return None
    from .hardware import cpu_has_vnni
    from .onnx_reader import INT8, graph_path, load_onnx_reader

    if precision == "auto" and not (cpu_has_vnni() and graph_path(path, INT8).is_file()):
        return None
    try:
        return load_onnx_reader(path, precision=INT8)
    except CheckpointError as e:
        if precision == "int8":
            raise
        warnings.warn(f"reading in float instead of int8: {e}", stacklevel=3)
        return None


def load_recognizer(name_or_path: str | Path = "words", device: str = "cpu", precision: str = "fp32",
                    lm_weight: float | None = None, backend: str = "auto") -> TextRecognizer:
    """'words' / 'digits' (the shipped defaults under data/models/) or a checkpoint path; precision: the serving
    encoder's, as for `TextRecognizer` ("fp32", "bf16", "auto"), or "int8": the checkpoint's int8 encoder beside it
    (`ocr.onnx_reader.graph_path(path, "int8")`, made by `scripts/export_onnx.py --int8`), read by ONNX Runtime
    whatever the backend; "auto" takes it where the CPU has VNNI (`ocr.hardware.cpu_has_vnni`) and the checkpoint
    has one made from its weights, else bf16 where native, else fp32. lm_weight: the weight of
    the word prior (`ocr.lm`); None = the checkpoint's reading settings (`ocr.reading`), 0 = none.
    backend (`BACKENDS`): "torch" reads with the PyTorch model (through `ocr.serving`), "onnx" without PyTorch
    from the checkpoint's ONNX export beside it (`ocr.onnx_reader`; CPU), "auto" with torch where it is
    installed.

    A missing shipped checkpoint gives an untrained model and an UntrainedModelWarning (with torch); a missing
    or broken explicit path (or a broken reading entry, or a missing ONNX export for backend "onnx") raises
    CheckpointError.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "auto":
        backend = "torch" if _torch_installed() else "onnx"
    key = str(name_or_path)
    if key in TASKS:
        path = shipped_model(key)
        if not path.is_file():
            if backend == "onnx":
                raise CheckpointError(f"no trained '{key}' model at {path}")
            import torch

            from .model import Recognizer

            warnings.warn(f"NO TRAINED '{key}' MODEL at {path}: using an UNTRAINED, randomly initialised "
                          f"model whose output is meaningless. Train one with scripts/train.py.",
                          UntrainedModelWarning, stacklevel=2)
            with torch.random.fork_rng(devices=[]):  # the same random model every time; the caller's seed untouched
                torch.manual_seed(0)
                model = Recognizer(preset(key))
            return TextRecognizer(model.to(device), {}, source="untrained", untrained=True,
                                  precision="fp32" if precision == "int8" else precision,
                                  lm=default_fusion(model.cfg, lm_weight or 0.0))
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise CheckpointError(f"checkpoint not found: {path} (or use 'words' / 'digits')")
    int8 = _int8_reader(path, precision) if device == "cpu" else None
    reader, meta = int8 or (None, None)
    if int8:
        precision = "int8"
    if backend == "onnx":
        from .onnx_reader import load_onnx_reader

        if reader is None:
            reader, meta = load_onnx_reader(path)
        model, cfg = None, reader.cfg
    else:
        from .checkpoint import load_checkpoint

        model, meta = load_checkpoint(path, map_location="cpu")
        cfg = model.cfg
        model = model.to(device)
    try:
        reading = ReadingSettings.of(meta)
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: {e}") from None
    weight = reading.lm_weight if lm_weight is None else lm_weight
    return TextRecognizer(model, meta, source=str(path), precision=precision, reading=reading, reader=reader,
                          lm=default_fusion(cfg, weight, strict=lm_weight is not None))
