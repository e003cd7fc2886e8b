"""Run Python as if only one requirements file had been installed.

    run_with_only("requirements-read.txt", ["-m", "ocr", "word.png"])   # -> subprocess.CompletedProcess

Every package that the full test environment (requirements-dev.txt, with what it pulls in) has but the given
file's closure does not is made unimportable (an import raises ImportError), so a test sees what a user of that
install sees. The run prints nothing extra; `RESTRICTED_REPORT=1` makes it print the blocked modules that were
asked for, on stderr, at exit.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import atexit, importlib.metadata as md, os, re, runpy, sys
from pathlib import Path

def norm(name):
    return name.lower().replace("_", "-")

def names(path):
    out = []
    for line in Path(path).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            out += names(Path(path).parent / line[3:].strip())
        elif line and not line.startswith("-"):
            out.append(norm(re.split(r"[\[<>=!~ ;]", line, 1)[0]))
    return out

def closure(roots):
    seen, todo = set(), list(roots)
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        try:
            reqs = md.requires(n) or []
        except md.PackageNotFoundError:
            continue
        todo += [norm(re.split(r"[\[<>=!~ ;(]", r, 1)[0]) for r in reqs if "extra ==" not in r]
    return seen

allowed = closure(names(sys.argv[1]))
extra = closure(names("requirements-dev.txt")) - allowed
blocked = {m for m, dists in md.packages_distributions().items()
           if any(norm(d) in extra for d in dists) and not any(norm(d) in allowed for d in dists)}
assert blocked, extra
asked = set()

class Block:
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in blocked:
            asked.add(top)
            raise ImportError(f"{name} is not installed by {sys.argv[1]}")

if os.environ.get("RESTRICTED_REPORT"):
    atexit.register(lambda: print("blocked imports asked for: " + ",".join(sorted(asked)), file=sys.stderr))
sys.meta_path.insert(0, Block())
where = sys.argv[1]
if sys.argv[2] == "-m":
    sys.argv = [sys.argv[3]] + sys.argv[4:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
else:
    sys.argv = sys.argv[2:]
    runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run_with_only(requirements: str, args: list[str], env: dict | None = None, timeout: float = 600,
                  report: bool = False) -> subprocess.CompletedProcess:
    """Run `python ARGS` (a script path or "-m module" and its arguments) in the project root with only
    `requirements`' packages importable."""
    env = dict(env or os.environ)
    if report:
        env["RESTRICTED_REPORT"] = "1"
    return subprocess.run([sys.executable, "-c", SCRIPT, requirements, *args], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=timeout)
