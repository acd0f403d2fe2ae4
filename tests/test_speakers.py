"""Speaker attribution: the labelled cases (pinned floor), quotes, and body ends."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shiftwatch.analysis.extract.mentions import compile_matcher
from shiftwatch.analysis.extract.speakers import Attributor, Mode, find_quotes
from shiftwatch.analysis.text.boundaries import find_body_end, looks_like_thread
from shiftwatch.watchlist import load_watchlist

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "stance"
ATTRIBUTION_FLOOR = 0.9  # measured 1.0 (30/30) when written


@pytest.fixture(scope="module")
def tools():
    entities = load_watchlist(ROOT / "watchlists" / "russia-nato-2022.yaml").entities()
    return Attributor(entities), compile_matcher(entities)


def last_speakers(tools, text: str) -> list[str]:
    attributor, matcher = tools
    sentence = attributor.attribute(text, matcher.find("d", text))[-1]
    return [
        s.entity_id or "commentator" if s.party_id or s.entity_id else "commentator"
        for s in sentence.speakers
    ]


def test_attribution_floor(tools):
    cases = yaml.safe_load((FIXTURES / "attribution.yaml").read_text("utf-8"))["cases"]
    misses = [c["text"] for c in cases if last_speakers(tools, c["text"]) != c["speakers"]]
    accuracy = 1 - len(misses) / len(cases)
    assert accuracy >= ATTRIBUTION_FLOOR, f"{accuracy:.3f}; missed: {misses}"


def test_commentators_speak_for_no_party(tools):
    attributor, matcher = tools
    text = "Kofman said Russia wants guarantees."
    sentence = attributor.attribute(text, matcher.find("d", text))[0]
    assert sentence.commentary and sentence.speakers[0].entity_id == "kofman"


def test_quote_spanning_sentences_takes_the_closing_speaker(tools):
    attributor, matcher = tools
    text = "Ryabkov spoke. “We want guarantees. We insist on them,” he said."
    sentences = attributor.attribute(text, matcher.find("d", text))
    assert [s.speakers[0].entity_id for s in sentences[1:]] == ["ryabkov", "ryabkov"]
    assert sentences[1].mode == Mode.DIRECT


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("He said “yes” and «да».", ["yes", "да"]),
        ("„Так“, сказав він.", ["Так"]),
        ('He said "no" twice.', ["no"]),
        ("“Open “nested” close” end", ["Open “nested” close"]),
    ],
)
def test_find_quotes(text, quoted):
    assert [text[a:b] for a, b in find_quotes(text)] == quoted


def test_body_end_finds_a_comment_thread_not_a_news_tail():
    news = "\n".join(
        f"Minister Lavrov said on Monday that point {i} was settled." for i in range(6)
    )
    comments = "\n".join(
        [
            "Yes, I think you are right about this!",
            "Well said. What do we do now?",
            "I have no idea, lol. Cheers - Mike",
        ]
    )
    assert find_body_end(news) is None
    assert find_body_end(news + "\n" + comments) == len(news) + 1


def test_body_end_finds_page_chrome():
    news = "\n".join(f"Officials said Blinken met Lavrov in Geneva on day {i}." for i in range(5))
    assert find_body_end(news + "\nRead also:\nSubscribe to our newsletter") == len(news) + 1


def test_thread_detection():
    assert looks_like_thread("1/ #Russia said no.\n2/ @NATO said yes.\n3/ end")
    assert not looks_like_thread("Lavrov said the talks ended. Blinken agreed.")
