"""Engine, sessions and migrations for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import sqlite3
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, SQLAlchemyError
from sqlmodel import Session, create_engine

from shiftwatch.errors import ConfigError, StorageError
from shiftwatch.redact import mask_url, register_database_url

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000  # two runs at once wait for each other rather than fail
MIGRATION_LOCK = 0x5368_6966_7477  # pg_advisory_xact_lock key ("Shiftw"): one migration at a time


def _sqlite_pragmas_for(url: str) -> Any:
    """Return the connect hook of `url`: a file that is not (or no longer) a database fails
    as one `StorageError` naming it, at open time or mid-run alike."""

    def connected(dbapi_connection: Any, record: Any) -> None:
        try:
            _sqlite_pragmas(dbapi_connection, record)
        except sqlite3.DatabaseError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise
            raise StorageError(f"database {masked(url)} is damaged or gone: {exc}") from None

    return connected


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    _use_wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _use_wal(cursor: Any) -> None:
    """Switch the file to WAL (it stays so: once per file). While another process holds a
    lock on a fresh file, the switch fails with 'locked' at once instead of waiting for the
    busy timeout (two runs starting together): retry until the timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def make_engine(url: str) -> Engine:
    """Return an engine for `url`; SQLite gets WAL, foreign keys and a busy timeout."""
    register_database_url(url)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise ConfigError(
            f"database URL {masked(url)!r} is not valid: use sqlite:///path/to.db or "
            "postgresql+psycopg://user@host:5432/dbname"
        ) from None
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas_for(url))
        return _report_loss(engine, url)
    try:
        return _report_loss(create_engine(parsed, pool_pre_ping=True), url)
    except (ImportError, SQLAlchemyError) as exc:
        raise ConfigError(f"database URL {masked(url)!r} cannot be used: {exc}") from None


# SQLite's words for a database file that went away or was damaged under a running process
# ("locked" and "busy" are not among them: those wait and retry).
SQLITE_LOST = ("file is not a database", "malformed", "disk i/o error", "unable to open",
               "readonly database")  # fmt: skip
_IN_USE: weakref.WeakSet[Engine] = weakref.WeakSet()  # opened and migrated: now in a run


def _report_loss(engine: Engine, url: str) -> Engine:
    """Make a database lost after it was opened (server gone, connection cut, file damaged)
    raise one `StorageError` naming the (masked) URL, not a driver error deep in a run."""

    def lost(context: Any) -> None:
        if engine in _IN_USE and _is_loss(context):
            reason = str(context.original_exception).strip().splitlines()
            raise StorageError(
                f"database {masked(url)} is gone (lost during the run): "
                f"{reason[0] if reason else '?'}"
            ) from None

    event.listen(engine, "handle_error", lost)
    return engine


def _is_loss(context: Any) -> bool:
    """Return True when an error means the database itself is gone, not one statement failed."""
    if context.is_pre_ping:  # a stale pooled connection: SQLAlchemy reconnects on its own
        return False
    if context.is_disconnect or context.connection is None:
        return True
    message = str(context.original_exception).lower()
    return context.engine.dialect.name == "sqlite" and any(w in message for w in SQLITE_LOST)


def masked(url: str) -> str:
    """Return `url` with its password replaced by ***, even when it does not parse; of an
    http(s) URL (a webhook, whose path is the secret) only the scheme and host are kept."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in ("http", "https"):
        host = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
        return f"{scheme}://{host}/***"
    return mask_url(url)


def alembic_config(engine: Engine) -> Config:
    """Return an Alembic config pointing at our migrations and `engine`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def _one_at_a_time(connection: Connection) -> None:
    """Make concurrent migrations of one database run one after another: two runs starting
    on a fresh database would otherwise both create the schema, and one fail."""
    if connection.dialect.name == "postgresql":  # released when the transaction ends
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
    elif connection.dialect.name == "sqlite":  # the write lock, before Alembic reads
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (idempotent: a current database is left alone)."""
    try:
        with engine.begin() as connection:
            _one_at_a_time(connection)
            cfg = alembic_config(engine)
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
    except DatabaseError as exc:  # OperationalError, or SQLite's "file is not a database"
        raise StorageError(f"cannot open database {engine.url!r}: {exc.orig}") from None


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to `revision` (used by migration tests and rollbacks)."""
    with engine.begin() as connection:
        _one_at_a_time(connection)
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)


def open_database(url: str) -> Engine:
    """Return a migrated engine for `url`; errors are one clear line."""
    engine = make_engine(url)
    migrate(engine)
    _IN_USE.add(engine)
    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """Yield a session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise
