"""The lexicon's per-text word split and per-form candidates give what a plain scan gives."""

from __future__ import annotations

import random

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
