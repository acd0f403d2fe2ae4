"""Exact and near-duplicate clusters: the seeds and their perturbed copies, persistence, rules.

tests/fixtures/dedupe/cases.yaml names each perturbed copy and the seed it copies; every copy
must cluster with its original and nothing else, and distinct seeds never merge.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
import yaml

from shiftwatch.analysis.dedupe.clustering import (
    CanonicalChange,
    DedupeItem,
    DedupePlan,
    DuplicateIndex,
    MatchKind,
    assign_clusters,
    canonical_rank,
    compare_shingles,
    content_hash,
    dedupe_item,
    minhash_of_shingles,
    normalize_for_hash,
    shingle_set,
    signature_from_bytes,
    signature_of,
    signature_of_shingles,
    signature_to_bytes,
)
from shiftwatch.records import Document

FIXTURES = Path(__file__).parent / "fixtures" / "dedupe"
MANIFEST = yaml.safe_load((FIXTURES / "cases.yaml").read_text(encoding="utf-8"))
SEEDS = (FIXTURES / MANIFEST["seeds_dir"]).resolve()
BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_dedupe.py"
T0 = datetime(2022, 1, 10, tzinfo=UTC)
# Floors pinned on the fixture cases and on a planted synthetic corpus; lowering one needs a
# reason in the commit. Measured: 1.0 / 1.0 on the fixtures; on 1,500 synthetic documents
# precision 1.0 and recall 0.88 (all of the miss is the deliberately borderline "heavy" edit).
FIXTURE_PRECISION_FLOOR = 1.0
FIXTURE_RECALL_FLOOR = 1.0
SYNTHETIC_PRECISION_FLOOR = 0.99
SYNTHETIC_RECALL_FLOOR = 0.85
SYNTHETIC_RECALL_FLOOR_PER_KIND = {
    "footer": 0.99,
    "drop_first": 0.99,
    "typography": 0.99,
    "rewrap": 0.99,
    "combined": 0.99,
    "edited": 0.95,
    "truncated": 0.95,
}


def _text(name: str) -> str:
    path = FIXTURES / name if (FIXTURES / name).exists() else SEEDS / name
    return path.read_text(encoding="utf-8")


def _corpus() -> tuple[list[DedupeItem], dict[str, str]]:
    """Return the seeds and every fixture as items, and each one's expected family (root id)."""
    family = {path.name: path.name for path in sorted(SEEDS.glob("*.txt"))}
    for case in MANIFEST["cases"]:
        family[case["file"]] = case["of"] or case["file"]
    for name, of in list(family.items()):
        while family[of] != of:  # a copy of a copy belongs to the root
            of = family[of]
        family[name] = of
    items = [
        DedupeItem(id=name, text=_text(name), published_at=T0 + timedelta(hours=i))
        for i, name in enumerate(family)
    ]
    return items, family


def _store_loader(store: dict[str, DedupeItem]):
    return lambda ids: {i: store[i] for i in ids if i in store}


def _apply(plan: DedupePlan, index: DuplicateIndex, store: dict[str, DedupeItem], items) -> None:
    """Persist a plan the way the flow does: documents, signatures, moved canonicals."""
    by_id = {item.id: item for item in items}
    for decision in plan.decisions:
        if decision.match is MatchKind.KNOWN:
            continue
        store[decision.document_id] = replace(
            by_id[decision.document_id],
            cluster_id=decision.cluster_id,
            duplicate_of=decision.duplicate_of,
        )
        blob = signature_to_bytes(decision.signature)
        index.add(decision.document_id, signature_from_bytes(blob))
    for change in plan.canonical_changes:
        for doc_id, stored in store.items():
            if stored.cluster_id == change.cluster_id:
                canonical = None if doc_id == change.canonical_id else change.canonical_id
                store[doc_id] = replace(stored, duplicate_of=canonical)


def _pair_quality(cluster_of: dict[str, str], family: dict[str, str]) -> tuple[float, float]:
    """Return (precision, recall) over all pairs of documents: same cluster vs same family."""
    predicted = {p for p in combinations(sorted(family), 2) if cluster_of[p[0]] == cluster_of[p[1]]}
    actual = {p for p in combinations(sorted(family), 2) if family[p[0]] == family[p[1]]}
    precision = len(predicted & actual) / len(predicted) if predicted else 1.0
    recall = len(predicted & actual) / len(actual) if actual else 1.0
    return precision, recall


