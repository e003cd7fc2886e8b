"""SVHN format 1 (Netzer et al. 2011): full house-number photos with per-digit boxes.

    ROOT/{train,test,extra}/N.png + digitStruct.mat      as distributed (MATLAB v7.3 = HDF5)
    ROOT/{split}/digitStruct.json                          written once by scripts/prepare_svhn.py
    DIR/boxes.json                                         or a loose folder: {"path.png": [boxes]}

digitStruct.mat holds /digitStruct/name and /digitStruct/bbox as object references. A bbox
group has fields height/label/left/top/width; with one digit each field stores the value
inline, with several each entry is a reference to a 1x1 dataset. Label 10 means digit 0.

Crop (the SVHN system's protocol): the union of the digit boxes, expanded by 30 % about its
centre, **clipped** at the image border; the recognizer's preprocessing then resizes it to
64x64 and takes the centre (or, in training, a random) 54x54 crop.
"""
from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from torch.utils.data import Dataset

from ...config import SVHN_EXPAND, ModelConfig, svhn_frame
from .labels import FilterReport
from ...images import InvalidImageError, load_image

FIELDS = ("height", "label", "left", "top", "width")


def read_digit_struct(mat_path: str | Path, progress: bool = True) -> list[dict]:
    """digitStruct.mat -> [{"filename": "1.png", "boxes": [{"label": "5", "left": .., ...}]}]."""
    import h5py
    from tqdm import tqdm

    out = []
    with h5py.File(mat_path, "r") as f:
        ds = f["digitStruct"]
        names, bboxes = ds["name"], ds["bbox"]
        n = names.shape[0]
        for i in tqdm(range(n), desc=f"reading {Path(mat_path).parent.name}", disable=not progress, unit="img"):
            name = "".join(chr(int(c)) for c in f[names[i, 0]][()].flatten())
            grp = f[bboxes[i, 0]]
            cols = {}
            for k in FIELDS:
                d = grp[k]
                if d.shape[0] == 1:  # one digit: the value is stored inline
                    cols[k] = [float(d[()].flatten()[0])]
                else:                 # several: each entry is a reference to a 1x1 dataset
                    cols[k] = [float(f[d[j, 0]][()].flatten()[0]) for j in range(d.shape[0])]
            boxes = []
            for j in range(len(cols["label"])):
                lab = int(cols["label"][j])
                boxes.append({"label": str(0 if lab == 10 else lab), **{k: cols[k][j] for k in FIELDS if k != "label"}})
            out.append({"filename": name, "boxes": boxes})
    return out


def crop_box(boxes: list[dict], width: int, height: int, expand: float = SVHN_EXPAND) -> tuple[int, int, int, int]:
    """Union of the digit boxes expanded by `expand` about its centre, clipped to the image."""
    x0 = min(b["left"] for b in boxes)
    y0 = min(b["top"] for b in boxes)
    x1 = max(b["left"] + b["width"] for b in boxes)
    y1 = max(b["top"] + b["height"] for b in boxes)
    cx, cy, w, h = svhn_frame(x0, y0, x1, y1, expand)
    hw, hh = w / 2, h / 2
    box = (max(0, int(round(cx - hw))), max(0, int(round(cy - hh))),
           min(width, int(round(cx + hw))), min(height, int(round(cy + hh))))
    if box[2] <= box[0] or box[3] <= box[1]:
        raise InvalidImageError(f"digit boxes {boxes} lie outside the {width}x{height} image")
    return box


def crop_house_number(image, boxes: list[dict]) -> Image.Image:
    img = load_image(image)
    return img.crop(crop_box(boxes, *img.size))


class _Crop:
    """Picklable image source: the file and the boxes; cropped when loaded."""

    def __init__(self, path: Path, boxes: list[dict]):
        self.path, self.boxes = path, boxes


class SVHN(Dataset):
    """(cropped PIL image, digits) samples of one prepared SVHN split."""

    def __init__(self, root: str | Path, split: str = "train", cfg: ModelConfig | None = None):
        root = Path(root)
        if (root / "boxes.json").is_file():  # a loose folder: {"relative/path.png": [boxes...]}
            self.dir = root
            boxes = json.loads((root / "boxes.json").read_text())
            entries = [{"filename": k, "boxes": [dict(b, label=str(b["label"])) for b in v]} for k, v in boxes.items()]
        else:
            self.dir = root / split
            js = self.dir / "digitStruct.json"
            if not js.is_file():
                raise FileNotFoundError(f"{js} not found: run `python scripts/prepare_svhn.py {root}` first")
            entries = json.loads(js.read_text())
        self.report = FilterReport()
        self.items = []
        for e in entries:
            label = self.report.keep("".join(b["label"] for b in e["boxes"]), cfg)
            if label is not None:
                self.items.append((e["filename"], e["boxes"], label))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        name, boxes, label = self.items[i]
        try:
            return crop_house_number(self.dir / name, boxes), label
        except InvalidImageError:
            return b"", label  # unreadable: the loader skips and counts it
