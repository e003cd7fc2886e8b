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
from restricted import run_with_only

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


@pytest.mark.slow
def test_words_finetune_runs_on_the_runtime_requirements_and_its_best_step_is_its_last(tmp_path):
    """The README's fine-tune (synthetic words mixed with corrections, --promote) after only `pip install -r
    requirements.txt`; 3 steps validated every 2, so the best checkpoint is the last step's, saved once at the
    end (it used to be saved twice and then deleted as its own duplicate)."""
    db = str(tmp_path / "fb.sqlite")
    Session = session_factory(make_engine(db))
    for i in range(12):
        a = np.random.default_rng(i).integers(0, 255, (32, 90, 3), dtype=np.uint8)
        with Session.begin() as s:
            add_submission(s, Image.fromarray(a), "words", Prediction("x", 0.3, [0.3]), f"word{i}", "m", "1", "t")
    base = save_checkpoint(Recognizer(preset("words")), tmp_path / "base.safetensors", {"data": ["synth-words:1"]})
    target = tmp_path / "words.safetensors"
    target.write_bytes(base.read_bytes())  # the default about to be replaced
    args = ["scripts/finetune.py", "--from-feedback", "--task", "words", "--base", str(base), "--db", db,
            "--include-pending", "--mix", "synth-words:0.5", "feedback:0.5", "--batch-size", "4", "--workers", "0",
            "--threads", "1", "--holdout", "0.3", "--reference", "8", "--steps", "3", "--val-every", "2",
            "--tolerance", "1", "--out", str(tmp_path / "runs"), "--promote", "--promote-to", str(target)]
    r = run_with_only("requirements.txt", args, env=ENV, timeout=900)   # what the README's first command installs
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert "promoted to" in r.stdout and target.is_file()
    run = next((tmp_path / "runs").iterdir())
    kept = sorted(p.name for p in run.glob("step*.safetensors"))
    assert len(kept) == 1 and kept[0].startswith("step0000003-"), kept
    _, meta = load_checkpoint(target)
    assert meta["steps"] == 3 and meta["parent_sha256"] == hashlib.sha256(base.read_bytes()).hexdigest()
    assert meta["store"]["url"].endswith("fb.sqlite") and meta["store"]["labels"] == 12
    history = list((tmp_path / "history").iterdir())  # the replaced default is kept
    assert len(history) == 1 and history[0].read_bytes() == base.read_bytes()
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def _finetune_main():
    import importlib.util
    spec = importlib.util.spec_from_file_location("finetune_script", ROOT / "scripts" / "finetune.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


def test_nonsense_settings_are_refused_before_training(tmp_path, capsys):
    """--tolerance nan used to promote anything; an empty --val folder scored 0 -> 0 and passed; an unreachable
    database printed a long traceback. Each is now one line, before any training."""
    main = _finetune_main()
    base = save_checkpoint(Recognizer(preset("digits")), tmp_path / "base.safetensors", {"data": ["synth-digits:1"]})
    db = str(tmp_path / "fb.sqlite")
    _store(db, 6, lambda i: str(100 + i))

    def run(args):
        with pytest.raises(SystemExit) as e:
            main(args[1:])
        err = capsys.readouterr().err + (e.value.code if isinstance(e.value.code, str) else "")
        return (e.value.code if isinstance(e.value.code, int) else 1), err

    for bad, says in ((["--tolerance", "nan"], "--tolerance must be a number from 0 to 1"),
                      (["--tolerance", "-0.5"], "--tolerance must be a number from 0 to 1"),
                      (["--holdout", "1.5"], "--holdout must be a fraction"),
                      (["--steps", "0"], "--steps must be a whole number of at least 1")):
        code, err = run(_common(base, db, tmp_path / "runs", "--include-pending", *bad))
        assert code == 2 and says in err, err
    empty = tmp_path / "empty_val"
    empty.mkdir()
    (empty / "labels.tsv").write_text("")
    code, err = run(_common(base, db, tmp_path / "runs", "--include-pending", "--steps", "1", "--reference", "0",
                            "--val", f"folder:{empty}", "--promote", "--promote-to", str(tmp_path / "out.safetensors")))
    assert code == 1 and "has no usable images" in err, err
    assert not (tmp_path / "out.safetensors").exists() and not (tmp_path / "runs").exists()
    code, err = run(_common(base, "postgresql+psycopg://u:secret@127.0.0.1:9/none", tmp_path / "runs", "--steps", "1"))
    assert code == 1 and "cannot be opened" in err and "secret" not in err and len(err.strip().splitlines()) == 1, err


def test_a_malicious_training_state_is_refused_without_running_it(tmp_path):
    import pickle
    from ocr import CheckpointError
    from ocr.checkpoint import load_train_state
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))
    path = tmp_path / "last.train.pt"
    with open(path, "wb") as f:
        pickle.dump(Evil(), f)
    with pytest.raises(CheckpointError, match="nothing in it was run"):
        load_train_state(path)
    assert not marker.exists()
    path.write_bytes(b"garbage")
    with pytest.raises(CheckpointError):
        load_train_state(path)