def test_fixture_copies_cluster_with_their_originals_in_one_batch() -> None:
    items, family = _corpus()
    plan = assign_clusters(items, DuplicateIndex(), lambda ids: {})
    cluster_of = {d.document_id: d.cluster_id for d in plan.decisions}
    assert set(cluster_of) == set(family)
    precision, recall = _pair_quality(cluster_of, family)
    assert precision >= FIXTURE_PRECISION_FLOOR
    assert recall >= FIXTURE_RECALL_FLOOR
    roots = sorted(set(family.values()))
    assert len({cluster_of[root] for root in roots}) == len(roots)  # distinct seeds never merge


def test_fixture_copies_cluster_across_runs_and_a_rerun_adds_nothing() -> None:
    items, family = _corpus()
    originals = [item for item in items if family[item.id] == item.id]
    copies = [item for item in items if family[item.id] != item.id]
    index, store = DuplicateIndex(merge_every=3), {}
    _apply(assign_clusters(originals, index, _store_loader(store)), index, store, originals)
    for copy in copies:  # one document a run, the index rebuilt from bytes each time
        index = DuplicateIndex.from_rows(
            (doc_id, signature_to_bytes(signature_of(item.text))) for doc_id, item in store.items()
        )
        _apply(assign_clusters([copy], index, _store_loader(store)), index, store, [copy])
    cluster_of = {doc_id: item.cluster_id for doc_id, item in store.items()}
    assert _pair_quality(cluster_of, family) == (1.0, 1.0)
    rerun = assign_clusters(items, index, _store_loader(store))
    assert {d.match for d in rerun.decisions} == {MatchKind.KNOWN}
    assert rerun.canonical_changes == ()
    assert all(d.cluster_id == store[d.document_id].cluster_id for d in rerun.decisions)
    assert all(d.duplicate_of == store[d.document_id].duplicate_of for d in rerun.decisions)


@pytest.mark.parametrize("case", MANIFEST["cases"], ids=lambda case: case["file"])
def test_each_copy_matches_its_original(case: dict) -> None:
    if case["of"] is None:
        return
    original, copy = _text(case["of"]), _text(case["file"])
    if case["perturbation"] in ("typography", "rewrap"):
        assert content_hash(copy) == content_hash(original)
    jaccard, containment = compare_shingles(shingle_set(original), shingle_set(copy))
    assert jaccard >= 0.8 or containment >= 0.9, (jaccard, containment)


def test_exact_copies_are_found_by_hash() -> None:
    original = _text("001_d97a2751ecc2e389.txt")
    plan = assign_clusters(
        [
            DedupeItem(id="a", text=original, published_at=T0),
            DedupeItem(id="b", text=_text("001_typography.txt"), published_at=T0 + timedelta(1)),
            DedupeItem(id="c", text=_text("001_rewrap.txt"), published_at=T0 + timedelta(2)),
        ],
        DuplicateIndex(),
        lambda ids: {},
    )
    kinds = {d.document_id: (d.match, d.duplicate_of) for d in plan.decisions}
    assert kinds == {
        "a": (MatchKind.UNIQUE, None),
        "b": (MatchKind.EXACT, "a"),
        "c": (MatchKind.EXACT, "a"),
    }


def test_normalization_folds_typography_case_and_wrapping() -> None:
    a = "Ryabkov: “Legal guarantees — of NATO non-expansion” aren’t   negotiable…\nЁлка"
    b = "ryabkov: «legal guarantees - of nato non-\nexpansion» aren't negotiable...  елка"
    assert normalize_for_hash(a) == normalize_for_hash(b)
    assert content_hash(a) == content_hash(b)
    assert content_hash(a) != content_hash(a.replace("NATO", "OSCE"))


