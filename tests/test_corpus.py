"""Pre-rendered corpora (ocr.corpus, scripts/prerender.py) and exact resumption of training."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ocr.config import preset
from ocr.corpus import corpus_dataset, make_engine, prerender
from ocr.datasets.specs import build_dataset
from ocr.preprocess import preprocess

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
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
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
