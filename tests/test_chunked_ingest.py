"""Issue 17 items 1 and 2: analysis in worker processes gives what one process gives, and a
run read, analysed and stored in chunks stores what one batch stores (no timings here)."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

from shiftwatch.analysis.dedupe.clustering import (
    PREFILTER_JACCARD,
    DuplicateIndex,
    Signature,
    signature_from_bytes,
)
from shiftwatch.connectors.files import iter_folder, read_folder
from shiftwatch.models.db import open_database
from shiftwatch.pipeline.cluster import load_index
from shiftwatch.pipeline.ingest import ingest_items
from shiftwatch.pipeline.workers import AnalysisPool
from shiftwatch.records import RawItem

sys.path.insert(0, str(ROOT / "bench"))
from synth import build_corpus

# Columns that say when a row was written, not what it holds.
VOLATILE = {"created_at", "at", "id"}


@pytest.fixture(scope="module")
def items(tmp_path_factory) -> list[RawItem]:
    """The seeds, 80 synthetic documents with planted copies, and a byte-identical copy of a
    seed under another file name (same fetched-bytes hash, another document)."""
    folder = tmp_path_factory.mktemp("corpus")
    build_corpus(80, folder, seed=3)
    seeds = read_folder(ROOT / "data" / "seeds", max_bytes=5_000_000).items
    synthetic = read_folder(folder, max_bytes=5_000_000).items
    twin = replace(
        seeds[0], url=seeds[0].url.replace(".md", "-twin.md").replace(".txt", "-twin.txt")
    )
    return [*seeds, *synthetic, twin]


def test_worker_processes_analyse_as_one_process_does(analyzer, items) -> None:
    serial = analyzer.build_and_analyze(items)
    with AnalysisPool(analyzer, workers=2, min_items=1, slice_items=7) as pool:
        pooled = pool(items)
    assert pooled == serial
    assert sum(1 for built, _ in serial if hasattr(built, "stances") and built.stances) > 10


def _rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Return every stored row of the analysis tables, without write times or row ids, and
    with each cluster named by its members (a cluster keeps the id it got when first stored,
    so its label depends on arrival order, as over several runs; its members do not)."""
    out = {}
    with sqlite3.connect(path) as db:
        members: dict[str, list[str]] = {}
        for doc, cluster in db.execute("select id, cluster_id from documents"):
            members.setdefault(cluster, []).append(doc)
        for table in ("documents", "mentions", "stances", "signatures", "rejections"):
            columns = [r[1] for r in db.execute(f"pragma table_info({table})")]
            kept = [c for c in columns if c not in VOLATILE]
            select = ", ".join(f'"{c}"' for c in kept)
            rows = db.execute(f"select {select} from {table}").fetchall()
            if "cluster_id" in kept:
                at = kept.index("cluster_id")
                rows = [
                    (*r[:at], tuple(sorted(members.get(r[at], ()))), *r[at + 1 :]) for r in rows
                ]
            out[table] = sorted(rows, key=repr)
    return out


BATCH = 100_000  # one chunk: the whole run at once


@dataclass(frozen=True)
class Ingested:
    """The items ingested twice (run-1, then run-2) into one fresh SQLite database."""

    path: Path
    after_first: dict[str, list[tuple[object, ...]]]  # the stored rows after run-1
    after_second: dict[str, list[tuple[object, ...]]]  # ... and after run-2
    counts: tuple[Any, ...]


