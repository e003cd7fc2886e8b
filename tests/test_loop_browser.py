"""The whole loop in one running app: corrections through the API, accepted in the page, a training job started
from the page, promoted and read with at once (no restart); then a poisoned batch is refused and the app keeps
the model it had."""
import os
import time

import numpy as np
import pytest
from PIL import Image

import app
from feedback import accept_pending, resolve_url
from feedback.registry import current
from ocr.settings import shipped_model
from webapp.loop import Loop, LoopSettings

from test_app import _free_port, _value, _wait_value, needs_chromium


@pytest.fixture(scope="module")
def loop_app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("loop")
    old = os.environ.get("OCR_VERSIONS_DIR")
    os.environ["OCR_VERSIONS_DIR"] = str(tmp / "versions")   # the job's process inherits it
    base = tmp / "digits.safetensors"
    base.write_bytes(shipped_model("digits").read_bytes())
    db = str(tmp / "fb.sqlite")
    svc = app.make_service(db, digits=str(base))
    svc.models.check_every = 0.0
    loop = Loop(svc.Session, resolve_url(db), svc.models,
                LoopSettings(steps=2, minutes=5, mix={"digits": ["synth-digits:0.9", "feedback:0.1"]}, lr=1e-9,
                             tolerance=0.05, reference=100, batch_size=8))
    demo = app.build_demo(svc, app.Review(svc.Session, "let-me-in"), loop)
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, css=app.CSS)
    yield f"http://127.0.0.1:{port}/", svc, loop, tmp
    demo.close()
    if old is None:
        os.environ.pop("OCR_VERSIONS_DIR", None)
    else:
        os.environ["OCR_VERSIONS_DIR"] = old


def _noise(tmp, name, seed):
    a = np.random.default_rng(seed).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    path = tmp / name
    Image.fromarray(a).save(path)
    return str(path)


def _accepted(svc) -> int:
    from sqlalchemy import func, select

    from feedback import Label
    with svc.Session.begin() as s:
        return s.scalar(select(func.count(Label.id)).where(Label.state == "accepted"))


def _train(page, steps, job, timeout=600):
    """Start job number `job` from the page and wait until that job has ended -> its status line."""
    page.get_by_role("tab", name="Models").click()
    page.locator("#train_task input").first.click()  # pick the task from the open list (typing + Enter raced the filter)
    page.locator("#train_task").get_by_role("option", name="digits", exact=True).click()
    page.wait_for_function("() => document.querySelector('#train_task input').value === 'digits'")
    page.locator("#train_steps input").first.fill(str(steps))
    page.locator("#train_start").click()
    _wait_value(page, "train_status", f"v.startsWith('Job #{job} ') && (v.includes('finished') || v.includes('failed'))",
                timeout=timeout * 1000)
    return _value(page, "train_status")


@needs_chromium
def test_browser_the_loop_promotes_swaps_in_without_a_restart_and_refuses_poison(loop_app, page_at):
    from gradio_client import Client, handle_file

    url, svc, loop, tmp = loop_app
    client = Client(url, verbose=False)
    images = [_noise(tmp, f"n{i}.png", i) for i in range(12)]
    for i, path in enumerate(images):  # corrections through the API, as users send them
        assert "Saved" in client.predict(handle_file(path), "digits", str(100 + i), api_name="/save_correction")
    before = svc.models.loaded_version("digits")
    assert before is not None

    page = page_at(url)
    page.get_by_role("tab", name="Review").click()
    page.locator("#review_pw input").fill("let-me-in")
    page.locator("#review_unlock").click()
    _wait_value(page, "review_msg", "v.includes('12 labels in the queue')")
    for n in range(12):  # the moderator accepts each on its row, with the keyboard
        shown = page.locator("#review_info").inner_text().split("Label #")[1].split(" ")[0]
        page.locator("#review_info").click()
        page.keyboard.press("a")
        t0 = time.time()
        while _accepted(svc) < n + 1:
            assert time.time() - t0 < 30, f"the key 'a' accepted {_accepted(svc)} of {n + 1}"
            time.sleep(0.2)
        page.wait_for_function(f"() => !document.querySelector('#review_info').innerText.includes('Label #{shown} ')",
                               timeout=30_000)  # the next one is shown

    status = _train(page, 2, job=1)
    assert "promoted" in status, status
    with svc.Session.begin() as s:
        promoted = current(s, "digits").id
    assert promoted != before
    client.predict(handle_file(images[0]), "digits", api_name="/recognize")  # the running app reads ...
    assert svc.models.loaded_version("digits") == promoted                    # ... with the new version
    page.wait_for_function("() => document.querySelector('#versions_table').innerText.includes('promoted')")

    # a poisoned batch: thirty images all "corrected" to 7777, accepted by a careless moderator, a hard fine-tune
    for i in range(30):
        client.predict(handle_file(_noise(tmp, f"p{i}.png", 100 + i)), "digits", "7777", api_name="/save_correction")
    accept_pending(svc.Session, "digits")
    loop.settings.mix, loop.settings.lr = {"digits": ["feedback:1"]}, 5e-3
    status = _train(page, 40, job=2)
    assert "refused" in status and "reference synth-digits fell" in status, status
    client.predict(handle_file(images[0]), "digits", api_name="/recognize")
    assert svc.models.loaded_version("digits") == promoted  # the app keeps the model it had
