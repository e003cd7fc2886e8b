"""Checkpoint round trip and integrity; image loading of every mode; the public read() API."""
import io
import json
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from ocr import CheckpointError, InvalidImageError, load_checkpoint, load_image, load_recognizer, save_checkpoint
from ocr.config import preset
from ocr.preprocess import preprocess
from ocr.model import Recognizer
from ocr.recognizer import TextRecognizer


@pytest.fixture
def ckpt(tmp_path):
    torch.manual_seed(0)
    m = Recognizer(preset("digits")).eval()
    path = save_checkpoint(m, tmp_path / "m.safetensors", {"steps": 7, "data": ["synth-digits:1"]})
    return m, path


def test_round_trip_identical_outputs(ckpt):
    m, path = ckpt
    m2, meta = load_checkpoint(path)
    assert meta["steps"] == 7 and m2.cfg == m.cfg
    x = torch.randn(2, 3, 54, 54)
    y = m.tokenizer.encode(["12", "3"])
    assert torch.equal(m(x, y), m2(x, y))


def test_fp16_shipping_copy_loads_close(ckpt, tmp_path):
    m, _ = ckpt
    p = save_checkpoint(m, tmp_path / "half.safetensors", dtype=torch.float16)
    m2, _ = load_checkpoint(p)
    x = torch.randn(1, 3, 54, 54)
    y = m.tokenizer.encode(["5"])
    assert torch.allclose(m(x, y), m2(x, y), atol=5e-2)


def test_truncated_checkpoint(ckpt, tmp_path):
    _, path = ckpt
    bad = tmp_path / "trunc.safetensors"
    bad.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint(bad)


def test_tampered_weights(ckpt, tmp_path):
    _, path = ckpt
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF  # a byte in the tensor data
    bad = tmp_path / "tampered.safetensors"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="integrity"):
        load_checkpoint(bad)


def _with_config(path, tmp_path, **changes):
    """A copy of the checkpoint whose header config has `changes` (the weights are left as they are)."""
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    cfg = json.loads(header["__metadata__"]["config"])
    cfg.update(changes)
    header["__metadata__"]["config"] = json.dumps(cfg)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    bad = tmp_path / "changed.safetensors"
    bad.write_bytes(struct.pack("<Q", len(h)) + h + data[8 + n:])
    return bad


def test_config_not_matching_weights(ckpt, tmp_path):
    with pytest.raises(CheckpointError, match="shape mismatch|does not match"):
        load_checkpoint(_with_config(ckpt[1], tmp_path, hidden=64))
    with pytest.raises(CheckpointError, match="missing|does not match"):   # a context module with no weights
        load_checkpoint(_with_config(ckpt[1], tmp_path, context=16))


@pytest.mark.parametrize("changes,msg", [
    ({"cell": "rnn"}, "cell must be 'lstm' or 'gru'"),
    ({"charset": ""}, "charset must be a non-empty string"),
    ({"hidden": -3}, "hidden must be an integer"),
    ({"hidden": 2.5}, "hidden must be an integer"),
    ({"hidden": 3_000_000}, "hidden must be an integer"),   # would allocate ~8 GB before any check
    ({"widths": [16, 32], "convs": [1]}, "same length"),
    ({"pools": "x"}, "pools"),
    ({"channels": 7}, "channels must be 1 or 3"),
    ({"context": -1}, "context must be an integer"),
    ({"context": 100_000}, "context must be an integer"),
])
def test_invalid_configs_are_refused_before_building(ckpt, tmp_path, changes, msg, monkeypatch):
    import ocr.model
    built = []
    monkeypatch.setattr(ocr.model, "Recognizer", lambda cfg: built.append(cfg))
    with pytest.raises(CheckpointError, match=msg):
        load_checkpoint(_with_config(ckpt[1], tmp_path, **changes))
    assert built == []


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_recognizer(tmp_path / "nope.safetensors")
    pickle_file = tmp_path / "evil.safetensors"
    torch.save({"x": 1}, pickle_file)
    with pytest.raises(CheckpointError):
        load_checkpoint(pickle_file)


def _img(mode):
    base = Image.new("RGB", (60, 20), (250, 250, 250))
    if mode == "I;16":
        return Image.fromarray((np.arange(1200).reshape(20, 60) * 50).astype(np.uint16))
    return base.convert(mode)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "I;16", "CMYK", "1", "LA", "I", "F", "YCbCr"])
