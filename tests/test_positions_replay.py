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