def test_short_texts_match_only_exactly() -> None:
    plan = assign_clusters(
        [
            DedupeItem(id="a", text="Russia rejects the NATO proposal", published_at=T0),
            DedupeItem(id="b", text="Russia rejects the US proposal", published_at=T0),
            DedupeItem(id="c", text="RUSSIA  rejects the\nNATO proposal", published_at=T0),
        ],
        DuplicateIndex(),
        lambda ids: {},
    )
    clusters = {d.document_id: d.cluster_id for d in plan.decisions}
    assert clusters["a"] == clusters["c"] != clusters["b"]


def test_a_brief_inside_a_long_roundup_is_not_a_copy() -> None:
    brief = _text("001_d97a2751ecc2e389.txt")
    roundup = "\n".join(_text(name) for name in sorted(p.name for p in SEEDS.glob("*.txt")))
    plan = assign_clusters(
        [DedupeItem(id="brief", text=brief), DedupeItem(id="roundup", text=roundup)],
        DuplicateIndex(),
        lambda ids: {},
    )
    assert len({d.cluster_id for d in plan.decisions}) == 2


def test_canonical_rule_prefers_originals_then_earliest_then_dated() -> None:
    text = _text("004_6c2bacb0460c0eda.txt")
    items = [
        DedupeItem(id="mt-early", text=text, published_at=T0 - timedelta(days=2), translated=True),
        DedupeItem(id="late", text=text + "\nShare this", published_at=T0 + timedelta(days=1)),
        DedupeItem(id="undated", text=text + "\nPrint"),
        DedupeItem(id="early", text=text + "\nEmail", published_at=T0),
    ]
    assert sorted(items, key=canonical_rank)[0].id == "early"
    plan = assign_clusters(items, DuplicateIndex(), lambda ids: {})
    assert {d.document_id: d.duplicate_of for d in plan.decisions} == {
        "early": None,
        "late": "early",
        "undated": "early",
        "mt-early": "early",
    }
    assert len({d.cluster_id for d in plan.decisions}) == 1


def test_a_late_arriving_original_takes_over_a_stored_cluster() -> None:
    text = _text("002_eaaeb9569f6b3d26.txt")
    index, store = DuplicateIndex(), {}
    first = [DedupeItem(id="copy", text=text + "\nShare this", published_at=T0 + timedelta(1))]
    _apply(assign_clusters(first, index, _store_loader(store)), index, store, first)
    late = [DedupeItem(id="orig", text=text, published_at=T0)]
    plan = assign_clusters(late, index, _store_loader(store))
    (decision,) = plan.decisions
    assert (decision.cluster_id, decision.duplicate_of) == ("copy", None)
    assert plan.canonical_changes == (
        CanonicalChange(cluster_id="copy", canonical_id="orig", previous_id="copy"),
    )


@pytest.mark.parametrize("size", [1, 7])
def test_chunks_in_any_order_cluster_as_one_batch(size: int) -> None:
    """A run's earlier chunks are placed again when a better-ranked copy arrives later."""
    items, _ = _corpus()
    one = assign_clusters(items, DuplicateIndex(), lambda ids: {})
    index, store = DuplicateIndex(), {}
    arriving = items[::-1]  # worst order: the originals come last
    for start in range(0, len(arriving), size):
        chunk = arriving[start : start + size]
        plan = assign_clusters(chunk, index, _store_loader(store), revisable=set(store))
        _apply(plan, index, store, chunk)
        for move in plan.moves:
            store[move.document_id] = replace(store[move.document_id], cluster_id=move.cluster_id)
    assert _members({d.document_id: d.cluster_id for d in one.decisions}) == _members(
        {i: s.cluster_id for i, s in store.items()}
    )


def _members(cluster_of: dict[str, str]) -> set[frozenset[str]]:
    """Return the clusters as sets of members (labels depend on arrival order)."""
    groups: dict[str, set[str]] = {}
    for doc, cluster in cluster_of.items():
        groups.setdefault(cluster, set()).add(doc)
    return {frozenset(g) for g in groups.values()}


def test_duplicate_ids_in_one_batch_are_decided_once() -> None:
    item = DedupeItem(id="a", text=_text("003_81a0b7252b9ca6bb.txt"))
    plan = assign_clusters([item, item], DuplicateIndex(), lambda ids: {})
    assert [d.document_id for d in plan.decisions] == ["a"]


