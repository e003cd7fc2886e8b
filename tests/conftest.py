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
