"""Positions and shifts: replay the touched (party, demand) timelines, record what changed.

Only the pairs a batch touched are loaded, so the cost follows the news, not the history.
Shifts and the positions they change are written in one transaction; alerts for the shifts
that must be announced are queued in that same transaction (the outbox).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from shiftwatch.analysis.positions.checkpoint import (
    Checkpoint,
    checkpoint_of,
    rejoined,
    resume,
    unit_order,
)
from shiftwatch.analysis.positions.replay import (
    MIN_CONFIDENCE,
    Timeline,
    build_timeline,
    build_units,
    observation_key,
    positions_of,
    statement_time,
    unit_key,
)
from shiftwatch.analysis.positions.reviews import Correction, apply_corrections
from shiftwatch.analysis.positions.shifts import detect_shifts, shift_id
from shiftwatch.models import reviews as review_store
from shiftwatch.models import shifts as shift_store
from shiftwatch.models import sources as source_store
from shiftwatch.models import stances as stance_store
from shiftwatch.models.db import Engine, Session, session_scope
from shiftwatch.records import Shift, Stance, StanceObservation

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
        replayed = replay_pairs(session, pairs, fresh_docs)
        new = [o for o in replayed.observations if o.document_id in fresh_docs]
        new_keys = {observation_key(o) for o in new}
        history = [o for o in replayed.observations if observation_key(o) not in new_keys]
        timelines = replayed.timelines  # once, for the shifts and the positions
        known = _known_shifts(session, replayed)
        shifts = detect_shifts(history, new, known, timelines)
        to_announce = shift_store.save_shifts(session, shifts, run_id)
        stance_store.save_positions(session, positions_of(timelines), pairs)
        stance_store.save_checkpoints(session, replayed.checkpoints(), pairs)
        if announce is not None and to_announce:
            result.alerts_queued = announce(session, to_announce)
    result.shifts = [s.id for s in shifts]
    result.announced = [s.id for s in to_announce]
    result.held = [s.id for s in shifts if not s.confirmed]
    result.retroactive = [s.id for s in shifts if s.retroactive]
    return result


@dataclass
class Replayed:
    """The touched pairs' timelines, the observations read to build them, and where each
    replay started (None: from the first observation)."""

    timelines: dict[tuple[str, str], Timeline] = field(default_factory=dict)
    observations: list[StanceObservation] = field(default_factory=list)
    bases: dict[tuple[str, str], Checkpoint | None] = field(default_factory=dict)

    def checkpoints(self) -> list[Checkpoint]:
        """Return each replayed pair's latest checkpoint."""
        found = (checkpoint_of(t, self.bases.get(pair)) for pair, t in self.timelines.items())
        return [c for c in found if c is not None]


def _known_shifts(session: Session, replayed: Replayed) -> list[Shift]:
    """Return the stored shifts the replayed pairs' changes may be: every one of a pair
    replayed in full; for a pair resumed at a checkpoint, those from the checkpoint on and any
    with the id of one of its changes (an older one can be neither)."""
    full = [pair for pair, base in replayed.bases.items() if base is None]
    known = shift_store.load_shifts(session, full)
    for pair, base in replayed.bases.items():
        if base is None or pair not in replayed.timelines:
            continue
        ids = [
            shift_id(*pair, c.from_stance, c.to_stance, c.anchor.key)
            for c in replayed.timelines[pair].changes
            if c.from_stance is not None
        ]
        known.extend(shift_store.load_shifts_since(session, pair, base.at, ids))
    return known


