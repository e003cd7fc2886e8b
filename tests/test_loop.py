"""The loop's policy in the library: the gate's boundary, training jobs, the model registry, hot swap, roll back."""
import time

import numpy as np
import pytest
from PIL import Image

from feedback import FeedbackError, Prediction, accept_pending, add_submission, make_engine, session_factory
from feedback.finetune import FinetuneSettings, SettingsError, gate
from feedback.jobs import auto_due, cancel_job, get_job, mark_interrupted, start_job
from feedback.models import TrainingJob
from feedback.registry import current, ensure_base, rollback, version_path
from ocr import load_checkpoint, save_checkpoint
from ocr.config import preset
from ocr.model import Recognizer
from ocr.settings import shipped_model


def _scores(acc):
    return {"count": 100, "accuracy": acc, "exact": acc, "ned": acc}


def test_the_gate_passes_a_fall_equal_to_the_tolerance_and_refuses_a_larger_one():
    before = {"ref": _scores(0.90), "val": _scores(0.80), "holdout": _scores(0.5)}
    assert gate(before, {"ref": _scores(0.89), "val": _scores(0.80), "holdout": _scores(0.0)}, ["ref", "val"], 0.01).passed
    refused = gate(before, {"ref": _scores(0.8899), "val": _scores(0.81), "holdout": _scores(1.0)}, ["ref", "val"], 0.01)
    assert not refused.passed and "ref fell 0.010" in refused.reason and "val" not in refused.reason
    assert not gate(before, before, [], 0.01).passed  # no gate set never passes
    assert gate(before, {k: _scores(v["accuracy"] + 0.1) for k, v in before.items()}, ["ref"], 0.0).passed


@pytest.mark.parametrize("bad", [dict(tolerance=float("nan")), dict(tolerance=-0.1), dict(holdout=1.0),
                                 dict(steps=0), dict(lr=0.0), dict(max_minutes=float("inf")), dict(task="faces")])
def test_nonsense_settings_are_refused(bad):
    with pytest.raises(SettingsError):
        FinetuneSettings(**bad).check()


@pytest.fixture(params=["sqlite", "postgresql"])
def loop_env(request, tmp_path, monkeypatch):
    """A store with accepted digits corrections, a small base model registered as the reading version."""
    monkeypatch.setenv("OCR_VERSIONS_DIR", str(tmp_path / "versions"))
    if request.param == "sqlite":
        db = f"sqlite:///{tmp_path / 'fb.sqlite'}"
    else:
        from test_feedback_store import PG_URL, _reset_postgres
        if not PG_URL:
            pytest.skip("PostgreSQL not available: set OCR_TEST_POSTGRES_URL (CI starts a local server)")
        _reset_postgres(PG_URL)
        db = PG_URL
    Session = session_factory(make_engine(db))
    from ocr.synth import DigitSynth

    honest = DigitSynth(seed=4321)  # honest corrections: house numbers with their true text
    for i in range(12):
        image, text = honest[i]
        with Session.begin() as s:
            add_submission(s, image, "digits", Prediction("1", 0.3, [0.3]), text, "m", "1", "t")
    accept_pending(Session, "digits")
    base = tmp_path / "base.safetensors"
    base.write_bytes(shipped_model("digits").read_bytes())
    with Session.begin() as s:
        ensure_base(s, "digits", base)
    return Session, db, base


