"""A faster path for reading with PyTorch installed, with the same outputs as the training model.

`ServingModel(model)` is built once from a trained `Recognizer` in eval mode; it is an `ocr.decoding.Reader`
(NumPy in, NumPy out):

    encode(images (N, C, H, W)) -> feats (N, L, D), keys (N, L, A)   like `Recognizer.encode`
    greedy(images, lm=None)     -> tokens (N, S), probs (N, S), attention (N, S, L)   like `Recognizer.greedy`
    beam(image (1, C, H, W), width, lm=None) -> tokens (S,), probs (S,), attention (S, L)  like `Recognizer.beam`
    forced(images, targets (N, T)) -> log-probabilities (N, T, classes)   like `Recognizer.forward`

(lm: an optional `ocr.lm.LMFusion`, the word prior fused into the choice of each character.) `ModelReader(model)`
offers the same with the training model itself (any device), for comparison and for GPUs.

Two changes, neither of which changes what is computed in fp32:
- the encoder runs in fp32 under ONNX Runtime where it is installed (`OnnxEncoder`: the whole `Recognizer.encode`,
  exported in memory when the serving model is built; about twice PyTorch's speed for one image on a CPU without
  native bf16), else as a PyTorch copy of its convolutions with every BatchNorm folded in, in channels_last memory
  layout (oneDNN's fast layout on CPU). With `bf16=True` the PyTorch copy's weights and input are bfloat16 (the
  precision the models train in under autocast; the encoder alone 2.4x faster for one image on a CPU with AMX /
  AVX512-BF16), and the features go on in fp32 (through the model's own `RowContext`, if it has one): readings
  then agree with the fp32 path up to bf16 rounding rather than exactly (tests/test_serving.py measures the
  agreement);
- the decoder runs in NumPy (`ocr.decoding.NumpyDecoder`).

In fp32, readings agree with `Recognizer.greedy` / `beam` up to float rounding (tests/test_serving.py checks
tokens, confidences and attention).
"""
from __future__ import annotations

import copy
import hashlib
import logging

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .decoding import NumpyDecoder, Reader
from .model import ConvBNReLU, Recognizer, flatten_grid
from .onnx_reader import EncoderSession

log = logging.getLogger(__name__)
ENGINES = ("auto", "onnxruntime", "torch")   # what runs the fp32 encoder ("auto": ONNX Runtime where installed)


def fused_encoder(encoder: nn.Module, dtype: torch.dtype = torch.float32) -> nn.Module:
    """A copy of the encoder's convolutional part (`Encoder.grid`; any `RowContext` is left out) with
    BatchNorm folded into each convolution, in channels_last layout and `dtype` (the folding itself is
    done in fp32)."""
    enc = copy.deepcopy(encoder).float().eval()
    enc.context = None
    for module in enc.modules():
        if isinstance(module, ConvBNReLU):
            module[0] = fuse_conv_bn_eval(module[0], module[1])
            module[1] = nn.Identity()
    return enc.to(dtype=dtype, memory_format=torch.channels_last)


class OnnxEncoder:
    """`Recognizer.encode` run by ONNX Runtime: images (N, C, H, W) float32 -> feats (N, L, D), keys (N, L, A).

    The model (in eval mode) is exported once, in memory, when this is built (`ocr.onnx_export.encoder_graph`);
    nothing is written or read from disk. It runs on as many threads as torch (`torch.get_num_threads`: the demo
    reads on one thread fewer while a training job runs). fp32 throughout: the features equal PyTorch's up to
    float rounding (tests/test_serving.py).
    """

    _graphs: dict[str, bytes] = {}   # exported graphs by the model's digest (the last few): a reload skips the export

    def __init__(self, model: Recognizer):
        import onnxruntime  # noqa: F401 - fail here, not at the first reading, when it is missing

        key = _model_digest(model)
        if key not in self._graphs:
            if len(self._graphs) >= 4:
                self._graphs.pop(next(iter(self._graphs)))
            self._graphs[key] = self._export(model)
        self.graph = self._graphs[key]
        self.session = EncoderSession(self.graph)

    @staticmethod
    def _export(model: Recognizer) -> bytes:
        from .onnx_export import encoder_graph
        return encoder_graph(model)

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feats, keys = self.session.run({"images": images}, torch.get_num_threads())
        return feats, keys


