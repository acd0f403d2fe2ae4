"""Reviews: an analyst's verdicts on stance observations and shifts, stored apart from them.

A review names its target by a stable id (`st-…` for an observation, see
`analysis/positions/reviews.py`; a shift's id), so it survives re-analysis (`run --since`)
and a re-run: replay reads the active reviews as corrections every time. A review of a
shift stores, when made, the ids of the observations that made the shift (its new-stance
evidence), so the verdict still applies after the shift itself is withdrawn. Undoing a
review marks it undone; nothing is deleted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session

from shiftwatch import records as r
from shiftwatch.analysis.positions.reviews import OBSERVATION_PREFIX, observation_id_of
from shiftwatch.models import tables as t
from shiftwatch.models.rows import insert_ignore
from shiftwatch.models.stances import to_observation
from shiftwatch.models.tables import utcnow

SHIFT_PREFIX = "shift-"


def review_id(target_id: str, verdict: str, at: datetime) -> str:
    """Return a new review's id (short enough to type: `rev-` and 10 hex digits)."""
    raw = f"{target_id}\x1f{verdict}\x1f{at.isoformat()}"
    return "rev-" + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:10]


def save_review(session: Session, review: r.Review, observation_ids: Sequence[str] = ()) -> None:
    """Store a review (its id is unique: storing it twice stores it once)."""
    row = {
        "id": review.id,
        "target_kind": review.target_kind,
        "target_id": review.target_id,
        "verdict": str(review.verdict),
        "stance": str(review.stance) if review.stance else None,
        "note": review.note,
        "at": review.at or utcnow(),
        "undone_at": None,
        "observation_ids": list(observation_ids),
    }
    insert_ignore(session, t.Review, [row])


def to_review(row: t.Review) -> r.Review:
    """Return the record of a stored review."""
    return r.Review(
        id=row.id,
        target_kind=row.target_kind,
        target_id=row.target_id,
        verdict=r.ReviewVerdict(row.verdict),
        stance=r.Stance(row.stance) if row.stance else None,
        note=row.note,
        at=row.at,
        undone_at=row.undone_at,
    )


def load_reviews(session: Session, *, active_only: bool = False) -> list[r.Review]:
    """Return the stored reviews, oldest first (active ones only when asked)."""
    statement = select(t.Review).order_by(t.Review.at, t.Review.id)
    if active_only:
        statement = statement.where(t.Review.undone_at.is_(None))
    return [to_review(row) for row in session.execute(statement).scalars()]


def load_corrections(session: Session) -> dict[str, r.Correction]:
    """Return the active verdicts per observation id, as replay applies them (a later review
    of the same observation wins)."""
    statement = (
        select(t.Review).where(t.Review.undone_at.is_(None)).order_by(t.Review.at, t.Review.id)
    )
    out: dict[str, r.Correction] = {}
    for row in session.execute(statement).scalars():
        verdict = r.ReviewVerdict(row.verdict)
        stance = r.Stance(row.stance) if row.stance else None
        targets = [row.target_id] if row.target_kind == "stance" else row.observation_ids or []
        for target in targets:
            out[target] = r.Correction(verdict=verdict, stance=stance, review_id=row.id)
    return out


def review_observation_ids(session: Session, review_id_: str) -> tuple[str, list[str]]:
    """Return (target kind, observation ids) a stored review bears on."""
    row = session.get(t.Review, review_id_)
    if row is None:
        return "", []
    if row.target_kind == "stance":
        return row.target_kind, [row.target_id]
    return row.target_kind, list(row.observation_ids or [])


def undo_review(session: Session, review_id_: str | None, now: datetime) -> r.Review | None:
    """Mark a review (by id, or the latest active one) undone; return it, None if none."""
    statement = select(t.Review).where(t.Review.undone_at.is_(None))
    if review_id_:
        statement = statement.where(t.Review.id == review_id_)
    row = session.execute(statement.order_by(t.Review.at.desc(), t.Review.id.desc())).scalar()
    if row is None:
        return None
    session.execute(update(t.Review).where(t.Review.id == row.id).values(undone_at=now))
    return to_review(row)


def observation_ids(session: Session) -> dict[str, Any]:
    """Return {stable observation id: (party, demand)} of every stored stance."""
    columns = (
        t.StanceObservation.document_id,
        t.StanceObservation.evidence_start,
        t.StanceObservation.party_id,
        t.StanceObservation.actor_id,
        t.StanceObservation.demand_id,
    )
    return {
        observation_id_of(doc, start, party, actor, demand): (party, demand)
        for doc, start, party, actor, demand in session.execute(select(*columns))
    }


def find_observation(session: Session, obs_id: str) -> r.StanceObservation | None:
    """Return the stored observation with this stable id, or None."""
    found = observation_ids(session).get(obs_id)
    if found is None:
        return None
    party, demand = found
    statement = select(t.StanceObservation).where(
        t.StanceObservation.party_id == party, t.StanceObservation.demand_id == demand
    )
    for row in session.execute(statement).scalars():
        key = (row.document_id, row.evidence_start, row.party_id, row.actor_id, row.demand_id)
        if observation_id_of(*key) == obs_id:
            return to_observation(row)
    return None


