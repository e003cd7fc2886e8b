"""Model configuration: one dataclass, two presets.

Every hyper-parameter that changes the shape of a weight lives here, and the whole
config is saved inside each checkpoint, so a checkpoint alone rebuilds its model.
"""
from __future__ import annotations

import dataclasses
import string
from dataclasses import dataclass, field

# The 94 printable ASCII characters without the space (the default word charset).
CHARSET_PRINTABLE = "".join(c for c in string.printable[:94])
# Case-insensitive alphanumeric charset (the classic 36-class scene-text setting).
CHARSET_ALNUM_LOWER = string.digits + string.ascii_lowercase
CHARSET_DIGITS = string.digits

SVHN_EXPAND = 0.3  # the SVHN crop protocol: digit-box union grown by 30 % (Goodfellow et al. 2014)


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

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        d = dict(d)
        for k in ("widths", "convs"):
            if k in d:
                d[k] = tuple(d[k])
        if "pools" in d:
            d["pools"] = tuple(tuple(p) for p in d["pools"])
        return cls(**d)


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
