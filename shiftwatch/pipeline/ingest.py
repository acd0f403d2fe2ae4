"""Ingest: from fetched items to stored, analysed documents (decide in the core, write here).

One call handles a whole batch: unchanged input is skipped by the hash of its bytes before
any parsing, new documents are analysed in one pass, and everything is written in a single
transaction with insert-or-ignore, so a retry or a second run stores nothing twice.
"""

from __future__ import annotations

import ctypes
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from shiftwatch.analysis.analyzer import Analysis, Analyzer, Built
from shiftwatch.analysis.language.translation import MT_THRESHOLD
from shiftwatch.analysis.text.documents import raw_hash
from shiftwatch.models import documents as document_store
from shiftwatch.models import queries
from shiftwatch.models import stances as stance_store
from shiftwatch.models.db import Engine, session_scope
from shiftwatch.pipeline import progress
from shiftwatch.pipeline.cluster import (
    ClusterResult,
    StoredIndex,
    cluster_batch,
    load_index,
    record_clusters,
    remember_signatures,
)
from shiftwatch.records import Document, RawItem, Rejected, RejectReason


@dataclass
class SourceCounts:
    """Per-source health of one run, as operators see it in the Prefect UI."""

    source_id: str
    kind: str = "file"
    status: str = "ok"
    new: int = 0
    unchanged: int = 0
    duplicate: int = 0
    rejected: int = 0
    reanalysed: int = 0
    latency_s: float = 0.0
    detail: str = ""


@dataclass
class IngestResult:
    counts: dict[str, SourceCounts] = field(default_factory=dict)
    new_document_ids: list[str] = field(default_factory=list)
    pairs: set[tuple[str, str]] = field(default_factory=set)  # (party, demand) touched
    languages: Counter[str] = field(default_factory=Counter)
    machine_translated: int = 0

    def source(self, source_id: str) -> SourceCounts:
        """Return the counters of `source_id`, created on first use."""
        return self.counts.setdefault(source_id, SourceCounts(source_id=source_id))


CHUNK_ITEMS = 1_000  # items read, analysed, stored and forgotten together (memory ~ chunk)

# Builds and analyses a chunk of items (`Analyzer.build_and_analyze`, or a worker pool's).
BuildAndAnalyze = Callable[[Sequence[RawItem]], list[Built]]


@dataclass
class _RunMemory:
    """What a run's later chunks need from its earlier ones, and nothing bigger: so a run in
    chunks stores, counts and clusters what one batch would."""

    seen: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (content hash, url)
    stored_hashes: set[str] = field(default_factory=set)  # raw hashes this run stored
    index: StoredIndex | None = None
    # (source, document, counted as a copy) of what earlier chunks stored: a later chunk may
    # bring a better original for their cluster, as one batch would have known from the start.
    counted: list[tuple[str, str, bool]] = field(default_factory=list)
    chunks: int = 0


def _decide(
    built: Sequence[tuple[RawItem, Built]], result: IngestResult, memory: _RunMemory
) -> tuple[list[Analysis], list[Rejected]]:
    """Return the analyses worth storing and the items rejected while building them
    (with the refusals that kept their document, such as an impossible date)."""
    docs: dict[str, Analysis] = {}
    rejected: list[Rejected] = []
    for item, (analysis, notes) in built:
        counts = result.source(item.source_id)
        rejected.extend(notes)
        if isinstance(analysis, Rejected):
            rejected.append(analysis)
            counts.rejected += 1
            continue
        doc = analysis.document
        first = memory.seen.get(doc.id)
        if first is not None:
            counts.duplicate += 1
            if first[0] != doc.content_hash:
                rejected.append(_duplicate(doc, first[1]))
        else:
            memory.seen[doc.id] = (doc.content_hash, doc.url)
            docs[doc.id] = analysis
    return list(docs.values()), rejected


def _duplicate(doc: Document, holder: str) -> Rejected:
    """Return the record of an item whose identity another item already holds."""
    return Rejected(
        source_id=doc.source_id,
        item=doc.url if doc.guid is None else f"{doc.url} (guid {doc.guid[:200]})",
        stage="ingest",
        reason=RejectReason.DUPLICATE,
        detail=f"same identity ({doc.canonical_url[:300]}) as document {doc.id} "
        f"from {holder[:300]}",
    )


