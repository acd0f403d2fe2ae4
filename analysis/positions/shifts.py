"""Shifts: changes of a party's position on a demand, found incrementally and idempotently.

`detect_shifts(history, new, known)` replays the timeline of every (party, demand) pair that
`new` touches (positions.py holds the rules) and returns the shifts the new observations cause:

- a first observation is not a shift, and a restatement is not a shift;
- a weak challenger (low confidence, machine-translated or only reported) against an
  established position is a *possible* shift (`confirmed=False`, never alerted) until a second,
  independent unit confirms it; the confirmed shift keeps the same id;
- backfill: when the observations that settle a change were published before the latest
  observation already known for the pair (`history`), the shift is `retroactive=True` (recorded,
  never announced as new);
- ids are a stable hash of party, demand, from, to and the anchoring evidence (the first
  statement, story cluster or document of the new stance), so a re-run never makes a second
  shift for the same change; `known` (stored shifts of the same pairs) suppresses those already
  recorded, and a change that backfill merely re-anchors is recognised as the known one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from shiftwatch.analysis.positions.replay import (
    Change,
    Timeline,
    build_timeline,
    group_pairs,
    observation_key,
)
from shiftwatch.records import Shift, Stance, StanceObservation


def shift_id(
    party_id: str, demand_id: str, from_stance: Stance, to_stance: Stance, anchor: str
) -> str:
    """Return the deterministic id of a change (same change, same id, in every run)."""
    raw = "\x1f".join((party_id, demand_id, from_stance.value, to_stance.value, anchor))
    return "shift-" + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:20]


def detect_shifts(
    history: Sequence[StanceObservation],
    new: Sequence[StanceObservation],
    known: Iterable[Shift] = (),
    timelines: Mapping[tuple[str, str], Timeline] | None = None,
) -> list[Shift]:
    """Return the shifts `new` causes, given the stored observations of the same pairs
    (`history`) and the stored shifts (`known`): new ones, and known possible shifts that are
    now confirmed (same id, `confirmed=True`). `timelines`, when given, are those of
    `history` and `new` together (`build_timelines`), so a caller that needs them too builds
    them once."""
    known_list = list(known)
    new_keys = {observation_key(o) for o in new}
    old_pairs = group_pairs(history)
    out: list[Shift] = []
    for pair, observations in sorted(group_pairs([*history, *new]).items()):
        if not any(observation_key(o) in new_keys for o in observations):
            continue
        timeline = timelines[pair] if timelines is not None else build_timeline(observations)
        latest = _latest(old_pairs.get(pair, ()))
        out.extend(_pair_shifts(timeline, new_keys, latest, known_list))
    return out


def _latest(observations: Iterable[StanceObservation]) -> datetime | None:
    dated = [o.published_at for o in observations if o.published_at is not None]
    return max(dated) if dated else None


def _pair_shifts(
    timeline: Timeline,
    new_keys: set[tuple[object, ...]],
    latest: datetime | None,
    known: Sequence[Shift],
) -> list[Shift]:
    """Return the shifts of one pair that new observations brought about or confirmed."""
    out = []
    changes = list(timeline.changes)
    for i, change in enumerate(changes):
        if change.from_stance is None or not _touched(change, new_keys):
            continue
        shift = to_shift(timeline, change, latest)
        following = next((c.anchor.at for c in changes[i + 1 :] if c.confirmed), None)
        if not _already_known(shift, change, following, known):
            out.append(shift)
    return out


def _touched(change: Change, new_keys: set[tuple[object, ...]]) -> bool:
    """Return True when one of the units settling a change holds a new observation."""
    units = (change.anchor, *change.confirmed_by)
    return any(observation_key(o) in new_keys for u in units for o in u.observations)


def to_shift(timeline: Timeline, change: Change, latest: datetime | None = None) -> Shift:
    """Return the `Shift` record of one change, with its before/after evidence."""
    assert change.from_stance is not None
    before = change.before.observations if change.before else ()
    after = tuple(o for u in (change.anchor, *change.confirmed_by) for o in u.observations)
    evidence = (*before, *after)
    documents = tuple(dict.fromkeys(o.document_id for o in evidence))
    # Retroactive by when the news came out, not by when it was said: an article of today
    # about Tuesday's statement is news today.
    settled = (change.confirmed_by[-1] if change.confirmed_by else change.anchor).published
    return Shift(
        id=shift_id(
            timeline.party_id,
            timeline.demand_id,
            change.from_stance,
            change.to_stance,
            change.anchor.key,
        ),
        party_id=timeline.party_id,
        demand_id=timeline.demand_id,
        from_stance=change.from_stance,
        to_stance=change.to_stance,
        at=change.anchor.at,
        evidence_document_ids=documents,
        evidence=evidence,
        confirmed=change.confirmed,
        retroactive=latest is not None and settled is not None and settled < latest,
        confirmed_at=change.settled_at if change.confirmed and change.confirmed_by else None,
    )


def _already_known(
    shift: Shift, change: Change, following: datetime | None, known: Sequence[Shift]
) -> bool:
    """Return True when `known` already holds this change in the same state: the same id, or
    the same move of the same pair that backfill re-anchored between the same neighbours."""
    for old in known:
        if old.id == shift.id:
            return old.confirmed or not shift.confirmed
        same_move = (old.party_id, old.demand_id, old.from_stance, old.to_stance) == (
            shift.party_id,
            shift.demand_id,
            shift.from_stance,
            shift.to_stance,
        )
        if same_move and old.confirmed >= shift.confirmed and _within(old.at, change, following):
            return True
    return False


def _within(at: datetime | None, change: Change, following: datetime | None) -> bool:
    """Return True when `at` falls in the span the change covers (after the old position's last
    unit, before the next confirmed change)."""
    if at is None:
        return False
    start = change.before.at if change.before else None
    return (start is None or at >= start) and (following is None or at < following)
