"""finetune.py --from-feedback (lineage, the promotion gate) and simulate_feedback.py on a small store."""
import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from feedback import Prediction, add_submission, make_engine, session_factory
from ocr import load_checkpoint, save_checkpoint
from ocr.config import preset
from ocr.model import Recognizer
from ocr.settings import shipped_model

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, OMP_NUM_THREADS="1")


def _run(args):
    return subprocess.run([sys.executable] + args, cwd=ROOT, capture_output=True, text=True, env=ENV, timeout=900)


def _store(db, n, label_of):
    Session = session_factory(make_engine(db))
    for i in range(n):
        a = np.random.default_rng(i).integers(0, 255, (30, 50, 3), dtype=np.uint8)
        with Session.begin() as s:
            add_submission(s, Image.fromarray(a), "digits", Prediction("1", 0.3, [0.3]), label_of(i), "m", "1", "t")


def _common(base, db, out, *more):
    return ["scripts/finetune.py", "--from-feedback", "--task", "digits", "--base", str(base), "--db", db,
            "--batch-size", "8", "--workers", "0", "--threads", "1", "--out", str(out), "--holdout", "0.3",
            "--reference", "100", *more]


def test_finetune_refuses_an_empty_store_and_unreviewed_corrections(tmp_path):
    base = save_checkpoint(Recognizer(preset("digits")), tmp_path / "base.safetensors", {"data": ["synth-digits:1"]})
    db = str(tmp_path / "fb.sqlite")
    args = _common(base, db, tmp_path / "runs", "--steps", "2", "--val-every", "2")
    r = _run(args)
    assert r.returncode == 1 and "nothing to train on: no usable digits corrections" in r.stderr
    _store(db, 4, lambda i: str(100 + i))
    r = _run(args)
    assert r.returncode == 1 and "add --include-pending" in r.stderr


@pytest.mark.slow
def test_poisoned_corrections_are_not_promoted_and_honest_ones_are(tmp_path):
    """48 corrections that all say '7777' (the attack of issue 15): the held-out corrections agree with
    them, so only the reference set can tell; the gate must refuse. A harmless fine-tune is promoted,
    the replaced file is kept in history/, the lineage names the parent and the store."""
    db = str(tmp_path / "fb.sqlite")
    _store(db, 48, lambda i: "7777")
    target = tmp_path / "models" / "digits.safetensors"
    target.parent.mkdir()
    target.write_bytes(shipped_model("digits").read_bytes())
    before_bytes = target.read_bytes()
    r = _run(_common(target, db, tmp_path / "poison", "--include-pending", "--mix", "feedback:1", "--steps", "60",
                     "--lr", "3e-3", "--val-every", "20", "--promote", "--promote-to", str(target)))
    assert r.returncode == 2, r.stdout[-2000:] + r.stderr[-2000:]
    assert "not promoted: reference synth-digits fell" in r.stdout
    assert target.read_bytes() == before_bytes and not (target.parent / "history").exists()

    r = _run(_common(target, db, tmp_path / "honest", "--include-pending", "--mix", "synth-digits:0.9", "feedback:0.1",
                     "--steps", "2", "--lr", "1e-9", "--val-every", "2", "--tolerance", "0.05", "--promote",
                     "--promote-to", str(target)))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "promoted to" in r.stdout
    kept = list((target.parent / "history").iterdir())
    assert len(kept) == 1 and kept[0].read_bytes() == before_bytes
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    _, meta = load_checkpoint(target)
    assert meta["parent_sha256"] == hashlib.sha256(before_bytes).hexdigest()
    assert meta["store"]["url"].endswith("fb.sqlite") and meta["store"]["labels"] == 48
    assert set(meta["gate_after"]) == {"feedback-holdout", "reference synth-digits"}


def test_simulate_feedback(tmp_path):
    folder = tmp_path / "real"
    folder.mkdir()
    labels = ["12", "7", "12 3"]  # the last one has a space: refused by the store, counted
    for i in range(3):
        a = np.random.default_rng(i).integers(0, 255, (30, 40, 3), dtype=np.uint8)
        Image.fromarray(a).save(folder / f"{i}.png")
    (folder / "labels.tsv").write_text("".join(f"{i}.png\t{t}\n" for i, t in enumerate(labels)))
    base = save_checkpoint(Recognizer(preset("digits")), tmp_path / "m.safetensors")
    r = _run(["scripts/simulate_feedback.py", str(folder), "--model", str(base), "--db", str(tmp_path / "s.sqlite"),
              "--accept", "--threads", "1"])
    assert r.returncode == 0, r.stderr[-2000:]
    assert "refused label: 1" in r.stdout and "accepted labels: 2" in r.stdout
