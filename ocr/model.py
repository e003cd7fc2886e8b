"""CNN encoder + additive-attention recurrent decoder.

Shapes at the boundary:
    images   (N, C, H, W)        float, preprocessed by `ocr.preprocess.preprocess`
    targets  (N, T+1)            long, from `Tokenizer.encode` (characters, EOS, PAD...)
    logits   (N, T+1, classes)   raw scores; the loss applies log-softmax once (cross-entropy)
    decode() -> tokens (N, S), probs (N, S), attention (N, S, feat_h, feat_w)

The encoder runs once per image; each decoding step costs one attention (a dot over the
pre-computed keys) and one recurrent cell.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .tokenizer import EOS, Tokenizer


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class RowContext(nn.Module):
    """A residual bidirectional LSTM along each row of the feature map: (N, D, fh, fw) -> same shape.

    Each of the fh rows is read left to right and right to left as a sequence of fw columns, so every
    position sees the whole row (a column alone sees only its receptive field). The output projection
    starts at zero, so a context module added to a trained encoder leaves its features unchanged until
    it has learned something (`ocr.training.widen.add_context`).
    """

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.rnn = nn.LSTM(dim, hidden, batch_first=True, bidirectional=True)
        self.proj = nn.Linear(2 * hidden, dim)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, d, fh, fw = x.shape
        rows = x.permute(0, 2, 3, 1).reshape(n * fh, fw, d)          # (N*fh, fw, D)
        out, _ = self.rnn(rows)                                        # (N*fh, fw, 2*hidden)
        delta = self.proj(out).reshape(n, fh, fw, d).permute(0, 3, 1, 2)
        return x + delta


class Encoder(nn.Module):
    """(N, C, H, W) -> (N, feat_h * feat_w, D) features with a learned 2-D position embedding
    (and, with `cfg.context` > 0, a `RowContext` over the feature map)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        cin = cfg.channels
        self.blocks = nn.ModuleList()
        for width, n, pool in zip(cfg.widths, cfg.convs, cfg.pools):
            stage = nn.ModuleList(ConvBNReLU(cin if i == 0 else width, width) for i in range(n))
            self.blocks.append(stage)
            cin = width
        self.pools = [tuple(p) for p in cfg.pools]
        fh, fw = cfg.feat_hw
        self.dim = cin
        self.pos = nn.Parameter(torch.zeros(1, cin, fh, fw))
        nn.init.normal_(self.pos, std=0.02)
        self.context = RowContext(cin, cfg.context) if cfg.context else None

    def grid(self, x: torch.Tensor) -> torch.Tensor:
        """The convolutional part: (N, C, H, W) -> (N, D, fh, fw), position embedding added."""
        for stage, pool in zip(self.blocks, self.pools):
            for i, conv in enumerate(stage):
                x = conv(x) if i == 0 else x + conv(x)  # residual after the first conv of a stage
            if pool != (1, 1):
                x = F.max_pool2d(x, pool, pool, ceil_mode=True)
        return x + self.pos                                # (N, D, fh, fw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.grid(x)
        if self.context is not None:
            x = self.context(x)
        return flatten_grid(x)


def flatten_grid(x: torch.Tensor) -> torch.Tensor:
    """(N, D, fh, fw) -> (N, fh*fw, D), row by row (the order the attention maps are drawn in)."""
    return x.flatten(2).transpose(1, 2).contiguous()


