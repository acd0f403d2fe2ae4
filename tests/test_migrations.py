"""Migrations up and down on SQLite and PostgreSQL, over the whole Alembic history.

Nothing here names a revision: the tests walk `ScriptDirectory`'s history, so a new
revision is covered the day it lands. At every revision on the way up the database gets a
row in every table it has (values made from the reflected column types), and at the top
every one of those rows must still be there and readable by today's code (every export, a
new ingest). The way down visits every revision to `base`, and the way up again ends in a
database that works. A database holding real data survives `migrate` unchanged, and several
processes opening one fresh database at once all succeed.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from conftest import SEEDS
from reliability_support import record
from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, LargeBinary, MetaData, select
from sqlalchemy import func as sql_func
from sqlalchemy.engine import Engine

from shiftwatch.connectors.files import read_folder
from shiftwatch.models import queries
from shiftwatch.models.db import (
    alembic_config,
    downgrade,
    make_engine,
    migrate,
    open_database,
    session_scope,
)
from shiftwatch.pipeline.deliver import announcer
from shiftwatch.pipeline.ingest import ingest_items
from shiftwatch.pipeline.positions import update_positions
from shiftwatch.settings import Settings

BOOKKEEPING = {"alembic_version"}
WHEN = datetime(2022, 1, 10, 12, tzinfo=UTC)


def history(engine: Engine) -> list[str]:
    """Return the revisions from the first to head."""
    script = ScriptDirectory.from_config(alembic_config(engine))
    return [r.revision for r in reversed(list(script.walk_revisions("base", "heads")))]


def current(engine: Engine) -> str | None:
    """Return the database's revision (None at base)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def tables(engine: Engine) -> dict[str, Any]:
    """Return the database's tables, reflected, by name (bookkeeping left out)."""
    meta = MetaData()
    meta.reflect(engine)
    return {name: table for name, table in meta.tables.items() if name not in BOOKKEEPING}


def value_for(column: Any, tag: str, n: int) -> Any:
    """Return a plausible value of a reflected column's type, unique per tag."""
    kind = column.type
    if isinstance(kind, Boolean):
        return False
    if isinstance(kind, Integer):
        return 900_000 + n
    if isinstance(kind, Float):
        return 0.5
    if isinstance(kind, DateTime):
        return WHEN.replace(tzinfo=None)
    if isinstance(kind, JSON) or "JSON" in type(kind).__name__.upper():
        return []
    if isinstance(kind, LargeBinary) or "BLOB" in str(kind).upper() or "BYTEA" in str(kind):
        return b"\x00sig"
    text = f"{tag}-{column.name}"
    length = getattr(kind, "length", None)
    return text[-length:] if length else text


def fill(engine: Engine, tag: str, n: int) -> dict[str, dict[str, Any]]:
    """Insert one row in every table (foreign keys pointing at the rows made before);
    return each table's primary key values."""
    made: dict[str, dict[str, Any]] = {}
    meta = MetaData()
    meta.reflect(engine)
    with engine.begin() as conn:
        for table in meta.sorted_tables:
            if table.name in BOOKKEEPING:
                continue
            row = {}
            for column in table.columns:
                target = next(iter(column.foreign_keys), None)
                if target is not None and target.column.table.name in made:
                    row[column.name] = made[target.column.table.name]["row"][target.column.name]
                else:
                    row[column.name] = value_for(column, tag, n)
            conn.execute(table.insert().values(row))
            key = {c.name: row[c.name] for c in table.primary_key.columns}
            made[table.name] = {"key": key, "row": row}
    return {name: entry["key"] for name, entry in made.items()}


# Tables that only speed things up: a downgrade past them drops them, and the next run
# rebuilds them (a position checkpoint lost means one full replay of its pair).
CACHES = {"position_checkpoints", "signature_bands"}


