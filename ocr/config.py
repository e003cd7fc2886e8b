"""Model configuration: one dataclass, two presets.

Every hyper-parameter that changes the shape of a weight lives here, and the whole
config is saved inside each checkpoint, so a checkpoint alone rebuilds its model.
"""
from __future__ import annotations

import dataclasses
import string
from dataclasses import dataclass

# The 94 printable ASCII characters without the space (the default word charset).
CHARSET_PRINTABLE = "".join(c for c in string.printable[:94])
# Case-insensitive alphanumeric charset (the classic 36-class scene-text setting).
CHARSET_ALNUM_LOWER = string.digits + string.ascii_lowercase
CHARSET_DIGITS = string.digits

SVHN_EXPAND = 0.3  # the SVHN crop protocol: digit-box union grown by 30 % (Goodfellow et al. 2014)


def lower_if_caseless(text: str, charset: str) -> str:
    """The text lower-cased when the charset has no capital letters (the case-insensitive protocol)."""
    return text if any(c.isupper() for c in charset) else text.lower()


def svhn_frame(x0: float, y0: float, x1: float, y1: float, expand: float = SVHN_EXPAND):
    """The SVHN protocol's frame around the union (x0, y0, x1, y1) of the digit boxes: the same centre,
    width and height grown by `expand` -> (centre x, centre y, width, height), unclipped."""
    return (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * (1 + expand), (y1 - y0) * (1 + expand)


@dataclass
class ModelConfig:
    """Architecture and input format of a recognizer.

    Images enter the encoder as (N, channels, img_h, img_w). The encoder reduces them to a
    feature map of (feat_h, feat_w) positions that the decoder attends over at every step.
    """

    name: str = "words"
    charset: str = CHARSET_PRINTABLE  # the characters the model can emit, in index order
    max_len: int = 25                 # longest text the decoder will emit (EOS not counted)
    channels: int = 1                 # 1 = greyscale, 3 = RGB
    img_h: int = 32                   # network input height
    img_w: int = 128                  # network input width
    resize_h: int = 0                 # >0: resize to (resize_h, resize_w) then crop img_h x img_w
    resize_w: int = 0                 # (the SVHN protocol: 64x64 -> centre/random 54x54)
    # Encoder: one stage per entry; each stage is `convs` 3x3 conv+BN+ReLU blocks (residual
    # when the width does not change) followed by a max-pool of `pools[i]` = (ph, pw).
    widths: tuple[int, ...] = (16, 48, 128, 256)
    convs: tuple[int, ...] = (1, 1, 2, 2)
    pools: tuple[tuple[int, int], ...] = ((2, 2), (2, 2), (2, 1), (2, 1))
    context: int = 0                 # >0: a residual BiLSTM of this size per direction along each
                                     # feature-map row (`ocr.model.RowContext`); 0 = none
    # Decoder
    cell: str = "lstm"               # "lstm" or "gru"
    layers: int = 1                  # stacked recurrent cells
    hidden: int = 256                # recurrent state size
    attn_dim: int = 128              # additive-attention projection size
    embed_dim: int = 64              # size of the previous-character embedding
    dropout: float = 0.1

    @property
    def feat_hw(self) -> tuple[int, int]:
        """(feat_h, feat_w): size of the attention map, from the pools (ceil mode)."""
        h, w = self.img_h, self.img_w
        for ph, pw in self.pools:
            h, w = -(-h // ph), -(-w // pw)
        return h, w

    def validate(self) -> "ModelConfig":
        """Raise ValueError unless every field has a sane type and range; return self.

        Checked before any model is built, so a config from a file cannot ask for an absurd
        allocation (hidden=3,000,000) or fail deep inside torch with an unrelated error.
        """
        def whole(name, lo, hi, value=None):
            v = getattr(self, name) if value is None else value
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ValueError(f"config {name} must be an integer in [{lo}, {hi}], got {v!r}")

        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"config name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.charset, str) or not self.charset:
            raise ValueError("config charset must be a non-empty string")
        if len(set(self.charset)) != len(self.charset) or len(self.charset) > 1000:
            raise ValueError("config charset must hold at most 1000 distinct characters, each once")
        whole("max_len", 1, 100)
        if self.channels not in (1, 3) or isinstance(self.channels, bool):
            raise ValueError(f"config channels must be 1 or 3, got {self.channels!r}")
        whole("img_h", 8, 512)
        whole("img_w", 8, 2048)
        whole("resize_h", 0, 1024)
        whole("resize_w", 0, 2048)
        if self.resize_h and (self.resize_h < self.img_h or self.resize_w < self.img_w):
            raise ValueError("config resize_h/resize_w must be at least img_h/img_w")
        stages = len(self.widths)
        if not 1 <= stages <= 8 or len(self.convs) != stages or len(self.pools) != stages:
            raise ValueError("config widths, convs and pools must have the same length, 1 to 8 stages")
        for w in self.widths:
            whole("widths", 1, 1024, w)
        for c in self.convs:
            whole("convs", 1, 8, c)
        for pool in self.pools:
            if len(pool) != 2:
                raise ValueError(f"config pools must be (height, width) pairs, got {pool!r}")
            for k in pool:
                whole("pools", 1, 4, k)
        whole("context", 0, 1024)
        if self.cell not in ("lstm", "gru"):
            raise ValueError(f"config cell must be 'lstm' or 'gru', got {self.cell!r}")
        whole("layers", 1, 4)
        whole("hidden", 1, 2048)
        whole("attn_dim", 1, 2048)
        whole("embed_dim", 1, 1024)
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ValueError(f"config dropout must be a number in [0, 1), got {self.dropout!r}")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        d = dict(d)
        try:
            for k in ("widths", "convs"):
                if k in d:
                    d[k] = tuple(d[k])
            if "pools" in d:
                d["pools"] = tuple(tuple(p) for p in d["pools"])
        except TypeError:
            raise ValueError("config widths, convs and pools must be lists") from None
        return cls(**d).validate()


def preset(name: str) -> ModelConfig:
    """The two shipped configurations.

    words:  cropped word, greyscale 32x128 -> 2x32 attention map, 1-layer LSTM decoder,
            94 printable ASCII characters (use `charset=CHARSET_ALNUM_LOWER` for 36 classes).
    digits: SVHN house-number crop, RGB 64x64 resized, 54x54 crop -> 7x7 attention map,
            2-layer GRU decoder, digits 0-9, at most 5 digits (as in SVHN).
    """
    if name == "words":
        return ModelConfig()
    if name == "digits":
        return ModelConfig(
            name="digits", charset=CHARSET_DIGITS, max_len=5, channels=3,
            img_h=54, img_w=54, resize_h=64, resize_w=64,
            widths=(32, 64, 128, 192), convs=(1, 1, 2, 1),
            pools=((2, 2), (2, 2), (2, 2), (1, 1)),
            cell="gru", layers=2, hidden=192, attn_dim=96, embed_dim=32, dropout=0.1,
        )
    raise ValueError(f"unknown preset {name!r}; expected 'words' or 'digits'")


PRESETS = ("words", "digits")
TASKS = PRESETS  # what the app, the store and the scripts offer: one task per preset
# Names the command lines offer, kept here (no torch) so that every script's --help answers at once.
PRECISIONS = ("auto", "fp32", "bf16", "int8")                  # the serving encoder (ocr.recognizer)
