"""Stance on real text: the labelled corpus stays whole and frozen, and the figures measured on
it (bench/results.md, `python bench/stance_corpus.py --split test`) do not fall back.

The floors sit a little under the figures measured when they were set: they catch a
regression, they are not the targets (issue 13 asks for precision 0.9 and recall 0.7)."""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import stance_corpus

FROZEN_TEST_SHA256 = "cc58cb22c3584d68eedabe90ac775a9d11718d6d65c9ee7a60e34b21be30d966"
# (split, precision floor, recall floor, holder floor). At 21:10Z: dev 0.82 / 0.30 / 0.97, test
# 0.52 / 0.17 / 0.89. Measured 2026-12-03 19:46Z after the
# corpus grew to 709 passages with a third negotiation scored before any tuning on it (README):
# dev 0.76 / 0.29 / 0.96, test 0.47 / 0.16 / 0.89 (the Iran talks alone: dev 0.36 / 0.12, test
# 0.30 / 0.16). Before it, on 549 passages: dev 0.84 / 0.34 / 0.98, test 0.54 / 0.16 / 0.86;
# that morning, on 384: dev 0.78 / 0.24 / 0.94, test 0.42 / 0.06 / 0.80. Floors sit about one
# passage below the figures.
FLOORS = [("dev", 0.79, 0.29, 0.95), ("test", 0.49, 0.16, 0.86)]


def _all() -> list[dict]:
    return stance_corpus.load("dev") + stance_corpus.load("test")


def test_test_split_is_the_frozen_one():
    data = (stance_corpus.CORPUS / "test.jsonl").read_bytes()
    assert hashlib.sha256(data).hexdigest() == FROZEN_TEST_SHA256


def test_corpus_is_real_varied_and_split_by_document():
    passages = _all()
    langs = Counter(p["lang"] for p in passages)
    assert len(passages) >= 300
    assert langs["en"] >= 140 and langs["ru"] >= 80 and langs["uk"] >= 50
    assert len({p["url"] for p in passages}) >= 50
    assert len({p["outlet"] for p in passages}) >= 20
    assert {p["negotiation"] for p in passages} == set(stance_corpus.WATCHLISTS)
    assert len({p["id"] for p in passages}) == len(passages)
    for split in ("dev", "test"):
        assert all(stance_corpus.split_of(p["url"]) == split for p in stance_corpus.load(split))
    empty = sum(1 for p in passages if not p["labels"])
    assert 0.15 * len(passages) <= empty <= 0.5 * len(passages)  # passages that must yield nothing


def test_every_label_names_watchlist_ids():
    from shiftwatch.watchlist import load_watchlist

    for negotiation, path in stance_corpus.WATCHLISTS.items():
        wl = load_watchlist(path)
        parties = {p.id for p in wl.parties}
        demands = {d.id for d in wl.demands}
        for p in (p for p in _all() if p["negotiation"] == negotiation):
            for label in p["labels"]:
                assert label["holder"] in parties, (p["id"], label)
                assert label["demand"] in demands, (p["id"], label)
                assert label["stance"] in ("supports", "opposes", "open"), (p["id"], label)
                json.dumps(label)


@pytest.mark.parametrize(("split", "precision", "recall", "holder"), FLOORS)
def test_stance_floors_on_real_text(split, precision, recall, holder):
    report = stance_corpus.evaluate(stance_corpus.load(split))
    total = report.total
    assert total.precision >= precision, "\n".join(stance_corpus.table(report))
    assert total.recall >= recall, "\n".join(stance_corpus.table(report))
    assert report.holder_accuracy >= holder, "\n".join(stance_corpus.table(report))


@pytest.mark.slow
@pytest.mark.prefect
def test_grain_deal_replay_confirms_the_real_changes():
    """The whole monitor over the grain-deal passages (dev and test), in date order, scored by
    the labels (`negotiation_replay.score`: a confirmed change is right when the labels record
    the same pair taking the same new stance within 14 days). Confirmed: Russia resuming its
    participation on 2 November 2022 (its suspension of 29-31 October is its first position
    read here: the passages of July 2022 that record its support yield no reading), its
    foreign ministry's «оснований для продления ... нет» of 5 July 2023, and its offer to
    return on terms (2 August 2023). One confirmed change the labels do not record, pinned as
    a ceiling: Russia `open` from 8 June 2023 (the labels of 24 May and 8 June do record it,
    3 weeks after the labelled change of 18 May). A `supports` reading of 14 July 2023 is a
    reversal read in one unit: held as possible (replay rule 6), not alerted."""
    import negotiation_replay

    reported = negotiation_replay.replay("black-sea-grain")
    confirmed = {
        (s["party_id"], s["demand_id"], s["from_stance"], s["to_stance"], (s["at"] or "")[:10])
        for s in reported
        if s["confirmed"]
    }
    assert {
        ("russia", "grain-deal-continuation", "opposes", "supports", "2022-11-02"),
        ("russia", "grain-deal-continuation", "open", "opposes", "2023-07-05"),
        ("russia", "grain-deal-continuation", "opposes", "open", "2023-08-02"),
    } <= confirmed, sorted(confirmed)
    right, total, _ = negotiation_replay.score(
        reported, negotiation_replay.labelled_changes("black-sea-grain")
    )
    assert total - right <= 1, sorted(confirmed)