class AttentionDecoder(nn.Module):
    """Bahdanau attention over encoder features + a stack of LSTM or GRU cells."""

    def __init__(self, cfg: ModelConfig, feat_dim: int, num_classes: int, vocab_size: int):
        super().__init__()
        self.cell_type = cfg.cell
        if cfg.cell not in ("lstm", "gru"):
            raise ValueError(f"cell must be 'lstm' or 'gru', not {cfg.cell!r}")
        Cell = nn.LSTMCell if cfg.cell == "lstm" else nn.GRUCell
        self.hidden = cfg.hidden
        self.embed = nn.Embedding(vocab_size, cfg.embed_dim)
        self.key = nn.Linear(feat_dim, cfg.attn_dim)
        self.query = nn.Linear(cfg.hidden, cfg.attn_dim, bias=False)
        self.score = nn.Linear(cfg.attn_dim, 1, bias=False)
        self.cells = nn.ModuleList(
            Cell(cfg.embed_dim + feat_dim if i == 0 else cfg.hidden, cfg.hidden) for i in range(cfg.layers)
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(cfg.hidden + feat_dim, num_classes)

    def init_state(self, n: int, ref: torch.Tensor) -> list:
        z = ref.new_zeros(n, self.hidden)
        return [(z, z) if self.cell_type == "lstm" else z for _ in self.cells]

    def top(self, state: list) -> torch.Tensor:
        s = state[-1]
        return s[0] if self.cell_type == "lstm" else s

    def step(self, prev: torch.Tensor, state: list, feats: torch.Tensor, keys: torch.Tensor):
        """One decoding step.

        prev (N,) previous token; feats (N, L, D); keys (N, L, A) = self.key(feats).
        Returns logits (N, classes), new state, attention weights (N, L).
        """
        q = self.query(self.top(state)).unsqueeze(1)                  # (N, 1, A)
        e = self.score(torch.tanh(keys + q)).squeeze(2)              # (N, L)
        alpha = torch.softmax(e.float(), dim=1).to(feats.dtype)      # (N, L)
        ctx = torch.bmm(alpha.unsqueeze(1), feats).squeeze(1)       # (N, D)
        x = torch.cat([self.embed(prev), ctx], dim=1)
        new = []
        for cell, s in zip(self.cells, state):
            s = cell(x, s)
            new.append(s)
            x = s[0] if self.cell_type == "lstm" else s
        logits = self.out(self.drop(torch.cat([x, ctx], dim=1)))
        return logits, new, alpha


class Recognizer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.tokenizer = Tokenizer(cfg.charset)
        self.encoder = Encoder(cfg)
        self.decoder = AttentionDecoder(cfg, self.encoder.dim, self.tokenizer.num_classes, self.tokenizer.vocab_size)

    def encode(self, images: torch.Tensor):
        feats = self.encoder(images)          # (N, L, D)
        return feats, self.decoder.key(feats)  # keys (N, L, A)

    def forward(self, images: torch.Tensor, targets: torch.Tensor, return_feats: bool = False):
        """Teacher-forced logits (N, T+1, classes) for targets (N, T+1); with return_feats also the
        encoder features (N, L, D) (for a training-only auxiliary loss)."""
        feats, keys = self.encode(images)
        n, steps = targets.shape
        prev = torch.full((n,), self.tokenizer.bos, dtype=torch.long, device=images.device)
        state = self.decoder.init_state(n, feats)
        out = []
        for t in range(steps):
            logits, state, _ = self.decoder.step(prev, state, feats, keys)
            out.append(logits)
            # PAD positions come after EOS; feeding PAD there is harmless (its loss is ignored)
            prev = targets[:, t]
        logits = torch.stack(out, 1)
        return (logits, feats) if return_feats else logits

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of teacher-forced logits (N, T+1, classes) against targets (N, T+1), padding left out."""
        return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=self.tokenizer.pad)

    @torch.no_grad()
    def greedy(self, images: torch.Tensor, lm=None):
        """-> tokens (N, S), probs (N, S), attention (N, S, L); stops once every row emitted EOS."""
        return self.greedy_from(*self.encode(images), lm=lm)

    @torch.no_grad()
    def greedy_from(self, feats: torch.Tensor, keys: torch.Tensor, lm=None):
        """Greedy decoding of encoded images: feats (N, L, D), keys (N, L, A) from `encode`.

        lm: an `ocr.lm.LMFusion` or None. With it each step picks the class with the highest
        log-probability + LM bonus; probs stay the decoder's own probabilities of the picked classes.
        """
        n, dev = feats.shape[0], feats.device
        prev = torch.full((n,), self.tokenizer.bos, dtype=torch.long, device=dev)
        state = self.decoder.init_state(n, feats)
        done = torch.zeros(n, dtype=torch.bool, device=dev)
        toks, probs, attn = [], [], []
        prefixes = [""] * n
        for _ in range(self.cfg.max_len + 1):
            logits, state, alpha = self.decoder.step(prev, state, feats, keys)
            if lm is None:
                p, tok = torch.softmax(logits.float(), dim=1).max(dim=1)
            else:
                logp = torch.log_softmax(logits.float(), dim=1)
                fused = lm.apply(logp.cpu().numpy(), prefixes, (~done).tolist())
                tok = torch.from_numpy(fused.argmax(axis=1)).to(dev)
                p = logp.gather(1, tok.unsqueeze(1)).squeeze(1).exp()
                prefixes = lm.extend(prefixes, tok.tolist(), done.tolist())
            tok = tok.masked_fill(done, EOS)
            toks.append(tok); probs.append(p); attn.append(alpha.float())
            done |= tok == EOS
            prev = tok
            if bool(done.all()):
                break
        return torch.stack(toks, 1), torch.stack(probs, 1), torch.stack(attn, 1)

    @torch.no_grad()
    def beam(self, image: torch.Tensor, width: int, lm=None):
        """Beam search for one image (1, C, H, W) -> tokens (S,), probs (S,), attention (S, L).

        Hypotheses are ranked by the sum of log-probabilities including EOS (plus the LM bonuses of
        `lm`, an `ocr.lm.LMFusion`, if given; probs stay the decoder's own).
        """
        return self.beam_from(*self.encode(image), width, lm=lm)

    @torch.no_grad()
    def beam_from(self, feats: torch.Tensor, keys: torch.Tensor, width: int, lm=None):
        """Beam search of one encoded image: feats (1, L, D), keys (1, L, A) from `encode`."""
        feats, keys = feats.expand(width, -1, -1), keys.expand(width, -1, -1)
        dev = feats.device
        prev = torch.full((width,), self.tokenizer.bos, dtype=torch.long, device=dev)
        state = self.decoder.init_state(width, feats)
        score = torch.full((width,), float("-inf"), device=dev)
        score[0] = 0.0  # all beams start identical: keep one alive
        hist_tok = torch.zeros(width, 0, dtype=torch.long, device=dev)
        hist_p = torch.zeros(width, 0, device=dev)
        hist_a = torch.zeros(width, 0, feats.shape[1], device=dev)
        finished: list[tuple[float, torch.Tensor, torch.Tensor, torch.Tensor]] = []
        for _ in range(self.cfg.max_len + 1):
            logits, state, alpha = self.decoder.step(prev, state, feats, keys)
            logp = torch.log_softmax(logits.float(), dim=1)        # (K, classes)
            rank = logp
            if lm is not None:
                prefixes = [self.tokenizer.decode_ids(h) for h in hist_tok.tolist()]
                rank = torch.from_numpy(lm.apply(logp.cpu().numpy(), prefixes)).to(dev)
            cand = (score.unsqueeze(1) + rank).flatten()
            top, idx = cand.topk(min(2 * width, cand.numel()))
            beams, toks = idx // logp.shape[1], idx % logp.shape[1]
            keep_b, keep_t, keep_s = [], [], []
            for s, b, t in zip(top.tolist(), beams.tolist(), toks.tolist()):
                if s == float("-inf"):
                    break
                seq_t = torch.cat([hist_tok[b], hist_tok.new_tensor([t])])
                seq_p = torch.cat([hist_p[b], logp[b, t].exp().view(1)])
                seq_a = torch.cat([hist_a[b], alpha[b].float().unsqueeze(0)])
                if t == EOS:
                    finished.append((s, seq_t, seq_p, seq_a))
                elif len(keep_b) < width:
                    keep_b.append(b); keep_t.append(t); keep_s.append(s)
                if len(keep_b) == width:
                    break
            best_done = max((f[0] for f in finished), default=float("-inf"))
            # log-probs only fall, so nothing can win now (with LM bonuses, which can be positive,
            # the same rule is a heuristic: a live hypothesis would have to gain on its next steps)
            if not keep_b or max(keep_s) <= best_done:
                break
            sel = torch.tensor(keep_b, device=dev)
            k = len(keep_b)
            hist_tok = torch.cat([hist_tok[sel], torch.tensor(keep_t, device=dev).unsqueeze(1)], 1)
            hist_p = torch.cat([hist_p[sel], logp[sel, torch.tensor(keep_t, device=dev)].exp().unsqueeze(1)], 1)
            hist_a = torch.cat([hist_a[sel], alpha[sel].float().unsqueeze(1)], 1)
            state = [tuple(x[sel] for x in s) if isinstance(s, tuple) else s[sel] for s in state]
            prev = torch.tensor(keep_t, device=dev)
            score = torch.tensor(keep_s, device=dev)
            feats, keys = feats[:k], keys[:k]
        if not finished:  # ran out of steps: take the best unfinished hypothesis
            return hist_tok[0], hist_p[0], hist_a[0]
        _, t, p, a = max(finished, key=lambda f: f[0])
        return t, p, a
