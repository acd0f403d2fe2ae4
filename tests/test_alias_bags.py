"""Demands named in other words than the watchlist's aliases (analysis/extract/alias_bags.py).

A watchlist written by someone else lists a few wordings per demand; these tests give it two
("NATO enlargement", «расширение НАТО») and check the wordings reporters use. The sentences
are taken from the real corpus (tests/corpus/stance/dev.jsonl) or cut from its passages. The
figure on real text: `python bench/stance_corpus.py --split dev --aliases 2` (demands cut to
their first two aliases) finds 44 stances instead of 34 without this matcher, at the same
precision (0.83); tests/test_stance_corpus.py pins the full-watchlist floors.
"""

from __future__ import annotations

import pytest
from test_stance import doc

from shiftwatch.analysis.extract.mentions import compile_matcher
from shiftwatch.analysis.extract.stance import find_stances
from shiftwatch.records import DemandTerms, Entity, EntityKind, Stance

NATO = Entity(
    kind=EntityKind.PARTY,
    id="nato",
    name="NATO",
    aliases={"en": ("NATO", "Alliance"), "ru": ("НАТО", "альянс", "альянса")},
)
RUSSIA = Entity(
    kind=EntityKind.PARTY,
    id="russia",
    name="Russia",
    aliases={"en": ("Russia",), "ru": ("Россия",)},
)
ENLARGEMENT = Entity(
    kind=EntityKind.DEMAND,
    id="nato-nonenlargement",
    name="NATO non-enlargement",
    aliases={"en": ("NATO enlargement", "member of NATO"), "ru": ("расширение НАТО",)},
)
ENTITIES = [NATO, RUSSIA, ENLARGEMENT]
TERMS = {
    "nato-nonenlargement": DemandTerms(
        forbids=("enlarg*", "member", "расширени*", "расширя*"), opposite=(), neutral=(), cues=()
    )
}
MATCHER = compile_matcher(ENTITIES)


def _demands(text: str, lang: str) -> list[tuple[str, str]]:
    return [
        (m.text, m.wording) for m in MATCHER.find("d", text, lang) if m.kind == EntityKind.DEMAND
    ]


@pytest.mark.parametrize(
    ("text", "lang", "named"),
    [
        ("Moscow wants an end to the enlargement of NATO.", "en", "enlargement of NATO"),
        (
            "It opposes the further enlargement of the Alliance.",
            "en",
            "enlargement of the Alliance",
        ),
        ("Russia needs guarantees that NATO will not enlarge.", "en", "NATO will not enlarge"),
        (
            "Российской Федерации необходимы юридические гарантии, что НАТО не будет расширяться "
            "на восток, заявил президент России Владимир Путин",
            "ru",
            "НАТО не будет расширяться",
        ),
        ("Москва против дальнейшего расширения альянса.", "ru", "расширения альянса"),
    ],
)
def test_a_demand_named_in_other_words_is_found(text: str, lang: str, named: str) -> None:
    assert [t for t, _ in _demands(text, lang)] == [named]


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        # a compound: "NATO member states" names states, not membership
        ("measures to ensure the security of Russia and NATO member states", "en"),
        # a conjunction or another verb between the words joins two things
        ("NATO and Russia discussed the enlargement of trade.", "en"),
        ("NATO condemned the enlargement of Russian forces.", "en"),
        # a comma ends the words of one name
        ("For NATO, enlargement is a decision of its members.", "en"),
    ],
)
def test_words_of_an_alias_apart_do_not_name_it(text: str, lang: str) -> None:
    assert _demands(text, lang) == []


def test_an_exact_alias_wins_over_other_words() -> None:
    assert _demands("Russia opposes NATO enlargement.", "en") == [("NATO enlargement", "")]


def test_a_demand_in_other_words_leans_as_its_alias() -> None:
    """ "will not enlarge" is negated inside the words: Russia's demand for it supports
    non-enlargement; "opposes the enlargement of the Alliance" does too."""
    for text in (
        "Russia demands guarantees that NATO will not enlarge.",
        "Russia opposes the enlargement of the Alliance.",
    ):
        document = doc(text, language="en")
        found = find_stances(document, MATCHER.find("d", text, "en"), ENTITIES, demand_terms=TERMS)
        assert {(o.party_id, o.stance) for o in found} == {("russia", Stance.SUPPORTS)}, text
