"""Stances and positions: observations in and out as records, positions replaced per pair."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlmodel import Session

from shiftwatch import records as r
from shiftwatch.analysis.positions.checkpoint import Checkpoint
from shiftwatch.models import tables as t
from shiftwatch.models.rows import flat_row, insert_ignore, rows_in
from shiftwatch.models.tables import utcnow


def stance_row(obs: r.StanceObservation) -> dict[str, Any]:
    """Return the table row for a stance observation (its review is stored apart)."""
    row = {**flat_row(obs), "stance": str(obs.stance)}
    row.pop("review", None)
    return row


_STANCE_KEY = ("document_id", "party_id", "demand_id", "evidence_start", "actor_id")


def save_stances(session: Session, stances: Sequence[r.StanceObservation]) -> int:
    """Insert stance rows; return how many were new.

    The unique key holds `actor_id`, NULL for a party's own stance, and SQL never finds two
    NULLs equal: insert-or-ignore alone would store such a stance again when two runs ingest
    one document at once. Existing keys are skipped here; the documents were inserted
    earlier in the same transaction, so a concurrent run waits on them and then sees ours.
    """
    rows = [stance_row(s) for s in stances]
    known = _stance_keys(session, {row["document_id"] for row in rows})
    fresh = [row for row in rows if tuple(row[k] for k in _STANCE_KEY) not in known]
    return insert_ignore(session, t.StanceObservation, fresh)


def _stance_keys(session: Session, document_ids: set[str]) -> set[tuple[Any, ...]]:
    """Return the unique keys of the stances stored for the given documents."""
    statement = select(*(getattr(t.StanceObservation, k) for k in _STANCE_KEY))
    rows = rows_in(session, statement, t.StanceObservation.document_id, document_ids)
    return {tuple(row) for row in rows}


def stance_pairs(session: Session, document_ids: Iterable[str]) -> set[tuple[str, str]]:
    """Return the (party, demand) pairs the given documents hold stances on."""
    columns = (t.StanceObservation.party_id, t.StanceObservation.demand_id)
    statement = select(*columns).distinct()
    rows = rows_in(session, statement, t.StanceObservation.document_id, document_ids)
    return {(row[0], row[1]) for row in rows}


_STANCE_COLUMNS = tuple(
    getattr(t.StanceObservation, name)
    for name in (
        "document_id",
        "party_id",
        "actor_id",
        "demand_id",
        "stance",
        "confidence",
        "evidence",
        "evidence_start",
        "published_at",
        "machine_translated",
        "reported",
        "statement_id",
        "cluster_id",
        "basis",
        "said_at",
    )
)


def to_observation(row: t.StanceObservation) -> r.StanceObservation:
    """Return the record for a stored stance row."""
    return r.StanceObservation(
        document_id=row.document_id,
        party_id=row.party_id,
        actor_id=row.actor_id,
        demand_id=row.demand_id,
        stance=r.Stance(row.stance),
        confidence=row.confidence,
        evidence=row.evidence,
        evidence_start=row.evidence_start,
        published_at=row.published_at,
        machine_translated=row.machine_translated,
        reported=row.reported,
        statement_id=row.statement_id,
        cluster_id=row.cluster_id,
        basis=row.basis,
        said_at=row.said_at,
    )


def load_stances(
    session: Session, pairs: Iterable[tuple[str, str]] | None = None
) -> list[r.StanceObservation]:
    """Return stored observations for the given (party, demand) pairs, or all of them.

    Plain columns, not ORM objects: a run replays every observation of the pairs it touched,
    and building ORM instances cost more than reading the rows (bench/PROFILE.md)."""
    statement = select(*_STANCE_COLUMNS)
    if pairs is not None:
        wanted = set(pairs)
        if not wanted:
            return []
        statement = statement.where(
            t.StanceObservation.party_id.in_({p for p, _ in wanted}),
            t.StanceObservation.demand_id.in_({d for _, d in wanted}),
        )
    rows = session.execute(statement)
    out = [to_observation(row) for row in rows]  # type: ignore[arg-type]
    return out if pairs is None else [o for o in out if (o.party_id, o.demand_id) in wanted]


def save_positions(
    session: Session, positions: Sequence[r.Position], pairs: Iterable[tuple[str, str]] = ()
) -> None:
    """Replace the stored positions of `pairs` (and of every pair in `positions`)."""
    for party_id, demand_id in {*pairs, *((p.party_id, p.demand_id) for p in positions)}:
        session.execute(
            delete(t.Position).where(
                t.Position.party_id == party_id, t.Position.demand_id == demand_id
            )
        )
    insert_ignore(
        session,
        t.Position,
        [
            {
                "party_id": p.party_id,
                "demand_id": p.demand_id,
                "stance": str(p.stance),
                "since": p.since,
                "observations": p.observations,
                "confidence": p.confidence,
                "updated_at": utcnow(),
                "possible_change": str(p.possible_change) if p.possible_change else None,
                "possible_since": p.possible_since,
            }
            for p in positions
        ],
    )


def load_document_stances(
    session: Session, document_ids: Iterable[str]
) -> list[r.StanceObservation]:
    """Return the stored observations of the given documents."""
    rows = rows_in(session, select(*_STANCE_COLUMNS), t.StanceObservation.document_id, document_ids)
    return [to_observation(row) for row in rows]  # type: ignore[arg-type]


def _pair(pair: tuple[str, str]) -> tuple[Any, ...]:
    return (t.StanceObservation.party_id == pair[0], t.StanceObservation.demand_id == pair[1])


def load_stances_since(
    session: Session, pair: tuple[str, str], at: datetime, min_confidence: float = 0.0
) -> list[r.StanceObservation]:
    """Return the pair's observations dated `at` or later, and its undated ones, as sure as
    `min_confidence` at least."""
    dated = t.StanceObservation.published_at
    sure = t.StanceObservation.confidence >= min_confidence
    out: list[r.StanceObservation] = []
    # Two queries, not one with OR: each reads a range of the (pair, published_at) index.
    for when in (dated >= at, dated.is_(None)):
        statement = select(*_STANCE_COLUMNS).where(*_pair(pair), when, sure)
        out.extend(to_observation(row) for row in session.execute(statement))  # type: ignore[arg-type]
    return out


def latest_stance(
    session: Session, pair: tuple[str, str], skip: Iterable[str] = ()
) -> r.StanceObservation | None:
    """Return the pair's latest dated observation outside the documents `skip`."""
    s = t.StanceObservation
    statement = (
        select(*_STANCE_COLUMNS)
        .where(*_pair(pair), s.published_at.is_not(None), s.document_id.not_in(list(skip)))
        .order_by(s.published_at.desc())
        .limit(1)
    )
    row = session.execute(statement).first()
    return None if row is None else to_observation(row)  # type: ignore[arg-type]


