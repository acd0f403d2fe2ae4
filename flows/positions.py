"""Positions and shifts: replay the touched (party, demand) timelines, record what changed.

Only the pairs a batch touched are loaded, so the cost follows the news, not the history.
Shifts and the positions they change are written in one transaction; alerts for the shifts
that must be announced are queued in that same transaction (the outbox).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session

from shiftwatch.analysis.positions import current_positions, observation_key
from shiftwatch.analysis.shifts import detect_shifts
from shiftwatch.models import store
from shiftwatch.models.db import session_scope
from shiftwatch.records import Shift

# Called inside the transaction with the shifts to announce (the outbox enqueues alerts).
Announce = Callable[[Session, Sequence[Shift]], int]


@dataclass
class PositionResult:
    shifts: list[str] = field(default_factory=list)  # every shift recorded this run
    announced: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    retroactive: list[str] = field(default_factory=list)
    alerts_queued: int = 0


def update_positions(
    engine: Engine, pairs: Iterable[tuple[str, str]], new_document_ids: Iterable[str],
    run_id: str, announce: Announce | None = None,
) -> PositionResult:
    """Recompute the touched pairs' positions, record shifts, queue alerts; return a summary."""
    pairs = set(pairs)
    fresh_docs = set(new_document_ids)
    result = PositionResult()
    if not pairs:
        return result
    with session_scope(engine) as session:
        everything = store.load_stances(session, pairs)
        new = [o for o in everything if o.document_id in fresh_docs]
        new_keys = {observation_key(o) for o in new}
        history = [o for o in everything if observation_key(o) not in new_keys]
        shifts = detect_shifts(history, new, store.load_shifts(session, pairs))
        to_announce = store.save_shifts(session, shifts, run_id)
        store.save_positions(session, current_positions(everything))
        if announce is not None and to_announce:
            result.alerts_queued = announce(session, to_announce)
    result.shifts = [s.id for s in shifts]
    result.announced = [s.id for s in to_announce]
    result.held = [s.id for s in shifts if not s.confirmed]
    result.retroactive = [s.id for s in shifts if s.retroactive]
    return result
