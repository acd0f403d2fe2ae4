"""Positions: the documented rules, one scenario each."""

from __future__ import annotations

from datetime import UTC, datetime

from shiftwatch.analysis.positions.replay import build_timeline, current_positions
from shiftwatch.records import Stance, StanceObservation


def obs(day: int, stance: Stance, conf: float = 0.9, doc: str | None = None, **kw):
    return StanceObservation(
        document_id=doc or f"doc{day}",
        party_id=kw.pop("party", "russia"),
        actor_id=None,
        demand_id="arms",
        stance=stance,
        confidence=conf,
        evidence="...",
        evidence_start=0,
        published_at=datetime(2022, 1, day, tzinfo=UTC),
        **kw,
    )


def test_first_observation_sets_the_position():
    timeline = build_timeline([obs(1, Stance.OPPOSES)])
    assert timeline.position.stance == Stance.OPPOSES
    assert [c.from_stance for c in timeline.changes] == [None]


def test_below_threshold_never_counts():
    assert current_positions([obs(1, Stance.OPPOSES, conf=0.2)]) == []


def test_cluster_and_statement_count_once():
    timeline = build_timeline(
        [
            obs(1, Stance.SUPPORTS, cluster_id="c1", doc="a"),
            obs(2, Stance.SUPPORTS, cluster_id="c1", doc="b"),
            obs(3, Stance.SUPPORTS, statement_id="s1", doc="c"),
            obs(4, Stance.SUPPORTS, statement_id="s1", doc="d"),
        ]
    )
    assert len(timeline.units) == 2 and timeline.position.observations == 4


def test_strong_change_moves_at_once_and_recency_wins():
    timeline = build_timeline([obs(1, Stance.OPPOSES), obs(5, Stance.OPEN)])
    assert timeline.position.stance == Stance.OPEN
    assert timeline.position.since == datetime(2022, 1, 5, tzinfo=UTC)


def test_weak_challenger_needs_independent_confirmation():
    weak = obs(5, Stance.OPEN, machine_translated=True, conf=0.5)
    assert build_timeline([obs(1, Stance.OPPOSES), weak]).position.stance == Stance.OPPOSES
    second = obs(6, Stance.OPEN, reported=True, conf=0.5)
    timeline = build_timeline([obs(1, Stance.OPPOSES), weak, second])
    assert timeline.position.stance == Stance.OPEN
    assert timeline.position.since == datetime(2022, 1, 5, tzinfo=UTC)


def test_same_cluster_does_not_confirm_itself():
    a = obs(5, Stance.OPEN, conf=0.5, cluster_id="c9", doc="x", machine_translated=True)
    b = obs(6, Stance.OPEN, conf=0.5, cluster_id="c9", doc="y", machine_translated=True)
    assert build_timeline([obs(1, Stance.OPPOSES), a, b]).position.stance == Stance.OPPOSES


def test_restatement_drops_a_pending_challenger():
    weak = obs(5, Stance.OPEN, conf=0.45)
    timeline = build_timeline(
        [
            obs(1, Stance.OPPOSES),
            weak,
            obs(7, Stance.OPPOSES),
            obs(9, Stance.OPEN, conf=0.45, doc="late"),
        ]
    )
    assert timeline.position.stance == Stance.OPPOSES