def ingest_items(
    engine: Engine,
    analyzer: Analyzer,
    items: Sequence[RawItem],
    run_id: str,
    rejected: Sequence[Rejected] = (),
    *,
    build: BuildAndAnalyze | None = None,
    chunk_items: int = CHUNK_ITEMS,
) -> IngestResult:
    """Analyse and store `items`, `chunk_items` at a time; return what happened, per source."""
    chunks = (items[i : i + chunk_items] for i in range(0, len(items), chunk_items))
    return ingest_chunks(engine, analyzer, chunks, run_id, rejected, build=build)


def ingest_chunks(
    engine: Engine,
    analyzer: Analyzer,
    chunks: Iterable[Sequence[RawItem]],
    run_id: str,
    rejected: Sequence[Rejected] = (),
    *,
    build: BuildAndAnalyze | None = None,
    result: IngestResult | None = None,
) -> IngestResult:
    """Analyse and store the items of `chunks` one chunk at a time (read, analyse, store,
    forget: memory follows the chunk, not the run); return what happened, per source.

    What is stored and counted is what one batch of all the items would give. `build`: how a
    chunk is built and analysed (default: in this process; an `AnalysisPool` uses the cores).
    """
    result = IngestResult() if result is None else result
    for r in rejected:
        result.source(r.source_id).rejected += 1
    memory = _RunMemory()
    pending: list[Rejected] = list(rejected)
    for items in chunks:
        _ingest_chunk(engine, analyzer, items, run_id, pending, build, result, memory)
        pending = []
        release_freed_memory()
    if pending:  # nothing was read: the rejections are stored all the same
        _write(engine, ClusterResult(analyses=[]), [], pending, run_id)
    if memory.chunks > 1:
        _recount_copies(engine, result, memory.counted)
    return result


