"""The serving path (ONNX Runtime or fused channels_last encoder, NumPy greedy decoder) reads as the training model does."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from ocr.config import preset
from ocr.model import Recognizer
from ocr.recognizer import TextRecognizer, load_recognizer
from ocr.serving import OnnxEncoder, ServingModel

EXAMPLES = Path(__file__).resolve().parent.parent / "data" / "examples"


def _random_model(cell: str, layers: int, context: int = 0) -> Recognizer:
    torch.manual_seed(3)
    m = Recognizer(dataclasses.replace(preset("digits"), cell=cell, layers=layers, context=context)).eval()
    if context:  # its output projection starts at zero (an identity): give it weights, as training would
        torch.nn.init.normal_(m.encoder.context.proj.weight, std=0.1)
    for bn in (mod for mod in m.modules() if isinstance(mod, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.5, 0.5)   # non-trivial statistics, so folding them is tested
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
    return m


@pytest.mark.parametrize("engine", ["onnxruntime", "torch"])
@pytest.mark.parametrize("cell,layers,context", [("lstm", 1, 0), ("gru", 1, 0), ("lstm", 2, 0), ("gru", 2, 0),
                                                 ("lstm", 1, 32)])
def test_serving_matches_training_model(cell, layers, context, engine):
    m = _random_model(cell, layers, context)
    x = torch.randn(4, 3, 54, 54)
    fast = ServingModel(m, engine=engine)
    assert fast.engine == engine
    t1, p1, a1 = (t.numpy() for t in m.greedy(x))
    t2, p2, a2 = fast.greedy(x.numpy())
    assert np.array_equal(t1, t2)
    assert np.allclose(p1, p2, atol=1e-5) and np.allclose(a1, a2, atol=1e-5)
    for i in range(2):
        bt, bp, ba = (t.numpy() for t in m.beam(x[i:i + 1], 3))
        ft, fp, fa = fast.beam(x[i:i + 1].numpy(), 3)
        assert np.array_equal(bt, ft) and np.allclose(bp, fp, atol=1e-5) and np.allclose(ba, fa, atol=1e-5)
    targets = m.tokenizer.encode(["12", "3", "", "4567"])                      # teacher forcing, as in training
    with torch.no_grad():
        want = torch.log_softmax(m(x, targets), -1).numpy()
    assert np.allclose(fast.forced(x.numpy(), targets.numpy()), want, atol=1e-4)


def test_onnx_encoder_follows_the_thread_count_and_reuses_its_export(monkeypatch):
    m = _random_model("lstm", 1, 32)
    x = torch.randn(3, 3, 54, 54)
    fast = ServingModel(m, engine="onnxruntime")
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one, _ = fast.encode(x)
        torch.set_num_threads(2)
        two, _ = fast.encode(x)
    finally:
        torch.set_num_threads(threads)
    assert set(fast.onnx.session._sessions) >= {1, 2}
    with torch.no_grad():
        want = m.encode(x)[0].numpy()
    assert np.allclose(one, two, atol=1e-5) and np.allclose(one, want, atol=1e-5)
    exports = []
    monkeypatch.setattr(OnnxEncoder, "_export", staticmethod(lambda model: exports.append(model) or b""))
    assert ServingModel(m, engine="onnxruntime").onnx.graph == fast.onnx.graph and not exports  # the same weights
    m.decoder.key.bias.data += 1.0
    ServingModel(m, engine="onnxruntime")
    assert len(exports) == 1                                     # changed weights: exported again


def test_serving_falls_back_to_torch_without_onnxruntime(monkeypatch):
    import ocr.serving as serving

    def missing(model):
        raise ImportError("No module named 'onnxruntime'")
    monkeypatch.setattr(serving, "OnnxEncoder", missing)
    m = _random_model("gru", 1)
    fast = ServingModel(m)
    assert fast.engine == "torch" and fast.onnx is None
    x = torch.randn(2, 3, 54, 54)
    assert np.array_equal(fast.greedy(x)[0], m.greedy(x)[0].numpy())
    with pytest.raises(ImportError):
        ServingModel(m, engine="onnxruntime")
    with pytest.raises(ValueError, match="engine"):
        ServingModel(m, engine="tensorrt")


def test_serving_refuses_a_model_in_training_mode():
    with pytest.raises(ValueError, match="eval mode"):
        ServingModel(Recognizer(preset("digits")).train())


@pytest.mark.parametrize("task", ["words", "digits"])
def test_shipped_models_read_the_examples_the_same_both_ways(task):
    rec = load_recognizer(task)
    assert isinstance(rec.reader, ServingModel)
    slow = TextRecognizer(rec.model, serving=False, lm=rec.lm)   # the same word prior (words: the default)
    images = sorted(EXAMPLES.glob(f"{task}_*.png"))
    assert len(images) >= 4
    for beam in (1, 5):
        for a, b in zip(rec.read(images, beam_width=beam, views=1), slow.read(images, beam_width=beam, views=1)):
            assert a.text == b.text
            assert a.confidence == pytest.approx(b.confidence, abs=1e-5)
            assert np.allclose(a.char_confidences, b.char_confidences, atol=1e-5)
            assert a.attention.shape == b.attention.shape and np.allclose(a.attention, b.attention, atol=1e-5)


def test_bf16_encoder_reads_the_examples_as_fp32_does():
    """The bf16 serving encoder (the demo's on AMX / AVX512-BF16 CPUs) agrees with fp32 up to bf16 rounding:
    same texts on the shipped examples and on synthetic words, confidences and attention close."""
    exact = load_recognizer("words", precision="fp32")
    half = load_recognizer("words", precision="bf16")
    assert half.precision == "bf16" and half.reader.encoder.blocks[0][0][0].weight.dtype == torch.bfloat16
    images = sorted(EXAMPLES.glob("words_*.png"))
    from ocr.synth import WordSynth
    synth = WordSynth(exact.cfg.charset, seed=4242, engine="v2")
    images += [synth[i][0] for i in range(120)]
    a, b = exact.read(images, fast=True), half.read(images, fast=True)
    same = [p.text == q.text for p, q in zip(a, b)]
    assert all(same[:4]) and sum(same) >= 0.93 * len(images)   # 122 of 126 when written
    for p, q in zip(a, b):
        if p.text == q.text:
            assert abs(p.confidence - q.confidence) < 0.05
            assert np.abs(p.attention - q.attention).max() < 0.05
    feats32, _ = exact.reader.encode(exact.prepare(images[:8]))
    feats16, _ = half.reader.encode(half.prepare(images[:8]))
    assert feats16.dtype == np.float32 and 0 < np.abs(feats32 - feats16).max() < 0.03 * np.abs(feats32).max()


def test_precision_choice(monkeypatch):
    import ocr.hardware as hardware
    from ocr.settings import serving_precision
    m = Recognizer(preset("digits")).eval()
    for native, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(hardware, "cpu_has_bf16", lambda native=native: native)
        assert TextRecognizer(m, precision="auto").precision == expected
    assert TextRecognizer(m).precision == "fp32"                       # the library's default: exact
    assert TextRecognizer(m, precision="bf16", serving=False).precision == "fp32"  # no serving path, no bf16
    with pytest.raises(ValueError, match="precision"):
        TextRecognizer(m, precision="fp8")
    monkeypatch.delenv("OCR_PRECISION", raising=False)
    assert serving_precision() == "auto"
    monkeypatch.setenv("OCR_PRECISION", " BF16 ")
    assert serving_precision() == "bf16"
    monkeypatch.setenv("OCR_PRECISION", "half")
    with pytest.raises(ValueError, match="OCR_PRECISION"):
        serving_precision()
