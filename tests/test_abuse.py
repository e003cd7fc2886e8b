"""The served demo under hostile load: huge images keep the server's memory bounded, and so do many tabs."""
import io
import json
import os
import pickle
import socket
import subprocess
import sys
import time
import uuid

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw

import app
from conftest import ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(pid: int, key: str) -> float:
    """A /proc/PID/status figure in MB (VmRSS: now, VmHWM: the peak so far)."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def _call(url: str, api: str, data: list) -> tuple[str, str]:
    """One call of a named API endpoint through Gradio's HTTP API -> (event, payload) of its last message."""
    r = httpx.post(f"{url}gradio_api/call/{api}", json={"data": data}, timeout=60)
    r.raise_for_status()
    event = payload = ""
    with httpx.stream("GET", f"{url}gradio_api/call/{api}/{r.json()['event_id']}", timeout=300) as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                payload = line[5:].strip()
                if event in ("complete", "error"):
                    break
    return event, payload


def _upload(url: str, name: str, data: bytes) -> dict:
    r = httpx.post(f"{url}gradio_api/upload", files={"files": (name, data)}, timeout=60)
    r.raise_for_status()
    return {"path": r.json()[0], "meta": {"_type": "gradio.FileData"}, "orig_name": name}


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _huge_images() -> dict[str, bytes]:
    """Small files that decode to huge images: the kinds that took the server past 2 GB."""
    big = Image.new("L", (6000, 6000), 210)
    ImageDraw.Draw(big).rectangle((1500, 2800, 4500, 3200), fill=30)
    buf = io.BytesIO()
    big.save(buf, "JPEG", quality=5)
    scene = Image.new("L", (6300, 6300), 235)
    ImageDraw.Draw(scene).text((2000, 3000), "OPEN 24 HOURS", fill=10, font_size=400)
    bars = Image.new("L", (4800, 4800), 240)
    ImageDraw.Draw(bars).rectangle((100, 2300, 4700, 2500), fill=20)
    return {"header-says-6000.jpg": buf.getvalue()[:1257],   # a JPEG cut short: its header says 6000 x 6000
            "whole-6000.jpg": buf.getvalue(), "scene-6300.png": _png(scene), "bars-4800.png": _png(bars)}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`python app.py` as a user starts it, on its own store and port -> (url, process, log path)."""
    tmp = tmp_path_factory.mktemp("served")
    port = _free_port()
    log = tmp / "server.log"
    env = {**os.environ, "GRADIO_TEMP_DIR": str(tmp / "uploads"), "OMP_NUM_THREADS": "1"}
    env.pop("OCR_ADMIN_PASSWORD", None)
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), "--db", str(tmp / "fb.sqlite")],
                            cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                pytest.fail(f"the demo did not start:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}config", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("the demo did not answer within 2 minutes")
        yield url, proc, log
    finally:
        proc.terminate()
        proc.wait(30)


def test_huge_images_are_brought_down_at_load_and_the_servers_memory_stays_bounded(served):
    """A 1,257-byte JPEG whose header says 6000 x 6000, or a 52 KB 6300 x 6300 PNG, used to raise inside the reader
    (the client got {"error": null}) and to take the server from 1 GB to 2.2 GB, held. Now each is brought down to
    2,048 px once, at load: a clean answer, and the server's peak memory grows by a bounded amount."""
    url, proc, log = served
    _call(url, "read_photo", [_upload(url, "warm.png", _png(Image.new("L", (640, 480), 200))), "words"])
    before = _status(proc.pid, "VmHWM")
    answers = {}
    for name, data in _huge_images().items():
        for task in ("words", "digits"):
            event, payload = _call(url, "read_photo", [_upload(url, name, data), task])
            answers[name, task] = event, payload
            if event == "error":      # a refusal must say why, in words
                assert payload not in ("", "null", '{"error": null}') and "rror" not in payload[:1], payload
                assert "cannot be read" in payload or "too large" in payload or "blank" in payload, payload
            else:
                assert event == "complete" and payload.startswith("[["), (name, task, payload[:300])
    peak = _status(proc.pid, "VmHWM")
    assert answers["header-says-6000.jpg", "words"][0] == "error"    # cut short: refused, not read
    assert peak - before < 700, f"peak memory grew by {peak - before:.0f} MB on huge images (from {before:.0f} MB)"
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def _read_in_new_tabs(url: str, n: int, image: dict) -> None:
    """n new browser tabs (session ids), each reading `image` once through the page's own Read button."""
    config = httpx.get(f"{url}config", timeout=30).json()
    read = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "read")
    fn = next(i for i, d in enumerate(config["dependencies"]) if [read, "click"] in d["targets"])
    for _ in range(n):
        session = uuid.uuid4().hex[:11]
        r = httpx.post(f"{url}gradio_api/queue/join", timeout=30, json={
            "data": [image, "Words"], "fn_index": fn, "session_hash": session, "event_data": None, "trigger_id": read})
        assert r.status_code == 200, r.text
        with httpx.stream("GET", f"{url}gradio_api/queue/data?session_hash={session}", timeout=120) as events:
            for line in events.iter_lines():
                message = json.loads(line[5:]) if line.startswith("data:") else {}
                if message.get("msg") == "process_completed":
                    break
        assert message.get("success"), str(message)[:500]


def test_many_tabs_keep_small_state_and_at_most_the_tab_limit(tmp_path):
    """400 tabs with one wide read each used to pin ~1.3 MB each for 30 minutes (and up to 10,000 tabs). Each tab's
    own state now holds no image (a few numbers per region), and only the launch settings' tab limit is kept."""
    assert app.launch_settings()["state_session_capacity"] == app.MAX_TABS <= 1000
    demo = app.build_demo(app.make_service(str(tmp_path / "fb.sqlite")))
    port = _free_port()
    limit = 6
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **{**app.launch_settings(), "state_session_capacity": limit})
    url = f"http://127.0.0.1:{port}/"
    try:
        wide = Image.new("RGB", (1600, 60), "white")
        ImageDraw.Draw(wide).text((20, 10), "a long line of words to read in a wide image", fill="black", font_size=36)
        image = _upload(url, "wide.png", _png(wide))
        _read_in_new_tabs(url, 3 * limit, image)
        tabs = demo.state_holder.session_data
        assert len(tabs) == limit
        for tab in tabs.values():
            values = tab.state_data.values()
            assert not any(isinstance(v, (Image.Image, np.ndarray, bytes)) for v in values)
            assert sum(len(pickle.dumps(v)) for v in values) < 20_000
    finally:
        demo.close()
