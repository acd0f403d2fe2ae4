"""Properties of the text core over random input: normalization, sentences, mentions, stance.

Hypothesis writes the text: arbitrary Unicode, and "newsy" text assembled from the
watchlist's own aliases, stance cue words, quotes, dashes, newlines and control characters,
so the matchers and the stance rules are exercised rather than skipped. Whatever comes in,
nothing raises, every offset points into the text it describes, and the work per input is
bounded (each test runs under a generous pytest timeout; nothing asserts a duration).
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_support import record

from shiftwatch.analysis.text.documents import build_document
from shiftwatch.analysis.text.normalize import normalize_text, split_paragraphs, split_sentences
from shiftwatch.records import Document, RawItem, Rejected

NOW = datetime(2022, 1, 10, 12, tzinfo=UTC)
EXAMPLES = 120
# Generous: one example normally takes milliseconds; a minute means a runaway loop.
PROPERTY_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
TRIED: dict[str, int] = {}  # examples each property ran, recorded when the module ends
_LEFTOVER_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\r\u200b-\u200d\u2060\ufeff]")

# Words that make the analysis do real work: cue words of the English, Russian and Ukrainian
# stance lexicons, negations, hedges, quote marks, clause breaks and speech verbs.
CUE_WORDS = [
    "rejects",
    "insists on",
    "demands",
    "is ready to discuss",
    "refuses",
    "rules out",
    "will not",
    "never",
    "not only",
    "may",
    "said",
    "told reporters",
    "but",
    ";",
    "—",
    "-",
    "«",
    "»",
    "“",
    "”",
    '"',
    "'",
    "(",
    ")",
    ".",
    "!",
    "?",
    "…",
    ",",
    ":",
    "настаивает на",
    "отвергает",
    "готова обсуждать",
    "не",
    "заявил",
    "сказал",
    "але",
    "відкидає",
    "наполягає",
    "the door stays open",
    "open door",
    "talks on",
    "the issue of",
]
FILLER = [
    "the",
    "alliance",
    "on",
    "Monday",
    "in",
    "and",
    "we",
    "they",
    "he",
    "she",
    "it",
    "US",
    "us",
    "Mr.",
    "Jan.",
    "U.S.",
    "1997",
    "2008",
    "#NATO",
    "@user",
    "1/",
    "2/",
]
SEPARATORS = [" ", " ", " ", "  ", "\n", "\n\n", "\t", "\u00a0", "\r\n", "\x00", "\u200b"]


@pytest.fixture(scope="module", autouse=True)
def _count_examples():
    """Record how many random inputs the properties tried (for docs/reliability.md)."""
    yield
    record("properties", inputs=sum(TRIED.values()), crashes=0)


def tried(name: str) -> None:
    """Count one example of property `name`."""
    TRIED[name] = TRIED.get(name, 0) + 1


@pytest.fixture(scope="module")
def vocabulary(watchlist) -> list[str]:
    """Return the watchlist's aliases (every kind, every language) plus cue and filler words."""
    aliases = {
        alias.rstrip("*")
        for entity in watchlist.entities()
        for forms in (*entity.aliases.values(), *entity.opposite.values(), (entity.name,))
        for alias in forms
    }
    return sorted(aliases) + CUE_WORDS + FILLER


def newsy_text(vocabulary: list[str]) -> st.SearchStrategy[str]:
    """Return a strategy for text built from watchlist words, cues and odd separators."""
    word = st.one_of(
        st.sampled_from(vocabulary),
        st.text(max_size=6),
        st.sampled_from(vocabulary).map(str.upper),
        st.sampled_from(vocabulary).map(str.lower),
    )
    pieces = st.lists(st.tuples(word, st.sampled_from(SEPARATORS)), max_size=80)
    return pieces.map(lambda parts: "".join(w + s for w, s in parts))


def any_text(vocabulary: list[str]) -> st.SearchStrategy[str]:
    """Return arbitrary Unicode or newsy text."""
    return st.one_of(st.text(max_size=400), newsy_text(vocabulary))


def document(text: str, **changes: object) -> Document:
    """Return a normalized document record holding `text`."""
    fields: dict[str, object] = {
        "id": "dprop", "source_id": "prop", "url": "https://e.example/p",
        "canonical_url": "https://e.example/p", "title": "t", "text": text,
        "content_hash": "h", "fetched_at": NOW, "published_at": NOW,
    }  # fmt: skip
    fields.update(changes)
    return Document(**fields)  # type: ignore[arg-type]


def check_spans(text: str, spans: list[tuple[int, int]]) -> None:
    """Assert spans are in bounds, non-empty, ordered and disjoint."""
    previous = 0
    for start, end in spans:
        assert previous <= start < end <= len(text), (start, end, len(text))
        previous = end


