"""The corrections store on SQLite (and PostgreSQL when OCR_TEST_POSTGRES_URL is set)."""
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, inspect, select, text

from feedback import (FeedbackError, Label, Prediction, Sample, Submission, add_submission, conflicts, export_folder,
                      export_lmdb, labelled_samples, make_engine, session_factory, set_state, set_states, stats,
                      undo_submission, validate_text)
from ocr.training.datasets.labels import folder_dataset
from ocr.training.datasets.lmdb_io import LmdbDataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PG_URL = os.environ.get("OCR_TEST_POSTGRES_URL")


def _reset_postgres(url):
    from sqlalchemy import create_engine
    e = create_engine(url)
    with e.begin() as c:
        c.execute(text("DROP TABLE IF EXISTS submissions, labels, samples, photos, model_versions, training_jobs, alembic_version CASCADE"))
    e.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    if request.param == "sqlite":
        yield str(tmp_path / "fb.sqlite")
    else:
        if not PG_URL:
            pytest.skip("PostgreSQL not available: set OCR_TEST_POSTGRES_URL (CI starts a local server)")
        _reset_postgres(PG_URL)
        yield PG_URL


@pytest.fixture
def Session(db):
    engine = make_engine(db)
    yield session_factory(engine)
    engine.dispose()


def img(seed, size=(48, 20)):
    a = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(a)


PRED = Prediction("HELL0", 0.42, [0.9, 0.9, 0.9, 0.8, 0.2])


def submit(Session, image, textv, client="c1", task="words", pred=PRED):
    with Session.begin() as s:
        return add_submission(s, image, task, pred, textv, model_id="words", model_version="test", client_id=client).id


def test_schema_via_alembic(Session):
    with Session.begin() as s:
        names = set(inspect(s.connection()).get_table_names())
        assert {"samples", "labels", "submissions", "photos", "model_versions", "training_jobs",
                "alembic_version"} <= names
        assert s.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0003"


def test_a_store_of_the_first_schema_is_upgraded_keeping_its_rows(tmp_path):
    """A store made before photos were kept: upgraded in place, its samples kept, photo and box empty."""
    from feedback.db import upgrade_schema
    from feedback import Sample
    engine = make_engine(tmp_path / "old.sqlite", upgrade=False)
    upgrade_schema(engine, "0001")
    with engine.begin() as c:
        c.exec_driver_sql("INSERT INTO samples (task, sha256, png, width, height, created_at) "
                          "VALUES ('words', 'abc', x'89', 3, 2, '2026-01-01')")
    upgrade_schema(engine)
    with session_factory(engine).begin() as s:
        sample = s.scalars(select(Sample)).one()
        assert sample.sha256 == "abc" and sample.photo_id is None and sample.box is None


def test_sqlite_pragmas(tmp_path):
    engine = make_engine(tmp_path / "x.sqlite")
    with engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_submission_fields_and_dedup(Session):
    a = submit(Session, img(1), "HELLO")
    b = submit(Session, img(1), "HELLO", client="c2")
    submit(Session, img(1), None)  # "prediction is right" (disagrees: a conflict)
    with Session.begin() as s:
        assert s.scalar(select(func.count(Sample.id))) == 1
        labels = s.scalars(select(Label).order_by(Label.id)).all()
        assert [(l.text, l.count, l.state) for l in labels] == [("HELLO", 2, "pending"), ("HELL0", 1, "pending")]
        sub = s.get(Submission, a)
        assert sub.prediction == "HELL0" and sub.confidence == pytest.approx(0.42) and len(sub.char_confidences) == 5
        assert sub.corrected_text == "HELLO" and not sub.confirmed and sub.model_id == "words"
        assert sub.created_at is not None and s.get(Submission, b).client_id == "c2"
        sample = s.scalars(select(Sample)).one()
        assert len(sample.sha256) == 64 and sample.png.startswith(b"\x89PNG")
        assert conflicts(s) == [sample.id]
        assert labelled_samples(s, "words", ("pending",)) == []  # conflicts are not trained on
        set_state(s, labels[0].id, "accepted")
    with Session.begin() as s:
        assert [l.state for l in s.scalars(select(Label).order_by(Label.id))] == ["accepted", "rejected"]
        assert conflicts(s) == []
        assert [t for _, _, t in labelled_samples(s, "words")] == ["HELLO"]
        st = stats(s)["words"]
        assert st["accepted"] == 1 and st["rejected"] == 1 and st["submissions"] == 3 and st["samples"] == 1


