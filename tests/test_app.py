"""The demo: handlers with a temporary store, the API through gradio_client, a real browser."""
import io
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

import app
from feedback import Label, Submission
from webapp.hub_sync import export_new_accepted
from webapp.service import UserError

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    return app.make_service(str(tmp_path_factory.mktemp("db") / "fb.sqlite"))


def _png(tmp_path, name="w.png", size=(120, 32), mode="RGB"):
    p = tmp_path / name
    Image.new(mode, size, "white" if mode in ("RGB", "L") else 0).save(p)
    return str(p)


def test_recognize_returns_prediction_and_animation(svc, tmp_path):
    r = svc.recognize(_png(tmp_path), "words")
    assert isinstance(r.prediction.text, str)
    assert len(r.frames) == len(r.prediction.attention) >= 1
    assert r.gif[:6] == b"GIF89a" and r.gif_data_uri.startswith("data:image/gif;base64,")
    frames = Image.open(io.BytesIO(r.gif))
    assert getattr(frames, "n_frames", 1) == len(r.frames)
    d = svc.recognize(_png(tmp_path, "d.png", (60, 40)), "digits")
    assert set(d.prediction.text) <= set("0123456789")



def test_each_task_decodes_with_its_default_beam(svc, tmp_path, monkeypatch):
    from webapp.service import DEFAULT_BEAM
    widths = []
    for task in ("words", "digits"):
        rec = svc.models.get(task)
        real = rec.read
        monkeypatch.setattr(rec, "read", lambda img, beam_width=1, _r=real, **kw: widths.append(beam_width) or _r(img, beam_width=beam_width, **kw))
        svc.recognize(_png(tmp_path), task)
    assert widths == [DEFAULT_BEAM["words"], DEFAULT_BEAM["digits"]] == [5, 1]

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


@pytest.mark.parametrize("make", [
    lambda: Image.new("RGB", (1, 1)),
    lambda: Image.fromarray((np.arange(600).reshape(20, 30) * 90).astype(np.uint16)),
    lambda: Image.new("CMYK", (50, 20), (0, 0, 0, 255)),
    lambda: Image.new("P", (50, 20)),
    lambda: Image.new("RGBA", (50, 20), (0, 0, 0, 0)),
])
def test_odd_images_are_read(svc, tmp_path, make):
    img = make()
    fmt = "TIFF" if img.mode in ("CMYK", "I;16") else "PNG"
    p = tmp_path / f"odd.{fmt.lower()}"
    img.save(p, fmt)
    assert isinstance(svc.recognize(str(p), "words").prediction.text, str)


def test_animated_gif_and_exif_rotated(svc, tmp_path):
    frames = [Image.new("RGB", (60, 20), c) for c in ("white", "black")]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    assert isinstance(svc.recognize(str(tmp_path / "a.gif"), "words").prediction.text, str)
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.new("RGB", (20, 60), "white").save(tmp_path / "r.jpg", exif=exif)
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
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_gradio_client_api(server, tmp_path, svc):
    from gradio_client import Client, handle_file
    c = Client(server, verbose=False)
    text, conf, chars = c.predict(handle_file(_png(tmp_path)), "words", api_name="/recognize")
    assert isinstance(text, str) and 0 <= conf <= 1 and chars.startswith("[")
    msg = c.predict(handle_file(_png(tmp_path)), "words", "Client", api_name="/save_correction")
    assert "Client" in msg
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(Exception, match="cannot be read as an image"):
        c.predict(handle_file(str(tmp_path / "bad.png")), "words", api_name="/recognize")
    with pytest.raises(Exception, match="Not saved"):
        c.predict(handle_file(_png(tmp_path)), "words", "", api_name="/save_correction")


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


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium not installed (apt-get install chromium)")
def test_real_browser(server, svc):
    from playwright.sync_api import sync_playwright
    example = sorted(Path(app.EXAMPLES).glob("words*.png"))
    if not example:
        pytest.skip("no example images in data/examples")
    ARTIFACTS.mkdir(exist_ok=True)
    args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.goto(server)
        page.locator("#inp input[type=file]").set_input_files(str(example[0]))
        page.locator("#attn_gif").wait_for(timeout=30_000)
        corr = page.locator("#correction textarea, #correction input").first
        page.wait_for_function("sel => { const e = document.querySelector(sel); return e && e.value.length > 0 }",
                               arg="#correction textarea, #correction input", timeout=30_000)
        predicted = corr.input_value()
        assert page.locator("#transcript").inner_text().replace("\n", "").strip() != ""
        corr.fill("Browser")
        page.locator("#save").click()
        page.locator("#status").get_by_text("Browser").wait_for(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "browser_test.png"), full_page=True)
        browser.close()
    with svc.Session.begin() as s:
        sub = s.scalars(select(Submission).where(Submission.corrected_text == "Browser")).one()
        assert sub.prediction == predicted