def release_freed_memory() -> None:
    """Hand the memory a finished chunk freed back to the system (glibc's `malloc_trim`).

    A chunk's analyses are unpickled in the worker pool's result thread and freed in this
    one; glibc keeps such memory in per-thread arenas, so without this the resident size
    grew by ~50 KB a document although the objects were gone (measured with tracemalloc:
    ~4 KB a document stayed allocated, the dedupe index's new band keys)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to do
        return
    libc.malloc_trim(0)


def _recount_copies(
    engine: Engine, result: IngestResult, counted: Sequence[tuple[str, str, bool]]
) -> None:
    """Count each document stored this run as new or a copy by what is stored now."""
    with session_scope(engine) as session:
        now = document_store.duplicate_flags(session, (doc for _, doc, _ in counted))
    for source_id, doc, was_copy in counted:
        is_copy = now.get(doc, was_copy)
        if is_copy != was_copy:
            counts = result.source(source_id)
            counts.duplicate += 1 if is_copy else -1
            counts.new += -1 if is_copy else 1


def _ingest_chunk(
    engine: Engine,
    analyzer: Analyzer,
    items: Sequence[RawItem],
    run_id: str,
    rejected: Sequence[Rejected],
    build: BuildAndAnalyze | None,
    result: IngestResult,
    memory: _RunMemory,
) -> None:
    """Build, analyse, cluster and store one chunk of a run (one transaction)."""
    progress.advance(progress.Stage.READ, progress.per_source(i.source_id for i in items))
    hashes = [raw_hash(i) for i in items]  # once: unchanged items cost one hash each
    with session_scope(engine) as session:
        # What this run stored itself is not "unchanged": one batch would have seen it new.
        known = document_store.known_raw_hashes(session, hashes) - memory.stored_hashes
    todo = []
    for item, digest in zip(items, hashes, strict=True):
        if digest in known:
            result.source(item.source_id).unchanged += 1
        else:
            todo.append(item)
    built = (build or analyzer.build_and_analyze)(todo)
    analyses, build_rejected = _decide(list(zip(todo, built, strict=True)), result, memory)
    fresh, changed = _sort_out(engine, analyses, result, build_rejected)
    done = progress.per_source(a.document.source_id for a in fresh)
    progress.advance(progress.Stage.ANALYSED, done)
    if fresh and memory.index is None and not changed:
        memory.index = load_index(engine)
    stored = [doc for _, doc, _ in memory.counted]  # this run's: one batch would place them
    clustered = cluster_batch(engine, analyzer, fresh, changed, memory.index, stored)
    _write(engine, clustered, changed, [*rejected, *build_rejected], run_id)
    progress.advance(progress.Stage.STORED, done)
    if memory.index is not None:
        remember_signatures(memory.index, clustered)
    memory.stored_hashes.update(
        a.document.raw_hash for a in clustered.analyses if a.document.raw_hash
    )
    _count(result, clustered.analyses)
    memory.chunks += 1
    memory.counted.extend(
        (a.document.source_id, a.document.id, a.document.duplicate_of is not None)
        for a in clustered.analyses
    )


def _sort_out(
    engine: Engine,
    analyses: Sequence[Analysis],
    result: IngestResult,
    rejected: list[Rejected],
) -> tuple[list[Analysis], list[str]]:
    """Return the analyses to store and the ids of stored documents they replace (the same
    item, edited); identities another item holds are duplicates, stored ones unchanged."""
    with session_scope(engine) as session:
        existing = document_store.existing_documents(session, (a.document.id for a in analyses))
        differing = [
            a.document.id
            for a in analyses
            if a.document.id in existing and existing[a.document.id] != a.document.content_hash
        ]
        owners = queries.document_owners(session, differing)
    changed: list[str] = []
    fresh: list[Analysis] = []
    for analysis in analyses:
        doc = analysis.document
        if doc.id in owners and owners[doc.id] != (doc.source_id, doc.guid):
            result.source(doc.source_id).duplicate += 1  # another item's identity
            rejected.append(_duplicate(doc, owners[doc.id][0]))
        elif doc.id in owners:
            changed.append(doc.id)  # the same item, edited
            fresh.append(analysis)
        elif doc.id in existing:
            result.source(doc.source_id).unchanged += 1
        else:
            fresh.append(analysis)
    return fresh, changed


def store_rejections(
    engine: Engine, rejected: Sequence[Rejected], run_id: str, result: IngestResult
) -> None:
    """Store and count items refused before any analysis (unreadable files)."""
    for r in rejected:
        result.source(r.source_id).rejected += 1
    with session_scope(engine) as session:
        document_store.save_rejections(session, rejected, run_id)


def _write(
    engine: Engine,
    clustered: ClusterResult,
    changed: Sequence[str],
    rejected: Sequence[Rejected],
    run_id: str,
) -> None:
    analyses = clustered.analyses
    with session_scope(engine) as session:
        document_store.replace_documents(session, changed)
        document_store.save_documents(session, [a.document for a in analyses], run_id)
        document_store.save_mentions(session, [m for a in analyses for m in a.mentions])
        stance_store.save_stances(session, [s for a in analyses for s in a.stances])
        document_store.save_rejections(session, rejected, run_id)
        record_clusters(session, clustered)


def _count(result: IngestResult, analyses: Sequence[Analysis]) -> None:
    for a in analyses:
        doc = a.document
        counts = result.source(doc.source_id)
        if doc.duplicate_of:
            counts.duplicate += 1
        else:
            counts.new += 1
        result.new_document_ids.append(doc.id)
        result.languages[doc.language] += 1
        result.machine_translated += doc.mt_score >= MT_THRESHOLD
        result.pairs.update((s.party_id, s.demand_id) for s in a.stances)


def reanalyze_since(
    engine: Engine, analyzer: Analyzer, since: datetime, run_id: str
) -> IngestResult:
    """Re-analyse stored documents published since `since` (after a watchlist change).

    Mentions and stances are replaced; the positions step then replays every pair they
    touched, before or after, and known shifts keep their ids, so nothing is announced twice.
    """
    result = IngestResult()
    with session_scope(engine) as session:
        docs = document_store.documents_since(session, since)
    analyses = analyzer.analyze_batch(docs)
    with session_scope(engine) as session:
        result.pairs |= document_store.replace_analysis(session, [d.id for d in docs])
        document_store.update_descriptions(session, [a.document for a in analyses])
        document_store.save_mentions(session, [m for a in analyses for m in a.mentions])
        stance_store.save_stances(session, [s for a in analyses for s in a.stances])
    for a in analyses:
        result.source(a.document.source_id).reanalysed += 1
        result.new_document_ids.append(a.document.id)
        result.pairs.update((s.party_id, s.demand_id) for s in a.stances)
    return result
