"""The moderators' review page, independent of Gradio: unlock with the operator's password, list
pending corrections with their images, accept / reject / edit them, and counts for plots.

    rv = Review(Session, password=os.environ.get("OCR_ADMIN_PASSWORD"))
    rv.enabled                        # False without a password: the page shows no review tab at all
    token, msg = rv.login(attempt, client)   # a fresh token, or None and why (wrong, or locked out)
    rv.valid(token)                   # every action: the token is known and was used in the last 15 minutes
    rows = rv.queue("words", "pending")
    rv.act([3, 4], "accept")          # or "reject"; rv.edit(5, "HELLO")

The unlock is a random token held by the page and sent in the body of each request, never the tab's session id
(which travels in URLs that proxies log). Failed logins are logged (with a salted hash of the client, not its
address), limited per client (5 in 15 minutes, then locked out for 15 minutes) and in total (30 a minute), and
refused at once: a guess never waits on the server nor holds a place in the reading queue.
Every action goes through the store's functions (feedback.store); nothing here writes SQL.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import logging
import secrets
import threading
import time
from collections import deque

from PIL import Image, ImageDraw

from feedback import (FeedbackError, bulk_candidates, correction_counts, edit_label, review_in_batches, review_queue,
                      review_rows, set_states, stats)

log = logging.getLogger("ocr.review")
ENV_VAR = "OCR_ADMIN_PASSWORD"


class LoginGuard:
    """Failed logins per client and in total; a client with `per_client` failures within `window` seconds is locked
    out for `lockout` seconds; more than `total_per_minute` failures from everyone in a minute refuse every login
    for the rest of that minute."""

    def __init__(self, per_client: int = 5, window: float = 900.0, lockout: float = 900.0,
                 total_per_minute: int = 30, clock=time.monotonic):
        self.per_client, self.window, self.lockout, self.total_per_minute = per_client, window, lockout, total_per_minute
        self.clock = clock
        self._fails: dict[str, deque] = {}
        self._locked: dict[str, float] = {}
        self._recent: deque = deque()
        self._lock = threading.Lock()
        self._salt = secrets.token_bytes(16)

    def client_id(self, client: str | None) -> str:
        """A short salted hash of the client's address, for the log and the limits (the address is never kept)."""
        return hashlib.sha256(self._salt + str(client or "?").encode()).hexdigest()[:10]

    def refusal(self, client: str) -> str | None:
        """Why a login attempt of this client is refused now without looking at it, or None."""
        now = self.clock()
        with self._lock:
            self._forget(now)
            until = self._locked.get(client, 0.0)
            if until > now:
                return f"Too many wrong passwords: try again in {int(until - now) // 60 + 1} minutes."
            if len(self._recent) >= self.total_per_minute:
                return "Too many wrong passwords from everyone just now: try again in a minute."
        return None

    def failed(self, client: str) -> None:
        now = self.clock()
        with self._lock:
            fails = self._fails.setdefault(client, deque())
            fails.append(now)
            self._recent.append(now)
            self._forget(now)
            n = len(fails)
            if n >= self.per_client:
                self._locked[client] = now + self.lockout
                fails.clear()
        log.warning("review login failed: client %s, %d in %d min%s", client, n, self.window // 60,
                    "; locked out" if n >= self.per_client else "")

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._fails.pop(client, None)
        log.info("review login: client %s", client)

    def _forget(self, now: float) -> None:
        while self._recent and self._recent[0] < now - 60:
            self._recent.popleft()
        for key in [k for k, d in self._fails.items() if not d or d[-1] < now - self.window]:
            del self._fails[key]
        for key in [k for k, t in self._locked.items() if t <= now]:
            del self._locked[key]
        while len(self._fails) > 10_000:  # bounded: the oldest clients are forgotten first
            self._fails.pop(next(iter(self._fails)))


class Tokens:
    """Unlocked pages: random tokens that expire after `idle` seconds without use and `lifetime` seconds in all."""

    def __init__(self, idle: float = 900.0, lifetime: float = 8 * 3600.0, most: int = 1000, clock=time.monotonic):
        self.idle, self.lifetime, self.most, self.clock = idle, lifetime, most, clock
        self._tokens: dict[str, tuple[float, float]] = {}   # token -> (created, last used)
        self._lock = threading.Lock()

    def issue(self) -> str:
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with self._lock:
            self._expire(now)
            while len(self._tokens) >= self.most:
                self._tokens.pop(next(iter(self._tokens)))
            self._tokens[token] = (now, now)
        return token

    def valid(self, token) -> bool:
        if not isinstance(token, str) or not token:
            return False
        now = self.clock()
        with self._lock:
            self._expire(now)
            for known in self._tokens:  # constant-time comparison against each
                if hmac.compare_digest(known.encode(), token.encode("utf-8", "surrogatepass")):
                    created, _ = self._tokens[known]
                    self._tokens[known] = (created, now)
                    return True
        return False

    def _expire(self, now: float) -> None:
        for t in [t for t, (c, u) in self._tokens.items() if now - u > self.idle or now - c > self.lifetime]:
            del self._tokens[t]
ACTIONS = {"accept": "accepted", "reject": "rejected", "pending": "pending"}
COLUMNS = ["label", "task", "state", "model read", "confidence", "submitted", "count", "other texts", "conflict"]


class Review:
    def __init__(self, Session, password: str | None, guard: LoginGuard | None = None, tokens: Tokens | None = None):
        self.Session = Session
        self._password = password or ""
        self.guard = guard or LoginGuard()
        self.tokens = tokens or Tokens()

    @property
    def enabled(self) -> bool:
        return bool(self._password)

    def check(self, attempt) -> bool:
        """The password, compared in constant time (no limits: `login` is what the page calls)."""
        return self.enabled and isinstance(attempt, str) and hmac.compare_digest(
            attempt.encode("utf-8", "surrogatepass"), self._password.encode("utf-8", "surrogatepass"))

    def login(self, attempt, client: str | None) -> tuple[str | None, str]:
        """-> (a fresh token, "Unlocked.") or (None, why not). Limited and logged per client (see LoginGuard)."""
        who = self.guard.client_id(client)
        refused = self.guard.refusal(who)
        if refused:
            log.warning("review login refused: client %s is over the limit", who)
            return None, refused
        if not self.check(attempt):
            self.guard.failed(who)
            return None, "Wrong password."
        self.guard.succeeded(who)
        return self.tokens.issue(), "Unlocked."

    def valid(self, token) -> bool:
        return self.enabled and self.tokens.valid(token)

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