def missing_rows(engine: Engine, written: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Return the rows written at some revision that are gone (tables dropped since are
    not counted: dropping a table is a decision, losing its rows is not)."""
    now = tables(engine)
    lost = []
    with engine.connect() as conn:
        for revision, keys in written.items():
            for name, key in keys.items():
                if name not in now or not set(key) <= set(now[name].columns.keys()):
                    continue
                table = now[name]
                where = [table.columns[k] == v for k, v in key.items()]
                if (
                    conn.execute(select(sql_func.count()).select_from(table).where(*where)).scalar()
                    != 1
                ):
                    lost.append(f"{revision}:{name}:{key}")
    return lost


def exports_work(engine: Engine) -> int:
    """Read every export kind with today's code; return the rows read."""
    with session_scope(engine) as session:
        return sum(1 for kind in queries.EXPORTS for _ in queries.export_rows(session, kind))


def ingest_seeds(engine: Engine, analyzer: Any, run_id: str) -> int:
    """Store the seeds with today's code, shifts and alerts included; return the documents."""
    batch = read_folder(SEEDS, max_bytes=5_000_000)
    result = ingest_items(engine, analyzer, batch.items, run_id, batch.rejected)
    settings = Settings(slack_webhook_url="https://hooks.slack.example/T/B/x")
    update_positions(engine, result.pairs, result.new_document_ids, run_id,
                     announcer(settings, run_id))  # fmt: skip
    return len(result.new_document_ids)


# Columns a later revision adds: a way down and back up cannot keep what they held.
ADDED_LATER = {
    ("stances", "basis"),
    ("positions", "possible_change"),
    ("positions", "possible_since"),
    ("stances", "said_at"),
    ("shifts", "confirmed_at"),
    ("shifts", "withdrawn_at"),
    ("shifts", "withdrawn_note"),
    ("alerts", "kind"),
    ("signatures", "band_format"),  # None again: the next run files the band keys again
}


def dump(engine: Engine) -> dict[str, list[tuple[str, ...]]]:
    """Return every row of every table as sorted tuples of strings (columns that exist at
    every revision)."""
    out = {}
    with engine.connect() as conn:
        for name, table in sorted(tables(engine).items()):
            kept = [c for c in table.columns if (name, c.name) not in ADDED_LATER]
            rows = conn.execute(select(*kept)).all()
            out[name] = sorted(tuple(str(v) for v in row) for row in rows)
    return out


def test_the_history_is_one_line_with_a_way_down() -> None:
    engine = make_engine("sqlite://")
    script = ScriptDirectory.from_config(alembic_config(engine))
    assert len(script.get_heads()) == 1 and len(script.get_bases()) == 1
    for revision in script.walk_revisions("base", "heads"):
        source = Path(revision.path).read_text(encoding="utf-8")
        body = source.split("def downgrade()", 1)[1]
        assert "op." in body, f"{revision.revision} has no way down"


@pytest.mark.slow
def test_every_revision_up_and_down_keeps_the_data(database_url: str, analyzer: Any) -> None:
    engine = make_engine(database_url)
    revisions = history(engine)
    written: dict[str, dict[str, dict[str, Any]]] = {}
    for n, revision in enumerate(revisions):
        migrate(engine, revision)
        assert current(engine) == revision
        written[revision] = fill(engine, f"r{revision}", n)
    lost = missing_rows(engine, written)
    assert lost == []
    assert exports_work(engine) > 0  # today's code reads the rows every revision wrote
    for revision in [*reversed(revisions[:-1]), "base"]:
        downgrade(engine, revision)
        assert current(engine) == (None if revision == "base" else revision)
    assert tables(engine) == {}
    migrate(engine)  # base -> head -> base -> head
    assert current(engine) == revisions[-1]
    stored = ingest_seeds(engine, analyzer, "run-after-roundtrip")
    record("migrations", inputs=len(revisions) * 2 + 1, losses=len(lost))
    assert stored == 5 and exports_work(engine) > stored
    engine.dispose()


@pytest.mark.slow
def test_a_database_with_data_survives_migrate_and_down_up_cycles(database_url, analyzer):
    """Real data at head; every earlier revision down and back up; `migrate` and opening
    again: the rows of tables that exist all along are unchanged, and the app reads them."""
    engine = open_database(database_url)
    ingest_seeds(engine, analyzer, "run-old")
    before = dump(engine)
    assert before["documents"] and before["alerts"]
    revisions = history(engine)
    for revision in reversed(revisions[:-1]):
        downgrade(engine, revision)
        migrate(engine)
    migrate(engine)
    engine.dispose()
    reopened = open_database(database_url)
    after = dump(reopened)
    changed = [name for name in before if name not in CACHES and before[name] != after.get(name)]
    record("migrations", inputs=sum(map(len, before.values())), losses=len(changed))
    assert changed == []
    assert exports_work(reopened) > 0
    reopened.dispose()


OPENER = """
import sys
from shiftwatch.models.db import make_engine, migrate
engine = make_engine(sys.argv[1])
print("imported", flush=True)
sys.stdin.readline()  # all start migrating together
migrate(engine)
print("migrated", flush=True)
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_processes_opening_one_fresh_database_at_once_all_succeed(database_url: str) -> None:
    """Monitor runs started together each migrate the empty database: one creates the
    schema, the others wait for it and find it current. (Processes, not threads: Alembic's
    `context` is process-global.)"""
    procs = [
        subprocess.Popen([sys.executable, "-c", OPENER, database_url], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]  # fmt: skip
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "imported"
    for proc in procs:  # go
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outcomes = [p.communicate(timeout=100) for p in procs]
    failed = [err.strip().splitlines()[-1] for out, err in outcomes if "migrated" not in out]
    record("migrations", inputs=len(procs), crashes=len(failed))
    assert failed == []
    engine = make_engine(database_url)
    assert current(engine) == history(engine)[-1]
    engine.dispose()
