"""The demo: handlers with a temporary store, the API through gradio_client, a real browser."""
import io
import json
import os
import re
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sqlalchemy import func, select

import app
from conftest import CHROMIUM  # the page_at fixture lives there too
from feedback import Label, Submission
from webapp.hub_sync import export_new_accepted
from webapp.service import UserError

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    return app.make_service(str(tmp_path_factory.mktemp("db") / "fb.sqlite"))


def _png(tmp_path, name="w.png", size=(120, 32), mode="RGB", seed=0):
    """A small image with content (noise): blank images are refused by the demo."""
    a = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    p = tmp_path / name
    Image.fromarray(a).convert(mode).save(p)
    return str(p)


def _standard(text):
    """The standard scene-text protocol: lower-case, 0-9a-z only."""
    return "".join(c for c in text.lower() if c.isalnum())


def test_shipped_examples_are_read_right(svc):
    """The examples a visitor clicks first, read as the page reads them (find the text, read every region):
    <task>_<n>_<text>.png are crops (one region, the whole image), photo-<task>_<n>_<words>.png whole photos (each
    word found in a region of the photo, in reading order; the street scene has seven)."""
    right = {"words": [], "digits": [], "photo": []}
    for p in sorted(app.EXAMPLES.glob("*_*.png")):
        kind, _, truth = p.stem.split("_", 2)
        task = kind.removeprefix("photo-")
        res = svc.read_photo(str(p), task)
        texts = [r.text for r in res.regions]
        if kind.startswith("photo-"):
            w, h = Image.open(p).size
            right["photo"].append(texts == truth.split("-") and not res.whole
                                  and all(r.box != (0, 0, w, h) for r in res.regions))
        else:
            right[task].append(len(texts) == 1 and (_standard(texts[0]) == _standard(truth) if task == "words"
                                                    else texts[0] == truth))
    assert len(right["digits"]) == 4 and all(right["digits"]), right
    assert len(right["words"]) == 6 and all(right["words"]), right
    assert len(right["photo"]) == 3 and all(right["photo"]), right


def test_a_photo_region_is_shown_corrected_and_stored_with_its_photo(svc):
    from feedback import Photo, Sample
    p = str(app.EXAMPLES / "photo-words_1_Coffee.png")
    res = svc.read_photo(p, "words")
    region = res.regions[0]
    d = svc.detail(p, "words", region)
    assert d.prediction.text == region.text == "Coffee" and d.image.size != Image.open(p).size
    assert len(d.frames) == len("Coffee") + 1 and d.gif[:6] == b"GIF89a"
    assert d.read_ms is None  # read with the photo: no time of its own is claimed for it
    assert svc.recognize(p, "words").read_ms > 0
    sid, msg = svc.save(p, "words", "Coffea", "client-photo", region=region)
    with svc.Session.begin() as s:
        sample = s.get(Sample, s.get(Submission, sid).sample_id)
        photo = s.get(Photo, sample.photo_id)
        assert (sample.width, sample.height) == d.image.size           # the crop is what trains
        assert photo.width == 640 and len(sample.box) == 4              # the photo (stored once) and the box
        x0, y0, x1, y1 = sample.box
        assert (x0, y0, x1, y1) == tuple(region.box)
    from webapp.review import Review
    rv = Review(svc.Session, "pw")
    rows = [r for r in rv.rows("words", "pending", 500) if r["text"] == "Coffea"]
    items = rv.gallery(rows)                                          # the moderator sees the crop and its photo
    assert len(rows) == 1 and len(items) == 2 and items[1][1] == f"#{rows[0]['id']} in its photo"
    assert items[1][0].size == (640, 427) and items[0][0].size == d.image.size
    added = svc.add_region(p, "words", (200, 40, 460, 140))              # a box the person drew
    assert added.added and added.text == "Coffee" and added.box == (200, 40, 460, 140)
    with pytest.raises(UserError, match="four numbers"):
        svc.add_region(p, "words", ("a", "b"))
    with pytest.raises(UserError, match="Choose a region"):
        svc.detail(p, "words", {"box": [0, 0, 5, 5]})


def test_a_photo_without_text_says_so(svc, tmp_path):
    flat = tmp_path / "flat.png"
    ramp = np.linspace(60, 200, 640)[None, :, None].repeat(480, 0).repeat(3, 2)       # a smooth sky, no text
    Image.fromarray(ramp.astype(np.uint8)).save(flat)
    res = svc.read_photo(str(flat), "words")
    assert res.regions == [] and "No text found" in res.message


