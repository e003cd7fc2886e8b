"""Engines and schema upgrades.

The database is chosen by `--db` or the OCR_FEEDBACK_DB environment variable: a file path
(SQLite) or any SQLAlchemy URL (postgresql+psycopg://..., mysql://...). Default: the SQLite
file data/feedback.sqlite. SQLite connections get WAL journaling, foreign keys, a busy timeout
and BEGIN IMMEDIATE write transactions, so concurrent writers queue instead of failing.
The schema is created and upgraded by Alembic (feedback/migrations).
"""
from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from ocr.settings import default_feedback_db

ENV_VAR = "OCR_FEEDBACK_DB"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# A writer waits this long for another's transaction (review runs in short batches, so waits are
# short); the demo retries a few times and then tells the person the store is busy.
BUSY_TIMEOUT_MS = 10_000


def resolve_url(db: str | os.PathLike | None = None) -> str:
    """--db value, else $OCR_FEEDBACK_DB, else the default file; a plain path means SQLite."""
    value = str(db) if db else os.environ.get(ENV_VAR) or str(default_feedback_db())
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


def safe_url(url: str) -> str:
    """The URL as it may be printed or logged: any password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable database URL>"


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn, _):
        dbapi_conn.isolation_level = None  # let SQLAlchemy's begin event issue BEGIN itself
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(db: str | os.PathLike | None = None, upgrade: bool = True) -> Engine:
    url = resolve_url(db)
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})
        _sqlite_pragmas(engine)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    if upgrade:
        upgrade_schema(engine)
    return engine


def alembic_config(engine: Engine):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the tables to `revision` with Alembic (safe to call every start)."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
