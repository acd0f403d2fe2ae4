"""Checkpoints: where a pair's replay may resume, so a run replays the tail of a timeline only.

Replaying a (party, demand) timeline is a fold over its units in time order (`replay.py`).
After a unit that sets the first position, restates the current one or settles a change, the
fold's state is that unit alone: its stance is the position, it is the last unit, and no
challenger is pending. The latest such *dated* unit at least `CHECKPOINT_LAG` before the
pair's latest unit is the pair's checkpoint (any such unit would do). Replaying the
checkpoint's unit followed by every unit after it gives the same changes after it, and the
same position once the position that stood at the checkpoint (its `since`, observation count
and confidence) is carried over, as replaying the whole history: a run that adds a few
documents reads the units since the checkpoint, not every observation ever recorded.

A checkpoint holds only while nothing before it changes: new evidence dated before it, a new
observation joining one of its earlier units in a way the replay reads (a late copy of an old
story that makes the unit weigh more: `rejoined`), or stored history changed since it was
taken all call for the full replay (`pipeline/positions.py` checks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from shiftwatch.analysis.positions.replay import (
    Change,
    Timeline,
    Unit,
    _position,
    changes_alone,
    replay,
)
from shiftwatch.records import Position, Stance

_UNDATED = datetime.max.replace(tzinfo=UTC)
# A checkpoint is taken at least this long before the pair's latest unit. New evidence is
# mostly about the last days (a quote restated by another outlet, a late copy of a story,
# "said on Tuesday"), and evidence joining a unit before the checkpoint, or dated before
# it, costs a full replay; a checkpoint a week back stays valid for it, and a replay from
# there reads a week of units, not the history.
CHECKPOINT_LAG = timedelta(days=7)


@dataclass(frozen=True, kw_only=True, slots=True)
class Checkpoint:
    """A pair's last dated unit after which no challenger was pending, with the position as
    it stood there (confidence unrounded: the best weight of the units backing it)."""

    party_id: str
    demand_id: str
    unit_key: str
    stance: Stance
    at: datetime
    weight: float
    since: datetime | None
    observations: int
    confidence: float
    possible_change: Stance | None = None  # a change held then, still shown beside it
    possible_since: datetime | None = None
    earlier: int = 0  # observations stored before `at` when taken (storage fills it)


def unit_order(unit: Unit) -> tuple[datetime, float, str]:
    """Return the key units are replayed in (as `build_units` sorts them)."""
    return (unit.at or _UNDATED, unit.weight, unit.key)


def settles(units: Sequence[Unit]) -> list[bool]:
    """Return, per unit, whether the replay's state after it is that unit alone (the rules of
    `replay.replay`: a first unit, a restatement or a settled change; not an undated unit
    against the position, nor a weak challenger left pending)."""
    out: list[bool] = []
    current: Stance | None = None
    pending: list[Unit] = []
    for unit in units:
        if current is None or unit.stance == current:
            current, pending = unit.stance, []
            out.append(True)
        elif unit.at is None:
            out.append(False)
        elif changes_alone(unit, current) or any(
            p.stance == unit.stance and p.key != unit.key for p in pending
        ):
            current, pending = unit.stance, []
            out.append(True)
        else:
            pending.append(unit)
            out.append(False)
    return out


def resume(base: Checkpoint, units: Sequence[Unit]) -> Timeline:
    """Return the timeline replayed from `base`: `units` are the checkpoint's unit followed
    by every unit after it, in order; changes before the checkpoint are not in it."""
    changes = replay(units)[1:]  # the first is the checkpoint's unit taking the position again
    return Timeline(
        party_id=base.party_id,
        demand_id=base.demand_id,
        units=tuple(units),
        changes=tuple(changes),
        position=_resumed_position(base, units, changes),
    )


def _resumed_position(
    base: Checkpoint, units: Sequence[Unit], changes: Sequence[Change]
) -> Position:
    """Return the position after a replay from `base` (as the whole replay would give it)."""
    if any(c.confirmed for c in changes):
        position = _position(base.party_id, base.demand_id, units, changes)
        assert position is not None
        return position
    held = [c for c in changes if not c.confirmed]
    backing = [u for u in units[1:] if u.stance == base.stance]
    possible = (held[-1].to_stance, held[-1].anchor.at) if held else None
    possible = possible or (base.possible_change, base.possible_since)
    return Position(
        party_id=base.party_id,
        demand_id=base.demand_id,
        stance=base.stance,
        since=base.since,
        observations=base.observations + sum(len(u.observations) for u in backing),
        confidence=round(max([base.confidence, *(u.weight for u in backing)]), 3),
        possible_change=possible[0],
        possible_since=possible[1],
    )


def checkpoint_of(timeline: Timeline, base: Checkpoint | None = None) -> Checkpoint | None:
    """Return the latest checkpoint of `timeline` at least `CHECKPOINT_LAG` before its latest
    unit (a whole timeline, or one resumed from `base`, whose first unit is then `base`'s),
    or `base` when no later unit settles the replay."""
    units = list(timeline.units)
    marks = settles(units)
    dated = [unit.at for unit in units if unit.at is not None]
    if not dated:
        return base
    latest = max(dated)
    found = [
        i
        for i, unit in enumerate(units)
        if marks[i] and unit.at is not None and unit.at <= latest - CHECKPOINT_LAG
    ]
    if not found or (base is not None and found[-1] == 0):
        return base
    i = found[-1]
    unit = units[i]
    assert unit.at is not None
    made = {id(_trigger(c)): c for c in timeline.changes}
    last: Change | None = None
    held: Change | None = None
    for j in range(i + 1):
        change = made.get(id(units[j]))
        if change is not None and change.confirmed:
            last, held = change, None
        elif change is not None:
            held = change
    if last is None:  # resumed, and nothing settled a change since `base`
        assert base is not None
        backing = [u for u in units[1 : i + 1] if u.stance == base.stance]
        since, counted = base.since, base.observations
        confidence = max([base.confidence, *(u.weight for u in backing)])
        possible = (base.possible_change, base.possible_since)
    else:
        start = units.index(last.anchor)
        backing = [u for u in units[start : i + 1] if u.stance == last.to_stance]
        since, counted, confidence = last.anchor.at, 0, max(u.weight for u in backing)
        possible = (None, None)
    if held is not None:
        possible = (held.to_stance, held.anchor.at)
    return Checkpoint(
        party_id=timeline.party_id,
        demand_id=timeline.demand_id,
        unit_key=unit.key,
        stance=unit.stance,
        at=unit.at,
        weight=unit.weight,
        since=since,
        observations=counted + sum(len(u.observations) for u in backing),
        confidence=confidence,
        possible_change=possible[0],
        possible_since=possible[1],
    )


def rejoined(base: Checkpoint, before: Sequence[Unit], after: Sequence[Unit]) -> int | None:
    """Return how many observations the position at `base` gains from new evidence joining
    units that began before the checkpoint (a quote restated, a late copy of an old story),
    or None when the replay from `base` no longer holds.

    `before` and `after` are those units without and with the new evidence. It holds when
    the new evidence changes nothing the replay reads in them (date, weight, strength, first
    article: the same changes, in the same order); it then only adds observations, which
    count when the unit backs the position at the checkpoint (its stance, after `since`). A
    unit dated at `since` itself may be the position's anchor or not: None.
    """
    old = {(u.key, u.stance): u for u in before}
    added = 0
    for unit in after:
        was = old.get((unit.key, unit.stance))
        if was is None or (was.at, was.weight, was.strong, was.published) != (
            unit.at,
            unit.weight,
            unit.strong,
            unit.published,
        ):
            return None
        more = len(unit.observations) - len(was.observations)
        if more and unit.stance == base.stance:
            if base.since is None or unit.at is None or unit.at == base.since:
                return None
            added += more if unit.at > base.since else 0
    return added


def _trigger(change: Change) -> Unit:
    """Return the unit whose replay made `change` (its confirming unit, else its anchor)."""
    return change.confirmed_by[-1] if change.confirmed_by else change.anchor


def with_earlier(checkpoint: Checkpoint, earlier: int) -> Checkpoint:
    """Return `checkpoint` with the count of observations stored before it."""
    return replace(checkpoint, earlier=earlier)
