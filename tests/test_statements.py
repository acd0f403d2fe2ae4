"""Statements: one quote or claim across outlets and languages, counted once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from shiftwatch.analysis.extract.statements import (
    StatementReport,
    collapse_echoes,
    group_statements,
    numbers_and_dates,
    quote_fingerprint,
    quoted_spans,
    speaker_token,
    statement_key,
)
from shiftwatch.records import Stance, StanceObservation

FIXTURE = Path(__file__).parent / "fixtures" / "statements" / "echoes.yaml"
CASES = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))["reports"]


def _report(case: dict) -> StatementReport:
    return StatementReport(
        id=case["id"],
        document_id=case["document_id"],
        quote_text=case["quote_text"],
        speaker_id=case["speaker_id"],
        entity_ids=frozenset(case["entity_ids"]),
        published_at=case["published_at"],
        language=case["language"],
    )


def test_fixture_reports_group_into_the_labelled_statements() -> None:
    statements = group_statements(_report(case) for case in CASES)
    label = {case["id"]: case["statement"] for case in CASES}
    found = {frozenset(s.report_ids) for s in statements}
    expected = {
        frozenset(c["id"] for c in CASES if c["statement"] == name) for name in set(label.values())
    }
    assert found == expected


def test_echo_count_first_seen_and_languages() -> None:
    statements = group_statements(_report(case) for case in CASES)
    guarantees = next(s for s in statements if "en-tweet" in s.report_ids)
    assert guarantees.echo_count == 3
    assert guarantees.first_seen == datetime(2022, 1, 10, 18, 30, tzinfo=UTC)
    assert guarantees.first_document_id == "ru-1"
    assert guarantees.languages == ("en", "ru", "uk")
    assert guarantees.id == f"{guarantees.key}@20220110"
    again = next(s for s in statements if "en-ryabkov-month-later" in s.report_ids)
    assert again.key == guarantees.key  # same words about the same things ...
    assert again.id == f"{guarantees.key}@20220220"  # ... said again after a silence


def test_the_day_makes_a_restatement_another_statement() -> None:
    quote = "“Legal guarantees of NATO non-expansion are a must”"
    entities = {"legal-guarantees", "nato-nonenlargement"}
    monday = datetime(2022, 1, 10, 20, 0, tzinfo=UTC)
    key = statement_key(quote, speaker_id="ryabkov", entity_ids=entities)
    assert statement_key(quote, speaker_id="ryabkov", entity_ids=entities, published_at=monday) == (
        f"{key}@20220110"
    )
    later = statement_key(
        "«Юридические гарантии нерасширения НАТО обязательны»",
        speaker_id="ryabkov",
        entity_ids=entities,
        published_at=monday + timedelta(days=30),
    )
    assert later == f"{key}@20220209"


def test_a_quote_and_its_translation_share_a_key() -> None:
    english = statement_key(
        "“We would like to see the formula adopted at the Bucharest summit in 2008 withdrawn”",
        speaker_id="ryabkov",
        entity_ids={"bucharest-summit", "ukraine-georgia-membership-ban"},
    )
    russian = statement_key(
        "«Мы хотели бы, чтобы формула Бухарестского саммита 2008 года была отозвана»",
        speaker_id="Рябков",
        entity_ids=["ukraine-georgia-membership-ban", "bucharest-summit"],
    )
    assert english == russian is not None
    other_year = statement_key(
        "“the formula adopted at the Bucharest summit in 2009”",
        speaker_id="ryabkov",
        entity_ids={"bucharest-summit", "ukraine-georgia-membership-ban"},
    )
    assert other_year != english


def test_different_speakers_make_different_statements() -> None:
    entities = {"nato-nonenlargement"}
    assert statement_key("“No”", speaker_id="lavrov", entity_ids=entities) != statement_key(
        "“No”", speaker_id="sherman", entity_ids=entities
    )


def test_quote_marks_of_any_style_give_one_fingerprint() -> None:
    words = "the door to NATO remains open to all"
    styles = [f"«{words}»", f"“{words}”", f"„{words}“", f'"{words}"', f"‹{words}›", f"‘{words}’"]
    assert len({quote_fingerprint(f"He said {quoted} today.") for quoted in styles}) == 1
    assert quote_fingerprint("“too short”") is None


def test_apostrophes_are_not_quotes() -> None:
    assert quoted_spans("Russia's demands aren't new, NATO's answer isn't either") == []
    assert quoted_spans("He said 'we are ready to talk' and left") == ["we are ready to talk"]


def test_without_speaker_or_anchors_only_a_quote_identifies() -> None:
    assert statement_key("no quote and no anchors", speaker_id=None, entity_ids=()) is not None
    assert statement_key("two words", speaker_id=None, entity_ids=()) is None
    assert statement_key("“ok”", speaker_id=None, entity_ids={"nato"}) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("on January 12", ["01-12"]),
        ("12 января", ["01-12"]),
        ("12 січня 2022 року", ["01-12", "2022"]),
        ("le 13 janvier", ["01-13"]),
        ("1,000 troops and 1 000 tanks in 14 states since 1997", ["1000", "14", "1997"]),
        ("3.5 or 3,5 percent", ["3.5"]),
        ("January 12 2022", ["01-12", "2022"]),
        ("May 5, in 5 masterful moves", ["05-05", "5"]),
    ],
)
def test_numbers_and_dates_survive_translation(text: str, expected: list[str]) -> None:
    assert numbers_and_dates(text) == expected


def test_speakers_reduce_to_a_transliterated_surname() -> None:
    assert {speaker_token(s) for s in ("ryabkov", "Sergei Ryabkov", "Сергей Рябков")} == {"ryabkov"}


def test_undated_reports_join_their_key_and_naive_times_are_utc() -> None:
    base = datetime(2022, 1, 10, 12, 0)
    reports = [
        StatementReport(
            id=f"r{i}",
            document_id=f"d{i}",
            quote_text="“Legal guarantees are a must for us”",
            speaker_id="ryabkov",
            entity_ids=frozenset({"legal-guarantees"}),
            published_at=when,
        )
        for i, when in enumerate([base, None, base + timedelta(hours=1)])
    ]
    (statement,) = group_statements(reports)
    assert statement.echo_count == 3
    assert statement.first_seen == base


def _observation(doc: str, hours: float, stance: str = "opposes", **changes) -> StanceObservation:
    fields = {
        "document_id": doc,
        "party_id": "russia",
        "actor_id": "ryabkov",
        "demand_id": "nato-nonenlargement",
        "stance": Stance(stance),
        "confidence": 0.9,
        "evidence": "…",
        "evidence_start": 0,
        "published_at": datetime(2022, 1, 10, tzinfo=UTC) + timedelta(hours=hours),
        "statement_id": "ryabkov:abc",
    }
    return StanceObservation(**{**fields, **changes})


def test_echoes_count_once_but_reversals_and_later_restatements_count() -> None:
    observations = [
        _observation("mt-copy", 1, machine_translated=True),
        _observation("second", 5),
        _observation("first", 1),
        _observation("reversal", 6, stance="open"),
        _observation("weeks-later", 24 * 30),
        _observation("no-statement", 2, statement_id=None),
        _observation("other-demand", 2, demand_id="legal-guarantees"),
    ]
    kept = [o.document_id for o in collapse_echoes(observations)]
    assert kept == ["first", "no-statement", "other-demand", "reversal", "weeks-later"]
