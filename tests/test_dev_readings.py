"""The shipped words model reads the dev images exactly as recorded in tests/data/dev_readings_words.tsv
(greedy on every second image, beam 5 on every eighth). Recorded with scripts/dev_readings.py; it pins the whole reading path (image
loading, preprocessing, the serving model, decoding) so a refactoring that changes one output fails."""
from pathlib import Path

import pytest
import torch

from ocr import load_recognizer
from ocr.checkpoint import weights_digest
from ocr.settings import shipped_model

RECORD = Path(__file__).resolve().parent / "data" / "dev_readings_words.tsv"


@pytest.mark.slow
def test_dev_readings_are_unchanged(shared):
    header, *lines = RECORD.read_text(encoding="utf-8").splitlines()
    digest = weights_digest(shipped_model("words"))
    again = "record its readings again with `python scripts/dev_readings.py words DEV_FOLDERS --out " \
            "tests/data/dev_readings_words.tsv`"
    assert f" weights {digest} " in header, f"the shipped words model's weights changed: {again}"
    torch.set_num_threads(1)
    rec = load_recognizer("words")
    lm = rec.lm.describe() if rec.lm else "none"
    assert header.endswith(f" lm {lm}"), f"the default word prior changed (now {lm}): {again}"
    changed = []
    for k, line in enumerate(lines):
        if k % 2:  # greedy on every second image; beam search, 1.5 times slower, on every eighth
            continue
        folder, rel, greedy, beam = line.split("\t")
        path = shared / "dev" / folder / rel
        if k % 8:
            beam = None
        now = (rec.read(path, fast=True)[0].text,
               None if beam is None else rec.read(path, beam_width=5, views=1)[0].text)
        if now != (greedy, beam):
            changed.append(f"{folder}/{rel}: {greedy!r}/{beam!r} -> {now[0]!r}/{now[1]!r}")
    assert len(lines) == 3647 and not changed, f"{len(changed)} readings changed: " + "; ".join(changed[:10])
