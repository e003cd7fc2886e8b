import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "real"

torch.set_num_threads(1)
# caches (font legibility checks, MJSynth indexes) go to the checkout, never to the user's ~/.cache
os.environ["OCR_CACHE"] = str(ROOT / ".test-cache")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture
def shared():
    """The read-only shared data next to the checkout; the test is skipped (reason printed) without it."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED}")
    return SHARED


CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]


@pytest.fixture
def page_at():
    """open_page(url, viewport=None) -> a Playwright page of Debian's Chromium, offline (a request outside this
    machine fails the test)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)

        outside = []

        def open_page(url, viewport=None):
            page = browser.new_page(viewport=viewport or {"width": 1280, "height": 800})
            page.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
                    else outside.append(r.url))
            page.goto(url, wait_until="domcontentloaded", timeout=90_000)
            page.locator("#read").wait_for(timeout=60_000)
            page.wait_for_timeout(2000)   # the page connects to the server
            return page

        yield open_page
        browser.close()
        assert outside == [], f"the page fetched from outside this machine: {outside[:5]}"   # stays offline


class Ran:
    """What a script run gave: returncode, stdout, stderr (as subprocess.CompletedProcess has them)."""

    def __init__(self, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


_SCRIPTS: dict = {}


def run_script(args: list, check: bool = False) -> Ran:
    """`python scripts/NAME.py ARGS...` run in this process through the script's main(argv), from the checkout:
    the same exit code and output as a subprocess, without paying for a new interpreter and torch each time. An
    exception the script does not turn into a message propagates (a subprocess would print its traceback)."""
    import contextlib
    import importlib.util
    import io

    import sys
    args = [str(a) for a in args]
    path, *argv = args[1:] if args[0] == sys.executable else args
    name = Path(path).stem
    if name not in _SCRIPTS:
        spec = importlib.util.spec_from_file_location(f"_script_{name}", ROOT / "scripts" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _SCRIPTS[name] = module
    out, err = io.StringIO(), io.StringIO()
    threads = torch.get_num_threads()
    here = os.getcwd()
    os.chdir(ROOT)  # (contextlib.chdir needs Python 3.11)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = _SCRIPTS[name].main(argv)
        except SystemExit as e:  # sys.exit("message") prints the message and exits with 1, as Python does
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if isinstance(e.code, str):
                print(e.code, file=err)
        finally:
            torch.set_num_threads(threads)
            os.chdir(here)
    ran = Ran(code or 0, out.getvalue(), err.getvalue())
    if check:
        assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-3000:]
    return ran