def test_the_shown_confidence_is_the_readers_own(svc, shared):
    """IIIT5K 2055_4 "Strawberry": read right as the page reads, only because the word prior decides two letters;
    the decoder alone gives the reading 0.0007, the reader (decoder and prior) gives it what the page shows."""
    p = next((shared / "dev" / "iiit5k_test" / "test").glob("2055_4.*"))
    rec = svc.models.get("words")
    raw = rec.read(str(p), beam_width=5, views=5)[0]
    shown = svc.read_photo(str(p), "words").regions[0]
    assert shown.text == raw.text
    assert shown.confidence > 10 * raw.confidence
    assert shown.confidence == pytest.approx(rec.reader_confidences([str(p)], [raw])[0][0], rel=1e-5)
    from webapp.service import confidence_spans
    from types import SimpleNamespace
    spans = confidence_spans(SimpleNamespace(text=shown.text, confidence=shown.confidence, char_confidences=shown.chars))
    assert any(lv != "low" for _, lv in spans)                           # not every letter red


def test_recognize_returns_prediction_and_animation(svc, tmp_path):
    r = svc.recognize(str(app.EXAMPLES / "words_1_Coffee.png"), "words")
    assert r.prediction.text == "Coffee"
    assert len(r.frames) == len(r.prediction.attention) == len("Coffee") + 1   # one step per character + EOS
    assert r.gif[:6] == b"GIF89a" and r.gif_data_uri.startswith("data:image/gif;base64,")
    frames = Image.open(io.BytesIO(r.gif))
    assert getattr(frames, "n_frames", 1) == len(r.frames)
    d = svc.recognize(_png(tmp_path, "d.png", (60, 40)), "digits")
    assert set(d.prediction.text) <= set("0123456789")


def test_the_demo_reads_as_the_library_does_with_the_checkpoints_reading_settings(svc, shared):
    """The reading settings travel in the checkpoint (ocr.reading): the demo and `load_recognizer(...).read` read
    alike. IIIT5K's "MONSTER" (test/155_1) was read "MODSTER" by the library's greedy default, right in the demo."""
    import ocr
    assert (svc.models.get("words").reading.beam_width, svc.models.get("words").reading.views) == (5, 7)
    assert svc.models.get("digits").reading.views == 5 and svc.models.get("digits").reading.lm_weight == 0
    image = shared / "dev" / "iiit5k_test" / "test" / "155_1.jpg"
    library = ocr.load_recognizer("words")
    assert library.reading == svc.models.get("words").reading
    text = library.read(image)[0].text
    assert text == svc.recognize(str(image), "words").prediction.text and text.upper() == "MONSTER"
    assert library.read(image, fast=True)[0].text == "MODSTER"     # greedy, one view: asked for explicitly


def test_the_attention_is_drawn_over_the_view_that_was_read(svc, tmp_path, monkeypatch):
    """A reading kept from a turned view (ocr.views) is shown over that view's network input, not the plain one."""
    from webapp import service
    rec = svc.models.get("words")
    p = _png(tmp_path, "turned.png", (96, 30), seed=3)
    real = rec.read(p)[0]
    real.view = 2
    monkeypatch.setattr(rec, "read", lambda *a, **kw: [real])
    drawn = []
    monkeypatch.setattr(service, "attention_frames", lambda x, *a, _f=service.attention_frames: drawn.append(x) or _f(x, *a))
    svc.recognize(p, "words")
    assert np.array_equal(drawn[0], rec.view_input(p, 2)) and not np.array_equal(drawn[0], rec.prepare(p)[0])


def test_a_save_right_after_a_read_does_not_read_again(svc, tmp_path, monkeypatch):
    """The reading stored with a correction is the one just shown; another image (or crop) is read afresh."""
    from webapp import service
    rec = svc.models.get("words")
    reads, prepares = [], []
    monkeypatch.setattr(rec, "read", lambda *a, _r=rec.read, **kw: reads.append(1) or _r(*a, **kw))
    monkeypatch.setattr(service, "attention_frames",
                        lambda x, *a, _f=service.attention_frames: prepares.append(type(x).__name__) or _f(x, *a))
    p = _png(tmp_path, "again.png", (96, 30), seed=7)
    shown = svc.recognize(p, "words").prediction
    assert reads == [1] and prepares == ["ndarray"]
    sid, _ = svc.save(p, "words", "Again", "client-r")
    assert reads == [1]                            # the save used the reading just shown
    with svc.Session.begin() as s:
        assert s.get(Submission, sid).prediction == shown.text
    svc.save(p, "words", "Again", "client-r", box=(0, 0, 60, 30))   # a region never read: read now
    svc.save(_png(tmp_path, "other.png", (96, 30), seed=8), "words", "Other", "client-r")
    assert reads == [1, 1, 1]