def _wait(Session, job_id, timeout=600):
    t0 = time.time()
    while time.time() - t0 < timeout:
        job = get_job(Session, job_id)
        if job.state not in ("queued", "running"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not end in {timeout} s")


def _settings(**kw):
    return FinetuneSettings(**dict(dict(task="digits", mix=["synth-digits:0.9", "feedback:0.1"], steps=2, val_every=2,
                                        batch_size=8, reference=100, holdout=0.3), **kw))


@pytest.mark.parametrize("loop_env", ["sqlite"], indirect=True)  # the job's process on PostgreSQL: the next test
def test_a_job_promotes_a_harmless_model_and_refuses_a_poisoned_one_then_rolls_back(loop_env):
    Session, db, base = loop_env
    # honest: a real fine-tune (20 steps at 3e-4, half synthetic numbers) of the shipped model: promoted
    job = _wait(Session, start_job(Session, db, "digits", _settings(
        mix=["synth-digits:0.5", "feedback:0.5"], steps=20, val_every=10, lr=3e-4, reference=200)))
    assert job.state == "finished" and "promoted" in job.message, job.message
    with Session.begin() as s:
        v = current(s, "digits")
        assert v.id == job.version_id and v.state == "promoted" and v.parent_sha256 is not None
        assert v.corrections > 0 and set(v.info["gate"]) == {"reference synth-digits"}
        assert v.info["heldout"]["count"] > 0
        path, promoted = version_path(v), v.id
    _, meta = load_checkpoint(path)  # a whole, loadable file
    assert meta["gate_passed"] is True
    from ocr.checkpoint import read_header
    from ocr.settings import shipped_model
    shipped = read_header(shipped_model("digits"))[1]
    assert meta["reading"] == shipped["reading"]                  # it reads as its parent did
    assert meta["parent_meta"]["figures"] == shipped["figures"]   # About: measured for the parent, said so

    # poisoned, from the same model: thirty more all say 7777 (a hard fine-tune); the reference set falls, refused
    with Session.begin() as s:
        for i in range(30):
            a = np.random.default_rng(100 + i).integers(0, 255, (30, 50, 3), dtype=np.uint8)
            add_submission(s, Image.fromarray(a), "digits", Prediction("1", 0.3, [0.3]), "7777", "m", "1", "t")
    accept_pending(Session, "digits")
    with Session.begin() as s:
        rollback(s, "digits", ensure_base(s, "digits", base).id)  # the same start as the honest job
    job = _wait(Session, start_job(Session, db, "digits", FinetuneSettings(
        task="digits", mix=["feedback:1"], steps=40, val_every=20, lr=5e-3, batch_size=8, reference=200, holdout=0.3)))
    assert job.state == "finished" and "refused" in job.message and "reference synth-digits fell" in job.message
    with Session.begin() as s:
        base_id = ensure_base(s, "digits", base).id
        assert current(s, "digits").id == base_id  # the reading model stays the one the job started from
        with pytest.raises(FeedbackError, match="never promoted"):
            rollback(s, "digits", job.version_id)  # a refused model cannot be made the reading one
        assert s.get(type(current(s, "digits")), promoted).state == "rolled back"
        rollback(s, "digits", promoted)  # and forward again: any version that was promoted
    with Session.begin() as s:
        assert current(s, "digits").id == promoted


def test_a_cancelled_job_writes_no_model_and_a_dead_one_is_marked_interrupted(loop_env, tmp_path):
    Session, db, base = loop_env
    job_id = start_job(Session, db, "digits", _settings(steps=5000, val_every=5000, lr=1e-9))
    with pytest.raises(FeedbackError, match="already running"):
        start_job(Session, db, "digits", _settings())
    while get_job(Session, job_id).step < 1:  # training has begun
        assert get_job(Session, job_id).state in ("queued", "running")
        time.sleep(0.5)
    assert "asked to stop" in cancel_job(Session, job_id)
    job = _wait(Session, job_id)
    assert job.state == "cancelled" and job.version_id is None
    assert not list((tmp_path / "versions").glob("digits-*.safetensors"))
    with Session.begin() as s:  # a job whose process is gone (an app restart)
        s.add(TrainingJob(task="digits", state="running", settings={}, step=3, steps=10, phase="training",
                          message="", pid=2 ** 22 + 12345, cancel_requested=False, trigger="moderator"))
    assert mark_interrupted(Session) == 1
    assert [j.state for j in [get_job(Session, job_id + 1)]] == ["interrupted"]


def test_the_automatic_trigger_waits_for_enough_new_corrections_and_time(loop_env):
    Session, db, _ = loop_env
    assert auto_due(Session, "digits", min_new=12, every_hours=1)
    assert not auto_due(Session, "digits", min_new=13, every_hours=1)
    assert not auto_due(Session, "digits", min_new=0, every_hours=1)  # 0: off
    with Session.begin() as s:
        s.add(TrainingJob(task="digits", state="finished", settings={}, step=1, steps=1, phase="", message="",
                          cancel_requested=False, trigger="automatic"))
    assert not auto_due(Session, "digits", min_new=1, every_hours=1)  # a job just ran, nothing new since


def test_the_app_swaps_in_a_promoted_version_without_a_restart(loop_env, tmp_path):
    from feedback.registry import add_version
    from webapp.service import Models

    Session, db, base = loop_env
    models = Models({"digits": str(base)}, Session=Session, check_every=0)
    old = models.get("digits")
    other = save_checkpoint(Recognizer(preset("digits")), tmp_path / "versions" / "digits-new.safetensors", {})
    with Session.begin() as s:
        v = add_version(s, "digits", other, "promoted", corrections=3)
        vid = v.id
    new = models.get("digits")
    assert new is not old and models.loaded_version("digits") == vid
    bad = tmp_path / "versions" / "digits-bad.safetensors"
    bad.write_bytes(b"not a model")  # a version whose file is damaged never replaces a working model
    with Session.begin() as s:
        add_version(s, "digits", bad, "promoted")
    assert models.get("digits") is new


def test_model_versions_survive_a_new_disk_through_the_sync_folder(loop_env, tmp_path, monkeypatch):
    """As on a Space: versions are pushed to a folder (the Hub model repo's copy); a new machine with an empty store
    restores them and reads with the version promoted last, not the one it starts from."""
    from feedback.registry import add_version, versions
    from webapp.hub_sync import export_versions, restore_versions

    Session, db, base = loop_env
    made = save_checkpoint(Recognizer(preset("digits")), tmp_path / "versions" / "digits-made.safetensors", {})
    with Session.begin() as s:
        v = add_version(s, "digits", made, "promoted", parent_sha256="0" * 64, corrections=7, info={"gate": {}})
        sha = v.sha256
    sync = tmp_path / "hub_models"
    assert export_versions(Session, sync) == 2 and export_versions(Session, sync) == 0  # only changes are logged
    with Session.begin() as s:
        rollback(s, "digits", ensure_base(s, "digits", base).id)
    assert export_versions(Session, sync) == 2  # the roll back: two states changed

    monkeypatch.setenv("OCR_VERSIONS_DIR", str(tmp_path / "new_disk"))
    fresh = session_factory(make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite'}"))
    assert restore_versions(fresh, sync) == 2
    with fresh.begin() as s:
        now = current(s, "digits")
        assert now.sha256 != sha and now.state == "promoted"  # the base, rolled back to, reads
        assert {x.state for x in versions(s, "digits")} == {"promoted", "rolled back"}
        assert version_path(now).is_file() and str(tmp_path / "new_disk") in str(version_path(now))


def test_the_app_reads_on_one_thread_fewer_while_a_job_trains(loop_env):
    """Two reading threads beside a training job made a photo ~30x slower; one fewer keeps it under 2x."""
    import os

    import torch

    from webapp.service import Models

    Session, db, base = loop_env
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        models = Models({"digits": str(base)}, Session=Session, check_every=0)
        models.get("digits")
        assert torch.get_num_threads() == 2
        with Session.begin() as s:
            s.add(TrainingJob(task="digits", state="running", settings={}, step=1, steps=9, phase="training",
                              message="", pid=os.getpid(), cancel_requested=False, trigger="moderator"))
        models.get("digits")
        assert torch.get_num_threads() == 1
        with Session.begin() as s:
            for job in s.query(TrainingJob):
                job.state = "finished"
        models.get("digits")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_the_command_line_sets_the_jobs_learning_rate_batch_and_gate(capsys):
    """app.py's training flags reach the page's jobs (the settings a synthetic-only model adapts with), and values
    that would make a job fail or its gate meaningless stop the app at once with a message."""
    import app
    st = app.loop_settings(app.parse_args([
        "--train-lr", "1e-3", "--train-batch-size", "32", "--train-reference", "0", "--train-val", "folder:/data/v",
        "--train-mix-words", "synth-words:0.25@v6", "feedback:0.75"])).finetune_settings("words")
    assert (st.lr, st.batch_size, st.reference, st.val) == (1e-3, 32, 0, ["folder:/data/v"])
    assert st.mix == ["synth-words:0.25@v6", "feedback:0.75"]
    st.check()
    default = app.loop_settings(app.parse_args([])).finetune_settings("words")
    assert (default.lr, default.batch_size, default.reference) == (1e-4, 64, 1000)
    for bad, msg in ((["--train-lr", "0"], "--train-lr"), (["--train-batch-size", "0"], "at least 1"),
                     (["--train-reference", "0"], "needs at least one --train-val")):
        with pytest.raises(SystemExit) as e:
            app.parse_args(bad)
        assert e.value.code == 2 and msg in capsys.readouterr().err