def _model_digest(model: Recognizer) -> str:
    """SHA-256 of the model's config and every parameter and buffer (a few ms for the shipped models)."""
    h = hashlib.sha256(repr(model.cfg).encode())
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def onnx_encoder(model: Recognizer, engine: str = "auto") -> OnnxEncoder | None:
    """An `OnnxEncoder` of the model, or None when `engine` is "torch" or ("auto") when ONNX Runtime or the
    exporter's `onnx` package is missing or the export fails (the PyTorch encoder is then used)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "torch":
        return None
    try:
        return OnnxEncoder(model)
    except Exception as e:  # noqa: BLE001 - any failure of an optional accelerator falls back to PyTorch
        if engine == "onnxruntime":
            raise
        log.info("reading with the PyTorch encoder (ONNX Runtime encoder unavailable: %s)", str(e).splitlines()[0][:200])
        return None


class ServingModel(Reader):
    """Reads like `model` (a trained `Recognizer`), faster on CPU. Build it again after changing the weights."""

    def __init__(self, model: Recognizer, bf16: bool = False, engine: str = "auto"):
        """engine: what runs the fp32 encoder (`ENGINES`); a bf16 encoder is always PyTorch's."""
        if model.training:
            raise ValueError("build the serving model from a model in eval mode")
        self.model = model
        self.cfg = model.cfg
        self.tokenizer = model.tokenizer
        self.dtype = torch.bfloat16 if bf16 else torch.float32
        self.onnx = None if bf16 else onnx_encoder(model, engine)
        self.engine = "onnxruntime" if self.onnx is not None else "torch"
        self.encoder = fused_encoder(model.encoder, self.dtype) if self.onnx is None else None
        self.decoder = NumpyDecoder({k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()
                                     if k.startswith("decoder.")}, model.cfg)

    def encode(self, images) -> tuple[np.ndarray, np.ndarray]:
        """images (N, C, H, W), an array or a tensor -> feats (N, L, D), keys (N, L, A), fp32 arrays."""
        if self.onnx is not None:
            return self.onnx(np.ascontiguousarray(np.asarray(images, dtype=np.float32)))
        with torch.inference_mode():
            x = torch.as_tensor(images).to(self.dtype).contiguous(memory_format=torch.channels_last)
            grid = self.encoder.grid(x).float()                       # (N, D, fh, fw)
            if self.model.encoder.context is not None:               # the BiLSTM stays fp32
                grid = self.model.encoder.context(grid.contiguous())
            feats = flatten_grid(grid)
            return feats.numpy(), self.model.decoder.key(feats).numpy()


class ModelReader:
    """The `ocr.decoding.Reader` interface over the training model itself, on its device (NumPy in and out)."""

    engine = "torch (training model)"

    def __init__(self, model: Recognizer):
        self.model = model
        self.cfg = model.cfg

    def _x(self, images) -> torch.Tensor:
        return torch.as_tensor(np.asarray(images, dtype=np.float32)).to(next(self.model.parameters()).device)

    @staticmethod
    def _np(tensors) -> tuple[np.ndarray, ...]:
        return tuple(t.float().cpu().numpy() if t.is_floating_point() else t.cpu().numpy() for t in tensors)

    @torch.inference_mode()
    def greedy(self, images, lm=None):
        return self._np(self.model.greedy(self._x(images), lm=lm))

    @torch.inference_mode()
    def beam(self, image, width: int, lm=None):
        return self._np(self.model.beam(self._x(image), width, lm=lm))

    @torch.inference_mode()
    def forced(self, images, targets) -> np.ndarray:
        x = self._x(images)
        logits = self.model(x, torch.as_tensor(np.asarray(targets), dtype=torch.long, device=x.device))
        return torch.log_softmax(logits.float(), -1).cpu().numpy()
