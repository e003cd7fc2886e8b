"""Reading whole photos: the text detector's interface, the word split, reading order and read_photo."""
import random

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from ocr import photo
from ocr.detect import TextBox, find_text, order_quad, reading_order, rectify, register_detector, split_words
from ocr.photo import read_photo
from ocr.synth.scenes import box_iou, make_scene

FONT = "DejaVuSans-Bold.ttf"


def _font(size):
    try:
        return ImageFont.truetype(FONT, size)
    except OSError:
        from matplotlib import font_manager
        return ImageFont.truetype(font_manager.findfont("DejaVu Sans:bold"), size)


def _sign(text, size=48, pad=14, fg=(20, 20, 20), bg=(235, 235, 225)):
    f = _font(size)
    l, t, r, b = f.getbbox(text)
    img = Image.new("RGB", (r - l + 2 * pad, b - t + 2 * pad), bg)
    ImageDraw.Draw(img).text((pad - l, pad - t), text, font=f, fill=fg)
    return img


def _photo(words, size=(900, 600), seed=0):
    """Signs pasted onto a grey noise background at the given (x, y, angle); -> photo, [(quad, text)]."""
    rng = np.random.default_rng(seed)
    bg = Image.fromarray(rng.integers(90, 140, (size[1], size[0], 3), dtype=np.uint8))
    truth = []
    for text, (x, y, angle) in words:
        sign = _sign(text)
        mask = Image.new("L", sign.size, 255)
        turned, m = sign.rotate(angle, Image.BICUBIC, expand=True), mask.rotate(angle, expand=True)
        bg.paste(turned, (x, y), m)
        truth.append(((x, y, x + turned.width, y + turned.height), text))
    return bg, truth


def test_order_quad_starts_top_left_and_runs_clockwise():
    q = np.array([[100, 60], [10, 50], [12, 20], [102, 30]], dtype=np.float32)  # shuffled, turned a little
    o = order_quad(q)
    assert tuple(o[0]) == (12, 20) and tuple(o[1]) == (102, 30) and tuple(o[3]) == (10, 50)
    box = TextBox(o)
    assert box.box == (10, 20, 102, 60)
    assert TextBox.from_box(5, 6, 50, 20).box == (5, 6, 50, 20)


def test_reading_order_is_lines_top_to_bottom_then_left_to_right():
    b = lambda x, y: TextBox.from_box(x, y, x + 80, y + 30)  # noqa: E731
    boxes = [b(300, 105), b(10, 10), b(200, 200), b(150, 12), b(20, 100)]
    order = [(bx.box[0], bx.box[1]) for bx in reading_order(boxes)]
    assert order == [(10, 10), (150, 12), (20, 100), (300, 105), (200, 200)]


def test_rectify_turns_a_tilted_quad_upright():
    img = _sign("ABC", size=60)
    turned = img.rotate(20, Image.BICUBIC, expand=True, fillcolor=(235, 235, 225))
    w, h = img.size
    a = np.radians(-20)
    corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    quad = corners @ np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]]) + np.array(turned.size) / 2
    up = rectify(turned, quad)
    assert abs(up.width - w) <= 2 and abs(up.height - h) <= 2
    diff = np.abs(np.asarray(up.convert("L"), float) - np.asarray(img.resize(up.size).convert("L"), float))
    assert diff.mean() < 25   # the same picture, upright again


def test_a_line_is_split_into_its_words():
    line = _sign("OPEN DAILY", size=50)
    words = split_words(line, TextBox.from_box(0, 0, line.width, line.height))
    assert len(words) == 2
    assert words[0].box[2] <= words[1].box[0]  # left to right, not overlapping
    one = _sign("HOUSEBOAT", size=50)
    assert len(split_words(one, TextBox.from_box(0, 0, one.width, one.height))) == 1


def test_another_backend_can_be_plugged_in():
    calls = []
    register_detector("test-fixed", lambda: lambda img: calls.append(img.size) or [TextBox.from_box(1, 2, 30, 12)])
    img = Image.new("RGB", (64, 40), "white")
    assert [b.box for b in find_text(img, detector="test-fixed", words=False)] == [(1, 2, 30, 12)]
    assert calls == [(64, 40)]
    with pytest.raises(ValueError, match="unknown text detector"):
        find_text(img, detector="nope")


def test_an_empty_photo_gives_no_regions():
    rng = np.random.default_rng(5)
    flat = Image.fromarray(rng.integers(118, 122, (480, 640, 3), dtype=np.uint8))
    assert read_photo(flat, "words") == []


def test_a_tight_crop_is_read_whole_as_one_word():
    crop = _sign("STATION", size=40)
    res = read_photo(crop, "words")
    assert len(res) == 1 and res[0].box == (0, 0, crop.width, crop.height) and res[0].crop.size == crop.size
    assert res[0].text == "STATION"