def _bad_inputs(tmp_path):
    (tmp_path / "notimg.png").write_bytes(b"%PDF-1.4 hello")
    (tmp_path / "empty.png").write_bytes(b"")
    buf = io.BytesIO()
    Image.new("RGB", (300, 300), "red").save(buf, "PNG")
    (tmp_path / "trunc.png").write_bytes(buf.getvalue()[:200])
    Image.new("1", (20000, 20000)).save(tmp_path / "bomb.png")
    return ["", None, str(tmp_path / "notimg.png"), str(tmp_path / "empty.png"), str(tmp_path / "trunc.png"),
            str(tmp_path / "bomb.png"), str(tmp_path / "missing.png")]


def test_bad_images_give_user_errors(svc, tmp_path):
    for bad in _bad_inputs(tmp_path):
        with pytest.raises(UserError):
            svc.recognize(bad, "words")


def _gradient(w, h):
    return (np.add.outer(np.arange(h), np.arange(w)) * 255 // (w + h)).astype(np.uint8)


@pytest.mark.parametrize("make", [
    lambda: Image.fromarray((_gradient(30, 20).astype(np.uint16) * 200)),
    lambda: Image.fromarray(np.stack([_gradient(50, 20)] * 4, 2), "CMYK"),
    lambda: Image.fromarray(_gradient(50, 20)).convert("P"),
    lambda: Image.fromarray(np.dstack([_gradient(50, 20)] * 3 + [np.full((20, 50), 200, np.uint8)]), "RGBA"),
    lambda: Image.fromarray(np.where(np.isin(np.arange(600).reshape(20, 30), [5]), np.nan,
                                     _gradient(30, 20)).astype(np.float32), "F"),   # one NaN pixel
])
def test_odd_images_are_read(svc, tmp_path, make):
    img = make()
    fmt = "TIFF" if img.mode in ("CMYK", "I;16", "F") else "PNG"
    p = tmp_path / f"odd.{fmt.lower()}"
    img.save(p, fmt)
    r = svc.recognize(str(p), "words")
    assert isinstance(r.prediction.text, str)
    assert r.image.getextrema() != (0, 0)          # a NaN pixel must not turn the whole image black


@pytest.mark.parametrize("size,why", [((1, 1), "too small"), ((1, 20000), "too small"), ((20000, 1), "too small"),
                                      ((400, 8), "too thin"), ((60, 30), "blank")])
def test_images_that_cannot_hold_text_are_refused_and_not_stored(svc, tmp_path, size, why):
    p = tmp_path / "junk.png"
    Image.new("L", size, 200).save(p) if why == "blank" else Image.fromarray(
        np.random.default_rng(0).integers(0, 255, size[::-1], dtype=np.uint8)).save(p)
    with pytest.raises(UserError, match=why):
        svc.recognize(str(p), "words")
    with svc.Session.begin() as s:
        before = s.scalar(select(func.count(Submission.id)))
    with pytest.raises(UserError, match=why):
        svc.save(str(p), "words", "junk", "c")
    with svc.Session.begin() as s:
        assert s.scalar(select(func.count(Submission.id))) == before


def test_postscript_and_other_formats_are_never_decoded(svc, tmp_path, monkeypatch):
    import subprocess
    calls = []
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(OSError()))
    p = tmp_path / "loop.eps"
    p.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 30\n{ } loop\n%%EOF\n")
    with pytest.raises(UserError, match="accepted: PNG, JPEG, WebP, GIF, BMP or TIFF"):
        svc.recognize(str(p), "words")
    for fmt in ("PCX", "PPM", "TGA", "ICO"):
        q = tmp_path / f"x.{fmt.lower()}"
        Image.fromarray(_gradient(32, 32)).convert("RGB").save(q, fmt)
        with pytest.raises(UserError, match="unsupported"):
            svc.recognize(str(q), "words")
    assert calls == []   # Ghostscript (or anything else) was never started


def test_large_images_are_stored_at_a_bounded_size(svc, tmp_path):
    from feedback import Sample
    from feedback.store import MAX_STORED_PIXELS, MAX_STORED_SIDE
    p = _png(tmp_path, "big.png", (3900, 3900), seed=5)
    sid, _ = svc.save(p, "words", "Noise", "c")
    with svc.Session.begin() as s:
        sample = s.get(Sample, s.get(Submission, sid).sample_id)
        assert max(sample.width, sample.height) <= MAX_STORED_SIDE and sample.width * sample.height <= MAX_STORED_PIXELS
        assert len(sample.png) < 2_000_000


def test_animated_gif_and_exif_rotated(svc, tmp_path):
    frames = [Image.fromarray(_gradient(60, 20)).convert("RGB"), Image.new("RGB", (60, 20), "black")]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    assert isinstance(svc.recognize(str(tmp_path / "a.gif"), "words").prediction.text, str)
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.fromarray(_gradient(20, 60)).convert("RGB").save(tmp_path / "r.jpg", exif=exif)
    r = svc.recognize(str(tmp_path / "r.jpg"), "words")
    assert r.image.size == (60, 20)


