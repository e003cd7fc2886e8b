"""The synthetic engine's font legibility check: a glyph that is not its character is never used."""
import os
import random

import pytest

from ocr import fonts
from ocr.synth import FontPicker

MPL = fonts._matplotlib_dir()
DEJAVU = os.path.join(MPL or "", "DejaVuSans.ttf")
pytestmark = pytest.mark.skipif(not os.path.exists(DEJAVU), reason="needs matplotlib's DejaVuSans.ttf")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(fonts, "_LEGIBLE", {})


@pytest.fixture
def liar_font(tmp_path):
    """DejaVu Sans with its character map rewired, as decorative fonts are: '7' draws an 'A',
    'e' draws a 'W' and '3' draws a '%'."""
    from fontTools.ttLib import TTFont

    font = TTFont(DEJAVU)
    for table in font["cmap"].tables:
        if table.isUnicode():
            for src, dst in (("7", "A"), ("e", "W"), ("3", "%")):
                table.cmap[ord(src)] = table.cmap[ord(dst)]
    path = tmp_path / "liar.ttf"
    font.save(str(path))
    return str(path)


def test_a_plain_font_is_legible_everywhere():
    legible = fonts.legibility([DEJAVU])[DEJAVU]
    assert set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") <= legible


def test_wrong_glyphs_are_found(liar_font):
    legible = fonts.legibility([liar_font])[liar_font]
    assert not {"7", "e", "3"} & legible
    assert set("0124568aAbWx%") <= legible


def test_picker_never_draws_a_character_with_a_wrong_glyph(liar_font):
    pick = FontPicker((DEJAVU, liar_font), decorative_rate=0.0)
    rng = random.Random(0)
    assert {pick(rng, "17") for _ in range(40)} == {DEJAVU}
    assert {pick(rng, "e", extra="0123456789") for _ in range(40)} == {DEJAVU}
    assert {pick(rng, "12") for _ in range(80)} == {DEJAVU, liar_font}


def test_results_are_cached_on_disk(liar_font, monkeypatch):
    first = fonts.legibility([liar_font])
    assert fonts._cache_file().exists()
    monkeypatch.setattr(fonts, "_LEGIBLE", {})
    monkeypatch.setattr(fonts, "_legible", lambda path: pytest.fail("recomputed a cached font"))
    assert fonts.legibility([liar_font]) == first


def test_an_unreadable_font_is_legible_nowhere(tmp_path):
    bad = tmp_path / "broken.ttf"
    bad.write_bytes(b"not a font")
    assert fonts.legibility([str(bad)])[str(bad)] == frozenset()
