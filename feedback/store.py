"""Store operations. Each takes a Session and is meant to run in one short transaction:

    with Session.begin() as s:
        sub = add_submission(s, image, "words", prediction, corrected_text="HELLO", ...)

Text is validated (`validate_text`) and stored exactly as given; it only ever travels as a bound
parameter, never inside SQL, and is never interpreted as HTML here.
"""
from __future__ import annotations

import difflib
import hashlib
import io
import unicodedata
from pathlib import Path

from PIL import Image
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ocr.config import TASKS, preset
from ocr.images import InvalidImageError, check_content, load_image
from ocr.prediction import Prediction

from .models import STATES, Label, Photo, Sample, Submission, utcnow

MAX_TEXT = {"words": preset("words").max_len, "digits": preset("digits").max_len}
# Stored images are scaled down to fit these bounds (a crop of a word needs far less).
MAX_STORED_SIDE = 1024
MAX_STORED_PIXELS = 1024 * 512


class FeedbackError(ValueError):
    """A submission or review action was refused; the message says why (nothing was stored)."""


def validate_text(text: str, task: str) -> str:
    """Return the text to store, or raise FeedbackError. Leading/trailing spaces are removed."""
    if task not in TASKS:
        raise FeedbackError(f"unknown task {task!r}; expected one of {TASKS}")
    if not isinstance(text, str):
        raise FeedbackError("the correction must be text")
    text = text.strip()
    if not text:
        raise FeedbackError("the correction is empty")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in text):
        raise FeedbackError("the correction contains control or invisible characters")
    if len(text) > MAX_TEXT[task]:
        raise FeedbackError(f"the correction is longer than {MAX_TEXT[task]} characters")
    charset = preset(task).charset
    bad = sorted({c for c in text if c not in charset})
    if bad:
        what = "digits 0-9" if task == "digits" else "printable ASCII characters without spaces"
        raise FeedbackError(f"the correction has characters the {task} model cannot read ({''.join(bad)!r}); "
                            f"use {what}")
    return text


def normalized_png(image) -> tuple[bytes, int, int]:
    """Image as the model reads it (EXIF-rotated, mode L or RGB) -> (PNG bytes, width, height).

    Refuses images that cannot hold text (`ocr.images.check_content`, FeedbackError) and
    scales larger ones down to at most MAX_STORED_SIDE a side and MAX_STORED_PIXELS in all.
    """
    try:
        img = check_content(load_image(image))
    except InvalidImageError as e:
        raise FeedbackError(str(e)) from None
    w, h = img.size
    k = min(1.0, MAX_STORED_SIDE / max(w, h), (MAX_STORED_PIXELS / (w * h)) ** 0.5)
    if k < 1.0:
        img = img.resize((max(1, round(w * k)), max(1, round(h * k))), Image.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=False)
    return buf.getvalue(), img.width, img.height


def _get_or_create(session: Session, model, where: dict, create: dict):
    obj = session.scalars(select(model).filter_by(**where)).first()
    if obj is not None:
        return obj, False
    try:
        with session.begin_nested():  # a concurrent writer may insert the same row first
            obj = model(**where, **create)
            session.add(obj)
        return obj, True
    except IntegrityError:
        return session.scalars(select(model).filter_by(**where)).one(), False


def stored_photo(session: Session, photo) -> tuple[Photo, float]:
    """The photo a region was cut from, stored once (by the SHA-256 of its normalized, downscaled PNG) ->
    (Photo, the scale from the photo's pixels to the stored one's)."""
    img = load_image(photo)
    png, w, h = normalized_png(img)
    row, _ = _get_or_create(session, Photo, {"sha256": hashlib.sha256(png).hexdigest()},
                            {"png": png, "width": w, "height": h})
    return row, w / img.width


