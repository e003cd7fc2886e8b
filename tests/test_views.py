"""Test-time views (ocr.views, TextRecognizer.read(..., views=n)): what the views are, and that the kept
reading is the most confident one of exactly the views that were read (with a word prior: the highest
log-confidence + prior score)."""
import dataclasses
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from ocr.prediction import Prediction
from ocr.recognizer import load_recognizer
from ocr.views import MAX_VIEWS, VIEWS, check_views, views
from conftest import run_script

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "data" / "examples"


@pytest.fixture(scope="module")
def rec():
    return load_recognizer("words")


def _word(mode: str = "RGB") -> Image.Image:
    img = Image.new(mode, (120, 40), (200, 220, 240) if mode == "RGB" else 230)
    ImageDraw.Draw(img).rectangle([20, 12, 100, 28], fill=(10, 10, 10) if mode == "RGB" else 10)
    return img


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_views_are_the_image_then_turned_margined_and_trimmed_copies(mode):
    img = _word(mode)
    vs = views(img, MAX_VIEWS)
    assert len(vs) == MAX_VIEWS == len(VIEWS) and vs[0] is img
    assert vs[5:] == [None, None]                                    # quarter turns: only for tall crops
    vs = vs[:5]
    assert [v.mode for v in vs] == [mode] * 5
    assert vs[1].size == vs[2].size == img.size                      # turned in place
    assert vs[3].size == (120 + 2 * 18, 40 + 2 * 6)                  # 15 % margin of edge colour
    assert vs[4].size == (120 - 2 * 6, 40 - 2 * 2)                   # 5 % trimmed
    background = np.asarray(img)[0, 0]
    for v in vs[1:4]:                                                # corners filled like the background, not black
        assert np.abs(np.asarray(v)[0, 0].astype(int) - background).max() <= 1
    assert not np.array_equal(np.asarray(vs[1]), np.asarray(vs[2]))  # -8 and +8 degrees differ
    assert len(views(img, 2)) == 2


def test_a_tall_crop_is_also_turned_a_quarter_each_way(rec):
    """A word written downwards reads right only in a quarter-turned view; a wide crop gets no such views (and none is
    read for it)."""
    upright = Image.open(EXAMPLES / "words_2_STATION.png").convert("RGB")
    tall = upright.rotate(-90, expand=True)                          # the word now reads top to bottom
    vs = views(tall, MAX_VIEWS)
    assert vs[5].size == vs[6].size == upright.size
    assert np.array_equal(np.asarray(vs[6]), np.asarray(upright))
    five, seven = rec.read([tall], views=5, below=1.0)[0], rec.read([tall], views=MAX_VIEWS, below=1.0)[0]
    assert five.text.upper() != "STATION" and five.view < 5
    assert seven.text.upper() == "STATION" and seven.view == 6
    assert np.array_equal(rec.view_input(tall, seven.view), rec.view_input(upright, 0))
    wide = rec.read([upright], views=MAX_VIEWS, below=1.0)[0]
    assert wide.text.upper() == "STATION" and wide.view < 5


@pytest.mark.parametrize("bad", [0, MAX_VIEWS + 1, True, 2.5, "3"])
def test_a_bad_number_of_views_is_refused(bad, rec):
    with pytest.raises(ValueError, match="views must be an integer"):
        check_views(bad)
    with pytest.raises(ValueError, match="views must be an integer"):
        rec.read(_word(), views=bad)


