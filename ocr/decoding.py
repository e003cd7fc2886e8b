"""The attention decoder in NumPy, for reading: greedy decoding, beam search and teacher-forced scoring.

    dec = NumpyDecoder(arrays, cfg)   # arrays: the checkpoint's state dict as float32 NumPy arrays ("decoder.*")
    dec.greedy(feats, keys, bos, max_steps, lm)  -> tokens (N, S), probs (N, S), attention (N, S, L)
    dec.beam(feats, keys, width, bos, max_steps, decode, lm) -> tokens (S,), probs (S,), attention (S, L)
    dec.forced(feats, keys, targets, bos)        -> log-probabilities (N, T, classes) of targets (N, T)

feats (N, L, D) and keys (N, L, A) are `Recognizer.encode`'s outputs. Each step is the computation of
`ocr.model.AttentionDecoder.step` (additive attention, then the LSTM / GRU cells, then the classifier), so readings
equal the PyTorch model's up to float rounding (tests/test_serving.py). For one image a step is a handful of small
matrix-vector products, which NumPy calls with a fraction of PyTorch's per-operator overhead; and it needs no
PyTorch at all. The embedding's share of the first cell's input projection is pre-multiplied into one table row
per token.
"""
from __future__ import annotations

import numpy as np

from .config import ModelConfig
from .tokenizer import EOS


def _rows_times(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x (N, K) @ w (K, M). For a few rows (one image, a beam) a product per row: BLAS's matrix product repacks all
    of a large w at every call, which took twice the time of streaming it once per row for up to 5 rows."""
    return (x[:, None, :] @ w)[:, 0] if len(x) <= 5 else x @ w


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # = 1 / (1 + exp(-x)) without overflow


class NumpyDecoder:
    """The weights of an `AttentionDecoder`, laid out for NumPy row-vector products."""

    def __init__(self, arrays: dict[str, np.ndarray], cfg: ModelConfig):
        """arrays: a `Recognizer`'s state dict as NumPy arrays (only the "decoder." entries are used)."""
        def w(name: str) -> np.ndarray:
            return np.array(arrays["decoder." + name], dtype=np.float32)

        self.lstm = cfg.cell == "lstm"
        self.hidden = cfg.hidden
        self.wq = w("query.weight").T                            # (H, A)
        self.ws = w("score.weight")[0]                           # (A,)
        self.wo = w("out.weight").T                              # (H + D, classes)
        self.bo = w("out.bias")
        emb = w("embed.weight")                                  # (vocab, E)
        e = emb.shape[1]
        self.layers = []
        h = cfg.hidden
        # LSTM gates reordered from PyTorch's (i, f, g, o) to (i, f, o, g): one sigmoid covers the first three
        order = np.r_[0:2 * h, 3 * h:4 * h, 2 * h:3 * h] if self.lstm else np.arange(3 * h)
        for i in range(cfg.layers):
            w_ih, w_hh = w(f"cells.{i}.weight_ih")[order], w(f"cells.{i}.weight_hh")[order]   # (G, in), (G, H)
            b_ih, b_hh = w(f"cells.{i}.bias_ih")[order], w(f"cells.{i}.bias_hh")[order]
            first = i == 0   # input = [embedding, context]: the embedding part becomes a per-token table
            w_in = w_ih[:, e:] if first else w_ih
            if self.lstm:    # input and state in one product: [x, h] @ w_xh (+ the biases, in the table for layer 0)
                layer = {"w_xh": np.ascontiguousarray(np.concatenate([w_in, w_hh], axis=1).T)}   # (in + H, G)
                bias = b_ih + b_hh
            else:            # the GRU needs the state's share of the new-gate apart (r * (h @ w_hn + b_hn))
                layer = {"w_in": np.ascontiguousarray(w_in.T), "w_hh": np.ascontiguousarray(w_hh.T), "b_hh": b_hh}
                bias = b_ih
            if first:
                layer["table"] = emb @ w_ih[:, :e].T + bias          # (vocab, G)
            else:
                layer["b"] = bias
            self.layers.append(layer)

    def _lstm(self, layer: dict, x: np.ndarray, extra: np.ndarray, state):
        """x (N, in): the cell's input; extra (N, G): what adds to its gates besides [x, h] @ w_xh (the table row
        and the biases)."""
        h, c = state
        g = _rows_times(np.concatenate([x, h], axis=1), layer["w_xh"]) + extra
        k = 3 * self.hidden
        s = _sigmoid(g[:, :k])
        c = s[:, self.hidden:2 * self.hidden] * c + s[:, :self.hidden] * np.tanh(g[:, k:])
        h = s[:, 2 * self.hidden:k] * np.tanh(c)
        return h, (h, c)

    def _gru(self, layer: dict, gi: np.ndarray, h):
        """gi (N, G): the input's share of the gates (biases included)."""
        h_size = self.hidden
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
        x, new = ctx, []
        for k, layer in enumerate(self.layers):
            extra = layer["table"][prev] if k == 0 else layer["b"]
            if self.lstm:
                x, state = self._lstm(layer, x, extra, states[k])
            else:
                x, state = self._gru(layer, x @ layer["w_in"] + extra, states[k])
            new.append(state)
        return np.concatenate([x, ctx], axis=1) @ self.wo + self.bo, new, alpha

    def _start(self, n: int) -> list:
        zero = np.zeros((n, self.hidden), np.float32)
        return [(zero, zero) if self.lstm else zero for _ in self.layers]

    def forced(self, feats: np.ndarray, keys: np.ndarray, targets: np.ndarray, bos: int) -> np.ndarray:
        """Teacher forcing, as `Recognizer.forward`: targets (N, T) token ids -> log-probabilities (N, T, classes) of
        each step, step t fed targets[:, t - 1] (BOS first)."""
        n, steps = targets.shape
        states = self._start(n)
        prev = np.full(n, bos, dtype=np.int64)
        out = []
        for t in range(steps):
            logits, states, _ = self.step(prev, states, feats, keys)
            shifted = logits - logits.max(axis=1, keepdims=True)
            out.append(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)))
            prev = targets[:, t]
        return np.stack(out, 1)

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


class Reader:
    """Reading from images through an encoder and a `NumpyDecoder`, NumPy in and out. A subclass sets `cfg`,
    `tokenizer` and `decoder` and implements `encode`; `ocr.recognizer.TextRecognizer` reads through one.

        encode(images (N, C, H, W) float32) -> feats (N, L, D), keys (N, L, A)
        greedy(images, lm=None) -> tokens (N, S), probs (N, S), attention (N, S, L)
        beam(image (1, C, H, W), width, lm=None) -> tokens (S,), probs (S,), attention (S, L)
        forced(images, targets (N, T)) -> log-probabilities (N, T, classes), teacher-forced

    lm: an optional `ocr.lm.LMFusion`, the word prior fused into the choice of each character.
    """

    engine = "?"
    cfg: ModelConfig
    decoder: NumpyDecoder

    def encode(self, images) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def greedy(self, images, lm=None):
        feats, keys = self.encode(images)
        return self.decoder.greedy(feats, keys, self.tokenizer.bos, self.cfg.max_len + 1, lm=lm)

    def beam(self, image, width: int, lm=None):
        feats, keys = self.encode(image)
        return self.decoder.beam(feats, keys, width, self.tokenizer.bos, self.cfg.max_len + 1,
                                 self.tokenizer.decode_ids, lm=lm)

    def forced(self, images, targets: np.ndarray) -> np.ndarray:
        feats, keys = self.encode(images)
        return self.decoder.forced(feats, keys, np.asarray(targets, dtype=np.int64), self.tokenizer.bos)
