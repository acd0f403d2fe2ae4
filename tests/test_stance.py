"""Stance: the labelled mini-corpus (pinned floors), rules, and the seed acceptance."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from shiftwatch.analysis.extract.mentions import compile_matcher
from shiftwatch.analysis.extract.stance import find_stances
from shiftwatch.analysis.positions.replay import current_positions
from shiftwatch.analysis.positions.shifts import detect_shifts
from shiftwatch.analysis.text.boundaries import find_body_end
from shiftwatch.analysis.text.normalize import normalize_text
from shiftwatch.records import Document, Stance
from shiftwatch.watchlist import load_watchlist

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "stance"
# Pinned floors: measured 0.952 / 0.933 / 0.933 when written. Lowering one needs a reason.
STANCE_FLOORS = {"en": 0.93, "ru": 0.9, "uk": 0.9}
# Seed dates (data/seeds): 004 ~ Jan 8, 001 Jan 8/9, 000 Jan 10, 003 Jan 11 (MT), 002 Jan 27.
SEEDS = {
    "004": (2022, 1, 8),
    "001": (2022, 1, 9),
    "000": (2022, 1, 10),
    "003": (2022, 1, 11),
    "002": (2022, 1, 27),
}


@pytest.fixture(scope="module")
def watch():
    watchlist = load_watchlist(ROOT / "watchlists" / "russia-nato-2022.yaml")
    entities = watchlist.entities()
    return entities, watchlist.demand_terms(), compile_matcher(entities)


def doc(text: str, ident: str = "d", **kw) -> Document:
    return Document(
        id=ident,
        source_id="test",
        url=f"file:///{ident}",
        canonical_url=ident,
        title="",
        text=text,
        content_hash=ident,
        fetched_at=datetime.now(UTC),
        **kw,
    )


def stances(watch, document: Document) -> set[str]:
    entities, terms, matcher = watch
    found = find_stances(
        document, matcher.find(document.id, document.text), entities, demand_terms=terms
    )
    return {f"{o.party_id}:{o.demand_id}:{o.stance.value}" for o in found}


@pytest.mark.parametrize("lang", sorted(STANCE_FLOORS))
def test_stance_accuracy_floor(watch, lang):
    cases = yaml.safe_load((FIXTURES / f"corpus.{lang}.yaml").read_text("utf-8"))["cases"]
    assert len(cases) >= 60
    misses = [c["text"] for c in cases if stances(watch, doc(c["text"])) != set(c["expect"])]
    accuracy = 1 - len(misses) / len(cases)
    assert accuracy >= STANCE_FLOORS[lang], f"{lang}: {accuracy:.3f}; missed: {misses}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Sherman said Washington will not allow anyone to close the door to NATO.",
            {"usa:nato-nonenlargement:opposes"},
        ),
        (
            "Ryabkov said Russia categorically objects to NATO expansion.",
            {"russia:nato-nonenlargement:supports"},
        ),
        (
            "Lavrov said the answer allows us to count on a serious talk on secondary issues.",
            {"russia:arms-control-talks:open"},
        ),
        (
            "Lavrov said the US response contained no positive reaction"
            " to the issue of NATO expansion.",
            {"usa:nato-nonenlargement:opposes"},
        ),
        (
            "Blinken said the open door policy would not change.",
            {"usa:nato-nonenlargement:opposes"},
        ),
        ("NATO expansion was discussed in Geneva.", set()),
    ],
)
def test_issue_examples(watch, text, expected):
    assert stances(watch, doc(text)) == expected


def test_machine_translated_evidence_is_marked_and_weighs_less(watch):
    entities, terms, matcher = watch
    text = "Ryabkov said Russia categorically objects to NATO expansion."
    plain = find_stances(doc(text), matcher.find("d", text), entities, demand_terms=terms)
    mt = find_stances(
        doc(text, mt_score=0.9), matcher.find("d", text), entities, demand_terms=terms
    )
    assert [o.machine_translated for o in mt] == [True]
    assert mt[0].confidence < plain[0].confidence


def test_direct_quote_outweighs_narration(watch):
    entities, terms, matcher = watch
    quoted = "“We insist on legally binding guarantees,” Lavrov said."
    narrated = "Moscow wants legally binding guarantees."
    q = find_stances(doc(quoted), matcher.find("d", quoted), entities, demand_terms=terms)[0]
    n = find_stances(doc(narrated), matcher.find("d", narrated), entities, demand_terms=terms)[0]
    assert not q.reported and n.reported
    assert q.confidence > n.confidence


def test_nothing_from_past_the_body_end(watch):
    text = (
        "Lavrov said the talks ended.\nRyabkov said Russia categorically objects to NATO expansion."
    )
    assert stances(watch, doc(text, body_end=text.index("Ryabkov"))) == set()


def _seed_documents() -> list[Document]:
    out = []
    for path in sorted((ROOT / "data" / "seeds").glob("*.txt")):
        key = path.name[:3]
        out.append(
            doc(
                normalize_text(path.read_text("utf-8")),
                ident=key,
                published_at=datetime(*SEEDS[key], 12, tzinfo=UTC),
                mt_score=0.9 if key == "003" else 0.0,
            )
        )
    return sorted(out, key=lambda d: d.published_at)


def test_seed_acceptance(watch):
    entities, terms, matcher = watch
    history, shifts, by_doc = [], [], {}
    for document in _seed_documents():
        new = find_stances(
            document, matcher.find(document.id, document.text), entities, demand_terms=terms
        )
        by_doc[document.id] = new
        pairs = {(o.party_id, o.demand_id) for o in new}
        shifts += detect_shifts(
            [o for o in history if (o.party_id, o.demand_id) in pairs], new, shifts
        )
        history += new
    positions = {(p.party_id, p.demand_id): p.stance for p in current_positions(history)}
    assert positions[("russia", "nato-nonenlargement")] == Stance.SUPPORTS
    assert positions[("russia", "legal-guarantees")] == Stance.SUPPORTS
    assert positions[("russia", "ukraine-georgia-membership-ban")] == Stance.SUPPORTS
    assert positions[("usa", "nato-nonenlargement")] == Stance.OPPOSES
    assert positions[("russia", "arms-control-talks")] == Stance.OPEN
    confirmed = [
        (s.party_id, s.demand_id, s.from_stance, s.to_stance) for s in shifts if s.confirmed
    ]
    assert confirmed == [("russia", "arms-control-talks", Stance.OPPOSES, Stance.OPEN)]
    lavrov = next(s for s in shifts if s.confirmed)
    assert "002" in lavrov.evidence_document_ids and not lavrov.retroactive
    thread_start = next(d for d in _seed_documents() if d.id == "002").text.index("They’re already")
    assert all(o.evidence_start < thread_start for o in by_doc["002"])


def test_seed_002_comment_thread_is_cut(watch):
    text = next(d for d in _seed_documents() if d.id == "002").text
    assert find_body_end(text) == text.index("They’re already responding.")
