"""The synthetic engine's font legibility check: a glyph that is not its character is never used."""
import os
import random

import pytest

from ocr.synth import fonts
from ocr.synth.render import FontPicker

MPL = fonts._matplotlib_dir()
DEJAVU = os.path.join(MPL or "", "DejaVuSans.ttf")
pytestmark = pytest.mark.skipif(not os.path.exists(DEJAVU), reason="needs matplotlib's DejaVuSans.ttf")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OCR_CACHE", str(tmp_path / "cache"))  # conftest's OCR_CACHE would win over XDG_CACHE_HOME
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
    monkeypatch.setattr(fonts, "_legible", lambda *args: pytest.fail("recomputed a cached font"))
    assert fonts.legibility([liar_font]) == first


def test_an_unreadable_font_is_legible_nowhere(tmp_path):
    bad = tmp_path / "broken.ttf"
    bad.write_bytes(b"not a font")
    assert fonts.legibility([str(bad)])[str(bad)] == frozenset()


def test_a_trusted_font_counts_every_character_it_draws(liar_font):
    trusted = fonts.legibility([liar_font], trusted=[liar_font])[liar_font]
    assert {"7", "e", "3"} <= trusted  # script faces fail the template test; trusted ones are believed
    assert "\u00e9" not in trusted  # still only printable ASCII that the font has
    assert not {"7", "e", "3"} & fonts.legibility([liar_font])[liar_font]  # cached apart from the untrusted check


def test_top3_keeps_the_real_letters_of_a_text_font_the_nearest_test_refuses(liar_font):
    """v6's rule (top=3): DejaVu Serif Bold is a text font, yet its A, B, K and R are nearest to other
    characters' templates; among the three nearest they count. Wrong glyphs stay refused."""
    serif_bold = os.path.join(MPL, "DejaVuSerif-Bold.ttf")
    strict = fonts.legibility([serif_bold])[serif_bold]
    loose = fonts.legibility([serif_bold], top=3)[serif_bold]
    assert not set("ABKR") & strict and set("ABKR") <= loose and strict < loose
    liar = fonts.legibility([liar_font], top=3)[liar_font]
    assert not {"7", "e", "3"} & liar and fonts.legibility([liar_font])[liar_font] <= liar


def test_nearest_counts_distinct_characters_up_to_case():
    import numpy as np
    labels = ["C", "c", "O", "G", "6"]
    sims = np.array([0.9, 0.85, 0.8, 0.7, 0.75])
    assert fonts._nearest(sims, labels, 1) == ["C"]
    assert fonts._nearest(sims, labels, 3) == ["C", "O", "6"]   # c is C again; G is fourth
    assert fonts._nearest(sims, labels, 9) == ["C", "O", "6", "G"]


def test_each_rule_is_cached_apart(liar_font, monkeypatch):
    strict = fonts.legibility([liar_font])
    calls = []
    real = fonts._legible
    monkeypatch.setattr(fonts, "_legible", lambda *a: calls.append(a) or real(*a))
    fonts.legibility([liar_font], top=3)
    assert calls == [(liar_font, False, 3)]
    assert fonts.legibility([liar_font]) == strict and len(calls) == 1


def _decorative_copy(tmp_path):
    import shutil

    (tmp_path / "aenigma").mkdir()
    return str(shutil.copy(DEJAVU, tmp_path / "aenigma" / "deco.ttf"))


def test_without_added_fonts_the_picks_are_as_before(tmp_path):
    deco = _decorative_copy(tmp_path)
    pick = FontPicker((DEJAVU, deco), decorative_rate=0.2, added=())
    a, b = random.Random(5), random.Random(5)
    got = [pick(a, "word") for _ in range(200)]
    before = [b.choice([deco] if b.random() < 0.2 else [DEJAVU]) for _ in range(200)]  # the rule before added fonts
    assert got == before


def test_added_fonts_are_drawn_at_their_rate(tmp_path, liar_font):
    deco = _decorative_copy(tmp_path)
    pick = FontPicker((DEJAVU, deco), decorative_rate=0.2, added=(liar_font,), added_rate=0.4)
    rng = random.Random(1)
    picks = [pick(rng, "12") for _ in range(3000)]
    share = {f: picks.count(f) / len(picks) for f in (DEJAVU, deco, liar_font)}
    assert abs(share[deco] - 0.2) < 0.03 and abs(share[liar_font] - 0.4) < 0.03 and abs(share[DEJAVU] - 0.4) < 0.03
    assert liar_font in {pick(rng, "7") for _ in range(100)}  # trusted: its '7' counts as a 7
    with pytest.raises(ValueError, match="within"):
        FontPicker((DEJAVU, deco), decorative_rate=0.7, added=(liar_font,), added_rate=0.4)
