"""The upload folder is bounded: each upload, the folder's total, the age of what it keeps."""
import os
import time

import httpx

import app
from test_app import _free_port
from webapp.uploads import MAX_UPLOAD, sweep, upload_limit


def _file(folder, name, size, age, now):
    p = folder / name
    p.write_bytes(os.urandom(size))
    os.utime(p, (now - age, now - age))
    return p


def test_sweep_deletes_old_uploads_then_the_oldest_until_the_total_fits(tmp_path):
    now = time.time()
    old = _file(tmp_path, "old.png", 100, 4000, now)
    a = _file(tmp_path, "a.png", 600, 300, now)
    b = _file(tmp_path, "b.png", 600, 200, now)
    c = _file(tmp_path, "c.png", 600, 100, now)
    assert sweep(tmp_path, max_age=3600, max_total=1300, now=now) == 2
    assert not old.exists() and not a.exists() and b.exists() and c.exists()


def test_uploads_are_refused_while_the_folder_is_full_and_large_ones_always(tmp_path):
    svc = app.make_service(str(tmp_path / "fb.sqlite"))
    (tmp_path / "up").mkdir()
    _file(tmp_path / "up", "big.bin", 2 << 20, 0, time.time())
    demo = app.build_demo(svc)
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                max_file_size=MAX_UPLOAD, app_kwargs={"middleware": [upload_limit(tmp_path / "up", max_total=1 << 20)]})
    try:
        url = f"http://127.0.0.1:{port}/gradio_api/upload"
        r = httpx.post(url, files={"files": ("x.png", b"\x89PNG" + os.urandom(1000), "image/png")}, timeout=30)
        assert r.status_code == 503 and "full" in r.text
        (tmp_path / "up" / "big.bin").unlink()
        time.sleep(2.1)  # the middleware looks at the folder again
        r = httpx.post(url, files={"files": ("x.png", b"\x89PNG" + os.urandom(1000), "image/png")}, timeout=30)
        assert r.status_code == 200, r.text
        r = httpx.post(url, files={"files": ("y.png", os.urandom(MAX_UPLOAD + 1024), "image/png")}, timeout=60)
        assert r.status_code in (400, 413), (r.status_code, r.text[:200])
    finally:
        demo.close()
