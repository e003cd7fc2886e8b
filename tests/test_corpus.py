"""Pre-rendered corpora (ocr.training.corpus, scripts/prerender.py) and exact resumption of training."""
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ocr.config import preset
from ocr.training.corpus import corpus_dataset, make_engine, prerender
from ocr.training.datasets.specs import build_dataset
from ocr.preprocess import preprocess
from conftest import run_script

ROOT = Path(__file__).resolve().parent.parent
DIGITS = preset("digits")


def test_corpus_holds_exactly_what_the_engine_renders_and_resumes(tmp_path):
    out = tmp_path / "c"
    r = prerender("digits", out, images=30, seed=4, shard_size=12, workers=2, progress=False)
    assert r == {"shards": 3, "rendered": 36}            # whole shards: 30 rounded up to 3 x 12
    ds = build_dataset(f"corpus:{out}", DIGITS)
    engine = make_engine("digits", 4, "v2")
    assert len(ds) == 36 and ds.synthetic
    for i in (0, 11, 12, 35):
        img, label = ds[i]
        ref_img, ref_label = engine[i]
        assert label == ref_label
        assert torch.equal(preprocess(img, DIGITS), preprocess(ref_img, DIGITS))
    # a lost shard is rendered again, the others are kept as they are
    import shutil
    shutil.rmtree(out / "shard-00001")
    before = (out / "shard-00002" / "data.mdb").stat().st_mtime_ns
    assert prerender("digits", out, images=30, seed=4, shard_size=12, progress=False) == {"shards": 3, "rendered": 12}
    assert (out / "shard-00002" / "data.mdb").stat().st_mtime_ns == before
    assert [lab for _, lab in corpus_dataset(out)] == [engine[i][1] for i in range(36)]
    with pytest.raises(ValueError, match="other settings"):
        prerender("digits", out, images=30, seed=5, shard_size=12, progress=False)


def test_a_corpus_with_added_fonts_records_them_and_draws_with_them(tmp_path):
    import json
    import os
    import random

    from ocr.synth.fonts import _matplotlib_dir

    serif = os.path.join(_matplotlib_dir() or "", "DejaVuSerif.ttf")
    if not os.path.exists(serif):
        pytest.skip("needs matplotlib's DejaVuSerif.ttf")
    plain = (os.path.join(_matplotlib_dir(), "DejaVuSans.ttf"),)
    out = tmp_path / "w"
    prerender("words", out, images=40, seed=2, shard_size=40, fonts=plain, added_fonts=(serif,),
              added_rate=0.5, progress=False)
    desc = json.loads((out / "corpus.json").read_text())
    assert desc["added_fonts"] == 1 and desc["added_rate"] == 0.5
    engine = make_engine("words", 2, "v6", plain, (serif,), 0.5)
    assert [lab for _, lab in corpus_dataset(out)] == [engine[i][1] for i in range(40)]
    picks = [engine.pick_font(random.Random(i), "word") for i in range(200)]
    assert 0.35 < picks.count(serif) / 200 < 0.65
    with pytest.raises(ValueError, match="other settings"):  # the same corpus without them is another corpus
        prerender("words", out, images=40, seed=2, shard_size=40, fonts=plain, progress=False)
    # a corpus made before the option existed (no added_fonts key) still resumes
    old = tmp_path / "old"
    prerender("words", old, images=10, seed=2, shard_size=10, fonts=plain, progress=False)
    assert "added_fonts" not in json.loads((old / "corpus.json").read_text())
    assert prerender("words", old, images=20, seed=2, shard_size=10, fonts=plain, progress=False)["rendered"] == 10


def test_corpus_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="no corpus"):
        corpus_dataset(tmp_path)
    (tmp_path / "corpus.json").write_text("{}")
    with pytest.raises(ValueError, match="no complete shard"):
        corpus_dataset(tmp_path)


def _train(args):
    cmd = [sys.executable, "scripts/train.py", "--preset", "digits", "--data", "synth-digits", "--batch-size", "4",
           "--val-size", "4", "--workers", "0", "--threads", "1", "--warmup", "1", "--steps", "4", "--val-every", "2",
           "--ema", "0.9", *args]
    r = run_script(cmd)
    assert r.returncode == 0, r.stderr[-3000:]


def test_interrupted_run_resumes_to_the_same_weights(tmp_path):
    """2 steps, stop, resume for 2 more == 4 steps in one go (optimizer, EMA, data position, RNG)."""
    _train(["--out", str(tmp_path / "straight")])
    _train(["--out", str(tmp_path / "split"), "--stop-at", "2"])
    split = next((tmp_path / "split").iterdir())
    assert torch.load(split / "last.train.pt", weights_only=True)["step"] == 2
    _train(["--out", str(tmp_path / "split"), "--restore", str(split / "last.safetensors")])
    assert [p.name for p in (tmp_path / "split").iterdir()] == [split.name]   # the same run folder goes on
    straight = next((tmp_path / "straight").iterdir())
    a, b = load_file(straight / "last.safetensors"), load_file(split / "last.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run"
    ra = torch.load(straight / "last.train.pt", weights_only=True)["raw_model"]
    rb = torch.load(split / "last.train.pt", weights_only=True)["raw_model"]
    assert all(torch.equal(ra[k], rb[k]) for k in ra)
    assert not all(torch.equal(a[k], ra[k]) for k in a)   # the checkpoint holds the average, not the raw weights


def test_lmdb_datasets_work_in_dataloader_workers(tmp_path):
    """Opening the dataset in the parent must not break the forked DataLoader worker (lmdb refuses a
    second open of the same path in one process, and a fork inherits the first)."""
    from torch.utils.data import DataLoader
    prerender("digits", tmp_path / "c", images=8, seed=1, shard_size=8, progress=False)
    ds = corpus_dataset(tmp_path / "c", DIGITS)
    labels = [lab for batch in DataLoader(ds, batch_size=4, num_workers=1, collate_fn=lambda b: b)
              for _, lab in batch]
    assert labels == [ds[i][1] for i in range(8)]