def test_dedupe_item_compares_the_body_without_comments() -> None:
    body = _text("001_d97a2751ecc2e389.txt")
    document = Document(
        id="d1",
        source_id="s",
        url="file:///x",
        canonical_url="file:///x",
        title="t",
        text=body + "\nGreat article! Comment by reader.",
        content_hash="",
        fetched_at=T0,
        body_end=len(body),
        mt_score=0.9,
    )
    item = dedupe_item(document)
    assert item.text == body
    assert item.content_hash == content_hash(body)
    assert item.translated


def test_signature_bytes_round_trip_and_reject_other_parameters() -> None:
    signature = signature_of(_text("000_b732dbf0c455a0ac.txt"))
    blob = signature_to_bytes(signature)
    back = signature_from_bytes(blob)
    assert np.array_equal(back.hashvalues, signature.hashvalues)
    assert back.shingles == signature.shingles
    assert back.to_minhash().jaccard(signature.to_minhash()) == 1.0
    tampered = blob[:5] + bytes([9]) + blob[6:]  # another shingle size
    with pytest.raises(ValueError, match="recompute"):
        signature_from_bytes(tampered)
    index = DuplicateIndex.from_rows([("ok", blob), ("old", tampered), ("short", b"xx")])
    assert "ok" in index and len(index) == 1
    assert index.stale == ["old", "short"]


def test_index_rebuilt_from_bytes_answers_like_the_incremental_one() -> None:
    items, _ = _corpus()
    signatures = {item.id: signature_of(item.text) for item in items}
    incremental = DuplicateIndex(merge_every=4)
    for doc_id, signature in signatures.items():
        incremental.add(doc_id, signature)
    rebuilt = DuplicateIndex.from_rows(
        (doc_id, signature_to_bytes(signature)) for doc_id, signature in signatures.items()
    )
    for signature in signatures.values():
        assert sorted(incremental.query(signature)) == sorted(rebuilt.query(signature))


def test_index_validates_its_parameters_eagerly() -> None:
    with pytest.raises(ValueError, match="bands x rows"):
        DuplicateIndex(bands=64, rows=3)
    with pytest.raises(ValueError, match="merge_every"):
        DuplicateIndex(merge_every=0)


def _bench():
    spec = importlib.util.spec_from_file_location("bench_dedupe", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the body runs
    spec.loader.exec_module(module)
    return module


def test_planted_duplicates_meet_the_pinned_floors() -> None:
    bench = _bench()
    corpus = bench.synthetic_corpus(1500, seed=3)
    placed, _, _ = bench.cluster_corpus(corpus)
    quality = bench.link_quality(corpus, placed)
    assert quality["precision"] >= SYNTHETIC_PRECISION_FLOOR
    assert quality["recall"] >= SYNTHETIC_RECALL_FLOOR
    for kind, floor in SYNTHETIC_RECALL_FLOOR_PER_KIND.items():
        assert quality[f"recall_{kind}"] >= floor, kind
    assert quality["follow_ups_merged"] == 0.0


def test_signatures_equal_datasketch_minhash() -> None:
    for name in ("000_b732dbf0c455a0ac.txt", "ru_a.txt"):
        shingles = shingle_set(_text(name))
        assert np.array_equal(
            signature_of_shingles(shingles).hashvalues, minhash_of_shingles(shingles).hashvalues
        )
    many = np.unique(np.arange(0, 3_000_000_000, 150_001, dtype=np.uint64).astype(np.uint32))
    assert len(many) > 8192  # more than one chunk
    assert np.array_equal(
        signature_of_shingles(many).hashvalues, minhash_of_shingles(many).hashvalues
    )


def test_cyrillic_copy_is_near_and_distinct_russian_story_is_not() -> None:
    original, copy, other = (
        shingle_set(_text(n)) for n in ("ru_a.txt", "ru_a_copy.txt", "ru_b.txt")
    )
    assert compare_shingles(original, copy)[0] >= 0.8
    assert compare_shingles(original, other)[1] < 0.1
