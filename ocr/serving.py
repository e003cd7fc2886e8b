"""A faster path for reading, with the same outputs as the training model.

`ServingModel(model)` is built once from a trained `Recognizer` in eval mode:

    encode(images (N, C, H, W)) -> feats (N, L, D), keys (N, L, A)   like `Recognizer.encode`
    greedy(images, lm=None)     -> tokens (N, S), probs (N, S), attention (N, S, L)   like `Recognizer.greedy`
    beam(image (1, C, H, W), width, lm=None) -> tokens (S,), probs (S,), attention (S, L)  like `Recognizer.beam`

(lm: an optional `ocr.lm.LMFusion`, the word prior fused into the choice of each character.)

Two changes, neither of which changes what is computed in fp32:
- the encoder runs in fp32 under ONNX Runtime where it is installed (`OnnxEncoder`: the whole `Recognizer.encode`,
  exported in memory when the serving model is built; about twice PyTorch's speed for one image on a CPU without
  native bf16), else as a PyTorch copy of its convolutions with every BatchNorm folded in, in channels_last memory
  layout (oneDNN's fast layout on CPU). With `bf16=True` the PyTorch copy's weights and input are bfloat16 (the
  precision the models train in under autocast; the encoder alone 2.4x faster for one image on a CPU with AMX /
  AVX512-BF16), and the features go on in fp32 (through the model's own `RowContext`, if it has one): readings
  then agree with the fp32 path up to bf16 rounding rather than exactly (tests/test_serving.py measures the
  agreement);
- greedy decoding and beam search run in NumPy: for one image a decoding step is a handful of small
  matrix-vector products, and NumPy calls them with a fraction of PyTorch's per-operator overhead. The embedding's
  share of the first cell's input projection is pre-multiplied into one table row per token.

In fp32, readings agree with `Recognizer.greedy` / `beam` up to float rounding (tests/test_serving.py checks
tokens, confidences and attention).
"""
from __future__ import annotations

import copy
import hashlib
import io
import logging
import warnings

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .model import ConvBNReLU, Recognizer, flatten_grid
from .tokenizer import EOS

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


class _Encode(nn.Module):
    def __init__(self, model: Recognizer):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor):
        return self.model.encode(images)