@pytest.fixture(scope="module")
def ingested(analyzer, items, tmp_path_factory) -> Callable[[int], Ingested]:
    """Return `ingest(chunk_items)`: the items ingested twice in chunks of that size, done once
    per size for the module (the one-batch reference and each chunk size serve several
    tests, which compare the same runs)."""
    done: dict[int, Ingested] = {}

    def ingest(size: int) -> Ingested:
        if size not in done:
            path = tmp_path_factory.mktemp(f"chunks-{size}") / "sw.db"
            engine = open_database(f"sqlite:///{path}")
            result = ingest_items(engine, analyzer, items, "run-1", chunk_items=size)
            after_first = _rows(path)
            again = ingest_items(engine, analyzer, items, "run-2", chunk_items=size)
            engine.dispose()
            counts = (
                {k: vars(v) for k, v in result.counts.items()},
                sorted(result.new_document_ids),
                sorted(result.pairs),
                {k: vars(v) for k, v in again.counts.items()},
            )
            done[size] = Ingested(path, after_first, _rows(path), counts)
        return done[size]

    return ingest


@pytest.mark.parametrize("chunk_items", [1, 9, 40])
def test_a_run_in_chunks_stores_what_one_batch_stores(ingested, items, chunk_items):
    batch, chunks = ingested(BATCH), ingested(chunk_items)
    for table in ("mentions", "signatures", "rejections"):
        assert chunks.after_second[table] == batch.after_second[table], table
    assert _core_stances(chunks.path) == _core_stances(batch.path)
    assert chunks.counts[2] == batch.counts[2]  # the same pairs touched
    assert len(batch.after_second["documents"]) == len(items)
    with sqlite3.connect(batch.path) as db:  # copies were found
        assert db.execute(
            "select count(*) from documents where duplicate_of is not null"
        ).fetchone()[0]


def _core_stances(path: Path) -> set[tuple[object, ...]]:
    """Return what the analysis found, apart from dedupe's cluster labels."""
    with sqlite3.connect(path) as db:
        query = (
            "select document_id, party_id, actor_id, demand_id, stance, confidence, "
            "evidence_start from stances"
        )
        return set(db.execute(query))


@pytest.mark.parametrize("chunk_items", [1, 7, 40])
def test_a_run_in_chunks_clusters_what_one_batch_clusters(ingested, chunk_items):
    assert ingested(chunk_items).after_first == ingested(BATCH).after_first


def test_the_stored_index_finds_what_an_index_of_every_signature_finds(ingested, tmp_path):
    """Dedupe reads only the documents sharing a band key with a text (`signature_bands`):
    the candidates are those an index of every stored signature gives, also in a database
    from before that table (no band keys; one signature made with other parameters)."""
    path = tmp_path / "sw.db"
    with sqlite3.connect(ingested(BATCH).path) as source, sqlite3.connect(path) as copy:
        source.backup(copy)
        rows = copy.execute("select document_id, minhash from signatures").fetchall()
        copy.execute("delete from signature_bands")
        copy.execute("update signatures set band_format = null")
        copy.execute("update signatures set minhash = ? where document_id = ?", (b"x", rows[0][0]))
    everything = DuplicateIndex.from_rows(rows)
    engine = open_database(f"sqlite:///{path}")
    stored = load_index(engine)
    assert len(stored) == 0  # nothing read up front
    for _, blob in rows:
        signature = signature_from_bytes(blob)
        assert _found(stored, signature) == _found(everything, signature)
    with sqlite3.connect(path) as db:
        filed = db.execute("select document_id, minhash from signatures where band_format > 0")
        assert sorted(filed) == sorted(rows)  # filed, and the odd one recomputed from its text
    engine.dispose()


def _found(index: DuplicateIndex, signature: Signature) -> list[tuple[str, float, float]]:
    found = index.candidates(signature, min_jaccard=PREFILTER_JACCARD)
    return sorted((c.document_id, c.jaccard, c.score) for c in found)


def test_a_folder_read_in_chunks_is_the_folder(tmp_path) -> None:
    build_corpus(23, tmp_path, seed=1)
    whole = read_folder(tmp_path, max_bytes=5_000_000)
    chunks = list(iter_folder(tmp_path, max_bytes=5_000_000, chunk_items=5))
    assert [len(c.items) for c in chunks] == [5, 5, 5, 5, 3]
    assert [i.url for c in chunks for i in c.items] == [i.url for i in whole.items]
