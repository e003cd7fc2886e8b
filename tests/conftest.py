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
