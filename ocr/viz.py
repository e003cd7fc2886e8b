"""Pictures of where the model looked: per-step attention overlays, GIFs and grids.

The overlay is drawn on the network's own view of the image (after `preprocess`), so the
attention map (feat_h x feat_w) lines up exactly with what the encoder saw.
"""
from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .config import ModelConfig
from .preprocess import input_array, to_pil

DISPLAY_H = 80


def network_view(image, cfg: ModelConfig, height: int = DISPLAY_H) -> Image.Image:
    """The preprocessed input as an RGB image scaled to `height` pixels. `image` is anything
    `input_array` takes, or a network input (C, H, W) itself, an array or a tensor (not preprocessed again)."""
    shape = (cfg.channels, cfg.img_h, cfg.img_w)
    given = hasattr(image, "detach") or (isinstance(image, np.ndarray) and image.dtype == np.float32
                                         and image.shape == shape)
    x = image if given else input_array(image, cfg)
    img = to_pil(x).convert("RGB")
    w = round(cfg.img_w * height / cfg.img_h)
    return img.resize((w, height), Image.BICUBIC)


@functools.lru_cache(maxsize=1)
def _jet() -> np.ndarray:
    """matplotlib's 'jet' colour map as a (256, 3) uint8 lookup table."""
    from matplotlib import colormaps

    return (colormaps["jet"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)


def overlay(view: Image.Image, attn: np.ndarray, alpha: float = 0.5) -> Image.Image:
    """view (RGB) + one attention map (feat_h, feat_w) -> heat-map blend of the same size."""
    a = attn.astype(np.float32)
    a = a / a.max() if a.max() > 0 else a
    heat = np.asarray(Image.fromarray(a, "F").resize(view.size, Image.BILINEAR))
    rgb = _jet()[(np.clip(heat, 0, 1) * 255).astype(np.uint8)]
    return Image.blend(view, Image.fromarray(rgb), alpha)


def attention_frames(image, pred, cfg: ModelConfig, height: int = DISPLAY_H) -> list[Image.Image]:
    """One frame per decoding step: the overlay with the text read so far underneath."""
    view = network_view(image, cfg, height)
    frames = []
    band = 26
    for t, a in enumerate(pred.attention):
        f = Image.new("RGB", (view.width, view.height + band), "white")
        f.paste(overlay(view, a), (0, 0))
        so_far = pred.text[: t + 1] if t < len(pred.text) else pred.text + " <end>"
        ImageDraw.Draw(f).text((4, view.height + 6), f"{t + 1}: {so_far}", fill=(0, 0, 0))
        frames.append(f)
    return frames or [view]


def save_gif(frames: list[Image.Image], path: str | Path | None = None, ms_per_step: int = 500) -> bytes:
    """Animated GIF of the frames (last frame held longer); written to path if given."""
    buf = io.BytesIO()
    durations = [ms_per_step] * (len(frames) - 1) + [ms_per_step * 3]
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def attention_grid(items: list[tuple[object, object, str]], cfg: ModelConfig, path: str | Path,
                   max_steps: int = 12) -> None:
    """Static grid: one row per sample (image, prediction, label), one column per step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(max_steps, max(len(p.attention) for _, p, _ in items)) + 1
    fig, axes = plt.subplots(len(items), cols, figsize=(cols * 1.6, len(items) * 0.9), squeeze=False)
    for r, (img, pred, label) in enumerate(items):
        view = network_view(img, cfg, 48)
        axes[r, 0].imshow(view)
        ok = "ok" if pred.text == label else f"gt {label}"
        axes[r, 0].set_title(f"{pred.text} ({ok})", fontsize=7)
        for c in range(1, cols):
            ax = axes[r, c]
            if c - 1 < len(pred.attention):
                ax.imshow(overlay(view, pred.attention[c - 1]))
                ch = pred.text[c - 1] if c - 1 < len(pred.text) else "<end>"
                ax.set_title(f"{ch} {pred.char_confidences[c - 1]:.2f}" if c - 1 < len(pred.text) else ch, fontsize=7)
        for ax in axes[r]:
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def contact_sheet(samples: list[tuple[Image.Image, str]], path: str | Path, cell=(160, 40), cols: int = 8) -> None:
    """Save a grid of (image, caption) pairs: each image shrunk into a cell, its caption in red beneath it."""
    rows = max(1, -(-len(samples) // cols))
    w, h = cell
    sheet = Image.new("RGB", (cols * w, rows * (h + 14)), "white")
    d = ImageDraw.Draw(sheet)
    for i, (img, text) in enumerate(samples):
        x, y = (i % cols) * w, (i // cols) * (h + 14)
        im = img.convert("RGB")
        im.thumbnail((w - 4, h))
        sheet.paste(im, (x + 2, y))
        d.text((x + 2, y + h), text, fill=(200, 0, 0))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
