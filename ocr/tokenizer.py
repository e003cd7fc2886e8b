"""Text <-> index sequences.

Index layout (output classes first, so the classifier has exactly len(charset) + 1 outputs):
    0            EOS   end of text; the decoder must learn to emit it
    1 .. C       the characters of the charset, in charset order
    C + 1        BOS   start token, fed to the decoder at step 0 (never predicted)
    C + 2        PAD   fills targets after EOS (ignored by the loss, never predicted)
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

EOS = 0


class Tokenizer:
    def __init__(self, charset: str):
        if len(set(charset)) != len(charset):
            raise ValueError("charset has repeated characters")
        if not charset:
            raise ValueError("charset is empty")
        self.charset = charset
        self._index = {c: i + 1 for i, c in enumerate(charset)}
        self.num_classes = len(charset) + 1  # EOS + characters
        self.bos = len(charset) + 1
        self.pad = len(charset) + 2
        self.vocab_size = len(charset) + 3  # embedding table size (EOS, chars, BOS, PAD)

    def __len__(self) -> int:
        return self.num_classes

    def is_valid(self, text: str) -> bool:
        return all(c in self._index for c in text)

    def encode(self, texts: list[str], max_len: int | None = None) -> torch.Tensor:
        """texts -> targets (N, T+1) long: characters, then EOS, then PAD.

        T is the longest text (or `max_len`). Raises ValueError on characters outside the charset.
        """
        import torch

        longest = max((len(t) for t in texts), default=0)
        T = longest if max_len is None else max_len
        if longest > T:
            raise ValueError(f"text longer than max_len={T}")
        out = torch.full((len(texts), T + 1), self.pad, dtype=torch.long)
        for i, t in enumerate(texts):
            try:
                ids = [self._index[c] for c in t]
            except KeyError as e:
                raise ValueError(f"character {e.args[0]!r} of {t!r} is not in the charset") from None
            out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            out[i, len(ids)] = EOS
        return out

    def decode_ids(self, ids) -> str:
        """Indices -> text, stopping at the first EOS (BOS/PAD are never produced by decoding)."""
        chars = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if 1 <= i <= len(self.charset):
                chars.append(self.charset[i - 1])
        return "".join(chars)