def _box(box, scale: float, photo: Photo) -> list[int]:
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError):
        raise FeedbackError("the region's box must be four numbers") from None
    if not all(abs(v) < 1e7 for v in (x0, y0, x1, y1)):
        raise FeedbackError("the region's box is out of range")
    xs = sorted(min(photo.width, max(0, round(v * scale))) for v in (x0, x1))
    ys = sorted(min(photo.height, max(0, round(v * scale))) for v in (y0, y1))
    return [xs[0], ys[0], xs[1], ys[1]]


def add_submission(session: Session, image, task: str, prediction: Prediction, corrected_text: str | None,
                   model_id: str, model_version: str, client_id: str, photo=None, box=None) -> Submission:
    """Record a correction (corrected_text) or a confirmation (corrected_text None or == prediction).

    The image is stored once per task (by the SHA-256 of its normalized PNG); the same text for
    the same image increments that label's count. photo, box: the image is the region box (x0, y0, x1, y1,
    in the photo's pixels) of that photo; the photo is stored once, downscaled, and the sample points at it.
    """
    confirmed = corrected_text is None or corrected_text.strip() == prediction.text
    text = validate_text(prediction.text if corrected_text is None else corrected_text, task)
    client_id = (client_id or "anonymous")[:64]
    png, w, h = normalized_png(image)
    sha = hashlib.sha256(png).hexdigest()
    sample, _ = _get_or_create(session, Sample, {"task": task, "sha256": sha}, {"png": png, "width": w, "height": h})
    session.flush()
    if photo is not None and box is not None and sample.photo_id is None:
        row, scale = stored_photo(session, photo)
        session.flush()
        sample.photo_id, sample.box = row.id, _box(box, scale, row)
    label, created = _get_or_create(session, Label, {"sample_id": sample.id, "text": text},
                                    {"count": 1, "state": "pending"})
    if not created:
        # a label whose every submission was undone was set aside (rejected at count 0), not refused by a
        # moderator: a new submission of the same text puts it back in the review queue
        revived = {"state": "pending"} if label.state == "rejected" and label.count <= 0 else {}
        session.execute(update(Label).where(Label.id == label.id)
                        .values(count=Label.count + 1, updated_at=utcnow(), **revived))
        session.refresh(label)
    session.flush()
    sub = Submission(sample_id=sample.id, label_id=label.id, model_id=str(model_id)[:200],
                     model_version=str(model_version)[:200], prediction=prediction.text,
                     confidence=float(prediction.confidence),
                     char_confidences=[float(c) for c in prediction.char_confidences],
                     corrected_text=text, confirmed=confirmed, client_id=client_id)
    session.add(sub)
    session.flush()
    return sub


def undo_submission(session: Session, submission_id: int, client_id: str) -> Submission:
    """Take back one's own submission: its label's count drops (and the label goes at zero)."""
    sub = session.get(Submission, submission_id)
    if sub is None or sub.client_id != (client_id or "anonymous")[:64]:
        raise FeedbackError("no such submission from this page")
    if sub.undone_at is not None:
        raise FeedbackError("this submission was already undone")
    sub.undone_at = utcnow()
    label = session.get(Label, sub.label_id)
    session.execute(update(Label).where(Label.id == label.id).values(count=Label.count - 1, updated_at=utcnow()))
    session.flush()
    session.refresh(label)
    if label.count <= 0 and label.state == "pending":
        label.state = "rejected"
    return sub


def set_state(session: Session, label_id: int, state: str) -> Label:
    """Review: accept or reject a label. Accepting one label of a sample rejects its rivals."""
    if state not in STATES:
        raise FeedbackError(f"state must be one of {STATES}")
    label = session.get(Label, label_id)
    if label is None:
        raise FeedbackError(f"no label with id {label_id}")
    set_states(session, [label_id], state)
    session.flush()
    session.refresh(label)
    return label


def pending_ids(session: Session, task: str | None = None) -> tuple[list[int], int]:
    """(ids of pending labels with a count and no rival in play, number left out as conflicts)."""
    bad = set(conflicts(session, task))
    q = select(Label.id, Label.sample_id).join(Sample).where(Label.state == "pending", Label.count > 0)
    if task:
        q = q.where(Sample.task == task)
    ids, skipped = [], 0
    for lid, sid in session.execute(q.order_by(Label.id)):
        if sid in bad:
            skipped += 1
        else:
            ids.append(lid)
    return ids, skipped