def test_words_of_a_photo_are_found_read_and_ordered_even_turned():
    img, truth = _photo([("GARDEN", (80, 60, 0)), ("MARKET", (420, 70, 0)), ("OPEN", (300, 330, 12))])
    res = read_photo(img, "words")
    assert [r.text for r in res] == ["GARDEN", "MARKET", "OPEN"]
    for r, (box, text) in zip(res, truth):
        assert box_iou(r.box, box) >= 0.5, (r.box, box)
        assert r.quad.shape == (4, 2) and len(r.char_confidences) == len(r.text) and r.attention.ndim == 3
    assert res[2].crop.width > 2 * res[2].crop.height  # the turned word was read upright


def test_a_word_written_downwards_is_found_whole_and_read():
    """Its quad is taller than wide: the margin follows its letters' height (the quad's shorter side), so the crop keeps
    the whole word, tall, and the reader's quarter-turned view reads it."""
    img, truth = _photo([("STATION", (300, 40, -90)), ("PARK", (520, 260, 0))])
    res = read_photo(img, "words")
    down = [r for r in res if box_iou(r.box, truth[0][0]) >= 0.5]
    assert len(down) == 1 and down[0].text == "STATION", [(r.box, r.text) for r in res]
    assert down[0].crop.height > 3 * down[0].crop.width and down[0].prediction.view >= 5
    assert [r.text for r in res if box_iou(r.box, truth[1][0]) >= 0.5] == ["PARK"]
    img, _ = _photo([("BUS STOP", (300, 40, -90))])          # a line running downwards is cut into its words
    assert [r.text for r in read_photo(img, "words")] == ["BUS", "STOP"]
    quad = np.array([[10, 10], [40, 10], [40, 210], [10, 210]], dtype=np.float32)  # 30 wide, 200 tall
    assert rectify(Image.new("RGB", (60, 240)), quad, margin=-0.1).size == (24, 194)  # 0.1 x 30 off each side


def test_make_scene_is_reproducible_and_its_quads_hold_the_words():
    crops = [(_sign(t), t) for t in ("ONE", "TWO", "THREE")]
    a, wa = make_scene(crops, random.Random(3), (640, 480))
    b, wb = make_scene(crops, random.Random(3), (640, 480))
    assert np.array_equal(np.asarray(a), np.asarray(b)) and [w[1] for w in wa] == [w[1] for w in wb]
    for quad, _ in wa:
        assert quad.shape == (4, 2) and (quad >= -1).all() and (quad[:, 0] <= 641).all() and (quad[:, 1] <= 481).all()


def test_digits_find_the_house_number_in_a_wider_view():
    img, _ = _photo([("154", (260, 200, 0))], size=(700, 480), seed=2)
    res = read_photo(img, "digits")
    assert len(res) == 1 and res[0].text == "154"
    assert box_iou(res[0].box, (260, 200, 260 + _sign("154").width, 200 + _sign("154").height)) > 0.2


def test_looks_like_crop():
    assert photo.looks_like_crop(Image.new("L", (120, 40)))
    assert not photo.looks_like_crop(Image.new("L", (640, 480)))
    assert photo.looks_like_crop(Image.new("L", (15, 18)))   # one character
    assert not photo.looks_like_crop(Image.new("L", (150, 200)))
    assert not photo.looks_like_crop(Image.new("L", (120, 40)), "digits")


def test_the_number_finder_file_is_checked_and_runs_no_code(tmp_path):
    from ocr import CheckpointError, save_checkpoint
    from ocr.config import preset
    from ocr.model import Recognizer
    from ocr.finder import NumberFinder, load_finder, save_finder
    path = save_finder(NumberFinder(), tmp_path / "f.safetensors", {"steps": 1})
    model, meta = load_finder(path)
    assert meta == {"steps": 1} and not model.training
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    (tmp_path / "altered.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="integrity"):
        load_finder(tmp_path / "altered.safetensors")
    with pytest.raises(CheckpointError, match="not a number finder"):
        load_finder(save_checkpoint(Recognizer(preset("digits")), tmp_path / "reader.safetensors"))
    with pytest.raises(CheckpointError, match="not found"):
        load_finder(tmp_path / "missing.safetensors")


def test_the_number_finder_resumes_exactly(tmp_path):
    """Two steps, stop, two more == four steps in one go (the data position is the step)."""
    import torch
    from ocr.finder import load_finder
    from ocr.training.numbers_training import FinderOptions, train_finder
    fonts = None
    kw = dict(batch_size=2, val_size=2, val_every=2, warmup=1, threads=1)
    torch.manual_seed(0)
    train_finder(tmp_path / "a", FinderOptions(steps=4, **kw), fonts)
    torch.manual_seed(0)
    train_finder(tmp_path / "b", FinderOptions(steps=4, max_minutes=1e-9, **kw), fonts)  # stops after one step
    train_finder(tmp_path / "b", FinderOptions(steps=4, **kw), fonts)
    a, ma = load_finder(tmp_path / "a" / "last.safetensors")
    b, mb = load_finder(tmp_path / "b" / "last.safetensors")
    assert ma["steps"] == mb["steps"] == 4
    for (k, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(va, vb), k