def resolve_target(session: Session, text: str) -> tuple[str, list[str]]:
    """Return ("stance" | "shift", the full ids a typed id or unique prefix may mean)."""
    typed = text.strip()
    if typed.startswith(OBSERVATION_PREFIX):
        return "stance", sorted(i for i in observation_ids(session) if i.startswith(typed))
    if typed.startswith(SHIFT_PREFIX):
        rows = session.execute(select(t.Shift.id).where(t.Shift.id.startswith(typed)))
        return "shift", sorted(row[0] for row in rows)
    return "", []


def shift_new_stance_ids(session: Session, shift_id: str) -> list[str]:
    """Return the stable ids of the observations a stored shift's new stance rests on."""
    row = session.get(t.Shift, shift_id)
    if row is None:
        return []
    return [evidence_id(e) for e in row.evidence if e.get("side") != "before"]


def shift_evidence_ids(session: Session, shift_ids: Iterable[str]) -> dict[str, set[str]]:
    """Return {shift id: the stable ids of its evidence, both sides} for stored shifts."""
    out = {}
    for shift_id in sorted(set(shift_ids)):
        row = session.get(t.Shift, shift_id)
        if row is not None:
            out[shift_id] = {evidence_id(e) for e in row.evidence}
    return out


def evidence_id(item: dict[str, Any]) -> str:
    """Return the observation id of one item of a shift's stored evidence (KeyError when the
    item lacks a key, as evidence stored by hand may)."""
    return observation_id_of(
        item["document_id"],
        item["evidence_start"],
        item["party_id"],
        item.get("actor_id"),
        item["demand_id"],
    )


def review_queue(
    session: Session, since: datetime, *, weak_below: float, limit: int = 30
) -> dict[str, list[dict[str, Any]]]:
    """Return what needs a human, as plain rows: possible shifts, weak observations of pairs
    that hold a position, shifts alerted since `since`, and the reviews made."""
    possible = session.execute(
        select(t.Shift)
        .where(t.Shift.confirmed.is_(False), t.Shift.withdrawn_at.is_(None))
        .order_by(t.Shift.at, t.Shift.id)
    ).scalars()
    alerted = session.execute(
        select(t.Shift)
        .join(t.Alert, t.Alert.shift_id == t.Shift.id)
        .where(t.Alert.kind == "shift", t.Alert.status == "sent", t.Alert.sent_at >= since)
        .distinct()
        .order_by(t.Shift.at, t.Shift.id)
    ).scalars()
    return {
        "possible": [_shift_item(s) for s in possible],
        "weak": _weak(session, weak_below, limit),
        "alerted": [_shift_item(s) for s in alerted],
        "reviews": [
            {
                "id": rv.id,
                "target": rv.target_id,
                "verdict": str(rv.verdict) + (f" ({rv.stance})" if rv.stance else ""),
                "note": rv.note,
                "at": rv.at,
                "undone_at": rv.undone_at,
            }
            for rv in load_reviews(session)
        ],
    }


def _shift_item(row: t.Shift) -> dict[str, Any]:
    after = [e for e in row.evidence if e.get("side") != "before"]
    return {
        "id": row.id,
        "party": row.party_id,
        "demand": row.demand_id,
        "change": f"{row.from_stance} -> {row.to_stance}",
        "at": row.at,
        "withdrawn": row.withdrawn_at is not None,
        "evidence": [(evidence_id(e), str(e.get("evidence", ""))) for e in after],
    }


def _weak(session: Session, below: float, limit: int) -> list[dict[str, Any]]:
    """Return low-confidence (or machine-translated, or reported) observations of pairs that
    hold a position, not reviewed yet, newest first."""
    pairs = {(p, d) for p, d in session.execute(select(t.Position.party_id, t.Position.demand_id))}
    reviewed = set(load_corrections(session))
    statement = select(t.StanceObservation).order_by(
        t.StanceObservation.published_at.desc(), t.StanceObservation.id
    )
    out = []
    for row in session.execute(statement).scalars():
        if (row.party_id, row.demand_id) not in pairs:
            continue
        if row.confidence >= below and not row.machine_translated and not row.reported:
            continue
        key = (row.document_id, row.evidence_start, row.party_id, row.actor_id, row.demand_id)
        obs_id = observation_id_of(*key)
        if obs_id in reviewed:
            continue
        out.append(
            {
                "id": obs_id,
                "party": row.party_id,
                "demand": row.demand_id,
                "stance": row.stance,
                "confidence": row.confidence,
                "at": row.published_at,
                "evidence": row.evidence,
                "flags": ", ".join(
                    f
                    for f, on in (("MT", row.machine_translated), ("reported", row.reported))
                    if on
                ),
            }
        )
        if len(out) >= limit:
            break
    return out