def test_every_mode(mode):
    img = load_image(_img(mode))
    assert img.mode in ("L", "RGB") and img.size == (60, 20)
    for name in ("words", "digits"):
        cfg = preset(name)
        x = preprocess(img, cfg)
        assert x.shape == (cfg.channels, cfg.img_h, cfg.img_w) and x.min() >= -1 and x.max() <= 1


def test_transparent_png_composited_on_white():
    img = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    assert load_image(img).getpixel((5, 5)) == (255, 255, 255)


def test_exif_orientation_applied():
    img = Image.new("RGB", (40, 10), "white")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    assert load_image(buf.getvalue()).size == (10, 40)


def test_inputs_of_every_kind(tmp_path):
    p = tmp_path / "x.png"
    Image.new("RGB", (30, 10), "white").save(p)
    for src in (p, str(p), p.read_bytes(), np.zeros((10, 30, 3), np.uint8), np.zeros((10, 30), np.float32)):
        assert load_image(src).size == (30, 10)


@pytest.mark.parametrize("bad, msg", [
    (b"", "empty"), (b"not an image at all", "not a readable image"), (np.zeros((0, 5), np.uint8), "no pixels"),
    (np.zeros((2, 2, 7)), "not an image"), (12345, "cannot read"), ("/no/such/file.png", "no such image"),
])
def test_invalid_inputs(bad, msg):
    with pytest.raises(InvalidImageError, match=msg):
        load_image(bad)


def test_truncated_and_bomb_images():
    buf = io.BytesIO()
    Image.new("RGB", (200, 200), "red").save(buf, "PNG")
    with pytest.raises(InvalidImageError):
        load_image(buf.getvalue()[:150])
    buf = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buf, "PNG")  # a few KB, 400 megapixels
    with pytest.raises(InvalidImageError, match="too large"):
        load_image(buf.getvalue())


def test_read_api(ckpt):
    _, path = ckpt
    rec = load_recognizer(path)
    imgs = [Image.new("RGB", (64, 32), "white"), Image.new("L", (20, 20))]
    for bw in (1, 3):
        preds = rec.read(imgs, beam_width=bw)
        assert len(preds) == 2
        for p in preds:
            assert isinstance(p.text, str) and 0.0 <= p.confidence <= 1.0
            assert len(p.char_confidences) == len(p.text) <= rec.cfg.max_len
            assert p.attention.shape[1:] == (7, 7) and p.attention.shape[0] in (len(p.text), len(p.text) + 1)
    assert len(rec.read(imgs[0])) == 1
    with pytest.raises(InvalidImageError, match="image 1"):
        rec.read([imgs[0], b"garbage"])


def test_untrained_default_warns_loudly_and_leaves_the_global_seed(monkeypatch, tmp_path):
    from ocr import UntrainedModelWarning
    monkeypatch.setenv("OCR_MODELS_DIR", str(tmp_path))  # no shipped models there
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with pytest.warns(UntrainedModelWarning, match="UNTRAINED"):
        rec = load_recognizer("digits")
    assert isinstance(rec, TextRecognizer) and rec.untrained
    assert torch.equal(torch.rand(3), expected)  # the caller's random stream is untouched


@pytest.mark.parametrize("task", ["words", "digits"])
def test_the_network_input_is_torchvisions_bit_for_bit(task):
    """`input_array` (NumPy: reading without torch) equals torchvision's ToImage + ToDtype(scale) (and CenterCrop
    for digits), then (x - 0.5) / 0.5, bit for bit; `preprocess` is the same as a tensor; the arrays' digest
    equals the tensors' (the checkpoints' integrity check without torch)."""
    from torchvision.transforms import v2

    from ocr.checkpoint import tensor_digest
    from ocr.preprocess import input_array, network_image

    cfg = preset(task)
    scale = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
    rng = np.random.default_rng(1)
    for h, w in ((32, 100), (61, 47), (9, 300)):
        img = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        small = network_image(img, cfg)
        if cfg.resize_h:
            small = v2.CenterCrop((cfg.img_h, cfg.img_w))(small)
        want = scale(small).sub_(0.5).div_(0.5)
        assert np.array_equal(input_array(img, cfg), want.numpy())
        assert torch.equal(preprocess(img, cfg), want)
    tensors = {"a": torch.randn(3, 4).half(), "b": torch.arange(5)}
    assert tensor_digest({k: v.numpy() for k, v in tensors.items()}) == tensor_digest(tensors)