def test_save_confirm_undo_and_refusals(svc, tmp_path):
    p = _png(tmp_path, "s.png", (90, 30))
    sid, msg = svc.save(p, "words", "Hello", "client-a")
    assert "Hello" in msg
    cid, msg2 = svc.save(p, "words", None, "client-a")
    assert msg2.startswith("Confirmed")
    with svc.Session.begin() as s:
        assert s.get(Submission, sid).corrected_text == "Hello" and s.get(Submission, cid).confirmed
    assert "Undid" in svc.undo(sid, "client-a")
    with pytest.raises(UserError):
        svc.undo(cid, "client-b")
    with svc.Session.begin() as s:
        before = s.scalar(select(func.count(Submission.id)))
    for bad in ["", "   ", "x" * 200, "a\x07b", "new\nline"]:
        with pytest.raises(UserError, match="Not saved"):
            svc.save(p, "words", bad, "client-a")
    with pytest.raises(UserError):
        svc.save(p, "digits", "12b", "client-a")
    with svc.Session.begin() as s:
        assert s.scalar(select(func.count(Submission.id))) == before
    for bad in (["abc"], True, 12345, b"bytes"):
        with pytest.raises(UserError, match="must be text"):
            svc.save(p, "words", bad, "client-a")


def test_a_save_after_undo_goes_back_to_review(svc, tmp_path):
    p = _png(tmp_path, "u.png", (90, 30), seed=9)
    sid, _ = svc.save(p, "words", "Again", "client-u")
    svc.undo(sid, "client-u")
    sid2, msg = svc.save(p, "words", "Again", "client-u")
    assert msg == f"Saved correction #{sid2}: Again"
    with svc.Session.begin() as s:
        label = s.get(Label, s.get(Submission, sid2).label_id)
        assert (label.state, label.count) == ("pending", 1)


def test_a_locked_store_is_retried_then_reported_as_busy(svc, tmp_path, monkeypatch):
    from sqlalchemy.exc import OperationalError
    import webapp.service as service
    calls = []

    def locked(*a, **k):
        calls.append(1)
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(service, "add_submission", locked)
    monkeypatch.setattr(service.time, "sleep", lambda s: None)
    with pytest.raises(UserError, match="busy right now. Try again"):
        svc.save(_png(tmp_path), "words", "Busy", "c")
    assert len(calls) == 3


def test_hub_sync_exports_accepted_to_local_folder(svc, tmp_path):
    p = _png(tmp_path, "h.png", (80, 30))
    svc.save(p, "words", "Synced", "c")
    with svc.Session.begin() as s:
        for label in s.scalars(select(Label).where(Label.text == "Synced")):
            label.state = "accepted"
    out = tmp_path / "hub"
    n = export_new_accepted(svc.Session, out)
    assert n >= 1 and (out / "labels.jsonl").is_file()
    assert any('"Synced"' in line for line in (out / "labels.jsonl").read_text().splitlines())
    assert export_new_accepted(svc.Session, out) == 0  # nothing new: nothing appended
    assert len(list((out / "images").glob("*.png"))) == n


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(svc):
    demo = app.build_demo(svc)
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, css=app.CSS)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_gradio_client_api(server, tmp_path, svc):
    from gradio_client import Client, handle_file
    c = Client(server, verbose=False)
    text, conf, chars = c.predict(handle_file(str(app.EXAMPLES / "digits_2_154.png")), "digits", api_name="/recognize")
    assert text == "154" and 0 <= conf <= 1 and len(json.loads(chars)) == 3
    regions = c.predict(handle_file(str(app.EXAMPLES / "photo-words_1_Coffee.png")), "words", api_name="/read_photo")
    assert [r["text"] for r in regions] == ["Coffee"] and len(regions[0]["box"]) == 4 and len(regions[0]["quad"]) == 4
    assert 0 <= regions[0]["confidence"] <= 1 and len(regions[0]["char_confidences"]) == 6
    msg = c.predict(handle_file(_png(tmp_path)), "words", "Client", api_name="/save_correction")
    assert "Client" in msg
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(Exception, match="cannot be read as an image"):
        c.predict(handle_file(str(tmp_path / "bad.png")), "words", api_name="/recognize")
    with pytest.raises(Exception, match="Not saved"):
        c.predict(handle_file(_png(tmp_path)), "words", "", api_name="/save_correction")


def _call(server, api, data):
    """Raw HTTP, as a stranger would call the API: POST the data, read the server-sent events."""
    import httpx
    r = httpx.post(f"{server}gradio_api/call/{api}", json={"data": data}, timeout=30)
    r.raise_for_status()
    with httpx.stream("GET", f"{server}gradio_api/call/{api}/{r.json()['event_id']}", timeout=60) as events:
        return "".join(events.iter_text())


def _submissions(svc):
    with svc.Session.begin() as s:
        return s.scalar(select(func.count(Submission.id)))


