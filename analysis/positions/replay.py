"""Positions: per (party, demand) a timeline of observations, and what it says now.

The timeline is replayed in publication order (undated observations last, in a stable order)
under these rules:

1. **Threshold.** An observation counts only with confidence >= `MIN_CONFIDENCE`; weaker ones
   stay on record (exports) but never move a position.
2. **Counted once.** Observations of one stance collapse into one *unit* when they share a
   `statement_id` (one quote, however many outlets or languages carried it), else a
   `cluster_id` (copies of one story), else a document. A unit weighs its best confidence and
   dates from its earliest observation.
3. **Strong or weak.** A unit is strong when it weighs >= `STRONG_CONFIDENCE` and holds at least
   one observation that is neither machine-translated nor an outlet's report of a third party.
4. **First observation.** The first unit sets the position; that is not a change of position.
5. **Restatement.** A unit of the current stance restates it: no change, and any pending
   challenger is dropped (the old position was just reaffirmed).
6. **Independent confirmation.** A unit of another stance changes the position at once when it
   is strong; when weak it is held as a pending challenger, and a second, independent unit (a
   different statement, story cluster or document) of the same stance confirms it. The change
   is dated from the first challenger. A reversal (supports <-> opposes) always waits for that
   second unit, however strong the first, unless an analyst confirmed it: replayed over the
   real passages of three negotiations (dev split, `bench/negotiation_replay.py`), this cut
   the confirmed changes the labels do not record from 7 to 4, and those they do from 13 to
   11; the seeds' changes stay as they were.
7. **Recency.** Replaying in order means the latest confirmed change is the position: older
   evidence never overrides newer, and evidence that arrives late is put in its place in time.
8. **Undated evidence.** A unit with no date (its documents gave none) may set a first position
   or restate the current one; it never anchors, confirms or dates a change.
9. **The statement's own day.** An observation whose sentence dates the statement ("said on
   Tuesday" in an article of Thursday: `said_at`) is placed at that day, not at its article's;
   so a late article about an old statement goes back in time, and a change is dated by the
   first evidence of the new stance, never by a later article repeating it.
10. **Review wins.** The analyst's corrections (`reviews.py`) are applied first: a rejected
    observation never counts; a confirmed (or re-stanced) one counts as strong.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from shiftwatch.analysis.positions.reviews import apply_corrections, reviewed_strong
from shiftwatch.records import Correction, Position, Stance, StanceObservation

MIN_CONFIDENCE = 0.35  # below this an observation never moves a position
STRONG_CONFIDENCE = 0.6  # a unit this sure (and not only MT or reported) changes a position alone
_UNDATED = datetime.max.replace(tzinfo=UTC)
_POLES = {Stance.SUPPORTS, Stance.OPPOSES}  # a change between these two is a reversal


@dataclass(frozen=True, slots=True)
class Unit:
    """Observations of one stance that count once (one statement, story or document)."""

    key: str
    stance: Stance
    weight: float
    strong: bool
    at: datetime | None
    observations: tuple[StanceObservation, ...]
    published: datetime | None = None  # its earliest article (`at` may be the day it was said)


@dataclass(frozen=True, slots=True)
class Change:
    """A position taken (from_stance None: the first one) or changed, with its evidence."""

    from_stance: Stance | None
    to_stance: Stance
    before: Unit | None  # the last unit of the old position
    anchor: Unit  # the first unit of the new one
    confirmed_by: tuple[Unit, ...]  # a second, independent unit when the anchor was weak
    confirmed: bool  # False: a possible change, held until confirmed

    @property
    def settled_at(self) -> datetime | None:
        """Return when the change became certain (its confirming unit, else its anchor)."""
        unit = self.confirmed_by[-1] if self.confirmed_by else self.anchor
        return unit.at


@dataclass(frozen=True, slots=True)
class Timeline:
    party_id: str
    demand_id: str
    units: tuple[Unit, ...]
    changes: tuple[Change, ...]
    position: Position | None


def observation_key(obs: StanceObservation) -> tuple[str, int, str, str | None, str, str]:
    """Return what identifies one observation across runs (the same sentence, holder, demand)."""
    return (
        obs.document_id,
        obs.evidence_start,
        obs.party_id,
        obs.actor_id,
        obs.demand_id,
        obs.stance.value,
    )


def unit_key(obs: StanceObservation) -> str:
    """Return the key under which an observation counts once (rule 2)."""
    if obs.statement_id:
        return f"statement:{obs.statement_id}"
    if obs.cluster_id:
        return f"cluster:{obs.cluster_id}"
    return f"document:{obs.document_id}"


def _sortable(key: tuple[str, int, str, str | None, str, str]) -> tuple[str | int, ...]:
    """Return an observation key that sorts: a party's own observation (no actor) beside its
    actor's in the same sentence compared None with a string and crashed the replay."""
    return tuple("" if part is None else part for part in key)


