"""Dataset loaders on fixtures built here in the real formats; mixing; filtering; synthesis."""
import json
import random
from collections import Counter

import h5py
import numpy as np
import pytest
from PIL import Image

from ocr.config import CHARSET_ALNUM_LOWER, preset
from ocr.training.data import Prepared, collate
from ocr.training.datasets.labels import folder_dataset, normalize_label
from ocr.training.datasets.specs import build_dataset, parse_spec
from ocr.training.sampling import MixedBatchSampler
from ocr.training.datasets.lmdb_io import LmdbDataset, write_lmdb
from ocr.training.datasets.mjsynth import MJSynth, word_from_filename
from ocr.training.datasets.svhn import SVHN, crop_box, read_digit_struct

WORDS = preset("words")


def _jpg(path, text="x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (100, 32), (200, 200, 200)).save(path, "JPEG")


@pytest.fixture
def mjsynth(tmp_path, monkeypatch):
    """A tiny Synth90k tree: 0-based lexicon indices, case in file names, two broken JPEGs."""
    monkeypatch.setenv("OCR_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "mnt/ramdisk/max/90kDICT32px"
    lexicon = ["zero", "heretical", "reading", "novel", "show_time", "caf\u00e9"]
    (root).mkdir(parents=True)
    (root / "lexicon.txt").write_text("\n".join(lexicon) + "\n")
    train = [("./1/1/10_Reading_2.jpg", 2), ("./1/1/11_NOVEL_3.jpg", 3), ("./1/2/12_show_time_4.jpg", 4),
             ("./2/1/77_heretical_1.jpg", 1), ("./2/1/78_Heretical_1.jpg", 1), ("./2/2/5_caf\u00e9_5.jpg", 5)]
    for rel, _ in train:
        _jpg(root / rel)
    (root / "2/1/77_heretical_1.jpg").write_bytes(b"")                  # empty, like the real one
    (root / "2/1/78_Heretical_1.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")  # corrupt
    (root / "annotation_train.txt").write_text("".join(f"{r} {i}\n" for r, i in train))
    (root / "annotation_val.txt").write_text("./1/1/10_Reading_2.jpg 2\n")
    return root, lexicon, train


def test_mjsynth_index_counts_from_zero_and_matches_file_names(mjsynth):
    root, lexicon, train = mjsynth
    for rel, idx in train:
        assert lexicon[idx] == word_from_filename(rel).lower()
    ds = MJSynth(root, "train")
    assert [lab for _, lab in ds] == ["Reading", "NOVEL", "show_time", "heretical", "Heretical", "caf\u00e9"]
    assert [lab for _, lab in MJSynth(root, "train", case="lexicon")][:2] == ["reading", "novel"]
    assert len(MJSynth(root, "val")) == 1


def test_mjsynth_filters_charset_and_skips_corrupt_images(mjsynth):
    root, _, _ = mjsynth
    ds = MJSynth(root, "train", cfg=WORDS)
    assert len(ds) == 5 and ds.report.dropped == {"outside charset": 1} and ds.report.kept == 5  # 'café'
    prepared = [Prepared(ds, WORDS)[i] for i in range(len(ds))]
    x, labels, skipped = collate(prepared)
    assert skipped == 2 and labels == ["Reading", "NOVEL", "show_time"] and x.shape[0] == 3
    # second open comes from the cache
    assert len(MJSynth(root, "train", cfg=WORDS)) == 5


def test_mjsynth_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="annotation_train.txt"):
        MJSynth(tmp_path, "train")


def _write_digit_struct(path, entries):
    """MATLAB v7.3 layout: /digitStruct/{name,bbox} are (N,1) object references; a bbox field is
    stored inline with one digit and as references to 1x1 datasets with several."""
    with h5py.File(path, "w") as f:
        refs = f.create_group("#refs#")
        g = f.create_group("digitStruct")
        ref_t = h5py.special_dtype(ref=h5py.Reference)
        names = g.create_dataset("name", (len(entries), 1), dtype=ref_t)
        bboxes = g.create_dataset("bbox", (len(entries), 1), dtype=ref_t)
        k = 0
        for i, (fname, boxes) in enumerate(entries):
            d = refs.create_dataset(f"n{i}", data=np.array([[ord(c)] for c in fname], dtype=np.uint16))
            names[i, 0] = d.ref
            grp = refs.create_group(f"b{i}")
            for field in ("height", "label", "left", "top", "width"):
                vals = [float(b[field]) for b in boxes]
                if len(vals) == 1:
                    grp.create_dataset(field, data=np.array([[vals[0]]]))
                else:
                    rs = grp.create_dataset(field, (len(vals), 1), dtype=ref_t)
                    for j, v in enumerate(vals):
                        k += 1
                        rs[j, 0] = refs.create_dataset(f"v{k}", data=np.array([[v]])).ref
            bboxes[i, 0] = grp.ref


@pytest.fixture
def svhn(tmp_path):
    root = tmp_path / "svhn"
    (root / "test").mkdir(parents=True)
    entries = [
        ("1.png", [dict(height=30, label=5, left=43, top=7, width=19)]),
        ("2.png", [dict(height=23, label=2, left=99, top=5, width=14), dict(height=23, label=1, left=114, top=8, width=8),
                   dict(height=23, label=10, left=121, top=6, width=12)]),
    ]
    for name, _ in entries:
        Image.new("RGB", (140, 40), "white").save(root / "test" / name)
    _write_digit_struct(root / "test" / "digitStruct.mat", entries)
    return root


def test_svhn_digit_struct_and_prepare_script(svhn):
    entries = read_digit_struct(svhn / "test" / "digitStruct.mat", progress=False)
    assert [e["filename"] for e in entries] == ["1.png", "2.png"]
    assert ["".join(b["label"] for b in e["boxes"]) for e in entries] == ["5", "210"]  # label 10 -> 0
    assert entries[1]["boxes"][2]["left"] == 121
    import subprocess, sys
    r = subprocess.run([sys.executable, "scripts/prepare_svhn.py", str(svhn), "--splits", "test"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads((svhn / "test" / "digitStruct.json").read_text()) == entries
    r = subprocess.run([sys.executable, "scripts/prepare_svhn.py", str(svhn), "--splits", "test"],
                       capture_output=True, text=True)
    assert "exists, skipped" in r.stdout
    ds = SVHN(svhn, "test", cfg=preset("digits"))
    img, label = ds[1]
    assert label == "210"
    x0, y0, x1, y1 = crop_box(entries[1]["boxes"], 140, 40)
    assert img.size == (x1 - x0, y1 - y0)


def test_svhn_crop_expands_by_30_percent_and_clips():
    boxes = [dict(left=10, top=10, width=20, height=10)]
    assert crop_box(boxes, 100, 100) == (7, 8, 33, 22)
    assert crop_box([dict(left=0, top=0, width=20, height=10)], 100, 100)[:2] == (0, 0)


def test_svhn_real_samples_crop(shared):
    boxes = json.loads((shared / "samples/svhn/boxes.json").read_text())
    from ocr.training.datasets.svhn import crop_house_number
    for rel, bs in boxes.items():
        crop = crop_house_number(shared / "samples/svhn" / rel, bs)
        assert crop.width > 5 and crop.height > 5
    ds = SVHN(shared / "samples/svhn", cfg=preset("digits"))  # loose folder with boxes.json
    assert [lab for _, lab in ds] == [l.split("\t")[1] for l in (shared / "samples/svhn/labels.tsv").read_text().splitlines()]


def test_lmdb_round_trip(tmp_path):
    root = tmp_path / "folder"
    root.mkdir()
    labels = ["Hello", "w0rld!", "a b", "ok"]
    for i, t in enumerate(labels):
        Image.new("L", (40, 16), 100 + i).save(root / f"{i}.png")
    (root / "labels.tsv").write_text("".join(f"{i}.png\t{t}\n" for i, t in enumerate(labels)))
    ds = folder_dataset(root, WORDS)
    assert ds.report.kept == 3 and ds.report.dropped["outside charset"] == 1   # "a b": space
    r = write_lmdb(ds, tmp_path / "out.lmdb", progress=False)
    assert r == {"written": 3, "skipped": 0}
    back = LmdbDataset(tmp_path / "out.lmdb", cfg=WORDS)
    assert [lab for _, lab in back] == ["Hello", "w0rld!", "ok"]
    assert back[0][0] == (root / "0.png").read_bytes()
    assert [lab for _, lab in build_dataset(f"lmdb:{tmp_path / 'out.lmdb'}", WORDS)] == ["Hello", "w0rld!", "ok"]
    with pytest.raises(FileExistsError):
        write_lmdb(ds, tmp_path / "out.lmdb", progress=False)


def test_tight_crops_get_svhn_framing_in_digits_task_only(tmp_path):
    import numpy as np
    root = tmp_path / "tight"
    root.mkdir()
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, 0] = 255                                   # a white left column: padding repeats edges
    Image.fromarray(a).save(root / "a.png")
    (root / "b.png").write_bytes(b"not an image")
    (root / "labels.tsv").write_text("a.png\t42\nb.png\t7\nc.png\tab\n")
    ds = build_dataset(f"tight:{root}", preset("digits"))
    assert len(ds) == 2 and ds.report.dropped["outside charset"] == 1
    img, label = ds[0]
    assert label == "42" and img.size == (52, 26)   # 15 % of each axis added on each side
    f = np.asarray(img)
    assert (f[:, :7] == 255).all() and (f[:, 7:] == 0).all()
    assert ds[1] == (b"", "7")                       # unreadable: skipped by the loader
    words = build_dataset(f"tight:{root}", WORDS)    # words use the crops as they are
    assert words[0][0] == root / "a.png"
    assert parse_spec(f"tight:{root}:0.2").weight == 0.2


def test_label_rule():
    assert normalize_label("Hello", CHARSET_ALNUM_LOWER, 25) == "hello"
    assert normalize_label("Hello!", CHARSET_ALNUM_LOWER, 25) is None
    assert normalize_label("Hello!", WORDS.charset, 25) == "Hello!"
    assert normalize_label("x" * 26, WORDS.charset, 25) is None
    assert normalize_label("", WORDS.charset, 25) is None


def test_synth_words_uses_the_shipped_engine_unless_told():
    from ocr.training.datasets.specs import build_dataset
    assert build_dataset("synth-words", WORDS).engine == "v6"        # the shipped words model's last engine
    assert build_dataset("synth-words:0.3@v2", WORDS).engine == "v2"
    with pytest.raises(ValueError, match="unknown word engine 'v9' in synth-words@v9; one of v2, v4, v6"):
        build_dataset("synth-words@v9", WORDS)


def test_parse_spec():
    s = parse_spec("mjsynth:/data/mj:0.7@val")
    assert (s.kind, s.path, s.weight, s.split) == ("mjsynth", "/data/mj", 0.7, "val")
    assert parse_spec("synth-words:0.3").weight == 0.3 and parse_spec("synth-words").weight == 1.0
    assert parse_spec("folder:C:/x/y").path == "C:/x/y"
    f = parse_spec("feedback:0.2")     # an installed package's kind (entry point), loaded when asked for
    assert (f.path, f.weight) == (None, 0.2)
    f = parse_spec("feedback:/tmp/db.sqlite:0.3")
    assert (f.path, f.weight) == ("/tmp/db.sqlite", 0.3)
    with pytest.raises(ValueError, match="unknown dataset kind"):
        parse_spec("imagenet:/x")
    with pytest.raises(ValueError, match="needs a path"):
        parse_spec("folder")


def test_mixing_ratios_per_batch():
    s = MixedBatchSampler([1000, 50, 7], [0.5, 0.3, 0.2], batch_size=64, seed=1, batches=200)
    for batch in s:
        c = Counter(0 if i < 1000 else 1 if i < 1050 else 2 for i in batch)
        assert len(batch) == 64
        assert c[0] == 32 and c[1] in (19, 20) and c[2] in (12, 13)
    assert list(MixedBatchSampler([10], [1], 4, seed=3, batches=5)) == list(MixedBatchSampler([10], [1], 4, seed=3, batches=5))


def test_synthetic_is_deterministic_and_in_charset():
    from ocr.synth import DigitSynth, WordSynth
    a, b = WordSynth(WORDS.charset, seed=5), WordSynth(WORDS.charset, seed=5)
    for i in (0, 1, 17):
        (ia, ta), (ib, tb) = a[i], b[i]
        assert ta == tb and np.array_equal(np.asarray(ia), np.asarray(ib))
        assert normalize_label(ta, WORDS.charset, WORDS.max_len) == ta
    assert [WordSynth(WORDS.charset, seed=6)[i][1] for i in range(20)] != [a[i][1] for i in range(20)]
    alnum = WordSynth(CHARSET_ALNUM_LOWER, seed=1)
    assert all(set(alnum[i][1]) <= set(CHARSET_ALNUM_LOWER) for i in range(30))
    d = DigitSynth(seed=2)
    lens = Counter(len(d[i][1]) for i in range(60))
    assert set(lens) <= {1, 2, 3, 4, 5} and lens[2] > lens[4]
    assert all(d[i][1].isdigit() for i in range(20))
    assert np.array_equal(np.asarray(d[3][0]), np.asarray(DigitSynth(seed=2)[3][0]))


def test_random_borders_cut_and_pad_with_edge_pixels():
    from ocr.training.augment import RandomBorders
    a = np.zeros((20, 80), np.uint8)
    a[:, :40] = 200                      # left half light, right half dark
    img = Image.fromarray(a)
    random.seed(0)
    sizes = set()
    for _ in range(50):
        out = RandomBorders(0.2)(img)
        w, h = out.size
        sizes.add((w, h))
        assert 80 - 8 <= w <= 80 + 8 and 20 - 8 <= h <= 20 + 8   # at most 0.2 * height per side
        b = np.asarray(out)
        assert set(np.unique(b)) <= {0, 200}                     # padding repeats edge pixels, never black/grey fill
        assert b[:, 0].min() == 200 and b[:, -1].max() == 0      # the left edge stays light, the right edge dark
    assert len(sizes) > 10
    rgb = RandomBorders(0.2)(Image.new("RGB", (30, 10), (1, 2, 3)))
    assert rgb.mode == "RGB" and set(map(tuple, np.asarray(rgb).reshape(-1, 3))) == {(1, 2, 3)}
    tiny = Image.new("L", (3, 3), 9)
    assert RandomBorders(0.5)(tiny).size[0] >= 1                # never an empty image


def test_real_image_augmentation_keeps_images_readable():
    from ocr.training.augment import Degrade, train_augment
    random.seed(1)
    small = Image.new("L", (40, 12), 255)
    out = Degrade(32)(small)
    assert out.size == (107, 32)                                 # scaled to the network height first
    aug = train_augment(WORDS)
    ds = Prepared([(Image.new("RGB", (90, 30), (20, 200, 90)), "x")] * 30, WORDS, train=True, augment=aug)
    for x, _ in ds:
        assert x.shape == (1, 32, 128) and x.min() >= -1 and x.max() <= 1


def test_painted_digits_cover_every_digit_and_stay_in_their_boxes():
    from PIL import ImageDraw

    from ocr.synth.strokes import STROKES, draw_strokes
    assert set(STROKES) == set("0123456789")
    rng = random.Random(4)
    for text in ("0123456789", "71", "8"):
        mask = Image.new("L", (900, 200), 0)
        boxes = draw_strokes([ImageDraw.Draw(mask)], (20, 40), text, 60, 5.0, rng)
        assert len(boxes) == len(text)
        a = np.asarray(mask) > 0
        inside = np.zeros_like(a)
        for x0, y0, x1, y1 in boxes:
            assert x1 - x0 >= 3 and 40 <= y1 - y0 <= 80       # about the glyph height of 60 px
            assert a[y0:y1, x0:x1].any()                      # each glyph drew ink
            inside[y0:y1, x0:x1] = True
        assert not (a & ~inside).any()                        # no ink outside the glyph boxes
        assert all(b1[0] < b2[0] for b1, b2 in zip(boxes, boxes[1:]))   # left to right
    from ocr.synth import DigitSynth
    img, label = DigitSynth(seed=1, painted_rate=1.0)[0]
    assert label.isdigit() and img.mode == "RGB"


def test_the_word_engine_is_deterministic_and_realistic():
    from ocr.synth import WordSynth
    from ocr.synth.words import case_mix, colour_clusters
    import random
    v2a, v2b = WordSynth(WORDS.charset, seed=5, engine="v2"), WordSynth(WORDS.charset, seed=5, engine="v2")
    grey_ranges = []
    for i in range(24):
        (ia, ta), (ib, tb) = v2a[i], v2b[i]
        assert ta == tb and np.array_equal(np.asarray(ia), np.asarray(ib))   # a pure function of (seed, index)
        assert normalize_label(ta, WORDS.charset, WORDS.max_len) == ta
        lo, hi = ia.convert("L").getextrema()
        grey_ranges.append(hi - lo)
    assert min(grey_ranges) > 0 and np.median(grey_ranges) > 40               # never blank, mostly legible
    # the case mix follows the real labels: about half all-caps
    rng = random.Random(0)
    cases = Counter("upper" if w.isupper() else "title" if w.istitle() else "lower" if w.islower() else "mixed"
                    for w in (case_mix("station", rng) for _ in range(4000)))
    assert 0.45 < cases["upper"] / 4000 < 0.55 and 0.22 < cases["title"] / 4000 < 0.32
    clusters, _ = colour_clusters()
    assert len(clusters) >= 20 and all(len(c["text"]) == len(c["background"]) == 3 for c in clusters)
    with pytest.raises(ValueError, match="unknown engine"):
        WordSynth(WORDS.charset, engine="v9")


def test_the_presets_draw_what_their_corpora_hold():
    """A corpus is re-created from its seed: each preset's text stream is pinned (the presets are what the shipped
    models were trained on), and a preset is only a name for a SynthConfig."""
    from ocr.synth import SYNTH_PRESETS, SynthConfig, WordSynth
    assert {k: WordSynth(WORDS.charset, seed=1, engine=k)[0][1] for k in SYNTH_PRESETS} == \
        {"v2": "Leprechaun", "v4": "work", "v6": "work"}
    assert SYNTH_PRESETS["v6"] == SynthConfig() and WordSynth(WORDS.charset).config == SynthConfig()
    custom = WordSynth(WORDS.charset, seed=1, engine=SynthConfig(frequent_words=False, circles=0.0, legible_top=1))
    assert np.array_equal(np.asarray(custom[3][0]), np.asarray(WordSynth(WORDS.charset, seed=1, engine="v2")[3][0]))
    with pytest.raises(ValueError, match="unknown engine 'v1'"):
        WordSynth(WORDS.charset, engine="v1")


def test_the_core_library_stands_alone():
    """Reading a model (ocr/*.py) imports nothing of ocr.synth or ocr.training; ocr imports nothing of the store or
    the app; the store loads no torch."""
    import subprocess
    import sys
    code = ("import importlib, pkgutil, sys, ocr, ocr.detectors\n"       # the reading part: ocr/*.py
            "for m in pkgutil.iter_modules(ocr.__path__):\n"
            "    if not m.ispkg:\n"
            "        importlib.import_module('ocr.' + m.name)\n"
            "import ocr.recognizer, ocr.photo, ocr.detectors.ppocr\n"
            "ocr.load_recognizer('digits').read(__import__('PIL.Image').Image.new('RGB', (40, 30)))\n"
            "bad = sorted(m for m in sys.modules if m.startswith(('ocr.synth', 'ocr.training')))\n"
            "assert not bad, 'reading imported ' + repr(bad)\n")
    subprocess.run([sys.executable, "-c", code], check=True)
    code = ("import importlib, pkgutil, sys, ocr, ocr.synth, ocr.training, ocr.training.datasets\n"
            "for pkg in (ocr, ocr.synth, ocr.training, ocr.training.datasets):\n"
            "    for m in pkgutil.iter_modules(pkg.__path__):\n"
            "        importlib.import_module(pkg.__name__ + '.' + m.name)\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('feedback', 'webapp', 'app', 'gradio'))\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True)
    code = ("import sys, feedback, feedback.__main__\n"
            "assert 'torch' not in sys.modules and 'torchvision' not in sys.modules, 'the store loaded torch'\n")
    subprocess.run([sys.executable, "-c", code], check=True)
    code = ("import sys\nfrom ocr.training.datasets.specs import parse_spec\nassert 'feedback' not in sys.modules\n"
            "assert parse_spec('feedback:0.5').weight == 0.5 and 'feedback.dataset' in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)   # no import needed first: the entry point


def test_circular_arc_bends_the_line_and_circles_only_bend():
    """A straight bar comes out bent (a hump or a bowl, its ends off the middle's height), with about the same
    ink; an engine with circles is deterministic and draws the same texts as without them, in other images."""
    import random
    from ocr.synth import WordSynth
    from ocr.synth.words import circular_arc
    a = np.zeros((60, 300, 4), np.uint8)
    a[25:35, 20:280] = 255
    kinds = set()
    for seed in range(12):
        out = np.asarray(circular_arc(Image.fromarray(a, "RGBA"), random.Random(seed)))[..., 3] > 127
        assert 0.8 < out.sum() / (a[..., 3] > 127).sum() < 1.25
        cols = np.flatnonzero(out.any(0))
        centre = lambda c: np.flatnonzero(out[:, c]).mean()
        mid, ends = centre(cols[len(cols) // 2]), (centre(cols[3]) + centre(cols[-4])) / 2
        assert abs(mid - ends) > 5
        kinds.add("hump" if mid < ends else "bowl")
    assert kinds == {"hump", "bowl"}
    from ocr.synth import SYNTH_PRESETS
    import dataclasses
    for base in ("v2", "v4"):
        arcs = dataclasses.replace(SYNTH_PRESETS[base], circles=0.15)
        a, b, plain = (WordSynth(WORDS.charset, seed=5, engine=e) for e in (arcs, arcs, base))
        differ = 0
        for i in range(40):
            (ia, ta), (ib, tb), (i2, t2) = a[i], b[i], plain[i]
            assert ta == tb == t2 and np.array_equal(np.asarray(ia), np.asarray(ib))
            differ += not np.array_equal(np.asarray(ia), np.asarray(i2))
        assert differ >= 3     # about 15 % of the words are bent (the rest of such a sample's draws shift too)


def test_a_looser_legibility_rule_draws_more_characters_per_font():
    """legible_top=3 (v6) draws the texts of legible_top=1 (deterministically) with the looser rule: characters of a
    plain serif font that the strict test refuses (DejaVu Serif Bold's A, B, K, R) become drawable."""
    import dataclasses
    import os
    from ocr.synth import SynthConfig, WordSynth, fonts
    mpl = fonts._matplotlib_dir()
    F = tuple(os.path.join(mpl, f) for f in ("DejaVuSerif-Bold.ttf", "DejaVuSans.ttf", "DejaVuSans-Oblique.ttf"))
    if not all(os.path.exists(f) for f in F):
        pytest.skip("needs matplotlib's DejaVu fonts")
    strict = dataclasses.replace(SynthConfig(), legible_top=1)
    v5, v6, again = (WordSynth(WORDS.charset, fonts=F, seed=5, engine=e) for e in (strict, "v6", "v6"))
    assert set("ABKR") <= v6.pick_font.legible[F[0]] - v5.pick_font.legible[F[0]]
    differ = 0
    for i in range(60):
        (i5, t5), (i6, t6), (ia, ta) = v5[i], v6[i], again[i]
        assert t5 == t6 == ta and np.array_equal(np.asarray(i6), np.asarray(ia))
        differ += not np.array_equal(np.asarray(i5), np.asarray(i6))
    assert differ >= 3


def test_v4_draws_frequent_words_like_real_signs(tmp_path):
    """v4 is deterministic, and its words are common English words far more often than v2's uniform lexicon
    draws (the list's top 1,000 words: about 26 % of its letter-only texts against about 1 %); a broken
    frequency file is refused with its line."""
    import random
    import re
    from ocr.synth import WordSynth, frequent_words
    words, cum = frequent_words()
    assert words[:3] == ["the", "to", "and"] and len(words) > 40_000 and cum == sorted(cum)
    top = set(words[:1000])

    def share(engine):
        ws = WordSynth(WORDS.charset, seed=3, engine=engine)
        texts = [ws.sample_text(random.Random(i)) for i in range(3000)]
        letters = [re.sub("[^a-z]", "", t.lower()) for t in texts if not re.search("[0-9]", t)]
        return sum(w in top for w in letters) / len(letters), texts

    v4, texts = share("v4")
    v2, _ = share("v2")
    assert v4 > 0.15 and v2 < 0.05
    assert texts == share("v4")[1]
    ws = WordSynth(WORDS.charset, seed=3, engine="v4")
    (a, ta), (b, tb) = ws[7], WordSynth(WORDS.charset, seed=3, engine="v4")[7]
    assert ta == tb and np.array_equal(np.asarray(a), np.asarray(b))
    bad = tmp_path / "freq.tsv"
    bad.write_text("the\t7.7\nbroken line\n")
    with pytest.raises(ValueError, match="freq.tsv:2: expected 'word<TAB>zipf frequency'"):
        frequent_words(str(bad))


def test_circles_sets_the_share_of_bent_words():
    """circles=None is the engine's own share (the same images as before); circles=1 bends every word, so the
    images change and the texts do not; a share outside [0, 1] is refused."""
    from ocr.synth import WordSynth
    own, same, bent = (WordSynth(WORDS.charset, seed=5, engine="v6", circles=c) for c in (None, 0.15, 1.0))
    changed = 0
    for i in range(40):
        (io, to), (is_, ts), (ib, tb) = own[i], same[i], bent[i]
        assert to == ts == tb and np.array_equal(np.asarray(io), np.asarray(is_))
        changed += not np.array_equal(np.asarray(io), np.asarray(ib))
    assert changed >= 24   # about 85 %: the words the engine bends anyway come out the same
    for engine, circles in (("v6", 1.5), ("v2", -0.1)):
        with pytest.raises(ValueError, match="share of words bent along a circle"):
            WordSynth(WORDS.charset, engine=engine, circles=circles)


def test_a_labelled_validation_set_is_used_whole_and_a_synthetic_one_capped(tmp_path, capsys):
    from ocr.training.trainer import training_sets
    root = tmp_path / "val"
    root.mkdir()
    for i in range(1200):
        Image.new("L", (8, 8), i % 256).save(root / f"{i}.png")
    (root / "labels.tsv").write_text("".join(f"{i}.png\tw{i}\n" for i in range(1200)))
    _, _, vals = training_sets(WORDS, ["synth-words"], [f"folder:{root}"])
    assert len(vals[str(root)]) == 1200                                   # all of it, not the first 1000
    assert "1200 of 1200 samples" in capsys.readouterr().out
    _, _, vals = training_sets(WORDS, ["synth-words"], [f"folder:{root}"], val_size=50)
    assert len(vals[str(root)]) == 50 and "50 of 1200 samples (the first ones" in capsys.readouterr().out
