"""Dedupe in the flow: open the signature index, place a batch in clusters, record it.

Each stored signature is filed under its LSH band keys (table `signature_bands`), and the
index reads only the stored documents that share a key with a signature it is asked about:
a run's cost follows what it brings, not the history (the candidates are those an index of
every stored signature gives, since a candidate shares a band key by definition). Signatures
stored without band keys (before migration 0006) or made with other parameters are filed
again when an index is opened (`load_index`), once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from shiftwatch.analysis.analyzer import Analysis, Analyzer
from shiftwatch.analysis.dedupe.clustering import (
    INDEX_FORMAT,
    Candidate,
    DedupeItem,
    DedupePlan,
    DuplicateIndex,
    MatchKind,
    Signature,
    assign_clusters,
    canonical_rank,
    dedupe_item,
    index_keys,
    signature_from_bytes,
    signature_of,
    signature_to_bytes,
)
from shiftwatch.analysis.language.translation import MT_THRESHOLD
from shiftwatch.models import documents as document_store
from shiftwatch.models.db import Engine, Session, session_scope
from shiftwatch.records import StoredSignature, StoredText

REFILE_CHUNK = 2_000  # signatures filed again per transaction (`_file_unfiled`)


@dataclass
class ClusterResult:
    analyses: list[Analysis]
    signatures: dict[str, Signature] = field(default_factory=dict)
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


class StoredIndex(DuplicateIndex):
    """The dedupe index over the stored signatures a run meets: those filed under a band key
    of a signature it is asked about (read on the first question about each key), those
    `load`ed by id, and those `add`ed."""

    def __init__(self, engine: Engine, exclude: Collection[str] = ()) -> None:
        super().__init__()
        self._engine = engine
        self._exclude = set(exclude)
        self._asked: set[int] = set()

    def load(self, document_ids: Iterable[str]) -> None:
        """Index the stored signatures of `document_ids` (a batch's own, so `in` knows them)."""
        with session_scope(self._engine) as session:
            self._load_in(session, document_ids)

    def candidates(
        self, signature: Signature, *, min_jaccard: float = 0.0, limit: int | None = None
    ) -> list[Candidate]:
        """Return `DuplicateIndex.candidates` after reading the documents sharing a key."""
        self._read_sharing(index_keys(signature, self.bands, self.rows))
        return super().candidates(signature, min_jaccard=min_jaccard, limit=limit)

    def _read_sharing(self, keys: np.ndarray) -> None:
        """Index the stored documents filed under `keys` not asked about before."""
        new = set(keys.tolist()).difference(self._asked)
        if not new:
            return
        self._asked.update(new)
        with session_scope(self._engine) as session:
            self._load_in(session, document_store.sharing_band_keys(session, new))

    def _load_in(self, session: Session, document_ids: Iterable[str]) -> None:
        """Index the stored signatures of the ids not indexed yet (nor excluded)."""
        wanted = [i for i in document_ids if i not in self and i not in self._exclude]
        for row in document_store.load_signatures(session, wanted) if wanted else ():
            try:
                self.add(row.document_id, signature_from_bytes(row.minhash))
            except ValueError:  # made with other parameters: refiled when an index opens
                continue


def load_index(engine: Engine, exclude: Sequence[str] = ()) -> StoredIndex:
    """Return the dedupe index over the stored signatures, filing the unfiled ones first."""
    _file_unfiled(engine)
    return StoredIndex(engine, exclude)


def _file_unfiled(engine: Engine) -> None:
    """Store band keys for the signatures without them (stored before migration 0006), and
    recompute from the text those made with other parameters; `REFILE_CHUNK` at a time."""
    with session_scope(engine) as session:
        unfiled = document_store.unfiled_signatures(session, INDEX_FORMAT)
    for start in range(0, len(unfiled), REFILE_CHUNK):
        with session_scope(engine) as session:
            chunk = unfiled[start : start + REFILE_CHUNK]
            signatures: dict[str, Signature] = {}
            stale = []
            for row in document_store.load_signatures(session, chunk):
                try:
                    signatures[row.document_id] = signature_from_bytes(row.minhash)
                except ValueError:
                    stale.append(row.document_id)
            for stored in document_store.load_texts(session, stale):
                signatures[stored.id] = signature_of(_stored_item(stored).text)
            document_store.replace_signatures(session, stored_signatures(signatures), INDEX_FORMAT)


def stored_signatures(signatures: Mapping[str, Signature]) -> list[StoredSignature]:
    """Return `signatures` as the storage layer keeps them: bytes and band keys."""
    return [
        StoredSignature(i, signature_to_bytes(s), tuple(index_keys(s).tolist()))
        for i, s in signatures.items()
    ]


def save_signatures(session: Session, signatures: Mapping[str, Signature]) -> int:
    """Store new documents' signatures with their band keys; return how many were new."""
    return document_store.save_signatures(session, stored_signatures(signatures), INDEX_FORMAT)


def cluster_batch(
    engine: Engine,
    analyzer: Analyzer,
    analyses: Sequence[Analysis],
    changed: Sequence[str],
    index: StoredIndex | None = None,
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
    index.load(a.document.id for a in analyses)

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
        d.document_id: d.signature
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
    save_signatures(session, result.signatures)
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
