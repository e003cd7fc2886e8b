"""The review tab's lock: failed logins limited, logged and locked out; unlock tokens that expire when idle."""
import logging

from webapp.review import LoginGuard, Review, Tokens


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_wrong_passwords_lock_a_client_out_and_are_logged_without_its_address(caplog):
    clock = Clock()
    rv = Review(None, "s3cret", guard=LoginGuard(per_client=5, window=900, lockout=900, total_per_minute=30, clock=clock))
    with caplog.at_level(logging.WARNING, logger="ocr.review"):
        for _ in range(5):
            assert rv.login("guess", "203.0.113.9") == (None, "Wrong password.")
    assert "203.0.113.9" not in caplog.text and "locked out" in caplog.text
    token, msg = rv.login("s3cret", "203.0.113.9")   # even the right password: locked out for now
    assert token is None and "Too many wrong passwords" in msg
    assert rv.login("s3cret", "198.51.100.7")[0]     # another client is not
    clock.t += 901
    assert rv.login("s3cret", "203.0.113.9")[0]      # the lockout ends


def test_wrong_passwords_from_everyone_are_limited_in_total():
    clock = Clock()
    rv = Review(None, "s3cret", guard=LoginGuard(per_client=5, total_per_minute=30, clock=clock))
    for i in range(30):  # 30 clients, one guess each
        rv.login("guess", f"10.0.0.{i}")
    token, msg = rv.login("s3cret", "10.0.1.1")
    assert token is None and "from everyone" in msg
    clock.t += 61
    assert rv.login("s3cret", "10.0.1.1")[0]


def test_an_unlock_token_expires_when_idle_and_after_its_lifetime():
    clock = Clock()
    rv = Review(None, "s3cret", tokens=Tokens(idle=900, lifetime=3600, clock=clock))
    token, _ = rv.login("s3cret", "c")
    assert rv.valid(token) and not rv.valid("") and not rv.valid(None) and not rv.valid(token[:-1] + "x")
    for _ in range(3):  # kept alive by use ...
        clock.t += 800
        assert rv.valid(token)
    clock.t += 1300  # ... but not past its lifetime
    assert not rv.valid(token)
    token, _ = rv.login("s3cret", "c")
    clock.t += 901
    assert not rv.valid(token)  # idle too long
    assert not Review(None, "").valid(token)  # no password: nothing is ever unlocked