def statement_time(obs: StanceObservation) -> datetime:
    """Return when the observation's statement was made: its own day, else its article's."""
    if obs.published_at is None:
        return _UNDATED
    return min(obs.said_at, obs.published_at) if obs.said_at else obs.published_at


def build_units(observations: Iterable[StanceObservation]) -> list[Unit]:
    """Return the counted-once units of one (party, demand), in time order (rules 1-3)."""
    groups: dict[tuple[str, Stance], list[StanceObservation]] = defaultdict(list)
    seen: set[tuple[object, ...]] = set()
    keyed = [(statement_time(o), observation_key(o), o) for o in observations]  # keys made once
    keyed.sort(key=lambda k: (k[0], _sortable(k[1])))
    for _, key, obs in keyed:
        if (obs.confidence < MIN_CONFIDENCE and not reviewed_strong(obs)) or key in seen:
            continue
        seen.add(key)
        groups[(unit_key(obs), obs.stance)].append(obs)
    units = [_unit(key, stance, group) for (key, stance), group in groups.items()]
    return sorted(units, key=lambda u: (u.at or _UNDATED, u.weight, u.key))


def _unit(key: str, stance: Stance, group: Sequence[StanceObservation]) -> Unit:
    weight = max(o.confidence for o in group)
    first_hand = any(not o.machine_translated and not o.reported for o in group)
    dated = [o.published_at for o in group if o.published_at is not None]
    return Unit(
        key=key,
        stance=stance,
        weight=weight,
        strong=(weight >= STRONG_CONFIDENCE and first_hand) or any(map(reviewed_strong, group)),
        at=min(statement_time(o) for o in group) if dated else None,
        observations=tuple(group),
        published=min(dated) if dated else None,
    )


def replay(units: Sequence[Unit]) -> list[Change]:
    """Return the changes a time-ordered list of units makes (rules 4-7)."""
    changes: list[Change] = []
    current: Stance | None = None
    last: Unit | None = None
    pending: list[Unit] = []
    for unit in units:
        if current is None or unit.stance == current:
            if current is None:
                changes.append(
                    Change(
                        from_stance=None,
                        to_stance=unit.stance,
                        before=None,
                        anchor=unit,
                        confirmed_by=(),
                        confirmed=True,
                    )
                )
            current, last, pending = unit.stance, unit, []
            continue
        if unit.at is None:
            continue  # undated evidence never anchors, confirms or dates a change (rule 8)
        same = [p for p in pending if p.stance == unit.stance and p.key != unit.key]
        if changes_alone(unit, current) or same:
            anchor, confirmers = (same[0], (unit,)) if same else (unit, ())
            changes.append(
                Change(
                    from_stance=current,
                    to_stance=unit.stance,
                    before=last,
                    anchor=anchor,
                    confirmed_by=confirmers,
                    confirmed=True,
                )
            )
            current, last, pending = unit.stance, unit, []
            continue
        pending.append(unit)
        changes.append(
            Change(
                from_stance=current,
                to_stance=unit.stance,
                before=last,
                anchor=unit,
                confirmed_by=(),
                confirmed=False,
            )
        )
    return _drop_superseded(changes)


