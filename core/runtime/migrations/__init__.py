"""Bring a state database to the schema of ``core.runtime.schema``: Alembic migrations in
``versions/``, applied on start (``StateStore``) and by ``tidings db upgrade``, under a
database-wide lock so replicas starting together migrate once and never race:
``pg_advisory_lock`` on PostgreSQL, an exclusive ``flock`` on a file beside the SQLite file.

A SQLite file written before the state moved to Alembic (tables made by ``CREATE TABLE IF
NOT EXISTS`` and ``PRAGMA user_version`` counting its own migrations) is first completed to
that old schema, then stamped as revision ``0001`` (which is exactly that schema) and
migrated on from there.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text

HERE = Path(__file__).resolve().parent
# Any number works as long as every replica uses the same one ("tidings" in ASCII).
ADVISORY_LOCK_KEY = 0x746964696E6773

# The pre-Alembic SQLite schema, with its own migration count: what revision 0001 equals.
_LEGACY_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS seen_events (key TEXT PRIMARY KEY, expires_at REAL NOT NULL)",
    """CREATE TABLE IF NOT EXISTS feedback (
        id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL, platform TEXT NOT NULL,
        channel TEXT NOT NULL, user TEXT NOT NULL, rating INTEGER NOT NULL, question TEXT NOT NULL,
        answer TEXT NOT NULL, citations TEXT NOT NULL, answer_id TEXT NOT NULL DEFAULT '',
        UNIQUE (answer_id, user))""",
    "CREATE TABLE IF NOT EXISTS answers (answer_id TEXT PRIMARY KEY, created_at REAL NOT NULL, payload TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS digests (
        platform TEXT NOT NULL, channel TEXT NOT NULL, window_start TEXT NOT NULL, window_end TEXT NOT NULL,
        status TEXT NOT NULL, claimed_at REAL NOT NULL, owner TEXT NOT NULL DEFAULT '', message_id TEXT,
        posted_at TEXT, PRIMARY KEY (platform, channel, window_start, window_end))""",
    "CREATE TABLE IF NOT EXISTS notes_cache (key TEXT PRIMARY KEY, created_at REAL NOT NULL, payload TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS pending_questions (key TEXT PRIMARY KEY, created_at REAL NOT NULL, payload TEXT NOT NULL)",
)
_LEGACY_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "ALTER TABLE feedback ADD COLUMN asker TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE feedback ADD COLUMN grounded INTEGER",
    ),
)
_LEGACY_TABLES = {"seen_events", "feedback", "answers", "digests", "notes_cache", "pending_questions"}


def _config(connection: Connection | None = None) -> object:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("version_locations", str(HERE / "versions"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision in ``versions/``."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()  # type: ignore[arg-type]
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: not created yet)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def database_lock(engine: Engine) -> Iterator[None]:
    """Held by one process at a time across every replica sharing the database."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
                connection.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Migrate to head under the database lock; returns (revision before, revision after)."""
    from alembic import command

    with database_lock(engine):
        before = current_revision(engine)
        with engine.begin() as connection:
            if before is None and engine.dialect.name == "sqlite" and _LEGACY_TABLES & set(inspect(connection).get_table_names()):
                _adopt_legacy_sqlite(connection)
                command.stamp(_config(connection), "0001")  # type: ignore[arg-type]
            command.upgrade(_config(connection), "head")  # type: ignore[arg-type]
        return before, current_revision(engine) or ""


def _adopt_legacy_sqlite(connection: Connection) -> None:
    for statement in _LEGACY_SCHEMA:
        connection.exec_driver_sql(statement)
    done = int(connection.exec_driver_sql("PRAGMA user_version").scalar() or 0)
    for version, statements in enumerate(_LEGACY_MIGRATIONS[done:], start=done + 1):
        for statement in statements:
            connection.exec_driver_sql(statement)
        connection.exec_driver_sql(f"PRAGMA user_version = {version:d}")