class OnnxEncoder:
    """`Recognizer.encode` run by ONNX Runtime: images (N, C, H, W) float32 -> feats (N, L, D), keys (N, L, A).

    The model (in eval mode) is exported once, in memory, when this is built; nothing is written or read from
    disk. One session per thread count, made when first asked for, so the encoder follows `torch.set_num_threads`
    (the demo reads on one thread fewer while a training job runs). fp32 throughout: the features equal
    PyTorch's up to float rounding (tests/test_serving.py).
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
        self._sessions: dict[int, object] = {}

    @staticmethod
    def _export(model: Recognizer) -> bytes:
        cfg = model.cfg
        dummy = torch.zeros(1, cfg.channels, cfg.img_h, cfg.img_w)
        buf = io.BytesIO()
        wrapper = _Encode(copy.deepcopy(model).float().eval()).eval()
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the exporter's notes on the TorchScript path and on batch_first LSTMs
            torch.onnx.export(wrapper, (dummy,), buf, input_names=["images"], output_names=["feats", "keys"],
                              dynamic_axes={"images": {0: "n"}, "feats": {0: "n"}, "keys": {0: "n"}},
                              opset_version=17, dynamo=False)
        return buf.getvalue()

    def session(self, threads: int):
        if threads not in self._sessions:
            import onnxruntime as ort

            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
            so.log_severity_level = 3
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy wait beside a training job
            self._sessions[threads] = ort.InferenceSession(self.graph, so, providers=["CPUExecutionProvider"])
        return self._sessions[threads]

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return tuple(self.session(torch.get_num_threads()).run(None, {"images": images}))


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


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy().copy()


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # = 1 / (1 + exp(-x)) without overflow


class _NumpyDecoder:
    """The weights of an `AttentionDecoder`, laid out for NumPy row-vector products."""

    def __init__(self, decoder: nn.Module):
        self.lstm = decoder.cell_type == "lstm"
        self.hidden = decoder.hidden
        self.wq = _np(decoder.query.weight).T                    # (H, A)
        self.ws = _np(decoder.score.weight)[0]                   # (A,)
        self.wo = _np(decoder.out.weight).T                      # (H + D, classes)
        self.bo = _np(decoder.out.bias)
        emb = _np(decoder.embed.weight)                          # (vocab, E)
        e = emb.shape[1]
        self.layers = []
        for i, cell in enumerate(decoder.cells):
            w_ih, w_hh = _np(cell.weight_ih), _np(cell.weight_hh)   # (G, in), (G, H)
            b_ih, b_hh = _np(cell.bias_ih), _np(cell.bias_hh)
            layer = {"w_hh": w_hh.T, "b_hh": b_hh}
            if i == 0:  # input = [embedding, context]: the embedding part becomes a per-token table
                layer["table"] = emb @ w_ih[:, :e].T + b_ih        # (vocab, G)
                layer["w_in"] = w_ih[:, e:].T                      # (D, G)
            else:
                layer["w_in"], layer["b_ih"] = w_ih.T, b_ih
            self.layers.append(layer)

    def _cell(self, layer: dict, gi: np.ndarray, state):
        """gi (N, G): the input's share of the gates (biases included)."""
        h_size = self.hidden
        if self.lstm:
            h, c = state
            g = gi + h @ layer["w_hh"] + layer["b_hh"]
            i, f, gg, o = (g[:, k * h_size:(k + 1) * h_size] for k in range(4))
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(gg)
            h = _sigmoid(o) * np.tanh(c)
            return h, (h, c)
        h = state
        gh = h @ layer["w_hh"] + layer["b_hh"]
        r = _sigmoid(gi[:, :h_size] + gh[:, :h_size])
        z = _sigmoid(gi[:, h_size:2 * h_size] + gh[:, h_size:2 * h_size])
        n = np.tanh(gi[:, 2 * h_size:] + r * gh[:, 2 * h_size:])
        h = (1.0 - z) * n + z * h
        return h, h

    def step(self, prev: np.ndarray, states: list, feats: np.ndarray, keys: np.ndarray):
        """One decoding step of N rows, as `AttentionDecoder.step`: prev (N,) tokens, feats (N, L, D),
        keys (N, L, A) -> logits (N, classes), new states, attention (N, L)."""
        top = states[-1][0] if self.lstm else states[-1]
        e = np.tanh(keys + (top @ self.wq)[:, None, :]) @ self.ws       # (N, L)
        e = np.exp(e - e.max(axis=1, keepdims=True))
        alpha = e / e.sum(axis=1, keepdims=True)
        ctx = np.einsum("nl,nld->nd", alpha, feats)                    # (N, D)
        x, new = None, []
        for k, layer in enumerate(self.layers):
            gi = layer["table"][prev] + ctx @ layer["w_in"] if k == 0 else x @ layer["w_in"] + layer["b_ih"]
            x, state = self._cell(layer, gi, states[k])
            new.append(state)
        return np.concatenate([x, ctx], axis=1) @ self.wo + self.bo, new, alpha

    def _start(self, n: int) -> list:
        zero = np.zeros((n, self.hidden), np.float32)
        return [(zero, zero) if self.lstm else zero for _ in self.layers]

    def greedy(self, feats: np.ndarray, keys: np.ndarray, bos: int, max_steps: int, lm=None):
        """feats (N, L, D), keys (N, L, A) -> tokens (N, S), probs (N, S), attention (N, S, L).
        lm: an `ocr.lm.LMFusion` or None, as in `Recognizer.greedy_from`."""
        n = feats.shape[0]
        states = self._start(n)
        prev = np.full(n, bos, dtype=np.int64)
        done = np.zeros(n, dtype=bool)
        toks, probs, attn = [], [], []
        prefixes = [""] * n
        for _ in range(max_steps):
            logits, states, alpha = self.step(prev, states, feats, keys)
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            if lm is None:
                tok = p.argmax(axis=1)
            else:
                with np.errstate(divide="ignore"):
                    tok = lm.apply(np.log(p), prefixes, ~done).argmax(axis=1)
                prefixes = lm.extend(prefixes, tok.tolist(), done.tolist())
            conf = p[np.arange(n), tok]
            tok = np.where(done, EOS, tok)
            toks.append(tok); probs.append(conf); attn.append(alpha)
            done |= tok == EOS
            prev = tok
            if done.all():
                break
        return np.stack(toks, 1), np.stack(probs, 1).astype(np.float32), np.stack(attn, 1).astype(np.float32)

    def beam(self, feats: np.ndarray, keys: np.ndarray, width: int, bos: int, max_steps: int, decode, lm=None):
        """Beam search of one encoded image, the search of `Recognizer.beam_from` step for step: feats (1, L, D),
        keys (1, L, A) -> tokens (S,), probs (S,), attention (S, L). decode: token ids -> text (the prefixes the
        word prior `lm` scores)."""
        feats, keys = np.repeat(feats, width, 0), np.repeat(keys, width, 0)
        states = self._start(width)
        prev = np.full(width, bos, dtype=np.int64)
        score = np.full(width, -np.inf, dtype=np.float32)
        score[0] = 0.0  # all beams start identical: keep one alive
        hist: list[tuple[list, list, list]] = [([], [], []) for _ in range(width)]   # tokens, probs, attention
        finished: list[tuple[float, tuple]] = []
        for _ in range(max_steps):
            logits, states, alpha = self.step(prev, states, feats, keys)
            shifted = logits - logits.max(axis=1, keepdims=True)
            logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))   # (K, classes)
            rank = logp if lm is None else lm.apply(logp, [decode(h[0]) for h in hist])
            cand = (score[:, None] + rank).ravel()
            top = np.argsort(-cand, kind="stable")[: min(2 * width, cand.size)]
            keep: list[tuple[int, int, float]] = []
            for i in top:
                s = float(cand[i])
                if s == -np.inf:
                    break
                b, t = divmod(int(i), logp.shape[1])
                if t == EOS:
                    toks, ps, att = hist[b]
                    finished.append((s, (toks + [t], ps + [float(np.exp(logp[b, t]))], att + [alpha[b]])))
                elif len(keep) < width:
                    keep.append((b, t, s))
                if len(keep) == width:
                    break
            best_done = max((f[0] for f in finished), default=-np.inf)
            if not keep or max(k[2] for k in keep) <= best_done:   # the same stopping rule as the PyTorch search
                break
            hist = [(hist[b][0] + [t], hist[b][1] + [float(np.exp(logp[b, t]))], hist[b][2] + [alpha[b]])
                    for b, t, _ in keep]
            sel = np.array([b for b, _, _ in keep])
            states = [tuple(x[sel] for x in st) if isinstance(st, tuple) else st[sel] for st in states]
            prev = np.array([t for _, t, _ in keep], dtype=np.int64)
            score = np.array([s for _, _, s in keep], dtype=np.float32)
            feats, keys = feats[: len(keep)], keys[: len(keep)]
        toks, ps, att = max(finished, key=lambda f: f[0])[1] if finished else hist[0]
        attention = np.stack(att).astype(np.float32) if att else np.zeros((0, feats.shape[1]), np.float32)
        return np.array(toks, dtype=np.int64), np.array(ps, dtype=np.float32), attention


