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
        "confirmed_at": shift.confirmed_at,
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
        confirmed_at=row.confirmed_at,
    )


def load_shifts(session: Session, pairs: Iterable[tuple[str, str]]) -> list[r.Shift]:
    """Return the stored shifts of the given (party, demand) pairs that stand (a shift a
    review withdrew does not: a later, genuine change of the same kind is news)."""
    wanted = set(pairs)
    if not wanted:
        return []
    statement = select(t.Shift).where(
        t.Shift.party_id.in_({p for p, _ in wanted}),
        t.Shift.demand_id.in_({d for _, d in wanted}),
        t.Shift.withdrawn_at.is_(None),
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
                    confirmed_at=shift.confirmed_at or utcnow(),
                )
            )
        elif shift.id in existing:
            continue
        if shift.confirmed and not shift.retroactive:
            announce.append(shift)
    return announce


def shift_ids(session: Session, pairs: Iterable[tuple[str, str]], *, withdrawn: bool) -> set[str]:
    """Return the ids of the stored shifts of `pairs` that are (or are not) withdrawn."""
    wanted = set(pairs)
    if not wanted:
        return set()
    column = t.Shift.withdrawn_at
    statement = select(t.Shift.id, t.Shift.party_id, t.Shift.demand_id).where(
        t.Shift.party_id.in_({p for p, _ in wanted}),
        t.Shift.demand_id.in_({d for _, d in wanted}),
        column.is_not(None) if withdrawn else column.is_(None),
    )
    return {row[0] for row in session.execute(statement) if (row[1], row[2]) in wanted}


def withdraw_shifts(session: Session, ids: Iterable[str], note: str) -> list[str]:
    """Mark shifts withdrawn (an analyst's review voided them); return those newly so."""
    return _update_shifts(
        session, ids, t.Shift.withdrawn_at.is_(None), withdrawn_at=utcnow(), withdrawn_note=note
    )


def restore_shifts(session: Session, ids: Iterable[str]) -> list[str]:
    """Clear the withdrawal of shifts the timeline holds again (a review undone); return
    them. Their corrections stay sent; no new alert is queued."""
    return _update_shifts(
        session, ids, t.Shift.withdrawn_at.is_not(None), withdrawn_at=None, withdrawn_note=None
    )


def _update_shifts(session: Session, ids: Iterable[str], state: Any, **values: Any) -> list[str]:
    """Set `values` on the shifts among `ids` that are in `state`; return those changed."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    statement = (
        update(t.Shift).where(t.Shift.id.in_(wanted), state).values(**values).returning(t.Shift.id)
    )
    return sorted(row[0] for row in session.execute(statement))


def load_shift(session: Session, shift_id: str) -> list[r.Shift]:
    """Return the stored shift with this id (a list of none or one)."""
    row = session.get(t.Shift, shift_id)
    return [] if row is None else [to_shift(row)]


def demote_shifts(session: Session, ids: Iterable[str]) -> list[str]:
    """Mark confirmed shifts possible again (the review that confirmed them was undone);
    return those changed."""
    return _update_shifts(
        session, ids, t.Shift.confirmed.is_(True), confirmed=False, confirmed_at=None
    )
