"""What every storage module shares: insert-or-ignore in chunks, chunked IN queries, rows.

Every insert is insert-or-ignore on a natural key, so a re-run, a retry or two runs at once
store nothing twice. Queries over many ids go `CHUNK` ids at a time (`rows_in`), below
SQLite's variable limit. Functions take a session and plain records; ORM rows never leave
storage.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel

CHUNK = 500  # rows per INSERT statement: below SQLite's variable limit for our widest table


def insert_ignore(
    session: Session, model: type[SQLModel], rows: Iterable[Mapping[str, Any]]
) -> int:
    """Insert `rows`, skipping those whose unique key exists; return how many were new.

    `rows` is consumed `CHUNK` rows at a time, so a caller may pass a generator and never hold
    every row of a big batch at once (750,000 mention rows for 10,000 documents)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = model.__table__  # type: ignore[attr-defined]
    key = list(table.primary_key.columns)
    # One statement compiled once, its parameters sent as batches ("insertmanyvalues"): a
    # multi-row VALUES built per chunk cost ~0.5 ms a row to compile (bench/PROFILE.md).
    uniform = insert(table).on_conflict_do_nothing().returning(*key)
    added = 0
    rows = iter(rows)
    while chunk := list(itertools.islice(rows, CHUNK)):
        # RETURNING counts what was really inserted (rowcount is -1 for psycopg batches).
        if len({frozenset(row) for row in chunk}) == 1:
            added += len(session.execute(uniform, chunk).all())
        else:  # rows with different columns: defaults fill the gaps
            statement = insert(model).values(chunk).on_conflict_do_nothing()
            added += len(session.execute(statement.returning(*key)).all())
    return added


def rows_in(
    session: Session, statement: Select[Any], column: Any, values: Iterable[Any]
) -> Iterator[Row[Any]]:
    """Yield the rows of `statement` whose `column` is one of `values` (distinct values, asked
    `CHUNK` at a time: one IN list per query stays below SQLite's variable limit)."""
    wanted = list(set(values))
    for i in range(0, len(wanted), CHUNK):
        yield from session.execute(statement.where(column.in_(wanted[i : i + CHUNK])))


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def flat_row(record: Any) -> dict[str, Any]:
    """Return a record's fields as a dict, without `asdict`'s recursive deep copy (which cost
    more than the INSERT itself); nested records are converted by the caller."""
    return {name: getattr(record, name) for name in _field_names(type(record))}


def json_ready(row: dict[str, Any]) -> dict[str, Any]:
    """Return a row with datetimes as ISO strings (to store inside a JSON column)."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
