"""The moderators' review page, independent of Gradio: unlock with the operator's password, list
pending corrections with their images, accept / reject / edit them, and counts for plots.

    rv = Review(Session, password=os.environ.get("OCR_ADMIN_PASSWORD"))
    rv.enabled                        # False without a password: the page shows no review tab at all
    rv.check(attempt)                 # constant-time comparison; a wrong attempt waits a second
    rows = rv.rows("words", "pending")
    rv.act([3, 4], "accept")          # or "reject"; rv.edit(5, "HELLO")

Every action goes through the store's functions (feedback.store); nothing here writes SQL.
"""
from __future__ import annotations

import hmac
import io
import time

from PIL import Image, ImageDraw

from feedback import (FeedbackError, bulk_candidates, correction_counts, edit_label, review_in_batches, review_queue,
                      review_rows, set_states, stats)

ENV_VAR = "OCR_ADMIN_PASSWORD"
ACTIONS = {"accept": "accepted", "reject": "rejected", "pending": "pending"}
COLUMNS = ["label", "task", "state", "model read", "confidence", "submitted", "count", "other texts", "conflict"]


class Review:
    def __init__(self, Session, password: str | None, wrong_wait: float = 1.0):
        self.Session = Session
        self._password = password or ""
        self.wrong_wait = wrong_wait

    @property
    def enabled(self) -> bool:
        return bool(self._password)

    def check(self, attempt) -> bool:
        ok = self.enabled and isinstance(attempt, str) and hmac.compare_digest(
            attempt.encode("utf-8", "surrogatepass"), self._password.encode("utf-8", "surrogatepass"))
        if not ok:
            time.sleep(self.wrong_wait)  # slows down guessing
        return ok

    def rows(self, task: str | None = None, state: str | None = "pending", limit: int = 50) -> list[dict]:
        with self.Session.begin() as s:
            return review_rows(s, task or None, state or None, limit)

    def queue(self, task: str | None = None, state: str | None = "pending", limit: int = 50) -> list[dict]:
        """Conflicts first, then the lowest model confidence (feedback.store.review_queue)."""
        with self.Session.begin() as s:
            return review_queue(s, task or None, state or None, limit)

    @staticmethod
    def table(rows: list[dict]) -> list[list]:
        return [[r["id"], r["task"], r["state"], r["prediction"],
                 "" if r.get("confidence") is None else f"{r['confidence']:.2f}", r["text"], r["count"],
                 ", ".join(f"{t} x{n}" for t, n in r.get("rivals", [])), "yes" if r["conflict"] else ""]
                for r in rows]

    @staticmethod
    def difference(prediction: str, text: str) -> list[tuple[str, str | None]]:
        """The submitted text against the model's reading, for a highlighted view: [(piece, "changed" | None)];
        letters the model had and the submission dropped appear struck as ("-x", "removed")."""
        import difflib

        out: list[tuple[str, str | None]] = []
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, prediction, text, autojunk=False).get_opcodes():
            if op == "equal":
                out.append((text[j1:j2], None))
                continue
            if i2 > i1 and op in ("replace", "delete"):
                out.append((prediction[i1:i2], "removed"))
            if j2 > j1:
                out.append((text[j1:j2], "changed"))
        return out

    def bulk(self, task: str | None, others: int, min_confidence: float, apply: bool = False) -> tuple[int, str]:
        """Accept in bulk what agrees (see feedback.store.bulk_candidates) -> (how many, message); preview unless apply."""
        with self.Session.begin() as s:
            ids = bulk_candidates(s, task or None, int(others), float(min_confidence))
        if not apply:
            return len(ids), (f"{len(ids)} pending labels agree with at least {int(others)} other submission(s) or "
                              f"confirm the model's reading at confidence >= {float(min_confidence):.2f}.")
        n = review_in_batches(self.Session, ids, "accepted")  # short write transactions
        return n, f"{n} labels accepted in bulk"

    @staticmethod
    def gallery(rows: list[dict]) -> list[tuple[Image.Image, str]]:
        """Each label's image; a region of a photo is followed by its photo with the region boxed (the context)."""
        out = []
        for r in rows:
            out.append((Image.open(io.BytesIO(r["png"])), f"#{r['id']}: {r['prediction']} -> {r['text']}"))
            if r.get("photo_png") and r.get("box"):
                photo = Image.open(io.BytesIO(r["photo_png"])).convert("RGB")
                width = max(2, round(max(photo.size) / 250))
                ImageDraw.Draw(photo).rectangle(list(r["box"]), outline=(255, 0, 0), width=width)
                out.append((photo, f"#{r['id']} in its photo"))
        return out

    @staticmethod
    def parse_ids(text) -> list[int]:
        """'3, 4 7' -> [3, 4, 7]; FeedbackError for anything else."""
        if not isinstance(text, str):
            raise FeedbackError("give label ids as text, e.g. '3, 4, 7'")
        parts = text.replace(",", " ").split()
        if not parts or not all(p.isdigit() for p in parts) or len(parts) > 1000:
            raise FeedbackError("give one or more label ids (numbers) separated by commas or spaces")
        return sorted({int(p) for p in parts})

    def act(self, ids: list[int], action: str) -> str:
        if action not in ACTIONS:
            raise FeedbackError(f"unknown action {action!r}")
        with self.Session.begin() as s:
            n = set_states(s, ids, ACTIONS[action])
        if n != len(ids):
            return f"{n} of {len(ids)} labels set to {ACTIONS[action]} (the others do not exist)"
        return f"{n} labels set to {ACTIONS[action]}"

    def edit(self, label_id: int, text: str) -> str:
        with self.Session.begin() as s:
            label = edit_label(s, label_id, text)
            lid, new = label.id, label.text
        return f"label #{lid} is now {new!r} and accepted"

    def summary(self) -> dict:
        """{"stats": per task and state, "per_day", "per_task", "chars"} for the counts and plots."""
        with self.Session.begin() as s:
            return {"stats": stats(s)} | correction_counts(s)
