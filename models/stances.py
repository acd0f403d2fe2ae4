"""Stances and positions: observations in and out as records, positions replaced per pair."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlmodel import Session

from shiftwatch import records as r
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
