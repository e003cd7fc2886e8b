#!/usr/bin/env python
"""Fetch the added text fonts of the synthetic engine (script, handwriting, display faces) into a folder.

    python scripts/fetch_fonts.py ~/fonts-added
    python scripts/prerender.py words CORPUS --images 250000 --add-fonts ~/fonts-added ...

Downloads the Debian packages listed in data/synth/added_fonts.txt with `apt-get download` (no root
needed, nothing is installed) and copies their .ttf / .otf files to OUT/<package>/. The layout is fixed,
so the same package versions give the same font list and a corpus made with them can be re-created from
its seed. Packages already in OUT are skipped: run it again after a failure. The fonts are used at training
time only; never commit or ship them.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
LIST = ROOT / "data" / "synth" / "added_fonts.txt"
SUFFIXES = (".ttf", ".otf")


def read_list(path: Path = LIST) -> list[tuple[str, re.Pattern | None]]:
    """[(package, file-name filter or None)] from the list file (# comments, blank lines ignored)."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, rx = line.partition(" ")
            out.append((name, re.compile(rx.strip()) if rx.strip() else None))
    return out


def font_files(tree: Path, keep: re.Pattern | None) -> list[Path]:
    """The font files of an extracted package (real files or links to them), filtered by name."""
    return sorted(p for p in tree.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file()
                  and (keep is None or keep.fullmatch(p.name)))


def fetch(package: str, keep: re.Pattern | None, out: Path) -> int:
    """Download and unpack one package; copy its fonts to OUT/<package>/. Returns the number copied."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", "-q", package], cwd=tmp, check=True, capture_output=True, text=True)
        deb = next(Path(tmp).glob("*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(Path(tmp) / "x")], check=True, capture_output=True, text=True)
        files = font_files(Path(tmp) / "x", keep)
        part = out / f"{package}.part"
        shutil.rmtree(part, ignore_errors=True)
        part.mkdir(parents=True)
        for f in files:
            shutil.copyfile(f, part / f.name)
        part.rename(out / package)
    return len(files)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="folder for the fonts (created; packages already there are skipped)")
    p.add_argument("--list", type=Path, default=LIST, help=f"package list (default {LIST.relative_to(ROOT)})")
    args = p.parse_args(argv)
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        print("error: needs apt-get and dpkg-deb (Debian / Ubuntu); on other systems copy the fonts by hand",
              file=sys.stderr)
        return 1
    todo = [(n, k) for n, k in read_list(args.list) if not (args.out / n).is_dir()]
    args.out.mkdir(parents=True, exist_ok=True)
    failed, copied = [], 0
    for name, keep in tqdm(todo, desc="font packages", unit="pkg"):
        try:
            copied += fetch(name, keep, args.out)
        except (subprocess.CalledProcessError, StopIteration) as e:
            failed.append(f"{name} ({getattr(e, 'stderr', '') or 'no package file'})".strip())
    print(f"{args.out}: {copied} font files from {len(todo) - len(failed)} packages"
          + (f"; {len(failed)} failed: " + "; ".join(failed) if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