def set_states(session: Session, label_ids: list[int], state: str) -> int:
    """Set many labels at once (one UPDATE, not a row at a time); accepting rejects their samples' rivals.

    The caller keeps the batches small (`review_in_batches`) so no write lock is held for long.
    Returns the number of labels changed.
    """
    if state not in STATES:
        raise FeedbackError(f"state must be one of {STATES}")
    if not label_ids:
        return 0
    ids = list(label_ids)
    n = session.execute(update(Label).where(Label.id.in_(ids)).values(state=state, updated_at=utcnow())).rowcount
    if state == "accepted":
        samples = select(Label.sample_id).where(Label.id.in_(ids)).scalar_subquery()
        session.execute(update(Label).where(Label.sample_id.in_(samples), Label.id.not_in(ids),
                                            Label.state != "rejected").values(state="rejected", updated_at=utcnow()))
    return n


def check_label_ids(session: Session, label_ids: list[int]) -> None:
    """FeedbackError naming every id that is not a label (nothing is changed)."""
    missing = set(label_ids) - set(session.scalars(select(Label.id).where(Label.id.in_(label_ids)))) if label_ids else set()
    if missing:
        raise FeedbackError(f"no label with id {', '.join(map(str, sorted(missing)))}")


def accept_pending(Session, task: str | None = None, batch: int = 500) -> tuple[int, int]:
    """Accept every pending label without a conflict, in batches -> (accepted, conflicting left pending)."""
    with Session.begin() as s:
        ids, skipped = pending_ids(s, task)
    return review_in_batches(Session, ids, "accepted", batch), skipped


def accepted_rows(session: Session, after_id: int = 0) -> list[tuple]:
    """Accepted labels with id > after_id, oldest first: (id, task, text, png, count, accepted_at)."""
    q = (select(Label.id, Sample.task, Label.text, Sample.png, Label.count, Label.updated_at).join(Sample)
         .where(Label.state == "accepted", Label.id > after_id).order_by(Label.id))
    return [tuple(r) for r in session.execute(q)]


def review_in_batches(Session, label_ids: list[int], state: str, batch: int = 500) -> int:
    """set_states in transactions of `batch` labels each, so the demo can write in between."""
    done = 0
    for i in range(0, len(label_ids), batch):
        with Session.begin() as s:
            done += set_states(s, label_ids[i:i + batch], state)
    return done


def list_labels(session: Session, task: str | None = None, state: str | None = None, limit: int = 50,
                offset: int = 0) -> list[dict]:
    """Labels oldest first, as dicts (id, sample_id, task, text, count, state, conflict, created_at)."""
    q = select(Label, Sample.task).join(Sample).order_by(Label.id).offset(offset).limit(limit)
    if task:
        q = q.where(Sample.task == task)
    if state:
        q = q.where(Label.state == state)
    return _label_rows(session, q, set(conflicts(session, task)))


def _label_rows(session: Session, q, bad: set[int]) -> list[dict]:
    """Rows of a select(Label, Sample.task) as dicts; `bad` holds the sample ids in a conflict."""
    return [{"id": lab.id, "sample_id": lab.sample_id, "task": t, "text": lab.text, "count": lab.count,
             "state": lab.state, "conflict": lab.sample_id in bad, "created_at": lab.created_at}
            for lab, t in session.execute(q)]


def edit_label(session: Session, label_id: int, text: str) -> Label:
    """Review: replace a label's text with the moderator's (validated), accept it and reject its rivals.

    If the sample already has a label with that text, that one is accepted instead.
    """
    label = session.get(Label, label_id)
    if label is None:
        raise FeedbackError(f"no label with id {label_id}")
    sample = session.get(Sample, label.sample_id)
    text = validate_text(text, sample.task)
    same = session.scalars(select(Label).where(Label.sample_id == sample.id, Label.text == text)).first()
    if same is None:
        label.text = text
        same = label
    set_states(session, [same.id], "accepted")
    session.flush()
    return same


