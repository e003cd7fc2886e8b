"""The serving path (fused channels_last encoder, NumPy greedy decoder) reads as the training model does."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from ocr.config import preset
from ocr.model import Recognizer
from ocr.recognizer import TextRecognizer, load_recognizer
from ocr.serving import ServingModel

EXAMPLES = Path(__file__).resolve().parent.parent / "data" / "examples"


def _random_model(cell: str, layers: int) -> Recognizer:
    torch.manual_seed(3)
    m = Recognizer(dataclasses.replace(preset("digits"), cell=cell, layers=layers)).eval()
    for bn in (mod for mod in m.modules() if isinstance(mod, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.5, 0.5)   # non-trivial statistics, so folding them is tested
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
    return m


@pytest.mark.parametrize("cell,layers", [("lstm", 1), ("gru", 1), ("lstm", 2), ("gru", 2)])
def test_serving_matches_training_model(cell, layers):
    m = _random_model(cell, layers)
    x = torch.randn(4, 3, 54, 54)
    fast = ServingModel(m)
    t1, p1, a1 = m.greedy(x)
    t2, p2, a2 = fast.greedy(x)
    assert torch.equal(t1, t2)
    assert torch.allclose(p1, p2, atol=1e-5) and torch.allclose(a1, a2, atol=1e-5)
    for i in range(2):
        bt, bp, ba = m.beam(x[i:i + 1], 3)
        ft, fp, fa = fast.beam(x[i:i + 1], 3)
        assert torch.equal(bt, ft) and torch.allclose(bp, fp, atol=1e-5) and torch.allclose(ba, fa, atol=1e-5)


def test_serving_refuses_a_model_in_training_mode():
    with pytest.raises(ValueError, match="eval mode"):
        ServingModel(Recognizer(preset("digits")).train())


@pytest.mark.parametrize("task", ["words", "digits"])
def test_shipped_models_read_the_examples_the_same_both_ways(task):
    rec = load_recognizer(task)
    assert isinstance(rec.reader, ServingModel)
    slow = TextRecognizer(rec.model, serving=False)
    images = sorted(EXAMPLES.glob(f"{task}_*.png"))
    assert len(images) >= 4
    for beam in (1, 5):
        for a, b in zip(rec.read(images, beam_width=beam), slow.read(images, beam_width=beam)):
            assert a.text == b.text
            assert a.confidence == pytest.approx(b.confidence, abs=1e-5)
            assert np.allclose(a.char_confidences, b.char_confidences, atol=1e-5)
            assert a.attention.shape == b.attention.shape and np.allclose(a.attention, b.attention, atol=1e-5)