def load_stances_before(
    session: Session,
    pair: tuple[str, str],
    at: datetime,
    *,
    statements: Iterable[str],
    clusters: Iterable[str],
    documents: Iterable[str],
) -> list[r.StanceObservation]:
    """Return the pair's observations dated before `at` that belong to the given statements,
    story clusters or documents (those of units that began before a checkpoint).

    Read by those ids alone, then kept by pair and date here: with the pair and date in the
    query, SQLite and PostgreSQL walk the pair's whole history before `at` (index
    `ix_stances_pair_time`) instead of the few rows of those stories."""
    s = t.StanceObservation
    out: list[r.StanceObservation] = []
    for column, values in (
        (s.statement_id, statements),
        (s.cluster_id, clusters),
        (s.document_id, documents),
    ):
        for row in rows_in(session, select(*_STANCE_COLUMNS), column, values):
            if (row.party_id, row.demand_id) == pair and row.published_at and row.published_at < at:
                out.append(to_observation(row))  # type: ignore[arg-type]
    return out


def count_stances_before(session: Session, pair: tuple[str, str], at: datetime) -> int:
    """Return how many observations of the pair are dated before `at`."""
    statement = (
        select(func.count())
        .select_from(t.StanceObservation)
        .where(*_pair(pair), t.StanceObservation.published_at < at)
    )
    return int(session.execute(statement).scalar_one())


def load_checkpoints(
    session: Session, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Checkpoint]:
    """Return the stored replay checkpoints of the given pairs."""
    wanted = set(pairs)
    c = t.PositionCheckpoint
    out = {}
    for row in session.execute(select(c).where(c.party_id.in_({p for p, _ in wanted}))).scalars():
        if (row.party_id, row.demand_id) in wanted:
            out[(row.party_id, row.demand_id)] = Checkpoint(
                party_id=row.party_id,
                demand_id=row.demand_id,
                unit_key=row.unit_key,
                stance=r.Stance(row.stance),
                at=row.at,
                weight=row.weight,
                since=row.since,
                observations=row.observations,
                confidence=row.confidence,
                possible_change=r.Stance(row.possible_change) if row.possible_change else None,
                possible_since=row.possible_since,
                earlier=row.earlier,
            )
    return out


def clear_checkpoints(session: Session, pairs: Iterable[tuple[str, str]]) -> None:
    """Forget the replay checkpoints of `pairs` (their next replay reads everything): call it
    whenever stored history changes other than by adding new documents (a review verdict)."""
    c = t.PositionCheckpoint
    for party_id, demand_id in set(pairs):
        session.execute(delete(c).where(c.party_id == party_id, c.demand_id == demand_id))


def save_checkpoints(
    session: Session, checkpoints: Sequence[Checkpoint], pairs: Iterable[tuple[str, str]]
) -> None:
    """Replace the checkpoints of `pairs` with `checkpoints` (counting what precedes each)."""
    clear_checkpoints(session, {*pairs, *((c.party_id, c.demand_id) for c in checkpoints)})
    rows = []
    for cp in checkpoints:
        row = {name: getattr(cp, name) for name in _CHECKPOINT_FIELDS}
        row["stance"] = str(cp.stance)
        row["possible_change"] = str(cp.possible_change) if cp.possible_change else None
        row["earlier"] = count_stances_before(session, (cp.party_id, cp.demand_id), cp.at)
        rows.append(row)
    insert_ignore(session, t.PositionCheckpoint, rows)


_CHECKPOINT_FIELDS = (
    "party_id",
    "demand_id",
    "unit_key",
    "stance",
    "at",
    "weight",
    "since",
    "observations",
    "confidence",
    "possible_since",
)