def changes_alone(unit: Unit, current: Stance) -> bool:
    """Return True when one unit changes a position without a second, independent one (rule
    6): a strong unit, but a reversal only when an analyst confirmed it."""
    if not unit.strong:
        return False
    return {unit.stance, current} != _POLES or any(map(reviewed_strong, unit.observations))


def _drop_superseded(changes: list[Change]) -> list[Change]:
    """Return the changes without possible ones that a confirmation of the same anchor
    replaced (one change, first held, then confirmed)."""
    confirmed = {(c.anchor.key, c.to_stance) for c in changes if c.confirmed and c.from_stance}
    return [c for c in changes if c.confirmed or (c.anchor.key, c.to_stance) not in confirmed]


def build_timeline(
    observations: Iterable[StanceObservation],
    corrections: Mapping[str, Correction] | None = None,
) -> Timeline:
    """Return the timeline of one (party, demand) pair: units, changes, current position,
    with the analyst's `corrections` (observation id -> verdict) applied first."""
    obs = list(observations)
    if not obs:
        raise ValueError("build_timeline needs at least one observation")
    party_id, demand_id = obs[0].party_id, obs[0].demand_id
    if any((o.party_id, o.demand_id) != (party_id, demand_id) for o in obs):
        raise ValueError("build_timeline takes the observations of one (party, demand) pair")
    units = build_units(apply_corrections(obs, corrections or {}))
    changes = replay(units)
    return Timeline(
        party_id=party_id,
        demand_id=demand_id,
        units=tuple(units),
        changes=tuple(changes),
        position=_position(party_id, demand_id, units, changes),
    )


def _position(
    party_id: str, demand_id: str, units: Sequence[Unit], changes: Sequence[Change]
) -> Position | None:
    """Return the position the last confirmed change set, with the units that back it."""
    settled = [c for c in changes if c.confirmed]
    if not settled:
        return None
    last = settled[-1]
    start = units.index(last.anchor)
    backing = [u for u in units[start:] if u.stance == last.to_stance]
    held = [c for c in changes[changes.index(last) + 1 :] if not c.confirmed]
    return Position(
        party_id=party_id,
        demand_id=demand_id,
        stance=last.to_stance,
        since=last.anchor.at,
        observations=sum(len(u.observations) for u in backing),
        confidence=round(max(u.weight for u in backing), 3),
        possible_change=held[-1].to_stance if held else None,
        possible_since=held[-1].anchor.at if held else None,
    )


def group_pairs(
    observations: Iterable[StanceObservation],
) -> dict[tuple[str, str], list[StanceObservation]]:
    """Return the observations per (party, demand); observations with no party are dropped."""
    pairs: dict[tuple[str, str], list[StanceObservation]] = defaultdict(list)
    for obs in observations:
        if obs.party_id:
            pairs[(obs.party_id, obs.demand_id)].append(obs)
    return dict(pairs)


def build_timelines(
    observations: Iterable[StanceObservation],
    corrections: Mapping[str, Correction] | None = None,
) -> dict[tuple[str, str], Timeline]:
    """Return the timeline of every (party, demand) pair, in pair order (built once per run
    for both the shifts and the positions), the analyst's `corrections` applied."""
    grouped = sorted(group_pairs(observations).items())
    return {pair: build_timeline(group, corrections) for pair, group in grouped}


def positions_of(timelines: Mapping[tuple[str, str], Timeline]) -> list[Position]:
    """Return the current positions the timelines hold, in pair order."""
    return [t.position for _, t in sorted(timelines.items()) if t.position is not None]


def current_positions(observations: Iterable[StanceObservation]) -> list[Position]:
    """Return every party's current position on every demand it took a stance on."""
    return positions_of(build_timelines(observations))