def test_no_file_on_the_server_can_be_read_through_the_api(server, svc, tmp_path):
    from gradio_client import Client
    repo_file = str(app.EXAMPLES / "words_1_Coffee.png")       # an image the model reads as "Coffee"
    outside = _png(tmp_path, "secret.png", (200, 40), seed=3)  # a server file outside Gradio's folders
    before = _submissions(svc)
    replies = []
    for path in (repo_file, outside, "/no/such/file.png", os.path.join(app.EXAMPLES, "..", "..", "README.md")):
        for value in ({"path": path}, {"path": path, "meta": {"_type": "gradio.FileData"}}):
            out = _call(server, "recognize", [value, "words"])
            assert "event: error" in out and "Coffee" not in out, out
            replies.append(out.replace(path, "<path>"))
            out = _call(server, "save_correction", [value, "words", "Stolen"])
            assert "event: error" in out, out
    # one generic answer: the replies never say whether a path exists or what it holds
    without_meta = {r for r in replies[::2]}
    assert len(without_meta) == 1 and "cannot be read as an image" in without_meta.pop()
    c = Client(server, verbose=False)
    with pytest.raises(Exception, match="cannot be read as an image"):
        c.predict({"path": repo_file}, "words", api_name="/recognize")
    assert _submissions(svc) == before


def test_the_api_refuses_corrections_that_are_not_strings(server, svc, tmp_path):
    import httpx
    with open(_png(tmp_path, "up.png", seed=4), "rb") as f:
        r = httpx.post(f"{server}gradio_api/upload", files={"files": ("up.png", f, "image/png")}, timeout=30)
    uploaded = {"path": r.json()[0], "meta": {"_type": "gradio.FileData"}}
    before = _submissions(svc)
    for bad in (None, ["abc"], True, 12345, {"text": "x"}):
        out = _call(server, "save_correction", [uploaded, "words", bad])
        assert "event: error" in out and "must be" in out, (bad, out)
    assert _submissions(svc) == before
    out = _call(server, "save_correction", [uploaded, "words", "Fine"])
    assert "event: complete" in out and "Fine" in out
    assert _submissions(svc) == before + 1


def test_twenty_concurrent_clients_lose_nothing(server, tmp_path, svc):
    from gradio_client import Client, handle_file
    paths = []
    for k in range(20):
        a = np.random.default_rng(k).integers(0, 255, (24, 80, 3), dtype=np.uint8)
        p = tmp_path / f"c{k}.png"
        Image.fromarray(a).save(p)
        paths.append(str(p))
    with svc.Session.begin() as s:
        before = s.scalar(select(func.count(Submission.id)))

    def one(k):
        c = Client(server, verbose=False)
        return [c.predict(handle_file(paths[k]), "words", f"Conc{k}x{j}", api_name="/save_correction") for j in range(3)]

    with ThreadPoolExecutor(20) as ex:
        results = list(ex.map(one, range(20)))
    assert all(len(r) == 3 for r in results)
    with svc.Session.begin() as s:
        assert s.scalar(select(func.count(Submission.id))) == before + 60
        texts = set(s.scalars(select(Label.text).where(Label.text.like("Conc%"))))
    assert texts == {f"Conc{k}x{j}" for k in range(20) for j in range(3)}


needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                    reason="Debian chromium not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def review_svc(tmp_path_factory):
    return app.make_service(str(tmp_path_factory.mktemp("review") / "fb.sqlite"))


@pytest.fixture(scope="module")
def review_server(review_svc):
    """A second demo, on its own store, with the review tab on (password 'let-me-in')."""
    demo = app.build_demo(review_svc, app.Review(review_svc.Session, "let-me-in"))
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, css=app.CSS)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def _value(page, elem):
    return page.locator(f"#{elem} textarea, #{elem} input").first.input_value()


def _wait_value(page, elem, test="v.length > 0", timeout=30_000):
    page.wait_for_function(f"sel => {{ const e = document.querySelector(sel); const v = e ? e.value : ''; return {test} }}",
                           arg=f"#{elem} textarea, #{elem} input", timeout=timeout)


def _click_image_at(page, fx, fy):
    """Click the photo at a fraction (fx, fy) of the image itself (it is shown centred, never enlarged)."""
    img = page.locator("#photo img").first
    bb = img.bounding_box()
    nw, nh = img.evaluate("e => [e.naturalWidth, e.naturalHeight]")
    k = min(bb["width"] / nw, bb["height"] / nh, 1)
    ox, oy = bb["x"] + (bb["width"] - nw * k) / 2, bb["y"] + (bb["height"] - nh * k) / 2
    page.mouse.click(ox + fx * nw * k, oy + fy * nh * k)
    page.wait_for_timeout(800)