def review_rows(session: Session, task: str | None = None, state: str | None = "pending", limit: int = 50,
                offset: int = 0) -> list[dict]:
    """Labels for the review page: list_labels() plus the sample's image (PNG), what the model read and, for a
    region of a photo, the photo (PNG, "photo_png") and the region's box in it ("box"), else None."""
    return _with_images(session, list_labels(session, task, state, limit, offset))


def _with_images(session: Session, rows: list[dict]) -> list[dict]:
    for r in rows:
        sub = session.scalars(select(Submission).where(Submission.label_id == r["id"])
                              .order_by(Submission.id.desc()).limit(1)).first()
        r["prediction"] = sub.prediction if sub else ""
        r["confidence"] = sub.confidence if sub else None
        sample = session.get(Sample, r["sample_id"])
        r["png"] = sample.png
        photo = session.get(Photo, sample.photo_id) if sample.photo_id is not None else None
        r["photo_png"], r["box"] = (photo.png, sample.box) if photo is not None else (None, None)
    return rows


def review_queue(session: Session, task: str | None = None, state: str | None = "pending", limit: int = 50) -> list[dict]:
    """The moderator's queue: labels in `state`, conflicts first, then the lowest model confidence, then oldest.

    Each row is a `review_rows` row plus "rivals": every other text still in play for the same image, as
    [(text, count)].
    """
    conf = (select(Submission.label_id, func.min(Submission.confidence).label("conf"))
            .where(Submission.undone_at.is_(None)).group_by(Submission.label_id).subquery())
    bad = set(conflicts(session, task))
    q = select(Label.id, Label.sample_id, conf.c.conf).join(Sample).outerjoin(conf, conf.c.label_id == Label.id)
    if task:
        q = q.where(Sample.task == task)
    if state:
        q = q.where(Label.state == state)
    found = list(session.execute(q))
    found.sort(key=lambda r: (r.sample_id not in bad, r.conf if r.conf is not None else 1.0, r.id))
    ids = [r.id for r in found[:limit]]
    if not ids:
        return []
    q = select(Label, Sample.task).join(Sample).where(Label.id.in_(ids))
    rows = {r["id"]: r for r in _with_images(session, _label_rows(session, q, bad))}
    out = []
    for lid in ids:
        r = rows[lid]
        rivals = session.execute(select(Label.text, Label.count).where(
            Label.sample_id == r["sample_id"], Label.id != lid, Label.state != "rejected")).all()
        r["rivals"] = [(t, n) for t, n in rivals]
        out.append(r)
    return out


def bulk_candidates(session: Session, task: str | None = None, others: int = 1,
                    min_confidence: float = 0.9) -> list[int]:
    """Pending labels safe to accept in bulk -> their ids: not in a conflict, and either the same text came from
    at least `others` other submissions (count > others) or it is the model's own reading (a confirmation)
    read at confidence >= `min_confidence`."""
    if not isinstance(others, int) or others < 1 or not (0 <= min_confidence <= 1):
        raise FeedbackError("the other submissions must be at least 1 and the confidence from 0 to 1")
    bad = set(conflicts(session, task))
    q = (select(Label.id, Label.sample_id, Label.count, Label.text, Submission.prediction, Submission.confidence)
         .join(Sample, Sample.id == Label.sample_id).join(Submission, Submission.label_id == Label.id)
         .where(Label.state == "pending", Submission.undone_at.is_(None)))
    if task:
        q = q.where(Sample.task == task)
    ok: set[int] = set()
    for lid, sid, count, text, pred, conf in session.execute(q):
        if sid in bad:
            continue
        if count > others or (pred == text and conf is not None and conf >= min_confidence):
            ok.add(lid)
    return sorted(ok)


