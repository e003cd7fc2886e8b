"""Image loading and checking, without torch (the corrections store uses it too).

    load_image(x)       -> PIL.Image in "L" or "RGB" (any input kind, mode, EXIF orientation)
    check_content(img)  -> img, or InvalidImageError if it cannot hold a word or a number

Every failure to get a usable image raises `InvalidImageError` with a message meant for a person.
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Refuse images above this many pixels before decoding them (decompression bombs).
MAX_PIXELS = 40_000_000
MAX_BYTES = 50 * 1024 * 1024
# The only formats ever decoded (Pillow's names). Pillow knows many more, and some run external
# programs (EPS/PostScript starts Ghostscript) or are rarely what a user means to send.
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")  # JPEG includes MPO (phone photos)
FORMAT_NAMES = "PNG, JPEG, WebP, GIF, BMP or TIFF"


class InvalidImageError(ValueError):
    """The input could not be turned into an image the recognizer can read."""


def _open(source) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        return _from_array(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise InvalidImageError(f"no such image file: {path}")
        if path.stat().st_size > MAX_BYTES:
            raise InvalidImageError(f"file is larger than {MAX_BYTES // 2**20} MB: {path}")
        data = path.read_bytes()
    else:
        raise InvalidImageError(f"cannot read an image from a {type(source).__name__}")
    if not data:
        raise InvalidImageError("the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=FORMATS)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise InvalidImageError(f"image is too large (over {MAX_PIXELS:,} pixels; a decompression bomb?)") from None
    except UnidentifiedImageError:
        raise InvalidImageError(f"not a readable image (unknown, unsupported or corrupt format; "
                                f"accepted: {FORMAT_NAMES})") from None
    except Exception as e:  # PIL raises many types on garbage input
        raise InvalidImageError(f"not a readable image: {e}") from None
    return img


def _from_array(a: np.ndarray) -> Image.Image:
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise InvalidImageError(f"array of shape {a.shape} is not an image (H, W), (H, W, 3) or (H, W, 4)")
    if a.dtype != np.uint8:
        a = a.astype(np.float64)
        finite = np.isfinite(a)
        if not finite.any():
            raise InvalidImageError("the image has no finite pixel values (all NaN or infinite)")
        hi = a[finite].max()
        a = np.where(finite, a, 0.0)
        a = np.clip(a / (hi if hi > 1.0 else 1.0) * 255.0, 0, 255).astype(np.uint8)
    return Image.fromarray(a)


def _scale_to_8bit(a: np.ndarray) -> Image.Image:
    """A 16/32-bit or float grey image -> mode L, stretched over its finite values (NaN/inf -> black)."""
    finite = np.isfinite(a)
    if not finite.any():
        raise InvalidImageError("the image has no finite pixel values (all NaN or infinite)")
    lo, hi = float(a[finite].min()), float(a[finite].max())
    a = np.where(finite, a, lo)
    a = (a - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(a)
    return Image.fromarray(a.astype(np.uint8), "L")


def load_image(source, max_side: int | None = None) -> Image.Image:
    """Anything image-like (path, bytes, numpy array, PIL image) -> PIL image in mode L or RGB.

    Applies the EXIF orientation, takes the first frame of animations, composites transparency
    over white, scales 16/32-bit images to 8 bits and converts CMYK/palette/etc. to RGB.
    max_side: an image larger than this a side is brought down to it (a JPEG already while decoding, so a
    huge photo never occupies its full size in memory); `img.info["original_size"]` keeps the size it had.
    """
    img = _open(source)
    w, h = img.size
    if w < 1 or h < 1:
        raise InvalidImageError(f"image has no pixels ({w}x{h})")
    if w * h > MAX_PIXELS:
        raise InvalidImageError(f"image is too large ({w}x{h} pixels; the limit is {MAX_PIXELS:,})")
    try:
        if getattr(img, "is_animated", False):
            img.seek(0)
        if max_side and max(w, h) > max_side and img.format == "JPEG":
            img.draft(img.mode, (max_side, max_side))  # decodes at 1/2, 1/4 or 1/8 scale, never below max_side
        img.load()
        img = ImageOps.exif_transpose(img) or img
        if max_side:
            img = _bring_down(img, max_side, (w, h) if img.size[0] / img.size[1] * h / w > 0.5 else (h, w))
        mode = img.mode
        if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            return _scale_to_8bit(np.asarray(img, dtype=np.float64))
        if mode == "P":
            img = img.convert("RGBA")
            mode = img.mode
        if mode in ("RGBA", "LA", "PA") or "A" in mode or mode == "RGBa":
            rgba = img.convert("RGBA")
            bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(bg, rgba).convert("RGB")
        if mode in ("L", "RGB"):
            return img
        if mode == "1":
            return img.convert("L")
        return img.convert("RGB")  # CMYK, YCbCr, LAB, HSV, ...
    except InvalidImageError:
        raise
    except Exception as e:
        raise InvalidImageError(f"image could not be decoded (truncated or corrupt?): {e}") from None


def _bring_down(img: Image.Image, max_side: int, original: tuple[int, int]) -> Image.Image:
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.BILINEAR)
    img.info["original_size"] = original
    return img


# What a person's image must be for the demo and the corrections store to take it (`check_content`).
MIN_SIDE = 6          # pixels: fewer cannot show a character
MAX_ASPECT = 30       # longest side / shortest side: a 25-character word is about 15:1
MIN_RANGE = 8         # grey levels between the darkest and the lightest pixel: less is a blank image


def check_content(img: Image.Image) -> Image.Image:
    """Refuse (InvalidImageError) an image that cannot hold a word or a number; return it unchanged.

    Limits: each side at least MIN_SIDE pixels, at most MAX_ASPECT:1, and not blank (the grey
    levels of a reduced copy span at least MIN_RANGE).
    """
    w, h = img.size
    if min(w, h) < MIN_SIDE:
        raise InvalidImageError(f"the image is too small ({w}x{h} pixels; at least {MIN_SIDE}x{MIN_SIDE})")
    if max(w, h) > MAX_ASPECT * min(w, h):
        raise InvalidImageError(f"the image is too thin ({w}x{h} pixels; at most {MAX_ASPECT}:1)")
    small = img.convert("L")
    small.thumbnail((256, 256))
    lo, hi = small.getextrema()
    if hi - lo < MIN_RANGE:
        raise InvalidImageError("the image is blank (one colour): there is nothing to read")
    return img