class ServingModel:
    """Reads like `model` (a trained `Recognizer`), faster on CPU. Build it again after changing the weights."""

    def __init__(self, model: Recognizer, bf16: bool = False, engine: str = "auto"):
        """engine: what runs the fp32 encoder (`ENGINES`); a bf16 encoder is always PyTorch's."""
        if model.training:
            raise ValueError("build the serving model from a model in eval mode")
        self.model = model
        self.cfg = model.cfg
        self.dtype = torch.bfloat16 if bf16 else torch.float32
        self.onnx = None if bf16 else onnx_encoder(model, engine)
        self.engine = "onnxruntime" if self.onnx is not None else "torch"
        self.encoder = fused_encoder(model.encoder, self.dtype) if self.onnx is None else None
        self.decoder = _NumpyDecoder(model.decoder)

    def _encode_np(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        if self.onnx is not None:
            return self.onnx(np.ascontiguousarray(images.float().cpu().numpy()))
        feats, keys = self.encode(images)
        return feats.float().numpy(), keys.float().numpy()

    @torch.inference_mode()
    def encode(self, images: torch.Tensor):
        """images (N, C, H, W) -> feats (N, L, D), keys (N, L, A), both fp32."""
        if self.onnx is not None:
            return tuple(torch.from_numpy(a) for a in self._encode_np(images))
        x = images.to(self.dtype).contiguous(memory_format=torch.channels_last)
        grid = self.encoder.grid(x).float()                       # (N, D, fh, fw)
        if self.model.encoder.context is not None:               # the BiLSTM stays fp32
            grid = self.model.encoder.context(grid.contiguous())
        feats = flatten_grid(grid)
        return feats, self.model.decoder.key(feats)

    @torch.inference_mode()
    def greedy(self, images: torch.Tensor, lm=None):
        feats, keys = self._encode_np(images)
        toks, probs, attn = self.decoder.greedy(feats, keys, self.model.tokenizer.bos, self.cfg.max_len + 1, lm=lm)
        return torch.from_numpy(toks), torch.from_numpy(probs), torch.from_numpy(attn)

    @torch.inference_mode()
    def beam(self, image: torch.Tensor, width: int, lm=None):
        feats, keys = self._encode_np(image)
        toks, probs, attn = self.decoder.beam(feats, keys, width, self.model.tokenizer.bos, self.cfg.max_len + 1,
                                              self.model.tokenizer.decode_ids, lm=lm)
        return torch.from_numpy(toks), torch.from_numpy(probs), torch.from_numpy(attn)
