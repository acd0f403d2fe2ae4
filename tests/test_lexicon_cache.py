"""The lexicon's word split, per-form candidates and unions find what a plain scan finds."""

from __future__ import annotations

import random

from shiftwatch.analysis.extract import lexicon
from shiftwatch.analysis.extract.lexicon import _WORD, PhraseSet, fold_text

TEXT = fold_text(
    "Ryabkov said NATO’s eastward expansion must stop. «Мы настаиваем на гарантиях», — заявил "
    "Рябков. The door stays open, Stoltenberg insisted; ready to discuss arms-control talks."
)


def test_words_a_range_is_scanned_at_are_those_a_plain_scan_of_it_finds() -> None:
    phrases = PhraseSet([("insist*", "insist"), ("ready ... to discuss", "ready"), ("s*", "s")])
    rng = random.Random(0)
    for _ in range(500):
        start = rng.randrange(len(TEXT) + 1)
        stop = rng.randrange(start, len(TEXT) + 1)
        words = [(m.start(), m.group().lower()) for m in _WORD.finditer(TEXT, start, stop)]
        expected = [(at, form) for at, form in words if phrases._candidates(form)[1]]
        assert list(phrases._starting_words(TEXT, start, stop)) == expected


def test_cached_candidates_find_the_same_hits_on_a_second_scan() -> None:
    phrases = PhraseSet(
        [
            ("insist*", "insist"),
            ("ready ... to discuss", "ready"),
            ("настаива*", "ru"),
            ("the door stays open", "door"),
        ]
    )
    first = [(h.start, h.end, h.value) for h in phrases.finditer(TEXT)]
    assert {v for _, _, v in first} == {"insist", "ready", "ru", "door"}
    assert [(h.start, h.end, h.value) for h in phrases.finditer(TEXT)] == first
    middle = len(TEXT) // 2
    assert [(h.start, h.end, h.value) for h in phrases.finditer(TEXT, middle)] == [
        hit for hit in first if hit[0] >= middle
    ]


ROLE_TEXT = fold_text(
    "The deputy foreign minister said the US side and the minister's spokesman met; "
    "the new NATO secretary general, the secretary and the the analysts. The door stays open."
)
ROLES = [
    f"{d} ... {noun}"
    for d in ("the", "a", "this")
    for noun in (
        "minister",
        "ministers",
        "spokesman",
        "secretary",
        "secretary general",
        "side",
        "analysts",
        "official",
        "envoy",
        "door",
    )
]


def test_union_and_blocks_find_what_trying_every_phrase_finds(monkeypatch) -> None:
    united = PhraseSet([(p, p) for p in [*ROLES, "the door stays open", "said"]])
    monkeypatch.setattr(lexicon, "ANY_OF_MIN", 10**9)  # no unions: every phrase tried alone
    monkeypatch.setattr(lexicon, "ANY_OF_BLOCK", 10**9)
    plain = PhraseSet([(p, p) for p in [*ROLES, "the door stays open", "said"]])
    rng = random.Random(1)
    for _ in range(300):
        start = rng.randrange(len(ROLE_TEXT) + 1)
        stop = rng.randrange(start, len(ROLE_TEXT) + 1)
        got = [(h.start, h.end, h.value) for h in united.finditer(ROLE_TEXT, start, stop)]
        assert got == [(h.start, h.end, h.value) for h in plain.finditer(ROLE_TEXT, start, stop)]
    assert any(True for _ in united.finditer(ROLE_TEXT))
