"""Review: an analyst's verdict stored and obeyed at once, in one transaction.

`review_target` stores a verdict on a stance observation (`st-…`) or a shift (`shift-…`, a
unique prefix is enough) and replays the (party, demand) pair it touches with every active
review applied (`analysis/positions/reviews.py`):

- shifts the timeline no longer holds are withdrawn; those whose alert reached a channel get
  one correction alert per such channel through the outbox (unique key: once, ever), and
  their alerts not yet sent are held;
- shifts the review brings about (a held change the analyst confirmed, a re-stanced
  observation) are recorded and announced like any other;
- the pair's position is rewritten.

`undo_review` marks a review undone and replays the same way (a shift that holds again is
restored without a new alert). Re-running the monitor replays with the same reviews, so
nothing is withdrawn, corrected or announced twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from shiftwatch import records as r
from shiftwatch.analysis.positions.replay import build_timelines, positions_of
from shiftwatch.analysis.positions.reviews import apply_corrections, observation_id
from shiftwatch.analysis.positions.shifts import detect_shifts, to_shift
from shiftwatch.errors import ReviewError
from shiftwatch.models import outbox
from shiftwatch.models import reviews as review_store
from shiftwatch.models import shifts as shift_store
from shiftwatch.models import stances as stance_store
from shiftwatch.models.db import Engine, Session, session_scope
from shiftwatch.models.tables import utcnow
from shiftwatch.pipeline.deliver import record_shifts, routing

V = r.ReviewVerdict
STANCE_VERDICTS = frozenset(
    {V.CONFIRMED, V.REJECTED, V.NOT_A_STANCE, V.WRONG_HOLDER, V.WRONG_STANCE}
)
SHIFT_VERDICTS = frozenset({V.CONFIRMED, V.REJECTED, V.FALSE_SHIFT})


@dataclass
class ReviewOutcome:
    """What a review (or its undoing) changed."""

    review: r.Review | None = None
    pairs: list[tuple[str, str]] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)  # shifts the timeline no longer holds
    restored: list[str] = field(default_factory=list)  # withdrawn shifts that hold again
    recorded: list[str] = field(default_factory=list)  # shifts the review brought about
    alerts_queued: int = 0
    corrections_queued: int = 0


def review_target(
    engine: Engine,
    target: str,
    verdict: r.ReviewVerdict,
    channels: Sequence[str],
    *,
    stance: r.Stance | None = None,
    note: str = "",
) -> ReviewOutcome:
    """Store an analyst's verdict on an observation or a shift and obey it at once."""
    with session_scope(engine) as session:
        kind, full_id = _resolve(session, target)
        _check(kind, verdict, stance)
        if kind == "shift" and verdict is V.REJECTED:
            verdict = V.FALSE_SHIFT  # a rejected shift: its new-stance evidence is void
        pair, touched = _bearing(session, kind, full_id)
        now = utcnow()
        review = r.Review(
            id=review_store.review_id(full_id, str(verdict), now),
            target_kind=kind,
            target_id=full_id,
            verdict=verdict,
            stance=stance,
            note=note,
            at=now,
        )
        review_store.save_review(session, review, touched if kind == "shift" else ())
        outcome = replay_reviewed(session, [pair], touched, channels, note=note)
    outcome.review = review
    return outcome


def undo_review(engine: Engine, review_id: str | None, channels: Sequence[str]) -> ReviewOutcome:
    """Undo a review (the latest when `review_id` is None) and replay what it touched."""
    with session_scope(engine) as session:
        review = review_store.undo_review(session, review_id, utcnow())
        if review is None:
            which = f"review {review_id}" if review_id else "any active review"
            raise ReviewError(f"nothing to undo: no {which} (see `shiftwatch review list`)")
        _, touched = review_store.review_observation_ids(session, review.id)
        pairs = _pairs_of(session, touched, review)
        outcome = replay_reviewed(session, pairs, touched, channels, note="review undone")
    outcome.review = review
    return outcome


