"""Other engines to compare against (optional dependencies, imported when used)."""
from __future__ import annotations

from pathlib import Path


class Tesseract:
    """Tesseract 5 LSTM through tesserocr (in-process), single-line mode."""

    def __init__(self, digits: bool = False):
        try:
            import tesserocr
        except ImportError:
            raise SystemExit("--baseline tesseract needs `pip install tesserocr` and Debian's tesseract-ocr-eng")
        paths = [p for p in ("/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tesseract-ocr/4.00/tessdata") if Path(p).is_dir()]
        kw = {"path": paths[0]} if paths else {}
        self.api = tesserocr.PyTessBaseAPI(psm=tesserocr.PSM.SINGLE_LINE, **kw)
        if digits:
            self.api.SetVariable("tessedit_char_whitelist", "0123456789")

    def read(self, img) -> str:
        self.api.SetImage(img)
        return self.api.GetUTF8Text().strip().replace(" ", "")
