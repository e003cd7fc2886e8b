"""scripts/error_breakdown.py: the bins an image falls in, and the misreads contact sheet."""
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "data" / "examples"
sys.path.insert(0, str(ROOT / "scripts"))
import error_breakdown  # noqa: E402
from conftest import run_script


def test_bins_of_an_image():
    lexicon = {"station"}
    bins = error_breakdown.bins_of(Image.new("L", (200, 70)), "STATION", lexicon)
    assert bins == {"crop height (px)": ">=64", "word length": "7", "case of the label": "ALL CAPS",
                    "lexicon": "in lexicon"}
    bins = error_breakdown.bins_of(Image.new("L", (60, 20)), "McDonald's2024", lexicon)
    assert bins == {"crop height (px)": "16-23", "word length": "10+", "case of the label": "MiXed",
                    "lexicon": "not in lexicon"}
    assert [error_breakdown.case_of(w) for w in ("Coffee", "open", "499", "OPEN")] == \
        ["Title", "lower", "no letters", "ALL CAPS"]


def test_misreads_sheet_draws_only_the_chosen_bins_misreads(tmp_path):
    folder = tmp_path / "crops"
    folder.mkdir()
    rows = []
    for i, path in enumerate(sorted(EXAMPLES.glob("words_*.png"))[:3]):   # Coffee, STATION, welcome
        Image.open(path).save(folder / f"{i}.png")
        label = "qxzqj" if i == 0 else path.stem.split("_")[-1]           # a label no model reads
        rows.append(f"{i}.png\t{label}\n")
    (folder / "labels.tsv").write_text("".join(rows))
    sheet = tmp_path / "misreads.png"
    cmd = [sys.executable, "scripts/error_breakdown.py", "words", f"folder:{folder}", "--threads", "1",
           "--out", str(tmp_path / "bins.png"), "--misreads", str(sheet)]
    r = run_script(cmd + ["--misreads-bin", "word length=5"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"misreads: 1 image drawn on {sheet}" in r.stdout     # only 'qxzqj' has 5 letters
    assert Image.open(sheet).size[0] > 100 and (tmp_path / "bins.png").is_file()
    seven = run_script(cmd + ["--misreads-bin", "word length=7"])
    assert seven.returncode == 0 and "misreads: 0 images" in seven.stdout      # STATION, welcome: read right
    bad = run_script(cmd + ["--misreads-bin", "height=64"])
    assert bad.returncode == 2 and "--misreads-bin must be KIND=BIN" in bad.stderr and "Traceback" not in bad.stderr