def replay_reviewed(
    session: Session,
    pairs: Iterable[tuple[str, str]],
    touched: Iterable[str],
    channels: Sequence[str],
    *,
    note: str = "",
) -> ReviewOutcome:
    """Replay `pairs` with every active review; withdraw, restore and record shifts to match,
    queue corrections and alerts, rewrite the positions (in the caller's transaction)."""
    pairs = sorted(set(pairs))
    touched = set(touched)
    stance_store.clear_checkpoints(session, pairs)  # taken before this verdict: replay in full
    everything = stance_store.load_stances(session, pairs)
    corrections = review_store.load_corrections(session)
    timelines = build_timelines(everything, corrections)
    changes = [
        to_shift(timeline, change)
        for timeline in timelines.values()
        for change in timeline.changes
        if change.from_stance is not None
    ]
    holding = {s.id for s in changes}
    outcome = ReviewOutcome(pairs=list(pairs))
    outcome.withdrawn = shift_store.withdraw_shifts(
        session, _voided(session, pairs, holding, touched), note
    )
    outcome.corrections_queued = outbox.queue_corrections(
        session, outcome.withdrawn, routing(channels), note
    )
    withdrawn = shift_store.shift_ids(session, pairs, withdrawn=True)
    outcome.restored = shift_store.restore_shifts(session, withdrawn & holding)
    # A held change an analyst's confirmation had settled is held again when it is undone.
    held = review_store.shift_evidence_ids(session, {s.id for s in changes if not s.confirmed})
    shift_store.demote_shifts(session, {i for i, ids in held.items() if ids & touched})
    corrected = apply_corrections(everything, corrections)
    new = [o for o in corrected if observation_id(o) in touched]
    history = [o for o in corrected if observation_id(o) not in touched]
    known = shift_store.load_shifts(session, pairs)
    shifts = detect_shifts(history, new, known, timelines)
    announce = shift_store.save_shifts(session, shifts, None)
    outcome.recorded = [s.id for s in shifts]
    if announce:
        outcome.alerts_queued = record_shifts(session, announce, channels, None)
    stance_store.save_positions(session, positions_of(timelines), pairs)
    return outcome


def _voided(
    session: Session, pairs: Sequence[tuple[str, str]], holding: set[str], touched: set[str]
) -> set[str]:
    """Return the active shifts the timeline no longer holds because of the reviewed
    observations (a shift backfill merely re-anchored is not the review's to withdraw)."""
    gone = shift_store.shift_ids(session, pairs, withdrawn=False) - holding
    evidence = review_store.shift_evidence_ids(session, gone)
    return {shift_id for shift_id, ids in evidence.items() if ids & touched}


def _resolve(session: Session, typed: str) -> tuple[str, str]:
    kind, ids = review_store.resolve_target(session, typed)
    if not kind:
        raise ReviewError(
            f"{typed!r} is not an id: use a stance id (st-…) or a shift id (shift-…) "
            "as `shiftwatch review list`, the digest or an alert shows it"
        )
    if not ids:
        raise ReviewError(f"no stored {kind} has id {typed!r} (see `shiftwatch review list`)")
    if len(ids) > 1:
        shown = ", ".join(ids[:5])
        raise ReviewError(f"{typed!r} is ambiguous ({shown}…): type more of the id")
    return kind, ids[0]


def _check(kind: str, verdict: r.ReviewVerdict, stance: r.Stance | None) -> None:
    allowed = STANCE_VERDICTS if kind == "stance" else SHIFT_VERDICTS
    if verdict not in allowed:
        names = ", ".join(sorted(str(v) for v in allowed))
        raise ReviewError(f"a {kind} cannot be reviewed {verdict}: use {names}")
    if (verdict is V.WRONG_STANCE) != (stance is not None):
        raise ReviewError("--stance gives the right stance, and only for a wrong stance")


def _bearing(session: Session, kind: str, full_id: str) -> tuple[tuple[str, str], list[str]]:
    """Return the (party, demand) pair a target belongs to and the observation ids it voids
    or vouches for."""
    if kind == "stance":
        obs = review_store.find_observation(session, full_id)
        if obs is None:
            raise ReviewError(f"stance {full_id} is not stored")
        return (obs.party_id, obs.demand_id), [full_id]
    shift = next(iter(shift_store.load_shift(session, full_id)), None)
    if shift is None:
        raise ReviewError(f"shift {full_id} is not stored")
    return (shift.party_id, shift.demand_id), review_store.shift_new_stance_ids(session, full_id)


def _pairs_of(session: Session, ids: Iterable[str], review: r.Review) -> list[tuple[str, str]]:
    if review.target_kind == "shift":
        shift = next(iter(shift_store.load_shift(session, review.target_id)), None)
        if shift is not None:
            return [(shift.party_id, shift.demand_id)]
    known = review_store.observation_ids(session)
    return sorted({known[i] for i in ids if i in known})