@needs_chromium
def test_browser_photo_boxes_click_correct_and_add_a_region(server, svc, page_at):
    """Upload a whole photo: the word is boxed and listed; clicking it shows its reading; a correction is saved
    with the crop, the photo and the box; two clicks beside the sign add a region of its own."""
    photo = app.EXAMPLES / "photo-words_1_Coffee.png"       # 640 x 427, the sign at about (195, 35)-(465, 145)
    page = page_at(server)
    page.locator("#inp input[type=file]").first.set_input_files(str(photo))
    page.locator("#photo img").first.wait_for(timeout=60_000)
    page.wait_for_function("() => document.querySelector('#found').innerText.includes('Coffee')", timeout=30_000)
    _wait_value(page, "all_text", "v === 'Coffee'")
    _wait_value(page, "correction", "v === 'Coffee'")
    _click_image_at(page, 0.02, 0.02)                        # outside every box: the first corner of a new region
    _wait_value(page, "status", "v.includes('First corner')")
    _click_image_at(page, 0.2, 0.2)
    _wait_value(page, "status", "v.includes('Added region 2')")
    page.locator("#found span.text").filter(has_text="Coffee").last.click()  # back to the sign through the list
    _wait_value(page, "correction", "v === 'Coffee'")
    _click_image_at(page, 330 / 640, 90 / 427)               # ... and through its box
    _wait_value(page, "correction", "v === 'Coffee'")
    assert page.locator("#save").is_visible() and page.locator("#save").bounding_box()["y"] < 800  # above the fold
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser_photo.png"))
    page.locator("#correction textarea, #correction input").first.fill("<b>Browser</b>")   # HTML shows as text
    page.locator("#save").click()
    _wait_value(page, "status", "v.includes('Browser')")
    assert _value(page, "status").endswith(": <b>Browser</b>") and page.locator("#status b").count() == 0
    with svc.Session.begin() as s:
        from feedback import Photo, Sample
        sub = s.scalars(select(Submission).where(Submission.corrected_text == "<b>Browser</b>")).one()
        assert sub.prediction == "Coffee"
        sample = s.get(Sample, sub.sample_id)
        assert sample.width < Image.open(photo).width     # the crop was stored, not the whole photo
        assert sample.photo_id is not None and s.get(Photo, sample.photo_id).width == 640
        x0, y0, x1, y1 = sample.box
        assert 150 < x0 < 250 and 20 < y0 < 80 and 400 < x1 < 500 and 100 < y1 < 180


def _settled_top(page, elem_id: str) -> float:
    """The element's top in the viewport once a smooth scroll has come to rest (the same for 3 looks 100 ms apart)."""
    return page.evaluate("""id => new Promise(done => {
        let last = null, same = 0;
        const look = () => {
            const top = document.getElementById(id).getBoundingClientRect().top;
            same = last !== null && Math.abs(top - last) < 0.5 ? same + 1 : 0;
            last = top;
            if (same >= 3) done(top); else setTimeout(look, 100);
        };
        look();
    })""", elem_id)


@needs_chromium
def test_browser_example_reads_on_click_and_page_recovers_from_an_error(server, tmp_path, page_at):
    page = page_at(server)
    page.locator("#examples img").nth(3).click()          # the first crop example: a house number, read at once
    page.locator("#attn_gif").wait_for(timeout=30_000)
    _wait_value(page, "correction")
    assert _value(page, "correction") == "27"
    top = _settled_top(page, "result_anchor")
    assert -10 <= top < 800                               # the reading was scrolled into view
    bad = tmp_path / "not_an_image.png"
    bad.write_bytes(b"%PDF-1.4 not an image")
    page.locator("#inp input[type=file]").first.set_input_files(str(bad))
    _wait_value(page, "status", "v.includes('cannot be read')")
    assert page.locator("#attn_gif").count() == 0 and _value(page, "correction") == ""   # outputs cleared
    assert page.locator(".error").count() == 0                                            # no error badges
    box = page.locator("#correction textarea, #correction input").first
    box.fill("typed after an error")
    assert box.input_value() == "typed after an error"
    page.locator("#examples img").nth(7).click()          # a word example: read, then corrected and saved
    _wait_value(page, "correction", "v.length > 0 && v !== 'typed after an error'")
    box.fill("Koffee")
    page.locator("#save").click()
    _wait_value(page, "status", "v.includes('Koffee')")
    assert _value(page, "status").startswith("Saved correction #")
    page.locator("#confirm").click()                      # the box no longer holds the reading: refused
    _wait_value(page, "status", "v.includes('You changed the text')")
    page.locator("#task label").nth(1).click()            # another task: the last reading does not stay
    _wait_value(page, "correction", "v !== 'Koffee'")


