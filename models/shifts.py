"""Shifts: stored once, confirmed later, read back as records (their alerts: `outbox.py`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlmodel import Session

from shiftwatch import records as r
from shiftwatch.models import tables as t
from shiftwatch.models.rows import insert_ignore, json_ready
from shiftwatch.models.stances import stance_row
from shiftwatch.models.tables import utcnow


def shift_row(shift: r.Shift, run_id: str | None) -> dict[str, Any]:
    """Return the table row of a shift; evidence items say which side of the change they are."""
    evidence = [
        {
            **json_ready(stance_row(o)),
            "side": "before" if o.stance == shift.from_stance else "after",
        }
        for o in shift.evidence
    ]
    return {
        "id": shift.id,
        "party_id": shift.party_id,
        "demand_id": shift.demand_id,
        "from_stance": str(shift.from_stance),
        "to_stance": str(shift.to_stance),
        "at": shift.at,
        "confirmed": shift.confirmed,
        "retroactive": shift.retroactive,
        "evidence_document_ids": list(shift.evidence_document_ids),
        "evidence": evidence,
        "detected_at": utcnow(),
        "run_id": run_id,
    }


def to_shift(row: t.Shift) -> r.Shift:
    """Return the record of a stored shift (evidence is not needed to recognise it)."""
    return r.Shift(
        id=row.id,
        party_id=row.party_id,
        demand_id=row.demand_id,
        from_stance=r.Stance(row.from_stance),
        to_stance=r.Stance(row.to_stance),
        at=row.at,
        evidence_document_ids=tuple(row.evidence_document_ids),
        confirmed=row.confirmed,
        retroactive=row.retroactive,
    )


def load_shifts(session: Session, pairs: Iterable[tuple[str, str]]) -> list[r.Shift]:
    """Return the stored shifts of the given (party, demand) pairs."""
    wanted = set(pairs)
    if not wanted:
        return []
    statement = select(t.Shift).where(
        t.Shift.party_id.in_({p for p, _ in wanted}), t.Shift.demand_id.in_({d for _, d in wanted})
    )
    rows = session.execute(statement).scalars()
    return [to_shift(row) for row in rows if (row.party_id, row.demand_id) in wanted]


def load_shifts_since(
    session: Session, pair: tuple[str, str], at: datetime, ids: Iterable[str] = ()
) -> list[r.Shift]:
    """Return the pair's stored shifts dated `at` or later (or undated), and those of `ids`:
    all a replay resumed at `at` can meet again."""
    s = t.Shift
    statement = select(s).where(
        s.party_id == pair[0],
        s.demand_id == pair[1],
        or_(s.at >= at, s.at.is_(None), s.id.in_(list(ids))),
    )
    return [to_shift(row) for row in session.execute(statement).scalars()]


def save_shifts(session: Session, shifts: Sequence[r.Shift], run_id: str | None) -> list[r.Shift]:
    """Store shifts; return those that must now be announced.

    Announced: confirmed, not retroactive, and either new or a held shift just confirmed.
    """
    if not shifts:
        return []
    ids = [s.id for s in shifts]
    held = {
        row[0]
        for row in session.execute(
            select(t.Shift.id).where(t.Shift.id.in_(ids), t.Shift.confirmed.is_(False))
        )
    }
    existing = {row[0] for row in session.execute(select(t.Shift.id).where(t.Shift.id.in_(ids)))}
    insert_ignore(session, t.Shift, [shift_row(s, run_id) for s in shifts])
    announce = []
    for shift in shifts:
        if shift.id in held and shift.confirmed:
            row = shift_row(shift, run_id)
            session.execute(
                update(t.Shift)
                .where(t.Shift.id == shift.id)
                .values(
                    confirmed=True,
                    evidence=row["evidence"],
                    evidence_document_ids=row["evidence_document_ids"],
                    run_id=run_id,
                )
            )
        elif shift.id in existing:
            continue
        if shift.confirmed and not shift.retroactive:
            announce.append(shift)
    return announce
