"""Watchlists: the default carries every stable id; a second one works with no code change."""

from __future__ import annotations

import pytest
from conftest import FIXTURES

from shiftwatch.analysis.analyzer import Analyzer
from shiftwatch.errors import ConfigError
from shiftwatch.watchlist import load_watchlist

DESIGN_IDS = {
    "party": {"russia", "usa", "nato", "ukraine"},
    "actor": {
        "putin",
        "lavrov",
        "ryabkov",
        "peskov",
        "grushko",
        "fomin",
        "biden",
        "blinken",
        "sherman",
        "stoltenberg",
        "zelensky",
    },
    "demand": {
        "nato-nonenlargement",
        "ukraine-georgia-membership-ban",
        "legal-guarantees",
        "strike-weapons-ban",
        "rollback-1997",
        "foreign-bases-ban",
        "arms-control-talks",
        "de-escalation",
    },
    "venue": {
        "geneva-talks",
        "nato-russia-council",
        "osce-vienna",
        "madrid-summit",
        "bucharest-summit",
    },
}
PARTIES = {
    "putin": "russia",
    "lavrov": "russia",
    "ryabkov": "russia",
    "peskov": "russia",
    "grushko": "russia",
    "fomin": "russia",
    "biden": "usa",
    "blinken": "usa",
    "sherman": "usa",
    "stoltenberg": "nato",
    "zelensky": "ukraine",
}


def test_default_watchlist_has_every_design_id(watchlist):
    ids = {kind: {e.id for k, e in watchlist.entries() if k == kind} for kind in DESIGN_IDS}
    for kind, expected in DESIGN_IDS.items():
        assert expected <= ids[kind], kind
    for actor in watchlist.actors:
        if actor.id in PARTIES:
            assert actor.party == PARTIES[actor.id]
    assert {a.id for a in watchlist.actors if a.party is None} >= {"kofman", "charap", "baklitsky"}


def test_every_entry_has_aliases_in_english_russian_and_ukrainian(watchlist):
    for _kind, entry in watchlist.entries():
        assert {"en", "ru", "uk"} <= set(entry.aliases), entry.id


def test_second_watchlist_works_unchanged():
    wl = load_watchlist(FIXTURES / "watchlists" / "eu-mercosur.yaml")
    analyzer = Analyzer(wl.entities(), wl.stop_phrases())
    text = "Macron told Brussels the deforestation clause must bind Mercosur; Lula disagreed."
    found = {(m.kind.value, m.entity_id) for m in analyzer.matcher.find("d", text)}
    assert found == {
        ("actor", "macron"),
        ("party", "eu"),
        ("demand", "deforestation-clause"),
        ("party", "mercosur"),
        ("actor", "lula"),
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name: x\nactors: [{id: a, name: A, party: nobody}]\n", "unknown party"),
        ("- just\n- a list\n", "must be a mapping"),
        ("name: x\nparties: [{id: Bad Id, name: B}]\n", "parties.0.id"),
        ("name: [unclosed\n", "not readable YAML"),
        ("name: x\nparties: [{id: a, name: A}, {id: a, name: B}]\n", "duplicate party id"),
    ],
)
def test_bad_watchlist_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "wl.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_watchlist(path)


def test_missing_watchlist_says_so(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_watchlist(tmp_path / "nope.yaml")