@needs_chromium
def test_browser_phone_example_scrolls_to_the_reading(server, page_at):
    page = page_at(server, viewport={"width": 390, "height": 844})
    page.locator("#examples img").nth(0).click()          # the first example: the street scene
    page.locator("#attn_gif").wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    top = _settled_top(page, "result_anchor")
    assert -10 <= top < 844
    _wait_value(page, "all_text", "v.split(/\\s+/).length === 7")   # all seven words, in reading order
    assert _value(page, "all_text").split() == ["BAKERY", "OPEN", "Fresh", "bread", "27", "No", "parking"]


@needs_chromium
def test_browser_review_tab_needs_the_password(review_server, review_svc, page_at, tmp_path):
    """Locked until the password; then the queue opens at once, least sure first; a row is reviewed on the row
    (keyboard 'a', the buttons, edit); the bulk action says how many it would accept before it does."""
    svc = review_svc
    ids = {}
    for k, (text, seed) in enumerate((("ReviewMe", 21), ("RejectMe", 22), ("EditMe", 23))):
        sid, _ = svc.save(_png(tmp_path, f"rv{k}.png", seed=seed), "words", text, "c")
        with svc.Session.begin() as s:
            ids[text] = s.get(Submission, sid).label_id
    page = page_at(review_server)
    page.get_by_role("tab", name="Review").click()
    assert not page.locator("#review_accept").is_visible()
    page.locator("#review_pw input").fill("wrong")
    page.locator("#review_unlock").click()
    _wait_value(page, "review_msg", "v.includes('Wrong password')")
    assert not page.locator("#review_accept").is_visible()
    page.locator("#review_pw input").fill("let-me-in")
    page.locator("#review_unlock").click()
    _wait_value(page, "review_msg", "v.includes('in the queue')")  # no 'Show' needed
    table = page.locator("#review_table")
    page.wait_for_function("() => document.querySelector('#review_table').innerText.includes('ReviewMe')",
                           timeout=30_000)

    def review(text):
        table.locator("span.text", has_text=text).first.click()
        page.wait_for_function(f"() => document.querySelector('#review_info').innerText.includes('#{ids[text]}')",
                               timeout=30_000)
        _wait_value(page, "review_text", f"v === '{text}'")  # the row's outputs have all arrived
        page.wait_for_timeout(300)

    review("ReviewMe")
    page.wait_for_function("() => { const i = document.querySelector('#review_image img');"
                           " return i && i.naturalHeight >= 120; }", timeout=30_000)  # a 32-px crop shown enlarged
    page.locator("#review_info").click()   # focus outside any text box: the keys act
    page.keyboard.press("a")
    _wait_value(page, "review_msg", f"v.includes('#{ids['ReviewMe']}: 1 labels set to accepted')")
    review("RejectMe")
    page.locator("#review_reject").click()
    _wait_value(page, "review_msg", "v.includes('set to rejected')")
    review("EditMe")
    page.locator("#review_text input, #review_text textarea").first.fill("Edited")
    page.locator("#review_edit").click()
    _wait_value(page, "review_msg", "v.includes('is now')")
    with svc.Session.begin() as s:
        assert [s.get(Label, ids[t]).state for t in ("ReviewMe", "RejectMe", "EditMe")] == \
            ["accepted", "rejected", "accepted"]
        assert s.get(Label, ids["EditMe"]).text == "Edited"
    for _ in range(3):  # three people read the same image the same way: the bulk action takes it
        svc.save(_png(tmp_path, "agree.png", seed=24), "words", "Agreed", "c")
    page.locator("#bulk_preview").click()
    _wait_value(page, "review_msg", "v.includes('1 pending labels agree')")
    page.locator("#bulk_apply").click()
    _wait_value(page, "review_msg", "v.includes('1 labels accepted in bulk')")
    page.wait_for_function("() => document.querySelectorAll('#plot_day canvas, #plot_day svg').length > 0",
                           timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "browser_review.png"), full_page=True)


@needs_chromium
def test_browser_an_unlocked_review_session_cannot_be_replayed_from_another_client(review_server, review_svc, page_at,
                                                                                   tmp_path):
    """The tab's session id travels in URLs (queue/data?session_hash=...), which proxies log. Another client replaying it
    used to get the whole review table; the unlock is now a token that only the page holds."""
    import httpx
    review_svc.save(_png(tmp_path, "secret.png", seed=31), "words", "Confidential", "c")
    page = page_at(review_server)
    hashes = set()
    page.on("request", lambda r: hashes.update(re.findall(r"session_hash=([\w-]+)", r.url)))
    page.get_by_role("tab", name="Review").click()
    page.locator("#review_pw input").fill("let-me-in")
    page.locator("#review_unlock").click()
    page.wait_for_function("() => document.querySelector('#review_table').innerText.includes('Confidential')",
                           timeout=30_000)
    assert hashes
    config = httpx.get(f"{review_server}config", timeout=30).json()
    show = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "review_show")
    fn = next(i for i, d in enumerate(config["dependencies"]) if [show, "click"] in d["targets"])
    session = hashes.pop()
    r = httpx.post(f"{review_server}gradio_api/queue/join", timeout=30, json={
        "data": ["", "all", "pending"], "fn_index": fn, "session_hash": session, "event_data": None, "trigger_id": show})
    assert r.status_code == 200, r.text
    with httpx.stream("GET", f"{review_server}gradio_api/queue/data?session_hash={session}", timeout=60) as events:
        text = ""
        for chunk in events.iter_text():
            text += chunk
            if "process_completed" in text:
                break
    assert "Confidential" not in text and "Locked" in text, text[-500:]


