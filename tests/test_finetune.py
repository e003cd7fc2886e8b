"""finetune.py --from-feedback and simulate_feedback.py on a tiny store and model."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from feedback import Prediction, add_submission, make_engine, session_factory
from ocr import load_checkpoint, save_checkpoint
from ocr.config import preset
from ocr.model import Recognizer

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, OMP_NUM_THREADS="1")


def _run(args):
    return subprocess.run([sys.executable] + args, cwd=ROOT, capture_output=True, text=True, env=ENV, timeout=600)


def test_finetune_from_feedback(tmp_path):
    base = save_checkpoint(Recognizer(preset("digits")), tmp_path / "base.safetensors", {"data": ["synth-digits:1"]})
    db = str(tmp_path / "fb.sqlite")
    common = ["scripts/finetune.py", "--from-feedback", "--task", "digits", "--base", str(base), "--db", db,
              "--steps", "2", "--val-every", "2", "--batch-size", "8", "--workers", "0", "--threads", "1",
              "--out", str(tmp_path / "runs"), "--holdout", "0.3"]
    r = _run(common)
    assert r.returncode == 1 and "nothing to train on" in r.stderr  # empty store: a clear message

    Session = session_factory(make_engine(db))
    for i in range(12):
        a = np.random.default_rng(i).integers(0, 255, (30, 50, 3), dtype=np.uint8)
        with Session.begin() as s:
            add_submission(s, Image.fromarray(a), "digits", Prediction("1", 0.3, [0.3]), str(100 + i), "m", "1", "t")
    r = _run(common)
    assert r.returncode == 1 and "include-pending" in r.stderr  # nothing accepted yet

    target = tmp_path / "promoted.safetensors"
    r = _run(common + ["--include-pending", "--promote", "--promote-to", str(target)])
    assert r.returncode in (0, 2), r.stderr[-3000:]
    assert "before" in r.stdout and "after" in r.stdout and "feedback-holdout" in r.stdout
    runs = sorted((tmp_path / "runs").iterdir())
    _, meta = load_checkpoint(runs[-1] / "last.safetensors")
    assert meta["parent"] == str(base) and meta["finetune_from_feedback"]
    trained, held = set(meta["correction_label_ids"]), set(meta["heldout_label_ids"])
    assert trained and held and not trained & held and len(trained | held) == 12
    assert (r.returncode == 0) == target.exists()  # promoted only when not worse


def test_simulate_feedback(tmp_path):
    folder = tmp_path / "real"
    folder.mkdir()
    labels = ["12", "7", "12 3"]  # the last one has a space: refused by the store, counted
    for i in range(3):
        Image.new("RGB", (40, 30), (i * 60, 0, 0)).save(folder / f"{i}.png")
    (folder / "labels.tsv").write_text("".join(f"{i}.png\t{t}\n" for i, t in enumerate(labels)))
    base = save_checkpoint(Recognizer(preset("digits")), tmp_path / "m.safetensors")
    r = _run(["scripts/simulate_feedback.py", str(folder), "--model", str(base), "--db", str(tmp_path / "s.sqlite"),
              "--accept", "--threads", "1"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert "refused label: 1" in r.stdout and "accepted labels: 2" in r.stdout
