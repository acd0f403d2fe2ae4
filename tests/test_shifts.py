"""Shift scenarios: timelines in, shifts out."""

from __future__ import annotations

from datetime import UTC, datetime

from shiftwatch.analysis.positions.shifts import detect_shifts
from shiftwatch.records import Stance, StanceObservation


def obs(day: int, stance: Stance, conf: float = 0.9, doc: str | None = None, **kw):
    return StanceObservation(
        document_id=doc or f"doc{day}",
        party_id="russia",
        actor_id="lavrov",
        demand_id="arms",
        stance=stance,
        confidence=conf,
        evidence=f"evidence {day}",
        evidence_start=0,
        published_at=datetime(2022, 1, day, tzinfo=UTC),
        **kw,
    )


def test_first_observation_and_restatement_are_not_shifts():
    assert detect_shifts([], [obs(1, Stance.OPPOSES)]) == []
    assert detect_shifts([obs(1, Stance.OPPOSES)], [obs(2, Stance.OPPOSES)]) == []


def test_a_change_is_one_confirmed_shift_with_evidence():
    [shift] = detect_shifts([obs(1, Stance.OPPOSES)], [obs(27, Stance.OPEN)])
    assert (shift.from_stance, shift.to_stance, shift.confirmed, shift.retroactive) == (
        Stance.OPPOSES,
        Stance.OPEN,
        True,
        False,
    )
    assert shift.evidence_document_ids == ("doc1", "doc27")
    assert shift.at == datetime(2022, 1, 27, tzinfo=UTC)


def test_ids_are_deterministic_and_reruns_add_nothing():
    first = detect_shifts([obs(1, Stance.OPPOSES)], [obs(27, Stance.OPEN)])
    again = detect_shifts([obs(1, Stance.OPPOSES)], [obs(27, Stance.OPEN)])
    assert [s.id for s in first] == [s.id for s in again]
    assert detect_shifts([obs(1, Stance.OPPOSES)], [obs(27, Stance.OPEN)], first) == []


def test_duplicates_in_one_cluster_make_one_shift():
    new = [
        obs(27, Stance.OPEN, cluster_id="c1", doc="a"),
        obs(27, Stance.OPEN, cluster_id="c1", doc="b"),
    ]
    assert len(detect_shifts([obs(1, Stance.OPPOSES)], new)) == 1


def test_machine_translation_is_held_until_confirmed_then_keeps_its_id():
    mt = obs(20, Stance.OPEN, conf=0.55, machine_translated=True, doc="mt")
    [held] = detect_shifts([obs(1, Stance.OPPOSES)], [mt])
    assert not held.confirmed
    confirm = obs(22, Stance.OPEN, conf=0.5, reported=True, doc="other")
    [done] = detect_shifts([obs(1, Stance.OPPOSES), mt], [confirm], [held])
    assert done.confirmed and done.id == held.id
    assert detect_shifts([obs(1, Stance.OPPOSES), mt], [confirm], [done]) == []


def test_translation_of_the_same_statement_does_not_confirm():
    a = obs(20, Stance.OPEN, conf=0.55, machine_translated=True, statement_id="s", doc="ru")
    b = obs(21, Stance.OPEN, conf=0.55, machine_translated=True, statement_id="s", doc="en")
    assert [s.confirmed for s in detect_shifts([obs(1, Stance.OPPOSES)], [a, b])] == [False]


def test_backfill_is_retroactive_and_not_duplicated():
    history = [obs(1, Stance.OPPOSES), obs(25, Stance.OPEN)]
    [known] = detect_shifts([obs(1, Stance.OPPOSES)], [obs(25, Stance.OPEN)])
    late = obs(10, Stance.OPEN, doc="late")  # published earlier, arrives now
    assert detect_shifts(history, [late], [known]) == []
    [retro] = detect_shifts([obs(1, Stance.OPPOSES), obs(30, Stance.OPPOSES)], [late])
    assert retro.retroactive and retro.confirmed
