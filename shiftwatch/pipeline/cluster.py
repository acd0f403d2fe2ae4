"""Dedupe in the flow: load the signature index, place a batch in clusters, record it.

The index is rebuilt from stored signatures (bytes, not texts) and only when a batch has
new documents, so a run with nothing new never pays for it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from shiftwatch.analysis.analyzer import Analysis, Analyzer
from shiftwatch.analysis.dedupe.clustering import (
    DedupeItem,
    DedupePlan,
    DuplicateIndex,
    MatchKind,
    assign_clusters,
    canonical_rank,
    dedupe_item,
    signature_of,
    signature_to_bytes,
)
from shiftwatch.analysis.language.translation import MT_THRESHOLD
from shiftwatch.models import documents as document_store
from shiftwatch.models.db import Engine, Session, session_scope
from shiftwatch.records import StoredText


@dataclass
class ClusterResult:
    analyses: list[Analysis]
    signatures: dict[str, bytes] = field(default_factory=dict)
    plan: DedupePlan | None = None


def _stored_item(stored: StoredText) -> DedupeItem:
    end = stored.body_end
    return DedupeItem(
        id=stored.id,
        text=stored.text[:end] if isinstance(end, int) else stored.text,
        published_at=stored.published_at,
        translated=float(stored.mt_score or 0) >= MT_THRESHOLD,
        cluster_id=stored.cluster_id,
        duplicate_of=stored.duplicate_of,
    )


def load_index(engine: Engine, exclude: Sequence[str] = ()) -> DuplicateIndex:
    """Return the dedupe index of every stored signature (stale ones recomputed)."""
    skip = set(exclude)
    with session_scope(engine) as session:
        rows = [(i, b) for i, b in document_store.load_signatures(session) if i not in skip]
    index = DuplicateIndex.from_rows(rows)
    if index.stale:
        _refresh_stale(engine, index)
    return index


def _refresh_stale(engine: Engine, index: DuplicateIndex) -> None:
    with session_scope(engine) as session:
        for stored in document_store.load_texts(session, index.stale):
            signature = signature_of(_stored_item(stored).text)
            document_store.replace_signature(session, stored.id, signature_to_bytes(signature))
            index.add(stored.id, signature)


def cluster_batch(
    engine: Engine,
    analyzer: Analyzer,
    analyses: Sequence[Analysis],
    changed: Sequence[str],
    index: DuplicateIndex | None = None,
    revisable: Collection[str] = (),
) -> ClusterResult:
    """Return the batch's analyses with clusters set, and the signatures to store. `index`:
    the stored signatures, already loaded (a run's later chunks reuse its first chunk's index,
    grown by `remember_signatures`); loaded here when None. `revisable`: the documents the
    run's earlier chunks stored, which this batch may place again (`assign_clusters`)."""
    if not analyses:
        return ClusterResult(analyses=[])
    if index is None or changed:
        index = load_index(engine, exclude=changed)

    def load(ids: object) -> dict[str, DedupeItem]:
        with session_scope(engine) as session:
            return {s.id: _stored_item(s) for s in document_store.load_texts(session, ids)}  # type: ignore[arg-type]

    items = [dedupe_item(a.document) for a in analyses]
    plan = assign_clusters(items, index, load, revisable=set(revisable).difference(changed))
    decided = {d.document_id: d for d in plan.decisions}
    out = []
    for analysis in analyses:
        decision = decided.get(analysis.document.id)
        out.append(
            analysis
            if decision is None
            else analyzer.with_cluster(analysis, decision.cluster_id, decision.duplicate_of)
        )
    signatures = {
        d.document_id: signature_to_bytes(d.signature)
        for d in plan.decisions
        if d.signature is not None and d.match != MatchKind.KNOWN
    }
    return ClusterResult(analyses=out, signatures=signatures, plan=plan)


def remember_signatures(index: DuplicateIndex, result: ClusterResult) -> None:
    """Add the signatures a stored chunk brought to `index` (as loading them again would)."""
    for decision in result.plan.decisions if result.plan else ():
        if decision.signature is not None and decision.match != MatchKind.KNOWN:
            index.add(decision.document_id, decision.signature)


def record_clusters(session: Session, result: ClusterResult) -> None:
    """Store the batch's signatures, move canonicals that changed and the stored documents
    placed again (caller's transaction, after the batch's documents are saved)."""
    document_store.save_signatures(session, result.signatures)
    plan = result.plan
    for change in plan.canonical_changes if plan else ():
        document_store.move_canonical(session, change.cluster_id, change.canonical_id)
    if plan and plan.moves:
        left = document_store.load_texts(session, [m.document_id for m in plan.moves])
        document_store.move_to_clusters(session, {m.document_id: m.cluster_id for m in plan.moves})
        touched = {s.cluster_id or s.id for s in left}
        touched.update(d.cluster_id for d in (*plan.moves, *plan.decisions))
        _restore_canonicals(session, touched)


def _restore_canonicals(session: Session, clusters: Iterable[str]) -> None:
    """Point each member of `clusters` at the canonical the rule picks among its members now
    (a moved document may have been a cluster's canonical, or become one)."""
    members: dict[str, list[StoredText]] = {}
    for stored in document_store.cluster_members(session, clusters):
        members.setdefault(stored.cluster_id or stored.id, []).append(stored)
    for cluster_id, found in members.items():
        best = min(found, key=lambda s: canonical_rank(_stored_item(s)))
        document_store.move_canonical(session, cluster_id, best.id)
