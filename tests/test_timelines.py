"""Real-looking timelines through the pure replay: late articles about old statements,
restatements carried by many outlets, a held change confirmed two days later, undated
documents among dated ones, and an analyst's corrections (the replay obeys them)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from shiftwatch.analysis.positions.replay import build_timeline
from shiftwatch.analysis.positions.reviews import apply_corrections, observation_id
from shiftwatch.analysis.positions.shifts import detect_shifts
from shiftwatch.records import Correction, ReviewVerdict, Stance, StanceObservation

D = datetime(2022, 1, 10, 9, tzinfo=UTC)  # a Monday


def obs(
    doc: str,
    stance: Stance,
    day: int,
    *,
    confidence: float = 0.9,
    said: int | None = None,
    statement: str | None = None,
    mt: bool = False,
    reported: bool = False,
    undated: bool = False,
    start: int = 0,
) -> StanceObservation:
    return StanceObservation(
        document_id=doc,
        party_id="russia",
        actor_id="ryabkov",
        demand_id="nato-nonenlargement",
        stance=stance,
        confidence=confidence,
        evidence=f"{doc}: {stance}",
        evidence_start=start,
        published_at=None if undated else D + timedelta(days=day),
        said_at=None if said is None else (D + timedelta(days=said)).replace(hour=12),
        statement_id=statement,
        machine_translated=mt,
        reported=reported,
    )


def changes(observations):
    return [c for c in build_timeline(observations).changes if c.from_stance is not None]


def test_a_late_article_about_an_old_statement_dates_the_shift_by_the_statement():
    timeline = [
        obs("a1", Stance.SUPPORTS, 0),
        obs("a2", Stance.SUPPORTS, 2),
        # published on day 5, reporting what was said on day 3 ("said on Thursday")
        obs("late", Stance.OPEN, 5, said=3),
    ]
    (change,) = changes(timeline)
    assert change.anchor.at.date() == (D + timedelta(days=3)).date()
    assert change.anchor.published == D + timedelta(days=5)


def test_a_shift_is_dated_by_its_first_evidence_not_by_the_outlets_repeating_it():
    timeline = [obs("a1", Stance.SUPPORTS, 0)]
    # one quote, first carried on day 2, then by five outlets over the next days (a move to
    # `open`: a reversal would wait for a second, independent unit, replay rule 6)
    timeline += [obs(f"echo{i}", Stance.OPEN, 2 + i, statement="ryabkov:q1") for i in range(6)]
    (change,) = changes(timeline)
    assert change.anchor.at == D + timedelta(days=2)
    assert len(change.anchor.observations) == 6  # counted once
    position = build_timeline(timeline).position
    assert position.stance is Stance.OPEN and position.since == D + timedelta(days=2)
    # the same quote reversing the stance is one unit: held until another source says it
    reversed_ = [obs("a1", Stance.SUPPORTS, 0)]
    reversed_ += [obs(f"e{i}", Stance.OPPOSES, 2 + i, statement="ryabkov:q2") for i in range(6)]
    held = build_timeline(reversed_).position
    assert held.stance is Stance.SUPPORTS and held.possible_change is Stance.OPPOSES


def test_a_held_change_confirmed_two_days_later_keeps_its_id_and_first_date():
    history = [obs("a1", Stance.SUPPORTS, 0), obs("weak", Stance.OPPOSES, 3, mt=True)]
    (held,) = detect_shifts([history[0]], [history[1]])
    assert not held.confirmed and held.at == D + timedelta(days=3)
    position = build_timeline(history).position
    assert position.stance is Stance.SUPPORTS and position.possible_change is Stance.OPPOSES
    confirming = obs("confirm", Stance.OPPOSES, 5)
    (confirmed,) = detect_shifts(history, [confirming], known=[held])
    assert confirmed.id == held.id and confirmed.confirmed
    assert confirmed.at == D + timedelta(days=3)  # dated from the first evidence
    assert confirmed.confirmed_at == D + timedelta(days=5)


def test_undated_documents_among_dated_ones_never_anchor_a_shift():
    timeline = [
        obs("a1", Stance.SUPPORTS, 0),
        obs("undated1", Stance.OPPOSES, 0, undated=True),
        obs("undated2", Stance.OPPOSES, 0, undated=True, start=5),
        obs("a2", Stance.SUPPORTS, 4),
    ]
    assert changes(timeline) == []
    assert build_timeline(timeline).position.stance is Stance.SUPPORTS


def test_a_rejected_observation_no_longer_counts_and_its_shift_is_gone():
    timeline = [obs("a1", Stance.SUPPORTS, 0), obs("wrong", Stance.OPPOSES, 2)]
    assert len(changes(timeline)) == 1
    corrections = {observation_id(timeline[1]): Correction(verdict=ReviewVerdict.REJECTED)}
    reviewed = build_timeline(timeline, corrections)
    assert [c for c in reviewed.changes if c.from_stance] == []
    assert reviewed.position.stance is Stance.SUPPORTS
    # the same corrections, replayed again, give the same timeline
    assert build_timeline(timeline, corrections) == reviewed


def test_a_confirmed_weak_observation_counts_as_strong():
    weak = obs("weak", Stance.OPEN, 2, confidence=0.4, mt=True)
    timeline = [obs("a1", Stance.OPPOSES, 0), weak]
    (held,) = changes(timeline)
    assert not held.confirmed
    corrections = {observation_id(weak): Correction(verdict=ReviewVerdict.CONFIRMED)}
    (confirmed,) = [c for c in build_timeline(timeline, corrections).changes if c.from_stance]
    assert confirmed.confirmed and confirmed.anchor.at == weak.published_at


def test_a_wrong_stance_is_replayed_with_the_analysts_stance():
    first = obs("a1", Stance.OPPOSES, 0)
    misread = obs("misread", Stance.SUPPORTS, 2)
    corrections = {
        observation_id(misread): Correction(
            verdict=ReviewVerdict.WRONG_STANCE, stance=Stance.OPPOSES
        )
    }
    assert changes([first, misread])
    assert [c for c in build_timeline([first, misread], corrections).changes if c.from_stance] == []
    (applied,) = [o for o in apply_corrections([misread], corrections)]
    assert applied.stance is Stance.OPPOSES and applied.review == "wrong_stance"


def test_an_observation_id_survives_reanalysis_that_changes_its_stance():
    first = obs("a1", Stance.OPPOSES, 0, confidence=0.5)
    again = replace(first, stance=Stance.OPEN, confidence=0.8, basis="new lexicon")
    assert observation_id(first) == observation_id(again)