@PROPERTY_SETTINGS
@given(data=st.data())
def test_normalization_never_raises_and_leaves_tidy_text(vocabulary, data) -> None:
    tried("normalize")
    text = data.draw(any_text(vocabulary))
    out = normalize_text(text)
    assert not _LEFTOVER_CONTROL.search(out)
    assert "\n\n\n" not in out and out == out.strip()
    assert all(line == line.strip() for line in out.split("\n"))
    assert normalize_text(out, repair=False) == out  # tidy text is a fixed point


@PROPERTY_SETTINGS
@given(data=st.data())
def test_sentences_and_paragraphs_are_valid_spans_covering_the_text(vocabulary, data) -> None:
    tried("sentences")
    text = normalize_text(data.draw(any_text(vocabulary)))
    paragraphs = split_paragraphs(text)
    sentences = split_sentences(text)
    check_spans(text, paragraphs)
    check_spans(text, sentences)
    assert all("\n" not in text[s:e] for s, e in sentences)
    covered = {i for s, e in sentences for i in range(s, e)}
    assert all(i in covered for i, c in enumerate(text) if not c.isspace())


@PROPERTY_SETTINGS
@given(data=st.data())
def test_mentions_point_at_their_own_text(analyzer, vocabulary, data) -> None:
    tried("mentions")
    text = normalize_text(data.draw(any_text(vocabulary)))
    mentions = analyzer.matcher.find("dprop", text)
    spans = []
    for m in mentions:
        assert 0 <= m.start < m.end <= len(text)
        assert text[m.start : m.end] == m.text
        spans.append((m.start, m.end))
    assert spans == sorted(spans)
    distinct = sorted(set(spans))
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(distinct))


@PROPERTY_SETTINGS
@given(data=st.data(), mt=st.booleans(), kind=st.sampled_from([None, "tweet-thread"]))
def test_stances_quote_the_text_and_name_tracked_parties(analyzer, vocabulary, data, mt, kind):
    tried("stance")
    text = normalize_text(data.draw(newsy_text(vocabulary)))
    if not text:
        return
    analysis = analyzer.analyze(document(text, kind=kind, mt_score=0.9 if mt else 0.0))
    parties = {e.id for e in analyzer.entities if e.kind == "party"}
    demands = {e.id for e in analyzer.entities if e.kind == "demand"}
    for obs in analysis.stances:
        assert 0 <= obs.evidence_start < len(text)
        assert obs.evidence and text[obs.evidence_start :].lstrip().startswith(obs.evidence)
        assert obs.party_id in parties and obs.demand_id in demands, obs
        assert 0.0 < obs.confidence <= 1.0
    for seg in analysis.document.segments:
        assert 0 <= seg.start <= seg.end <= len(text)
    end = analysis.document.body_end
    assert end is None or 0 <= end <= len(text)


@PROPERTY_SETTINGS
@given(
    body=st.one_of(st.binary(max_size=600), st.text(max_size=300).map(str.encode)),
    content_type=st.sampled_from(
        ["text/plain", "text/markdown", "text/html", "text/plain; charset=koi8-r", "text/html;x"]
    ),
    feed=st.booleans(),
)
def test_any_bytes_become_a_document_or_a_reasoned_rejection(body, content_type, feed) -> None:
    tried("documents")
    meta = {"feed_url": "https://e.example/f"} if feed else {}
    raw = RawItem(source_id="prop", url="https://e.example/p", body=body, fetched_at=NOW,
                  content_type=content_type, meta=meta)  # fmt: skip
    built = build_document(raw)
    if isinstance(built, Rejected):
        assert built.reason and built.detail
    else:
        assert built.text and built.text == normalize_text(built.text, repair=False)


# Sizes a real document can reach (the files connector reads up to 5 MB). Dense stance
# sentences stay at 3,000: attribution is quadratic in sentences x mentions today
# (docs/reliability.md, "open findings"), 10,000 of them take tens of seconds.
ADVERSARIAL = {
    "one 2 MB word": "N" * 2_000_000,
    "20k repeated aliases": "NATO expansion " * 20_000,
    "3k stance sentences": "Russia rejects NATO expansion. " * 3_000,
    "unclosed quotes": "«" * 100_000 + "Ryabkov said Russia insists on legal guarantees",
    "nested brackets": "(" * 100_000 + "Moscow demands guarantees" + ")" * 100_000,
    "100k blank lines": "\n" * 100_000 + "Lavrov rejects the open door",
    "abbreviation storm": "Mr. U.S. Jan. " * 50_000,
    "every dash": "NATO" + "-‐‑‒–—―" * 50_000 + "Russia Council",
}


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_adversarial_text_finishes(analyzer) -> None:
    """Huge or pathological text goes through normalization and analysis, linear-ish."""
    for name, text in ADVERSARIAL.items():
        clean = normalize_text(text)
        analysis = analyzer.analyze(document(clean))
        for m in analysis.mentions:
            assert clean[m.start : m.end] == m.text, name
    record("properties", inputs=len(ADVERSARIAL), crashes=0)
