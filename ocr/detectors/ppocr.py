"""PP-OCR's DB text detector (PP-OCRv6 small), run with ONNX Runtime.

The weights are the ONNX file that the `rapidocr` wheel (PyPI, Apache-2.0; the model is PaddlePaddle's PP-OCRv6,
Apache-2.0, see the wheel's MODEL_LICENSES.md) installs beside its code; they are read from there, never fetched.
Only this module knows about them: `ocr.detect` registers it as the "ppocr-db" backend.

    det = DBDetector()            # loads the model (~10 MB, ~0.2 s)
    det(rgb_pil_image)            # -> list[TextBox], lines of text with their DB scores

DB (Liao et al., "Real-time Scene Text Detection with Differentiable Binarization", 2020) predicts a text
probability map; regions above `thresh` become boxes: each connected region's minimum-area rectangle, kept if
its mean probability reaches `box_thresh`, then grown by area x `unclip` / perimeter on every side (the network
is trained on shrunk text regions).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..detect import TextBox, order_quad
from ..settings import installed_package_dir

MODEL_FILE = "PP-OCRv6_det_small.onnx"


class DetectorMissing(RuntimeError):
    pass


def model_path() -> Path:
    folder = installed_package_dir("rapidocr")
    if folder is None:
        raise DetectorMissing("the text detector's weights come with the rapidocr package: pip install rapidocr")
    path = folder / "models" / MODEL_FILE
    if not path.is_file():
        raise DetectorMissing(f"the text detector's weights are missing: {path}")
    return path


class DBDetector:
    """max_side: the longer side of the network's input (the photo is scaled to it, up or down, in multiples of
    32); min_side: a small image is scaled up until its shorter side has at least this many pixels."""

    def __init__(self, max_side: int = 960, min_side: int = 256, thresh: float = 0.3, box_thresh: float = 0.5,
                 unclip: float = 1.6, threads: int = 0):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
        so.inter_op_num_threads = 1
        so.enable_cpu_mem_arena = False  # photos differ in size: an arena would keep the largest one's memory
        so.log_severity_level = 3
        self.session = ort.InferenceSession(str(model_path()), so, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.max_side, self.min_side = max_side, min_side
        self.thresh, self.box_thresh, self.unclip = thresh, box_thresh, unclip

    def input_size(self, w: int, h: int) -> tuple[int, int]:
        """The network input (w, h) for a (w, h) photo: multiples of 32, aspect kept up to that rounding."""
        s = self.max_side / max(w, h)
        s = max(s, self.min_side / min(w, h)) if min(w, h) * s < self.min_side else s
        s = min(s, self.max_side * 2 / max(w, h))  # a very long, thin image: never more than twice max_side
        return max(32, round(w * s / 32) * 32), max(32, round(h * s / 32) * 32)

    def probability(self, image: Image.Image) -> np.ndarray:
        """(H, W) text probability at the network's input size."""
        iw, ih = self.input_size(*image.size)
        a = np.asarray(image.convert("RGB").resize((iw, ih), Image.BILINEAR), dtype=np.float32)[:, :, ::-1]
        x = ((a / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None].copy()  # BGR, as PaddleOCR reads images
        return self.session.run(None, {self.input: x})[0][0, 0]

    def __call__(self, image: Image.Image) -> list[TextBox]:
        import cv2

        prob = self.probability(image)
        ph, pw = prob.shape
        sx, sy = image.width / pw, image.height / ph
        mask = cv2.dilate((prob > self.thresh).astype(np.uint8), np.ones((2, 2), np.uint8))
        contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        out = []
        for c in contours[:1000]:
            (cx, cy), (rw, rh), angle = cv2.minAreaRect(c)
            if min(rw, rh) < 3:
                continue
            score = _mean_inside(prob, cv2.boxPoints(((cx, cy), (rw, rh), angle)))
            if score < self.box_thresh:
                continue
            d = rw * rh * self.unclip / (2 * (rw + rh))  # grow every side by area x ratio / perimeter
            pts = cv2.boxPoints(((cx, cy), (rw + 2 * d, rh + 2 * d), angle))
            if min(rw, rh) + 2 * d < 5:
                continue
            pts[:, 0] = np.clip(pts[:, 0] * sx, 0, image.width)
            pts[:, 1] = np.clip(pts[:, 1] * sy, 0, image.height)
            out.append(TextBox(order_quad(pts), float(score)))
        return out


def _mean_inside(prob: np.ndarray, pts: np.ndarray) -> float:
    """The mean probability inside the polygon pts (the box's score)."""
    import cv2

    h, w = prob.shape
    x0, y0 = np.clip(np.floor(pts.min(0)).astype(int), 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(pts.max(0)).astype(int), 0, [w - 1, h - 1])
    m = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.fillPoly(m, [np.round(pts - [x0, y0]).astype(np.int32)], 1)
    region = prob[y0:y1 + 1, x0:x1 + 1]
    return float(region[m > 0].mean()) if m.any() else 0.0