@pytest.mark.parametrize("bad", ["", "   ", "a\x00b", "tab\there", "x" * 26, "caf\u00e9", "two words", "\u200b", "\x1b[31m"])
def test_invalid_corrections_store_nothing(Session, bad):
    with pytest.raises(FeedbackError):
        submit(Session, img(2), bad)
    with Session.begin() as s:
        assert s.scalar(select(func.count(Sample.id))) == 0 and s.scalar(select(func.count(Submission.id))) == 0


def test_digits_charset_and_strange_text_stored_verbatim(Session):
    with pytest.raises(FeedbackError, match="digits"):
        submit(Session, img(3), "12a", task="digits")
    nasty = "');DROP--<b>"
    submit(Session, img(4), nasty)
    with Session.begin() as s:
        assert s.scalars(select(Label.text)).one() == nasty
        assert "samples" in inspect(s.connection()).get_table_names()
    assert validate_text(" 42 ", "digits") == "42"


def test_undo(Session):
    sid = submit(Session, img(5), "WORLD", client="me")
    with pytest.raises(FeedbackError):
        with Session.begin() as s:
            undo_submission(s, sid, "someone-else")
    with Session.begin() as s:
        undo_submission(s, sid, "me")
    with Session.begin() as s:
        label = s.scalars(select(Label)).one()
        assert label.count == 0 and label.state == "rejected"
        assert s.get(Submission, sid).undone_at is not None
    with pytest.raises(FeedbackError, match="already"):
        with Session.begin() as s:
            undo_submission(s, sid, "me")


