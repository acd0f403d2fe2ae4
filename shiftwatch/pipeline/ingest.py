"""Ingest: from fetched items to stored, analysed documents (decide in the core, write here).

One call handles a whole batch: unchanged input is skipped by the hash of its bytes before
any parsing, new documents are analysed in one pass, and everything is written in a single
transaction with insert-or-ignore, so a retry or a second run stores nothing twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from shiftwatch.analysis.analyzer import Analysis, Analyzer
from shiftwatch.analysis.language.translation import MT_THRESHOLD
from shiftwatch.analysis.text.documents import build_document_with_notes, raw_hash
from shiftwatch.models import documents as document_store
from shiftwatch.models import queries
from shiftwatch.models import stances as stance_store
from shiftwatch.models.db import Engine, session_scope
from shiftwatch.pipeline import progress
from shiftwatch.pipeline.cluster import ClusterResult, cluster_batch, record_clusters
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


def _decide(
    items: Sequence[RawItem], hashes: Sequence[str], known_hashes: set[str], result: IngestResult
) -> tuple[list[Document], list[Rejected]]:
    """Return the documents worth analysing and the items rejected while building them
    (with the refusals that kept their document, such as an impossible date)."""
    docs: dict[str, Document] = {}
    rejected: list[Rejected] = []
    for item, digest in zip(items, hashes, strict=True):
        counts = result.source(item.source_id)
        if digest in known_hashes:
            counts.unchanged += 1
            continue
        built, notes = build_document_with_notes(item)
        rejected.extend(notes)
        if isinstance(built, Rejected):
            rejected.append(built)
            counts.rejected += 1
        elif built.id in docs:
            counts.duplicate += 1
            if docs[built.id].content_hash != built.content_hash:
                rejected.append(_duplicate(built, docs[built.id].url))
        else:
            docs[built.id] = built
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
) -> IngestResult:
    """Analyse and store `items`; return what happened, per source."""
    result = IngestResult()
    for r in rejected:
        result.source(r.source_id).rejected += 1
    hashes = [raw_hash(i) for i in items]  # once: unchanged items cost one hash each
    with session_scope(engine) as session:
        known = document_store.known_raw_hashes(session, hashes)
    docs, build_rejected = _decide(items, hashes, known, result)
    with session_scope(engine) as session:
        existing = document_store.existing_documents(session, (d.id for d in docs))
        differing = [d.id for d in docs if d.id in existing and existing[d.id] != d.content_hash]
        owners = queries.document_owners(session, differing)
    changed: list[str] = []
    claimed: set[str] = set()
    for doc in docs:
        if doc.id in owners and owners[doc.id] != (doc.source_id, doc.guid):
            claimed.add(doc.id)  # another item's identity: a duplicate, never a replacement
            result.source(doc.source_id).duplicate += 1
            build_rejected.append(_duplicate(doc, owners[doc.id][0]))
        elif doc.id in owners:
            changed.append(doc.id)  # the same item, edited
    fresh = [d for d in docs if d.id not in claimed and (d.id not in existing or d.id in owners)]
    for doc in docs:
        if doc.id not in existing:
            continue
        if doc.id not in owners:
            result.source(doc.source_id).unchanged += 1
    analyses = analyzer.analyze_batch(fresh)
    progress.advance(progress.Stage.ANALYSED, progress.per_source(d.source_id for d in fresh))
    clustered = cluster_batch(engine, analyzer, analyses, changed)
    _write(engine, clustered, changed, [*rejected, *build_rejected], run_id)
    progress.advance(progress.Stage.STORED, progress.per_source(d.source_id for d in fresh))
    _count(result, clustered.analyses)
    return result


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
