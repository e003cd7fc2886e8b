"""Training CLIs end to end on tiny runs: save/resume/fine-tune, torchrun with 2 processes, evaluate."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ocr import load_checkpoint, save_checkpoint
from ocr.config import preset
from ocr.model import Recognizer
from conftest import run_script

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--preset", "digits", "--batch-size", "8", "--val-size", "16", "--workers", "0", "--threads", "1",
        "--warmup", "2"]


def run(args, **kw):
    if args[0].startswith("scripts/"):
        return run_script(args, check=True)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable] + args, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600, **kw)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return r


def only_run(out: Path) -> Path:
    runs = sorted(p for p in out.iterdir() if p.is_dir())
    return runs[-1]


@pytest.mark.slow
def test_train_resume_and_finetune(tmp_path):
    out = tmp_path / "saves"
    run(["scripts/train.py", *TINY, "--data", "synth-digits", "--steps", "4", "--val-every", "2", "--out", str(out)])
    first = only_run(out)
    files = {p.name for p in first.iterdir()}
    assert {"last.safetensors", "last.train.pt", "log.csv", "curves.png"} <= files
    assert len([f for f in files if f.startswith("step")]) == 2          # best k by accuracy, metrics in name
    _, meta = load_checkpoint(first / "last.safetensors")
    assert meta["steps"] == 4 and meta["images_seen"] == 32 and "synth-digits" in meta["metrics"]

    # same data: the run resumes (step count continues, optimizer restored)
    run(["scripts/train.py", *TINY, "--data", "synth-digits", "--steps", "6", "--val-every", "2", "--out", str(out),
         "--restore", str(first / "last.safetensors")])
    resumed = only_run(out)
    _, meta2 = load_checkpoint(resumed / "last.safetensors")
    assert meta2["steps"] == 6 and meta2["resumed_from"].endswith("last.safetensors")

    # different data: a fine-tune with the parent recorded, step count from zero
    folder = tmp_path / "real"
    folder.mkdir()
    from PIL import Image
    for i in range(4):
        Image.new("RGB", (40, 30), "white").save(folder / f"{i}.png")
    (folder / "labels.tsv").write_text("".join(f"{i}.png\t{i}{i}\n" for i in range(4)))
    run(["scripts/train.py", *TINY, "--data", "synth-digits:0.5", f"folder:{folder}:0.5", "--steps", "2",
         "--val-every", "2", "--out", str(out), "--restore", str(resumed / "last.safetensors")])
    ft = only_run(out)
    _, meta3 = load_checkpoint(ft / "last.safetensors")
    assert meta3["steps"] == 2 and meta3["parent"].endswith("last.safetensors")


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tmp_path):
    out = tmp_path / "ddp"
    run(["-m", "torch.distributed.run",
             "--nproc_per_node=2", "--master_port=29517", "scripts/train.py", *TINY, "--data", "synth-digits",
             "--steps", "3", "--val-every", "3", "--out", str(out)])
    runs = [p for p in out.iterdir() if p.is_dir()]
    assert len(runs) == 1, "both processes must write into one run folder"
    _, meta = load_checkpoint(runs[0] / "last.safetensors")
    assert meta["world_size"] == 2 and meta["images_seen"] == 3 * 8 * 2


def _random_digits_model(path: Path, meta: dict | None = None) -> Path:
    """A checkpoint built in-process (no training): a random digits model that reads nothing right."""
    torch.manual_seed(0)
    return save_checkpoint(Recognizer(preset("digits")), path, meta or {"steps": 1})


def test_evaluate_cli_and_plots(tmp_path):
    ckpt = _random_digits_model(tmp_path / "random.safetensors")
    folder = tmp_path / "numbers"
    folder.mkdir()
    for i in range(6):  # six images labelled "40917": a random model reads none of them
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    (folder / "labels.tsv").write_text("".join(f"{i}.png\t40917\n" for i in range(6)))
    r = run(["scripts/evaluate.py", str(ckpt), "synth-digits", "--limit", "6", "--plot", "2",
             "--plot-dir", str(tmp_path / "plots"), "--threads", "1"])
    assert "synth-digits" in r.stdout and "1-NED" in r.stdout
    assert len(list((tmp_path / "plots").glob("*.gif"))) == 2 and list((tmp_path / "plots").glob("*grid.png"))
    # --errors lists and draws the first N misreads
    r = run(["scripts/evaluate.py", str(ckpt), f"folder:{folder}", "--errors", "3",
             "--plot-dir", str(tmp_path / "err"), "--threads", "1", "--json", str(tmp_path / "r.json")])
    res = json.loads((tmp_path / "r.json").read_text())[f"folder:{folder}"]
    assert res["ours"]["count"] == 6 and res["ours"]["accuracy"] == 0.0
    assert len(res["errors"]) == 3 and all(t == "40917" and p != t for t, p in res["errors"])
    assert "first 3 misreads" in r.stdout and list((tmp_path / "err").glob("*_errors_00.png"))
    bad = run_script(["scripts/evaluate.py", str(tmp_path / "none.safetensors"), "synth-digits"])
    assert bad.returncode == 1 and "not found" in bad.stderr and "Traceback" not in bad.stderr


def test_export_halves_the_file_keeps_metadata_and_never_overwrites(tmp_path):
    ckpt = _random_digits_model(tmp_path / "random.safetensors")
    dst = tmp_path / "ship.safetensors"
    r = run(["scripts/export.py", str(ckpt), str(dst), "--check", "8", "--min-agree", "0", "--threads", "1"])
    assert "reads the same as the source" in r.stdout
    assert dst.stat().st_size < 0.6 * ckpt.stat().st_size
    model, meta = load_checkpoint(dst)
    assert meta["steps"] == 1 and meta["export_dtype"] == "fp16" and meta["exported_from"] == str(ckpt)
    assert next(model.parameters()).dtype.is_floating_point
    again = run_script(["scripts/export.py", str(ckpt), str(dst)])
    assert again.returncode == 1 and "--force" in again.stderr and "Traceback" not in again.stderr



def test_benchmark_times_greedy_and_beam():
    r = run(["scripts/benchmark.py", "--models", "digits", "--repeats", "1", "--skip-train", "--beam-width", "1", "3"])
    rows = [line.split() for line in r.stdout.splitlines() if line.startswith("digits")]
    settings = [" ".join(row[1:-3]) for row in rows]
    assert "single image, 2 thr, fp32" in settings and "single image, 2 thr, fp32, beam 3" in settings
    assert len([s for s in settings if "beam 3" in s]) == 4 and len(rows) == 10   # 2x4 single + 2 batch rows


def test_split_labels_keeps_readable_labels_and_never_moves_old_images(tmp_path):
    root = tmp_path / "real"
    for sub, labels in {"a": ["12", "Shop", "90210", "123456"], "b": [str(n) for n in range(40)]}.items():
        (root / sub).mkdir(parents=True)
        (root / sub / "labels.tsv").write_text("".join(f"{i}.png\t{t}\n" for i, t in enumerate(labels)))
    out = tmp_path / "split"
    r = run(["scripts/split_labels.py", str(root), "--preset", "digits", "--val", "0.25", "--out", str(out)])
    assert "a: 2" in r.stdout                          # "Shop" and the 6-digit number are dropped
    train, val = (set((out / f).read_text().splitlines()) for f in ("train.tsv", "val.tsv"))
    assert not train & val and len(train | val) == 42 and 0 < len(val) < 42
    assert all(Path(line.split("\t")[0]).is_absolute() for line in train | val)
    again = run_script(["scripts/split_labels.py", str(root), "--out", str(out)])                # never overwrites
    assert again.returncode == 1 and "use --force to overwrite" in again.stderr and "Traceback" not in again.stderr
    with open(root / "b" / "labels.tsv", "a") as f:
        f.write("".join(f"new{i}.png\t{i}\n" for i in range(20)))
    run(["scripts/split_labels.py", str(root), "--preset", "digits", "--val", "0.25", "--out", str(out), "--force"])
    val2 = set((out / "val.tsv").read_text().splitlines())
    assert val <= val2 and val2 - val and all("new" in line for line in val2 - val)


def test_train_returns_what_it_kept(tmp_path):
    """train() reports the run folder, the last checkpoint and the best k (best first) as files that exist."""
    from ocr.training.data import Materialized
    from ocr.training.datasets.specs import build_dataset
    from ocr.training.trainer import TrainOptions, train
    cfg = preset("digits")
    data = build_dataset("synth-digits", cfg, seed=1)
    val = {"v": Materialized(build_dataset("synth-digits", cfg, seed=2), 8)}
    opt = TrainOptions(steps=3, batch_size=4, warmup=1, val_every=1, keep_best=2, workers=0, threads=1,
                       out_dir=str(tmp_path))
    result = train(cfg, [data], [1.0], val, opt)
    assert result.steps == 3 and result.last == result.run / "last.safetensors" and result.last.is_file()
    assert len(result.best) == 2 and result.best[0][0] >= result.best[1][0]
    assert all(p.is_file() for _, p in result.best) and result.best_path == result.best[0][1]
    assert len(list(result.run.glob("step*.safetensors"))) == 2       # the third was pruned
    _, meta = load_checkpoint(result.best_path)
    assert meta["metrics"]["v"]["accuracy"] == result.best[0][0]


def test_auxiliary_ctc_head_trains_and_is_not_shipped(tmp_path):
    """--ctc adds a loss on the encoder (with a gradient), the checkpoint holds the
    recognizer only (same keys as without it), and the head is kept for resuming."""
    from ocr.training.data import Materialized
    from ocr.training.datasets.specs import build_dataset
    from ocr.training.trainer import CTCHead, TrainOptions, train
    cfg = preset("digits")
    head = CTCHead(cfg, 256, 11)
    logits = torch.randn(2, 7, 12, requires_grad=True)
    targets = torch.tensor([[1, 2, 0, 13], [3, 0, 13, 13]])
    loss = head.loss(logits, targets, [2, 1])
    loss.backward()
    assert loss.item() > 0 and logits.grad.abs().sum() > 0
    data = Materialized(build_dataset("synth-digits", cfg, seed=1), 4)
    opt = TrainOptions(steps=2, batch_size=4, warmup=1, val_every=2, workers=0, threads=1, out_dir=str(tmp_path),
                       ctc=0.5)
    result = train(cfg, [data], [1.0], {"v": data}, opt)
    model, _ = load_checkpoint(result.last)
    assert set(model.state_dict()) == set(Recognizer(cfg).state_dict())
    assert "ctc_head" in torch.load(result.run / "last.train.pt", weights_only=True)


def test_train_context_builds_a_model_with_a_row_bilstm(tmp_path):
    """--context H trains a new model with a RowContext of H units (saved in its config and weights);
    with --restore it is refused (exit 2, pointing to widen.py) instead of being silently ignored."""
    out = tmp_path / "saves"
    run(["scripts/train.py", *TINY, "--data", "synth-digits", "--steps", "2", "--val-every", "2", "--context", "8",
         "--out", str(out)])
    model, _ = load_checkpoint(only_run(out) / "last.safetensors")
    assert model.cfg.context == 8 and model.encoder.context.rnn.hidden_size == 8
    assert model.encoder.context.proj.weight.abs().sum() > 0          # trained away from its zero start
    for extra, msg in ((["--restore", str(only_run(out) / "last.safetensors")], "scripts/widen.py --context"),
                       ([], "context must be an integer")):
        bad = run_script(["scripts/train.py", *TINY, "--context", "8" if extra else "-4", *extra])
        assert bad.returncode == 2 and msg in bad.stderr and "Traceback" not in bad.stderr




def test_distill_loss_is_zero_for_the_teacher_itself_and_ignores_padding():
    from ocr.training.trainer import distill_loss
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 12, requires_grad=True)
    targets = torch.tensor([[1, 2, 11, 12], [3, 11, 12, 12]])           # 12 = padding
    assert distill_loss(logits, logits.detach(), targets, 12, 2.0).item() == pytest.approx(0.0, abs=1e-6)
    other = torch.randn(2, 4, 12)
    loss = distill_loss(logits, other, targets, 12, 2.0)
    loss.backward()
    assert loss.item() > 0 and logits.grad[1, 2:].abs().sum() == 0 and logits.grad[0].abs().sum() > 0
    padded = other.clone()
    padded[1, 2:] += 100.0                                              # padding positions do not count
    assert distill_loss(logits, padded, targets, 12, 2.0).item() == pytest.approx(loss.item(), rel=1e-5)


def test_train_distils_a_smaller_encoder_from_a_teacher(tmp_path):
    """--widths builds a smaller encoder; --teacher / --kd add the distillation loss (recorded in the checkpoint);
    a teacher that reads another input size, or --kd without a teacher, is refused with a message."""
    teacher = save_checkpoint(Recognizer(preset("digits")).eval(), tmp_path / "teacher.safetensors")
    out = tmp_path / "saves"
    run(["scripts/train.py", *TINY, "--data", "synth-digits", "--steps", "2", "--val-every", "2",
         "--widths", "8", "16", "32", "48", "--teacher", str(teacher), "--kd", "0.5", "--out", str(out)])
    model, meta = load_checkpoint(only_run(out) / "last.safetensors")
    assert tuple(model.cfg.widths) == (8, 16, 32, 48)
    assert meta["distilled_from"] == {"teacher": "teacher.safetensors", "kd": 0.5, "kd_temp": 2.0}
    words = save_checkpoint(Recognizer(preset("words")).eval(), tmp_path / "words.safetensors")
    for extra, msg in ((["--teacher", str(words), "--kd", "0.5"], "same input size and charset"),
                       (["--kd", "0.5"], "needs both --teacher and --kd"),
                       (["--widths", "8", "16"], "needs 4 numbers")):
        bad = run_script(["scripts/train.py", *TINY, "--data", "synth-digits", "--steps", "2", *extra])
        assert bad.returncode == 2 and msg in bad.stderr and "Traceback" not in bad.stderr


def test_a_bad_dataset_spec_is_a_clear_error(tmp_path):
    """A validation set given as a bare path, or a missing folder, stops train.py with the reason (exit 2)."""
    for args, msg in ((["--data", "synth-digits", "--val", str(tmp_path / "val.tsv")],
                       f"given as folder:{tmp_path}/val.tsv"),
                      (["--data", f"folder:{tmp_path / 'nowhere'}"], "no labels file")):
        bad = run_script(["scripts/train.py", *TINY, "--steps", "1", *args, "--out", str(tmp_path / "saves")])
        assert bad.returncode == 2 and msg in bad.stderr and "Traceback" not in bad.stderr
