"""Positions replay: a party's own observation beside its actor's, and timelines built once."""

from __future__ import annotations

from datetime import UTC, datetime

from shiftwatch.analysis.positions.replay import (
    build_timeline,
    build_timelines,
    current_positions,
    positions_of,
)
from shiftwatch.analysis.positions.shifts import detect_shifts
from shiftwatch.records import Stance, StanceObservation


def obs(actor: str | None, stance: Stance, day: int = 1, doc: str = "doc1") -> StanceObservation:
    return StanceObservation(
        document_id=doc,
        party_id="russia",
        actor_id=actor,
        demand_id="arms",
        stance=stance,
        confidence=0.9,
        evidence="Lavrov and Moscow insist on talks.",
        evidence_start=0,
        published_at=datetime(2022, 1, day, tzinfo=UTC),
    )


def test_party_and_actor_in_one_sentence_replay_without_error():
    # "Lavrov and Moscow insist ...": one sentence, one party, actor None beside actor "lavrov"
    timeline = build_timeline([obs("lavrov", Stance.SUPPORTS), obs(None, Stance.SUPPORTS)])
    assert timeline.position is not None
    assert timeline.position.stance == Stance.SUPPORTS
    assert timeline.position.observations == 2


def test_timelines_built_once_give_the_same_shifts_and_positions():
    history = [obs("lavrov", Stance.OPPOSES, day=1, doc="a")]
    new = [obs(None, Stance.OPEN, day=5, doc="b"), obs("lavrov", Stance.OPEN, day=6, doc="c")]
    timelines = build_timelines([*history, *new])
    assert detect_shifts(history, new, (), timelines) == detect_shifts(history, new)
    assert positions_of(timelines) == current_positions([*history, *new])


def test_undated_evidence_never_anchors_or_dates_a_shift():
    from dataclasses import replace

    dated = obs("lavrov", Stance.SUPPORTS, day=3, doc="a")
    undated = replace(obs("lavrov", Stance.OPPOSES, doc="b"), published_at=None)
    timeline = build_timeline([dated, undated])
    assert [(c.from_stance, c.to_stance) for c in timeline.changes] == [(None, Stance.SUPPORTS)]
    assert timeline.position is not None and timeline.position.stance == Stance.SUPPORTS
    # a dated unit of the new stance changes it, dated by itself, not by the undated one
    later = obs(None, Stance.OPPOSES, day=9, doc="c")
    timeline = build_timeline([dated, undated, later])
    change = timeline.changes[-1]
    assert (change.from_stance, change.to_stance) == (Stance.SUPPORTS, Stance.OPPOSES)
    assert change.anchor.at == later.published_at


def test_a_held_change_is_shown_beside_the_position():
    from dataclasses import replace

    first = obs("lavrov", Stance.SUPPORTS, day=3, doc="a")
    weak = replace(obs(None, Stance.OPPOSES, day=7, doc="b"), confidence=0.45)
    timeline = build_timeline([first, weak])
    position = timeline.position
    assert position is not None and position.stance == Stance.SUPPORTS
    assert position.possible_change == Stance.OPPOSES
    assert position.possible_since == weak.published_at
    confirmed = build_timeline([first, weak, obs(None, Stance.OPPOSES, day=9, doc="c")]).position
    assert confirmed is not None and confirmed.stance == Stance.OPPOSES
    assert confirmed.possible_change is None


def test_a_reversal_waits_for_a_second_unit_however_strong_the_first():
    """Rule 6: supports -> opposes on one strong unit is held as possible; a second, independent
    unit confirms it, dated from the first. A strong move to `open` changes at once; a reversal
    an analyst confirmed does too."""
    from dataclasses import replace

    from shiftwatch.records import ReviewVerdict

    before = obs(None, Stance.SUPPORTS, day=1, doc="a")
    flip = obs(None, Stance.OPPOSES, day=5, doc="b")
    held = build_timeline([before, flip])
    assert [(c.to_stance, c.confirmed) for c in held.changes[1:]] == [(Stance.OPPOSES, False)]
    assert held.position is not None and held.position.stance == Stance.SUPPORTS
    assert held.position.possible_change == Stance.OPPOSES
    second = obs("lavrov", Stance.OPPOSES, day=7, doc="c")
    confirmed = build_timeline([before, flip, second])
    change = confirmed.changes[-1]
    assert (change.to_stance, change.confirmed) == (Stance.OPPOSES, True)
    assert change.anchor.at == datetime(2022, 1, 5, tzinfo=UTC)
    to_open = build_timeline([before, obs(None, Stance.OPEN, day=5, doc="b")])
    assert [(c.to_stance, c.confirmed) for c in to_open.changes[1:]] == [(Stance.OPEN, True)]
    vouched = replace(flip, review=ReviewVerdict.CONFIRMED.value)
    assert build_timeline([before, vouched]).changes[-1].confirmed