@pytest.mark.parametrize("prior", [False, True])
def test_views_keep_the_most_confident_reading_of_the_unsure_images(rec, prior):
    """Without a prior the highest confidence wins; with one, the highest log-confidence + prior score."""
    rec = rec if prior else load_recognizer("words", lm_weight=0)
    assert (rec.lm is not None) == prior

    def score(p):
        return math.log(p.confidence) + (rec.lm.score(p.text) if prior else 0.0)

    images = sorted(EXAMPLES.glob("words_*.png"))[:3] + [_word()]
    plain = rec.read(images, fast=True)
    every = rec.read(images, views=3, below=1.0, fast=True)        # every image is unsure: all three views read
    for item, p, best in zip(images, plain, every):
        copies = views(item if isinstance(item, Image.Image) else Image.open(item).convert("RGB"), 3)
        singles = rec.read(copies, fast=True)
        top = max(range(3), key=lambda v: score(singles[v]))
        assert best.view == top and best.text == singles[top].text
        assert score(best) == pytest.approx(max(score(s) for s in singles), abs=1e-5)
        assert score(best) >= score(p) - 1e-5
        assert np.array_equal(rec.view_input(item, best.view), rec.prepare(copies[best.view])[0])
    # a threshold no reading is under: nothing is read again, the readings are the plain ones
    none = rec.read(images, views=3, below=0.0, fast=True)
    assert [(p.text, p.view) for p in none] == [(p.text, 0) for p in plain]
    # only readings under the threshold are read again
    cut = sorted(p.confidence for p in plain)[1] + 1e-9
    some = rec.read(images, views=3, below=cut, fast=True)
    for p, b, s in zip(plain, every, some):
        assert (s.text, s.view) == ((b.text, b.view) if p.confidence < cut else (p.text, 0))


def test_with_a_prior_the_views_prefer_a_word_over_a_slightly_more_confident_non_word(rec, monkeypatch):
    """Readings of three views, given: the most confident is a non-word; the prior picks the word."""
    readings = [Prediction("HOUSF", 0.50, [0.9] * 5), Prediction("HOUSE", 0.45, [0.9] * 5),
                Prediction("H0USE", 0.40, [0.9] * 5)]
    assert rec.lm.score("HOUSE") > rec.lm.score("HOUSF") + math.log(0.50 / 0.45)

    def fake(batch, beam_width=1, batch_size=32):
        return [dataclasses.replace(r) for r in (readings[:1] if batch.shape[0] == 1 else readings[1:])]

    monkeypatch.setattr(rec, "read_prepared", fake)
    best = rec.read(_word(), views=3, below=1.0, fast=True)[0]
    assert (best.text, best.view) == ("HOUSE", 1)
    plain = load_recognizer("words", lm_weight=0)
    monkeypatch.setattr(plain, "read_prepared", fake)
    assert (plain.read(_word(), views=3, below=1.0, fast=True)[0].text) == "HOUSF"   # no prior: confidence alone


def test_views_need_a_threshold_between_0_and_1(rec):
    with pytest.raises(ValueError, match="below must be a confidence"):
        rec.read(_word(), views=2, below=1.5, fast=True)


def test_evaluate_cli_reads_with_views(tmp_path):
    folder = tmp_path / "crops"
    folder.mkdir()
    rows = []
    for i, path in enumerate(sorted(EXAMPLES.glob("words_*.png"))[:3]):
        Image.open(path).save(folder / f"{i}.png")
        rows.append(f"{i}.png\t{path.stem.split('_')[-1]}\n")
    (folder / "labels.tsv").write_text("".join(rows))
    cmd = [sys.executable, "scripts/evaluate.py", "words", f"folder:{folder}", "--threads", "1"]
    r = run_script(cmd + ["--fast", "--views", "3"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert "beam 1, views 3" in r.stdout
    bad = run_script(cmd + ["--views", str(MAX_VIEWS + 1)])
    assert bad.returncode == 2 and "--views" in bad.stderr and "Traceback" not in bad.stderr


def test_the_views_are_the_pixels_torchvision_gives():
    """The views are PIL operations (reading needs no torch); they equal torchvision's functional ops on PIL
    images, which they were chosen with."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as F

    from ocr.views import _border_fill, _margin, _trim, _turn

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for h, w in ((32, 100), (57, 41))]
    images += [im.convert("L") for im in images] + [Image.open(p) for p in sorted(EXAMPLES.glob("words_*.png"))]
    for img in images:
        w, h = img.size
        for d in (-8, 8):
            want = F.rotate(img, d, interpolation=InterpolationMode.BILINEAR, fill=_border_fill(img))
            assert np.array_equal(np.asarray(_turn(d)(img)), np.asarray(want))
        px, py = round(w * 0.15), round(h * 0.15)
        assert np.array_equal(np.asarray(_margin(img)), np.asarray(F.pad(img, [px, py, px, py], padding_mode="edge")))
        px, py = int(w * 0.05), int(h * 0.05)
        assert np.array_equal(np.asarray(_trim(img)), np.asarray(F.crop(img, py, px, h - 2 * py, w - 2 * px)))
