"""The statement's own day ("said on Tuesday" in an article of Thursday), from data files."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import yaml
from conftest import FIXTURES

from shiftwatch.analysis.text.dates import MAX_STATEMENT_AGE, statement_date
from shiftwatch.records import DateSource, Document

CASES = yaml.safe_load((FIXTURES / "statement_dates" / "cases.yaml").read_text("utf-8"))


def _when(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@pytest.mark.parametrize("case", CASES, ids=[c["sentence"][:40] for c in CASES])
def test_the_statement_day_is_read_from_its_sentence(case):
    said = statement_date(case["sentence"], _when(case["published"]))
    expected = case["said"]
    if expected is None:
        assert said is None
    else:
        assert said is not None and said.date() == (
            expected if isinstance(expected, date) else date.fromisoformat(str(expected))
        )


def test_a_statement_day_is_never_after_its_article_nor_too_old():
    published = datetime(2022, 1, 13, 9, tzinfo=UTC)
    for case in CASES:
        said = statement_date(case["sentence"], published)
        if said is not None:
            assert published - MAX_STATEMENT_AGE <= said < published


def _thursday(date_source: DateSource) -> Document:
    text = (
        "GENEVA — Talks went on.\n\nDeputy Foreign Minister Sergei Ryabkov said on Tuesday "
        "that Russia rejects any further NATO expansion."
    )
    return Document(
        id="d-thursday",
        source_id="s",
        url="file:///thursday",
        canonical_url="file:///thursday",
        title="Thursday's article",
        text=text,
        content_hash="h",
        fetched_at=datetime(2022, 1, 13, 10, tzinfo=UTC),
        published_at=datetime(2022, 1, 13, 9, tzinfo=UTC),
        date_source=date_source,
    )


def test_the_analyzer_carries_the_statement_day_on_the_observation(analyzer):
    stances = analyzer.analyze(_thursday(DateSource.FRONT_MATTER)).stances
    assert stances, "the stance finder found Ryabkov's stance"
    assert {s.said_at.date() for s in stances if s.said_at} == {date(2022, 1, 11)}


def test_a_fetch_time_standing_in_for_a_date_dates_no_statement(analyzer):
    stances = analyzer.analyze(_thursday(DateSource.FETCHED)).stances
    assert stances and all(s.said_at is None for s in stances)
