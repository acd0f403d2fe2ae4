"""Positions and shifts: replay the touched (party, demand) timelines, record what changed.

Only the pairs a batch touched are loaded, so the cost follows the news, not the history.
Shifts and the positions they change are written in one transaction; alerts for the shifts
that must be announced are queued in that same transaction (the outbox).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from shiftwatch.analysis.positions.replay import build_timelines, observation_key, positions_of
from shiftwatch.analysis.positions.shifts import detect_shifts
from shiftwatch.models import reviews as review_store
from shiftwatch.models import shifts as shift_store
from shiftwatch.models import sources as source_store
from shiftwatch.models import stances as stance_store
from shiftwatch.models.db import Engine, Session, session_scope
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
    recovered: int = 0  # documents of runs that died before their positions were updated


def update_positions(
    engine: Engine,
    pairs: Iterable[tuple[str, str]],
    new_document_ids: Iterable[str],
    run_id: str,
    announce: Announce | None = None,
) -> PositionResult:
    """Recompute the touched pairs' positions, record shifts, queue alerts; return a summary."""
    pairs = set(pairs)
    fresh_docs = set(new_document_ids)
    result = PositionResult()
    with session_scope(engine) as session:
        result.recovered = _recover(session, run_id, pairs, fresh_docs)
        if not pairs:
            return result
        everything = stance_store.load_stances(session, pairs)
        new = [o for o in everything if o.document_id in fresh_docs]
        new_keys = {observation_key(o) for o in new}
        history = [o for o in everything if observation_key(o) not in new_keys]
        # once, for the shifts and the positions, with the analyst's reviews applied
        timelines = build_timelines(everything, review_store.load_corrections(session))
        shifts = detect_shifts(history, new, shift_store.load_shifts(session, pairs), timelines)
        to_announce = shift_store.save_shifts(session, shifts, run_id)
        stance_store.save_positions(session, positions_of(timelines), pairs)
        if announce is not None and to_announce:
            result.alerts_queued = announce(session, to_announce)
    result.shifts = [s.id for s in shifts]
    result.announced = [s.id for s in to_announce]
    result.held = [s.id for s in shifts if not s.confirmed]
    result.retroactive = [s.id for s in shifts if s.retroactive]
    return result


def _recover(session: Session, run_id: str, pairs: set[tuple[str, str]], fresh: set[str]) -> int:
    """Add the documents of runs that died after storing them (killed between the ingest and
    positions transactions) to this run's new documents and pairs; return how many.

    Without this they would be skipped as unchanged forever and their shifts never found.
    Replaying them is idempotent: shifts already recorded are neither stored nor announced
    twice. Their runs are marked interrupted in this transaction, so they are replayed once.
    """
    orphans = source_store.unfinished_run_documents(session, run_id)
    if not orphans:
        return 0
    recovered = {d for ids in orphans.values() for d in ids}
    fresh.update(recovered)
    pairs.update(stance_store.stance_pairs(session, recovered))
    source_store.mark_runs_interrupted(session, list(orphans))
    return len(recovered)
