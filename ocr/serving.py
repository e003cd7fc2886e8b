"""A faster path for reading, with the same outputs as the training model.

`ServingModel(model)` is built once from a trained `Recognizer` in eval mode:

    encode(images (N, C, H, W)) -> feats (N, L, D), keys (N, L, A)   like `Recognizer.encode`
    greedy(images, lm=None)     -> tokens (N, S), probs (N, S), attention (N, S, L)   like `Recognizer.greedy`
    beam(image (1, C, H, W), width, lm=None) -> tokens (S,), probs (S,), attention (S, L)  like `Recognizer.beam`

(lm: an optional `ocr.lm.LMFusion`, the word prior fused into the choice of each character.)

Two changes, neither of which changes what is computed in fp32:
- the encoder's convolutions are a copy with every BatchNorm folded in, in channels_last memory
  layout (oneDNN's fast layout on CPU); with `bf16=True` its weights and input are bfloat16 (the
  precision the models train in under autocast; the encoder alone 2.4x faster for one image on a
  CPU with AMX / AVX512-BF16), and the features go on in fp32 (through the model's own `RowContext`,
  if it has one): readings then agree with the fp32 path up to bf16 rounding rather than exactly
  (tests/test_serving.py measures the agreement);
- greedy decoding runs in NumPy: for one image a decoding step is a handful of small matrix-vector
  products, and NumPy calls them with a fraction of PyTorch's per-operator overhead. The embedding's
  share of the first cell's input projection is pre-multiplied into one table row per token.

In fp32, readings agree with `Recognizer.greedy` / `beam` up to float rounding (tests/test_serving.py checks
tokens, confidences and attention). Beam search keeps the PyTorch decoder on the fast encoder.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .model import ConvBNReLU, Recognizer, flatten_grid
from .tokenizer import EOS


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

    def greedy(self, feats: np.ndarray, keys: np.ndarray, bos: int, max_steps: int, lm=None):
        """feats (N, L, D), keys (N, L, A) -> tokens (N, S), probs (N, S), attention (N, S, L).
        lm: an `ocr.lm.LMFusion` or None, as in `Recognizer.greedy_from`."""
        n = feats.shape[0]
        zero = np.zeros((n, self.hidden), np.float32)
        states = [(zero, zero) if self.lstm else zero for _ in self.layers]
        prev = np.full(n, bos, dtype=np.int64)
        done = np.zeros(n, dtype=bool)
        toks, probs, attn = [], [], []
        prefixes = [""] * n
        for _ in range(max_steps):
            top = states[-1][0] if self.lstm else states[-1]
            e = np.tanh(keys + (top @ self.wq)[:, None, :]) @ self.ws       # (N, L)
            e = np.exp(e - e.max(axis=1, keepdims=True))
            alpha = e / e.sum(axis=1, keepdims=True)
            ctx = np.einsum("nl,nld->nd", alpha, feats)                    # (N, D)
            x = None
            for k, layer in enumerate(self.layers):
                gi = layer["table"][prev] + ctx @ layer["w_in"] if k == 0 else x @ layer["w_in"] + layer["b_ih"]
                x, states[k] = self._cell(layer, gi, states[k])
            logits = np.concatenate([x, ctx], axis=1) @ self.wo + self.bo
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


class ServingModel:
    """Reads like `model` (a trained `Recognizer`), faster on CPU. Build it again after changing the weights."""

    def __init__(self, model: Recognizer, bf16: bool = False):
        if model.training:
            raise ValueError("build the serving model from a model in eval mode")
        self.model = model
        self.cfg = model.cfg
        self.dtype = torch.bfloat16 if bf16 else torch.float32
        self.encoder = fused_encoder(model.encoder, self.dtype)
        self.decoder = _NumpyDecoder(model.decoder)

    @torch.inference_mode()
    def encode(self, images: torch.Tensor):
        """images (N, C, H, W) -> feats (N, L, D), keys (N, L, A), both fp32."""
        x = images.to(self.dtype).contiguous(memory_format=torch.channels_last)
        grid = self.encoder.grid(x).float()                       # (N, D, fh, fw)
        if self.model.encoder.context is not None:               # the BiLSTM stays fp32
            grid = self.model.encoder.context(grid.contiguous())
        feats = flatten_grid(grid)
        return feats, self.model.decoder.key(feats)

    @torch.inference_mode()
    def greedy(self, images: torch.Tensor, lm=None):
        feats, keys = self.encode(images)
        toks, probs, attn = self.decoder.greedy(
            feats.float().numpy(), keys.float().numpy(), self.model.tokenizer.bos, self.cfg.max_len + 1, lm=lm)
        return torch.from_numpy(toks), torch.from_numpy(probs), torch.from_numpy(attn)

    @torch.inference_mode()
    def beam(self, image: torch.Tensor, width: int, lm=None):
        return self.model.beam_from(*self.encode(image), width, lm=lm)
