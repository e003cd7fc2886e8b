"""Reading without PyTorch: the shipped ONNX exports, the onnx backend, and the reading-only install."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ocr.checkpoint import CheckpointError, save_checkpoint, weights_digest
from ocr.config import preset
from ocr.model import Recognizer
from ocr.onnx_export import write_graph
from ocr.onnx_reader import EncoderSession, graph_path, load_onnx_reader
from ocr.recognizer import TextRecognizer, load_recognizer
from restricted import run_with_only

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "data" / "models"
EXAMPLES = ROOT / "data" / "examples"


def _same(a, b):
    assert [p.text for p in a] == [q.text for q in b]
    for p, q in zip(a, b):
        assert p.confidence == pytest.approx(q.confidence, abs=1e-5)
        assert np.allclose(p.char_confidences, q.char_confidences, atol=1e-5)
        assert p.view == q.view and np.allclose(p.attention, q.attention, atol=1e-5)


@pytest.mark.parametrize("name", ["words", "digits", "numbers"])
def test_shipped_graphs_are_made_from_the_shipped_checkpoints(name):
    """A shipped model changed without exporting its graph again fails here (scripts/export_onnx.py)."""
    from safetensors import safe_open

    info = EncoderSession(graph_path(MODELS / f"{name}.safetensors")).metadata()
    with safe_open(str(MODELS / f"{name}.safetensors"), framework="np") as f:
        digest = f.metadata()["sha256"]
    assert info["format"] == "ocr-onnx/1" and info["checkpoint_sha256"] == digest


@pytest.mark.parametrize("task", ["words", "digits"])
def test_the_onnx_backend_reads_the_examples_as_torch_does(task):
    full, lite = load_recognizer(task, backend="torch"), load_recognizer(task, backend="onnx")
    assert lite.model is None and lite.reader.engine == "onnxruntime" and lite.reading == full.reading
    images = sorted(EXAMPLES.glob(f"{task}_*.png"))
    from ocr.synth import DigitSynth, WordSynth
    synth = WordSynth(full.cfg.charset, seed=7, engine="v2") if task == "words" else DigitSynth(seed=7)
    images += [synth[i][0] for i in range(24)]
    _same(lite.read(images), full.read(images))                          # as the demo reads: beam, views, prior
    _same(lite.read(images, fast=True), full.read(images, fast=True))    # greedy
    preds = full.read(images[:8])
    for (c1, cc1), (c2, cc2) in zip(lite.reader_confidences(images[:8], preds),
                                    full.reader_confidences(images[:8], preds)):
        assert c1 == pytest.approx(c2, abs=1e-5) and np.allclose(cc1, cc2, atol=1e-5)


def test_the_finder_reads_the_same_from_its_graph():
    from ocr.finder import load_finder
    from ocr.numbers import letterbox, onnx_finder, torch_finder
    from ocr.synth import DigitSynth

    path = MODELS / "numbers.safetensors"
    x = np.stack([letterbox(DigitSynth(seed=5).scene(i)[0])[0] for i in range(6)])
    a, b = torch_finder(load_finder(path)[0])(x), onnx_finder(path)(x)
    assert a.shape == (6, 5, 16, 16) and np.allclose(a, b, atol=1e-4)


def test_an_exported_checkpoint_reads_the_same_and_a_foreign_graph_is_refused(tmp_path):
    torch.manual_seed(0)
    path = save_checkpoint(Recognizer(preset("digits")), tmp_path / "d.safetensors", dtype=torch.float16)
    assert write_graph(path) == tmp_path / "d.onnx"
    reader, _ = load_onnx_reader(path)
    x = np.random.default_rng(0).uniform(-1, 1, (3, 3, 54, 54)).astype(np.float32)
    torch_rec, onnx_rec = load_recognizer(path, backend="torch"), load_recognizer(path, backend="onnx")
    _same(onnx_rec.read_prepared(x), torch_rec.read_prepared(x))
    assert onnx_rec.meta == torch_rec.meta

    torch.manual_seed(1)   # other weights, their graph put beside the first checkpoint
    other = save_checkpoint(Recognizer(preset("digits")), tmp_path / "o.safetensors", dtype=torch.float16)
    shutil.copy(write_graph(other), tmp_path / "d.onnx")
    assert weights_digest(other) != weights_digest(path)
    with pytest.raises(CheckpointError, match="not made from d.safetensors"):
        load_recognizer(path, backend="onnx")
    (tmp_path / "d.onnx").write_bytes(b"not a graph")
    with pytest.raises(CheckpointError, match="not a readable ONNX graph"):
        load_recognizer(path, backend="onnx")
    (tmp_path / "d.onnx").unlink()
    with pytest.raises(CheckpointError, match="export_onnx.py"):
        load_recognizer(path, backend="onnx")
    with pytest.raises(ValueError, match="backend"):
        load_recognizer(path, backend="tflite")
    with pytest.raises(ValueError, match="a model or a reader"):
        TextRecognizer(None)


def test_export_script_checks_and_refuses(tmp_path):
    torch.manual_seed(0)
    path = save_checkpoint(Recognizer(preset("digits")), tmp_path / "d.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    r = subprocess.run([sys.executable, "scripts/export_onnx.py", str(path), str(tmp_path / "junk.safetensors")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "junk.safetensors is not a readable checkpoint" in r.stderr
    assert "outputs within" in r.stdout and (tmp_path / "d.onnx").is_file()
    assert not (tmp_path / "junk.onnx").exists()


def test_the_reading_only_install_reads_crops_and_photos_without_torch():
    """`python -m ocr` with only requirements-read.txt importable (torch, torchvision, gradio, ... blocked) reads
    crops, a photo of words and a house number as the full install does; a missing file is reported, the rest read."""
    from ocr.photo import read_photo

    runs = [("words", [EXAMPLES / "words_1_Coffee.png", EXAMPLES / "words_2_STATION.png",
                       EXAMPLES / "photo-words_1_Coffee.png"]),
            ("digits", [EXAMPLES / "photo-digits_2_154.png"])]
    for task, images in runs:
        args = ["-m", "ocr", *map(str, images), str(ROOT / "missing.png"), "--photo", "--task", task, "--json"]
        r = run_with_only("requirements-read.txt", args, report=True, timeout=600)
        assert r.returncode == 1, r.stderr[-3000:]                     # the missing file, and only that
        assert "missing.png: error: no such image file" in r.stderr and "Traceback" not in r.stderr
        assert "blocked imports asked for: torch" in r.stderr          # it ran, and it ran without torch
        got = [[(g["text"], g["box"]) for g in json.loads(line)["regions"]] for line in r.stdout.splitlines()]
        want = [[(x.text, [round(v) for v in x.box]) for x in read_photo(im, task)] for im in images]
        assert got == want
        assert [regions[0][0] for regions in got] == [im.stem.split("_")[-1] for im in images]


def test_vnni_is_read_from_the_cpu_flags():
    from ocr.hardware import cpu_has_vnni

    assert cpu_has_vnni({"avx2", "avx512_vnni"}) and cpu_has_vnni({"avx_vnni"}) and cpu_has_vnni({"amx_int8"})
    assert not cpu_has_vnni({"avx2", "avx512f", "avx512_bf16"}) and not cpu_has_vnni(set())


def _digits_checkpoint(path, seed):
    torch.manual_seed(seed)
    return save_checkpoint(Recognizer(preset("digits")), path, dtype=torch.float16)


def test_an_int8_encoder_is_used_where_asked_or_on_vnni_and_refused_when_not_made_from_the_checkpoint(
        tmp_path, monkeypatch):
    from ocr import hardware
    from ocr.onnx_export import write_int8_graph

    path = _digits_checkpoint(tmp_path / "d.safetensors", 0)
    x = np.random.default_rng(0).uniform(-1, 1, (12, 3, 54, 54)).astype(np.float32)
    with pytest.raises(CheckpointError, match=r"d.int8.onnx not found.*export_onnx.py .*--int8"):
        load_recognizer(path, precision="int8")
    assert write_int8_graph(path, (x[i:i + 1] for i in range(12)), "12 test images") == tmp_path / "d.int8.onnx"
    info = EncoderSession(tmp_path / "d.int8.onnx").metadata()
    assert info["precision"] == "int8" and info["checkpoint_sha256"] == weights_digest(path)
    assert info["calibration"] == "12 test images"
    for backend in ("torch", "onnx"):
        rec = load_recognizer(path, precision="int8", backend=backend)
        assert rec.precision == "int8" and rec.reader.engine == "onnxruntime"
        assert (rec.model is None) == (backend == "onnx")
        assert len(rec.read_prepared(x[:3])) == 3
    write_graph(path)
    assert load_recognizer(path, precision="fp32", backend="onnx").precision == "fp32"

    monkeypatch.setattr(hardware, "cpu_has_vnni", lambda flags=None: True)
    assert load_recognizer(path, precision="auto").precision == "int8"
    monkeypatch.setattr(hardware, "cpu_has_vnni", lambda flags=None: False)
    assert load_recognizer(path, precision="auto").precision != "int8"
    with pytest.raises(ValueError, match="int8 graph"):
        TextRecognizer(load_recognizer(path, backend="torch").model, precision="int8")

    shutil.copy(tmp_path / "d.onnx", tmp_path / "d.int8.onnx")     # a float graph where the int8 one belongs
    with pytest.raises(CheckpointError, match="is not an int8 graph"):
        load_recognizer(path, precision="int8")
    other = _digits_checkpoint(tmp_path / "o.safetensors", 1)       # an int8 graph of other weights
    shutil.copy(write_int8_graph(other, (x[i:i + 1] for i in range(4))), tmp_path / "d.int8.onnx")
    with pytest.raises(CheckpointError, match="not made from d.safetensors"):
        load_recognizer(path, precision="int8")
    monkeypatch.setattr(hardware, "cpu_has_vnni", lambda flags=None: True)
    with pytest.warns(UserWarning, match="reading in float instead of int8"):
        assert load_recognizer(path, precision="auto").precision != "int8"
    with pytest.warns(UserWarning, match="removed d.int8.onnx"):   # the checkpoint's graphs written again
        write_graph(path)
    assert not (tmp_path / "d.int8.onnx").exists()


def test_the_shipped_int8_encoder_reads_real_crops_as_the_float_one(shared):
    """words.int8.onnx is made from words.safetensors and, where it is used (VNNI), reads as the float encoder
    does: the word examples the same, at least 95 % of 300 IIIT5K test crops the same (measured: 97 % of all)."""
    from ocr.hardware import cpu_has_vnni
    from PIL import Image

    info = EncoderSession(graph_path(MODELS / "words.safetensors", "int8")).metadata()
    assert info["precision"] == "int8" and info["checkpoint_sha256"] == weights_digest(MODELS / "words.safetensors")
    if not cpu_has_vnni():
        pytest.skip("the int8 encoder is read on CPUs with VNNI; this one has none (its products saturate)")
    fp32, int8 = load_recognizer("words", precision="fp32"), load_recognizer("words", precision="int8")
    examples = sorted(EXAMPLES.glob("words_*.png"))
    assert [p.text for p in int8.read(examples)] == [p.text for p in fp32.read(examples)]
    folder = shared / "dev" / "iiit5k_test"
    crops = [Image.open(folder / line.split("\t")[0]) for line in
             (folder / "labels.tsv").read_text().splitlines()[:300]]
    a, b = fp32.read(crops, fast=True), int8.read(crops, fast=True)
    assert sum(p.text == q.text for p, q in zip(a, b)) >= 0.95 * len(crops)


def test_export_script_writes_a_checked_int8_encoder(tmp_path):
    from ocr.synth import DigitSynth

    path = _digits_checkpoint(tmp_path / "d.safetensors", 0)
    crops = tmp_path / "crops"
    crops.mkdir()
    synth, rows = DigitSynth(seed=3), []
    for i in range(60):
        image, text = synth[i]
        image.save(crops / f"{i}.png")
        rows.append(f"{i}.png\t{text}")
    (crops / "labels.tsv").write_text("\n".join(rows) + "\n")
    run = [sys.executable, "scripts/export_onnx.py", str(path), "--int8"]
    r = subprocess.run(run + [str(crops), "--calibration", "50", "--check", "10"], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "of 10 readings of other crops equal the float encoder's" in r.stdout
    assert (tmp_path / "d.int8.onnx").is_file() and not list(tmp_path.glob("*.new"))
    r = subprocess.run(run + [str(tmp_path / "nowhere")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "no labelled crops at" in r.stderr and "Traceback" not in r.stderr


def test_the_command_line_reads_with_the_int8_encoder_when_asked():
    args = [sys.executable, "-m", "ocr", str(EXAMPLES / "words_1_Coffee.png"), "--precision", "int8", "--json"]
    r = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and json.loads(r.stdout)["regions"][0]["text"] == "Coffee"
    r = subprocess.run(args[:3] + [str(EXAMPLES / "digits_1_27.png"), "--task", "digits", "--precision", "int8"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "digits.int8.onnx not found" in r.stderr and "Traceback" not in r.stderr