def correction_counts(session: Session) -> dict:
    """For the review page's plots: submissions per day and per task, and the characters most often corrected.

    {"per_day": [(date str, n)], "per_task": [(task, n)], "chars": [(character, n)]} where a character counts
    each time a correction (not a confirmation) differs from the model's reading at that character.
    """
    per_day: dict = {}
    per_task: dict = {}
    chars: dict = {}
    q = select(Submission.created_at, Submission.prediction, Submission.corrected_text, Submission.confirmed,
               Sample.task).join(Sample, Sample.id == Submission.sample_id).where(Submission.undone_at.is_(None))
    for created, pred, text, confirmed, task in session.execute(q):
        day = created.date().isoformat()
        per_day[day] = per_day.get(day, 0) + 1
        per_task[task] = per_task.get(task, 0) + 1
        if not confirmed:
            for op, _, _, j1, j2 in difflib.SequenceMatcher(None, pred, text).get_opcodes():
                if op != "equal":
                    for c in text[j1:j2]:
                        chars[c] = chars.get(c, 0) + 1
    return {"per_day": sorted(per_day.items()), "per_task": sorted(per_task.items()),
            "chars": sorted(chars.items(), key=lambda kv: -kv[1])[:20]}


def conflicts(session: Session, task: str | None = None) -> list[int]:
    """Sample ids with more than one label still in play (pending or accepted)."""
    q = (select(Label.sample_id).join(Sample).where(Label.state != "rejected")
         .group_by(Label.sample_id).having(func.count(Label.id) > 1))
    if task:
        q = q.where(Sample.task == task)
    return list(session.scalars(q))


def stats(session: Session) -> dict:
    """{task: {state: number of labels}, plus samples, submissions and conflicts per task}."""
    out: dict = {}
    rows = session.execute(select(Sample.task, Label.state, func.count(Label.id)).join(Label).group_by(Sample.task, Label.state))
    for task, state, n in rows:
        out.setdefault(task, {s: 0 for s in STATES})[state] = n
    for task, n in session.execute(select(Sample.task, func.count(Sample.id)).group_by(Sample.task)):
        out.setdefault(task, {s: 0 for s in STATES})["samples"] = n
    for task, n in session.execute(select(Sample.task, func.count(Submission.id)).join(Submission).group_by(Sample.task)):
        out[task]["submissions"] = n
    for task in out:
        out[task]["conflicts"] = len(conflicts(session, task))
    return out


def labelled_samples(session: Session, task: str, states=("accepted",), exclude_conflicts: bool = True):
    """[(label id, PNG bytes, text)] for one task, oldest first. Conflicting samples are left out."""
    bad = set(conflicts(session, task)) if exclude_conflicts else set()
    q = (select(Label.id, Sample.png, Label.text, Sample.id).join(Sample)
         .where(Sample.task == task, Label.state.in_(states), Label.count > 0).order_by(Label.id))
    return [(lid, png, text) for lid, png, text, sid in session.execute(q) if sid not in bad]


def export_folder(session: Session, task: str, out: str | Path, states=("accepted",)) -> int:
    """Write PNGs and labels.tsv (relative/path<TAB>label) to a new folder; returns the count."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if (out / "labels.tsv").exists():
        raise FeedbackError(f"{out}/labels.tsv exists: choose a new folder")
    (out / "images").mkdir(exist_ok=True)
    lines = []
    for lid, png, text in labelled_samples(session, task, states):
        name = f"images/{lid:08d}.png"
        (out / name).write_bytes(png)
        lines.append(f"{name}\t{text}")
    (out / "labels.tsv").write_text("".join(l + "\n" for l in lines), encoding="utf-8")
    return len(lines)


def export_lmdb(session: Session, task: str, out: str | Path, states=("accepted",)) -> int:
    from ocr.training.datasets.lmdb_io import write_lmdb

    items = [(png, text) for _, png, text in labelled_samples(session, task, states)]
    return write_lmdb(items, out, progress=False)["written"]


def image_of(session: Session, sample_id: int) -> Image.Image:
    return Image.open(io.BytesIO(session.get(Sample, sample_id).png))
