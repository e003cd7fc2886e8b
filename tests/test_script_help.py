"""Every script's --help prints and exits 0 at once, without loading torch (help strings are %-formatted by
argparse, so a stray '%' in one only shows when --help is asked for)."""
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = sorted((Path(__file__).resolve().parent.parent / "scripts").glob("*.py"))
RUN_HELP = """
import runpy, sys
sys.argv = [sys.argv[1], "--help"]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as e:
    assert e.code in (0, None), e.code
print("torch loaded" if "torch" in sys.modules else "torch not loaded", file=sys.stderr)
"""


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_help_prints_without_loading_torch(script):
    r = subprocess.run([sys.executable, "-c", RUN_HELP, str(script)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "usage:" in r.stdout, r.stderr[-2000:]
    assert r.stderr.strip().endswith("torch not loaded"), r.stderr[-500:]