def replay_pairs(
    session: Session, pairs: Iterable[tuple[str, str]], fresh_docs: set[str]
) -> Replayed:
    """Return the timelines of `pairs`, each replayed from its stored checkpoint when the new
    documents' observations all fall after it, else from its first observation."""
    new = stance_store.load_document_stances(session, fresh_docs) if fresh_docs else []
    corrections = review_store.load_corrections(session)  # the analyst's reviews apply first
    by_pair: dict[tuple[str, str], list[StanceObservation]] = {}
    for obs in new:
        by_pair.setdefault((obs.party_id, obs.demand_id), []).append(obs)
    checkpoints = stance_store.load_checkpoints(session, pairs)
    out = Replayed()
    for pair in sorted(pairs):
        base = checkpoints.get(pair)
        tail = _tail(session, pair, base, by_pair.get(pair, []), corrections) if base else None
        if tail is None:
            observations = stance_store.load_stances(session, [pair])
            base = None
            if observations:
                out.timelines[pair] = build_timeline(observations, corrections)
        else:
            observations, out.timelines[pair] = tail
        out.observations.extend(observations)
        out.bases[pair] = base
    return out


def _tail(
    session: Session,
    pair: tuple[str, str],
    base: Checkpoint,
    new: Sequence[StanceObservation],
    corrections: Mapping[str, Correction],
) -> tuple[list[StanceObservation], Timeline] | None:
    """Return the observations read and the timeline replayed from `base`, or None when the
    checkpoint does not hold (see `analysis/positions/checkpoint.py`). A review clears the
    checkpoints of the pairs it touches (`pipeline/review.py`), so one that holds was taken
    with the corrections applied."""
    if not new or any(statement_time(o) < base.at for o in new):
        return None  # a statement dated before the checkpoint (or published before it)
    if stance_store.count_stances_before(session, pair, base.at) != base.earlier:
        return None  # history before the checkpoint changed since it was taken
    # Only what counts is read (weaker observations never move a position), with the new
    # ones and the latest of the history, by which a backfill is told from news.
    counted = stance_store.load_stances_since(session, pair, base.at, MIN_CONFIDENCE)
    fresh_docs = {o.document_id for o in new}
    latest = stance_store.latest_stance(session, pair, fresh_docs)
    keys = {observation_key(o) for o in counted}
    observations = [
        *counted,
        *(o for o in new if observation_key(o) not in keys),
        *(o for o in (latest,) if o is not None and observation_key(o) not in keys),
    ]
    earlier = stance_store.load_stances_before(
        session,
        pair,
        base.at,
        statements={o.statement_id for o in counted if o.statement_id},
        clusters={o.cluster_id for o in counted if o.cluster_id and not o.statement_id},
        documents={o.document_id for o in counted if not o.cluster_id and not o.statement_id},
    )
    begun = {(unit_key(o), o.stance) for o in earlier if o.confidence >= MIN_CONFIDENCE}
    if any((unit_key(o), o.stance) in begun for o in new):
        # New observations join units that began before the checkpoint: it still holds
        # when they only add observations to those units (`checkpoint.rejoined`).
        added = _rejoined(base, [*earlier, *counted], begun, fresh_docs, corrections)
        if added is None:
            return None
        base = replace(base, observations=base.observations + added)
    units = [
        u
        for u in build_units(apply_corrections(observations, corrections))
        if (u.key, u.stance) not in begun
    ]
    start = next((u for u in units if (u.key, u.stance) == (base.unit_key, base.stance)), None)
    if start is None or start.at != base.at or start.weight != base.weight:
        return None
    after = [u for u in units if unit_order(u) > unit_order(start)]
    fresh = {(unit_key(o), o.stance) for o in new if o.confidence >= MIN_CONFIDENCE}
    if not fresh <= {(u.key, u.stance) for u in after}:
        return None
    return observations, resume(base, [start, *after])


def _rejoined(
    base: Checkpoint,
    stored: Sequence[StanceObservation],
    begun: set[tuple[str, Stance]],
    fresh_docs: set[str],
    corrections: Mapping[str, Correction],
) -> int | None:
    """Return `checkpoint.rejoined` for the units in `begun`, built from the `stored`
    observations without and with those of the new documents."""
    joined = [o for o in stored if (unit_key(o), o.stance) in begun]
    old = [o for o in joined if o.document_id not in fresh_docs]
    before = build_units(apply_corrections(old, corrections))
    return rejoined(base, before, build_units(apply_corrections(joined, corrections)))


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