def test_export_folder_and_lmdb(Session, tmp_path):
    for i, t in enumerate(["ONE", "two", "Three"]):
        submit(Session, img(10 + i), t)
    with Session.begin() as s:
        for l in s.scalars(select(Label)):
            set_state(s, l.id, "accepted")
    with Session.begin() as s:
        assert export_folder(s, "words", tmp_path / "exp") == 3
        assert export_lmdb(s, "words", tmp_path / "exp.lmdb") == 3
    assert sorted(t for _, t in folder_dataset(tmp_path / "exp")) == ["ONE", "Three", "two"]
    assert sorted(t for _, t in LmdbDataset(tmp_path / "exp.lmdb")) == ["ONE", "Three", "two"]
    r = subprocess.run([sys.executable, "-m", "feedback", "--db", str(tmp_path / "cli.sqlite"), "stats"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and "no submissions yet" in r.stdout


def test_concurrent_writers_lose_nothing(Session):
    threads, per = 8, 50
    errors, ids = [], []
    lock = threading.Lock()

    def worker(k):
        try:
            for j in range(per):
                # every 5th image is shared by all threads: concurrent dedup of the same sample
                image = img(10_000 + j) if j % 5 == 0 else img(k * 1000 + j)
                i = submit(Session, image, f"W{k}x{j % 3}", client=f"t{k}")
                with lock:
                    ids.append(i)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert not errors, errors[:3]
    with Session.begin() as s:
        assert s.scalar(select(func.count(Submission.id))) == threads * per == len(set(ids))
        assert s.scalar(select(func.sum(Label.count))) == threads * per
        assert s.scalar(select(func.count(Sample.id))) == threads * per - threads * 10 + 10


WRITER = r"""
import numpy as np
from PIL import Image
from feedback import Prediction, add_submission, make_engine, session_factory
S = session_factory(make_engine({db!r}))
i = 0
while True:
    a = np.random.default_rng(i).integers(0, 255, (20, 40, 3), dtype=np.uint8)
    with S.begin() as s:
        sid = add_submission(s, Image.fromarray(a), "words", Prediction("x", 0.5, [0.5]), "W%d" % i, "m", "1", "k").id
    print(sid, flush=True)   # acknowledged only after the commit returned
    i += 1
"""


def test_sigkill_mid_burst_keeps_acknowledged_rows(tmp_path):
    path = tmp_path / "kill.sqlite"
    make_engine(path).dispose()
    p = subprocess.Popen([sys.executable, "-c", WRITER.format(db=str(path))], stdout=subprocess.PIPE, text=True)
    acked = []
    t0 = time.time()
    while len(acked) < 60 and time.time() - t0 < 120:
        line = p.stdout.readline()
        if not line:
            break
        acked.append(int(line))
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert len(acked) >= 60, "writer did not get going"
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {r[0] for r in con.execute("SELECT id FROM submissions")}
    con.close()
    assert set(acked) <= stored


def test_bulk_review_in_short_batches_and_rivals(Session):
    """set_states changes many labels per statement; review_in_batches keeps each transaction short."""
    from feedback import pending_ids, review_in_batches
    ids = [submit(Session, img(100 + i), f"W{i}") for i in range(30)]
    rival = submit(Session, img(100), "OTHER")              # a second text for the first image: a conflict
    with Session.begin() as s:
        todo, skipped = pending_ids(s, "words")
    assert skipped == 2 and len(todo) == 29                 # both labels of the conflicting sample left out
    seen = []
    real_begin = Session.begin

    def counting_begin(*a, **k):
        seen.append(1)
        return real_begin(*a, **k)

    Session.begin = counting_begin
    try:
        assert review_in_batches(Session, todo, "accepted", batch=10) == 29
    finally:
        Session.begin = real_begin
    assert len(seen) == 3                                   # 29 labels in transactions of at most 10
    with Session.begin() as s:
        states = {lab.text: lab.state for lab in s.scalars(select(Label))}
        first = s.get(Submission, ids[0]).label_id
        set_states(s, [first], "accepted")                  # accepting one text rejects its rival
    with Session.begin() as s:
        assert s.get(Label, s.get(Submission, rival).label_id).state == "rejected"
    assert sum(v == "accepted" for v in states.values()) == 29


def test_a_new_save_after_undo_is_pending_again(Session):
    sid = submit(Session, img(7), "AGAIN", client="me")
    with Session.begin() as s:
        undo_submission(s, sid, "me")
    submit(Session, img(7), "AGAIN", client="me")
    with Session.begin() as s:
        label = s.scalars(select(Label)).one()
        assert (label.state, label.count) == ("pending", 1)


def test_cli_list_review_export_and_stats_hide_passwords(db, tmp_path, capsys):
    from feedback.__main__ import main
    from feedback.db import safe_url
    engine = make_engine(db)
    S = session_factory(engine)
    for i in range(3):
        submit(S, img(40 + i), f"Cli{i}")
    engine.dispose()
    assert main(["--db", db, "list", "--state", "pending"]) == 0
    out = capsys.readouterr().out
    assert all(f"'Cli{i}'" in out for i in range(3)) and out.count("pending") == 3
    assert main(["--db", db, "review", "accept", "--all-pending", "--task", "words"]) == 0
    assert "3 labels set to accepted" in capsys.readouterr().out
    assert main(["--db", db, "review", "reject", "999999"]) == 1
    assert "no label with id 999999" in capsys.readouterr().err
    assert main(["--db", db, "export", "--task", "words", str(tmp_path / "exp")]) == 0
    lines = (tmp_path / "exp" / "labels.tsv").read_text().splitlines()
    assert sorted(line.split("\t")[1] for line in lines) == ["Cli0", "Cli1", "Cli2"]
    assert main(["--db", db, "stats"]) == 0
    out = capsys.readouterr().out
    assert "accepted 3" in out
    url = "postgresql+psycopg://ocr:s3cretpw@db.example:5432/ocr"
    assert "s3cretpw" not in safe_url(url) and "db.example" in safe_url(url)
    if "://" in db and "@" in db:
        password = db.split("@")[0].rsplit(":", 1)[1]
        assert f":{password}@" not in out and ":***@" in out
