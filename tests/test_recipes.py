"""Recipes in code (ocr.training.recipes): the stages run in order from one command, an interrupted stage resumes, a
finished one is skipped, and the export carries the recipe's reading settings."""
import dataclasses
import json
import sys

import pytest
from PIL import Image, ImageDraw

from conftest import run_script
from ocr import load_recognizer
from ocr.training import recipes
from ocr.checkpoint import read_header
from ocr.reading import ReadingSettings


def _real_digits(folder):
    folder.mkdir()
    lines = []
    for i, text in enumerate(["12", "305", "7", "48", "2210", "96", "51", "803"]):
        img = Image.new("RGB", (40 + 12 * len(text), 32), (230, 230, 230))
        ImageDraw.Draw(img).text((6, 4), text, fill=(20, 20, 20), font_size=22)
        img.save(folder / f"{i}.png")
        lines.append(f"{i}.png\t{text}\n")
    (folder / "labels.tsv").write_text("".join(lines))
    return folder


TINY = recipes.Recipe(
    name="tiny", preset="digits", summary="a test", hours="seconds",
    corpora={"d": recipes.Corpus("digits", "v2", 3, shard_size=32)},
    stages=(recipes.Stage("first", ("corpus:{d}",), steps=6, lr=1e-3, warmup=1, val_every=2, corpora={"d": 32},
                          ema=0.0, ctc=0.0, keep="best"),
            recipes.Stage("second", ("synth-digits:0.5", "tight:{real}/train.tsv:0.5"), steps=4, lr=5e-4,
                          warmup=1, val_every=2, ema=0.0, ctc=0.0)),
    reading=ReadingSettings(beam_width=1, views=3), val=("tight:{real}/val.tsv",), val_size=8, real_preset="digits")


def test_a_recipe_runs_its_stages_in_order_resumes_and_exports_its_reading_settings(tmp_path, monkeypatch):
    real = _real_digits(tmp_path / "real")
    out = tmp_path / "run"
    from ocr.training import trainer
    real_train = trainer.train
    calls = []

    def interrupted(cfg, datasets, weights, vals, opt, **kw):  # the first stage's process ends at step 3
        calls.append(kw.get("restore"))
        if len(calls) == 1:
            opt = dataclasses.replace(opt, stop_at=3)
        return real_train(cfg, datasets, weights, vals, opt, **kw)

    monkeypatch.setattr(trainer, "train", interrupted)
    log = []
    with pytest.raises(RuntimeError, match="stopped at step 3: run the recipe again"):
        recipes.run_recipe(TINY, real, out, threads=1, workers=0, render_workers=1, log=log.append)
    assert (out / "corpus" / "d" / "shard-00000").is_dir() and (out / "realsplit" / "val.tsv").is_file()
    final = recipes.run_recipe(TINY, real, out, threads=1, workers=0, render_workers=1, log=log.append)
    assert calls[0] is None                                                       # stage 1 from scratch,
    assert "/first/" in calls[1] and calls[1].endswith("last.safetensors")        # resumed from its own last,
    first = json.loads((out / "stages" / "first" / "done.json").read_text())
    assert first["steps"] == 6 and calls[2] == first["checkpoint"]               # stage 2 from stage 1's choice
    assert any(line.startswith("first: resuming") for line in log)
    cfg, meta = read_header(final)
    assert meta["reading"] == TINY.reading.to_dict() and meta["recipe"] == "tiny" and meta["steps"] == 4
    assert "tight:" in " ".join(meta["data"]) and load_recognizer(final).reading.views == 3
    calls.clear()
    recipes.run_recipe(TINY, real, out, threads=1, workers=0, render_workers=1, log=log.append)
    assert calls == [] and log[-3].startswith("first: done before") and log[-2].startswith("second: done before")


def test_the_shipped_recipes_print_their_plan_from_the_command_line():
    r = run_script([sys.executable, "scripts/train.py", "--recipe", "words", "--dry-run", "--out", "x"])
    assert r.returncode == 0, r.stderr
    assert "finetune: corpus:words-v6:0.5 folder:real/train.tsv:0.5; 10,000 steps (stopped at 5,000)" in r.stdout
    for recipe in recipes.RECIPES.values():   # every stage names corpora the recipe defines
        for stage in recipe.stages:
            assert set(stage.corpora) <= set(recipe.corpora)
            assert all("{" not in d or d.split("{")[1].split("}")[0] in set(recipe.corpora) | {"real"}
                       for d in stage.data)