def test_review_tab_is_absent_without_a_password(svc):
    demo = app.build_demo(svc, app.Review(svc.Session, ""))
    assert not any(getattr(b, "elem_id", None) == "review_pw" for b in demo.blocks.values())


def test_user_and_model_text_is_inert_in_markdown():
    assert app.plain("<b>x</b>") == "&lt;b&gt;x&lt;/b&gt;"
    assert app.plain("[a](http://e)") == "\\[a\\]\\(http://e\\)"
    assert app.plain("*y*_") == "\\*y\\*\\_"


def test_confidence_colours_never_look_surer_than_the_reading():
    from types import SimpleNamespace
    from webapp.service import confidence_spans
    sure_letters = [0.99, 0.99, 0.99]
    assert [lv for _, lv in confidence_spans(SimpleNamespace(text="abc", confidence=0.95, char_confidences=sure_letters))] == ["high"] * 3
    assert [lv for _, lv in confidence_spans(SimpleNamespace(text="abc", confidence=0.3, char_confidences=sure_letters))] == ["medium"] * 3
    assert [lv for _, lv in confidence_spans(SimpleNamespace(text="abc", confidence=0.1, char_confidences=sure_letters))] == ["medium"] * 3
    assert [lv for _, lv in confidence_spans(SimpleNamespace(text="abc", confidence=0.1, char_confidences=[0.99, 0.3, 0.1]))] == ["medium", "low", "low"]


def test_malformed_click_data_is_refused_not_raised():
    for bad in ({"index": ["a", "b"]}, [1e300, 5], None, [5], {}, ["1", float("nan")], "xy"):
        assert app._point(bad) is None, bad
    assert app._point([12, 34.5]) == (12.0, 34.5)


def test_regions_are_drawn_numbered_and_found_by_a_click(tmp_path):
    from webapp.service import Region, all_text, draw_regions, region_at
    img = Image.new("RGB", (2000, 1000), "white")
    regions = [Region((10, 10, 210, 60), ((10, 10), (210, 10), (210, 60), (10, 60)), "OPEN", 0.95, (0.95,) * 4),
               Region((300, 12, 500, 58), ((300, 12), (500, 12), (500, 58), (300, 58)), "DAILY", 0.3, (0.3,) * 5),
               Region((50, 400, 300, 460), ((50, 400), (300, 400), (300, 460), (50, 460)), "9AM", 0.6, (0.6,) * 3)]
    pic, k = draw_regions(img, regions, selected=1)
    assert pic.size == (1024, 512) and k == pytest.approx(0.512)
    a = np.asarray(pic)
    assert (a[round(35 * k), round(10 * k)] != 255).any()   # a box was drawn where the first region is
    assert region_at(regions, 100, 30) == 0 and region_at(regions, 400, 30) == 1 and region_at(regions, 5, 900) == -1
    assert all_text(regions) == "OPEN DAILY\n9AM"


def test_about_figures_come_from_the_models_own_metadata(tmp_path):
    """About draws what was recorded in the file of the model read with now (scripts/evaluate.py --record), not
    constants: a model's new figures show at once; a fine-tuned version without its own says whose they are."""
    import shutil
    from ocr.checkpoint import read_header, record_figures, weights_digest
    from ocr.settings import shipped_model
    words = tmp_path / "words.safetensors"
    shutil.copy(shipped_model("words"), words)
    before = weights_digest(words)
    record_figures(words, {"Test set": {"greedy": 12.5, "Tesseract 5": 3.0}})
    assert weights_digest(words) == before and read_header(words)[1]["figures"]["Test set"]["greedy"] == 12.5
    svc = app.make_service(str(tmp_path / "fb.sqlite"), str(words))
    text, chart = app.about_measured(svc)
    assert "Words, Test set: 12.5 % greedy; Tesseract 5: 3.0 %" in text and chart is not None
    child = {"parent_meta": {"figures": {"Test set": {"greedy": 12.5}}}}
    assert "Test set (measured for the model it was fine-tuned from): 12.5 % greedy" in app.how_well({"words": child})
    assert "nothing measured" in app.how_well({"words": {}})
