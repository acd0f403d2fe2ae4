"""Documents and what hangs off them: mentions, signatures, rejections, re-analysis.

Records in, records out: `r.Document`, `r.Mention`, `r.Rejected` in; `r.Document`,
`r.StoredText`, `r.StoredSignature` and sets of ids out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlmodel import Session

from shiftwatch import records as r
from shiftwatch.models import tables as t
from shiftwatch.models.rows import CHUNK, flat_row, insert_ignore, rows_in
from shiftwatch.models.tables import utcnow


def known_raw_hashes(session: Session, hashes: Iterable[str]) -> set[str]:
    """Return which fetched-bytes hashes are already stored (unchanged input costs nothing)."""
    statement = select(t.Document.raw_hash)
    return {row[0] for row in rows_in(session, statement, t.Document.raw_hash, hashes)}


def duplicate_flags(session: Session, ids: Iterable[str]) -> dict[str, bool]:
    """Return {document id: whether it is stored as a copy of another} for the ids given."""
    statement = select(t.Document.id, t.Document.duplicate_of)
    return {row[0]: row[1] is not None for row in rows_in(session, statement, t.Document.id, ids)}


def existing_documents(session: Session, ids: Iterable[str]) -> dict[str, str]:
    """Return {document id: content hash} for the ids already stored."""
    statement = select(t.Document.id, t.Document.content_hash)
    return {row[0]: row[1] for row in rows_in(session, statement, t.Document.id, ids)}


def known_urls(session: Session, urls: Iterable[str]) -> set[str]:
    """Return which document URLs are already stored (an article page is fetched once)."""
    return {row[0] for row in rows_in(session, select(t.Document.url), t.Document.url, urls)}


def document_row(doc: r.Document, run_id: str | None) -> dict[str, Any]:
    """Return the table row for a document record."""
    row = flat_row(doc)
    row["languages"] = [flat_row(x) for x in doc.languages]
    row["segments"] = [flat_row(x) for x in doc.segments]
    row["mt_artifacts"] = [flat_row(x) for x in doc.mt_artifacts]
    row["date_source"] = str(doc.date_source)
    row.pop("language_hint", None)
    row["run_id"] = run_id
    row["created_at"] = utcnow()
    return row


def replace_documents(session: Session, ids: Sequence[str]) -> None:
    """Delete documents (and what hangs off them) whose content changed, before re-inserting."""
    if not ids:
        return
    for model in (t.StanceObservation, t.Mention, t.SignatureBand, t.Signature):
        session.execute(delete(model).where(model.document_id.in_(ids)))
    session.execute(delete(t.Document).where(t.Document.id.in_(ids)))


def save_documents(session: Session, docs: Sequence[r.Document], run_id: str | None) -> int:
    """Insert document rows; return how many were new."""
    return insert_ignore(session, t.Document, (document_row(d, run_id) for d in docs))


def save_mentions(session: Session, mentions: Sequence[r.Mention]) -> int:
    """Insert mention rows; return how many were new."""
    rows = ({**_mention_row(m), "kind": str(m.kind)} for m in mentions)
    return insert_ignore(session, t.Mention, rows)


def _mention_row(mention: r.Mention) -> dict:
    """Return the stored fields of a mention (`wording` is the analysis's, not stored)."""
    row = flat_row(mention)
    del row["wording"]
    return row


def save_signatures(
    session: Session, signatures: Sequence[r.StoredSignature], band_format: int
) -> int:
    """Insert MinHash signatures and the band keys each is filed under; return how many were new."""
    rows = [
        {"document_id": s.document_id, "minhash": s.minhash, "band_format": band_format}
        for s in signatures
    ]
    added = insert_ignore(session, t.Signature, rows)
    insert_ignore(session, t.SignatureBand, _band_rows(signatures))
    return added


def replace_signatures(
    session: Session, signatures: Sequence[r.StoredSignature], band_format: int
) -> None:
    """Overwrite stored signatures and their band keys (made with other parameters, or
    stored before band keys were)."""
    ids = [s.document_id for s in signatures]
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i : i + CHUNK]
        session.execute(delete(t.SignatureBand).where(t.SignatureBand.document_id.in_(chunk)))
    for s in signatures:
        session.execute(
            update(t.Signature)
            .where(t.Signature.document_id == s.document_id)
            .values(minhash=s.minhash, band_format=band_format)
        )
    insert_ignore(session, t.SignatureBand, _band_rows(signatures))


def _band_rows(signatures: Sequence[r.StoredSignature]) -> Iterator[dict[str, Any]]:
    """Yield the `signature_bands` rows of `signatures` (a key repeated in one is stored once)."""
    for s in signatures:
        for key in set(s.band_keys):
            yield {"key": key, "document_id": s.document_id}


def load_signatures(session: Session, ids: Iterable[str]) -> list[r.StoredSignature]:
    """Return the stored signatures (bytes) of `ids`."""
    statement = select(t.Signature.document_id, t.Signature.minhash)
    return [
        r.StoredSignature(row[0], row[1])
        for row in rows_in(session, statement, t.Signature.document_id, ids)
    ]


def sharing_band_keys(session: Session, keys: Iterable[int]) -> set[str]:
    """Return the documents whose signatures are filed under any of `keys`."""
    statement = select(t.SignatureBand.document_id).distinct()
    return {row[0] for row in rows_in(session, statement, t.SignatureBand.key, keys)}


def unfiled_signatures(session: Session, band_format: int) -> list[str]:
    """Return the documents whose band keys are missing or older than `band_format`."""
    column = t.Signature.band_format
    statement = select(t.Signature.document_id).where(column.is_(None) | (column < band_format))
    return [row[0] for row in session.execute(statement)]


def save_rejections(session: Session, rejected: Sequence[r.Rejected], run_id: str | None) -> int:
    """Record rejected items once each (per source, item, stage and reason)."""
    rows = [
        {
            "run_id": run_id,
            "source_id": x.source_id,
            "item": x.item[:2000],
            "stage": x.stage,
            "reason": str(x.reason),
            "detail": x.detail[:2000],
            "at": utcnow(),
        }
        for x in rejected
    ]
    return insert_ignore(session, t.Rejection, rows)


_TEXT_COLUMNS = (
    t.Document.id,
    t.Document.text,
    t.Document.body_end,
    t.Document.mt_score,
    t.Document.published_at,
    t.Document.cluster_id,
    t.Document.duplicate_of,
)


def load_texts(session: Session, ids: Iterable[str]) -> list[r.StoredText]:
    """Return what clustering needs of stored documents (text, body end, MT score, cluster)."""
    rows = rows_in(session, select(*_TEXT_COLUMNS), t.Document.id, ids)
    return [r.StoredText(**row._mapping) for row in rows]


def move_canonical(session: Session, cluster_id: str, canonical_id: str) -> None:
    """Make `canonical_id` the member every other document of its cluster duplicates."""
    session.execute(
        update(t.Document).where(t.Document.cluster_id == cluster_id).values(duplicate_of=None)
    )
    session.execute(
        update(t.Document)
        .where(t.Document.cluster_id == cluster_id, t.Document.id != canonical_id)
        .values(duplicate_of=canonical_id)
    )


def move_to_clusters(session: Session, moves: Mapping[str, str]) -> None:
    """Put stored documents, and their stances, into other clusters ({document id: cluster id}):
    a run's later chunk brought a better-ranked copy one batch would have placed first."""
    for document_id, cluster_id in moves.items():
        session.execute(
            update(t.Document).where(t.Document.id == document_id).values(cluster_id=cluster_id)
        )
        session.execute(
            update(t.StanceObservation)
            .where(t.StanceObservation.document_id == document_id)
            .values(cluster_id=cluster_id)
        )


def cluster_members(session: Session, cluster_ids: Iterable[str]) -> list[r.StoredText]:
    """Return what the canonical rule needs of every member of the clusters (no text)."""
    columns = [c for c in _TEXT_COLUMNS if c is not t.Document.text]
    rows = rows_in(session, select(*columns), t.Document.cluster_id, cluster_ids)
    return [r.StoredText(text="", **row._mapping) for row in rows]


def to_document(row: t.Document) -> r.Document:
    """Return the record of a stored document (for re-analysis)."""
    return r.Document(
        id=row.id,
        source_id=row.source_id,
        url=row.url,
        canonical_url=row.canonical_url,
        title=row.title,
        text=row.text,
        content_hash=row.content_hash,
        fetched_at=row.fetched_at,
        published_at=row.published_at,
        date_source=r.DateSource(row.date_source),
        guid=row.guid,
        raw_hash=row.raw_hash,
        kind=row.kind,
        body_end=row.body_end,
        language_hint=row.language if row.language != "und" else None,
        mt_artifacts=tuple(r.MTArtifact(**a) for a in row.mt_artifacts if a.get("start") is None),
        cluster_id=row.cluster_id,
        duplicate_of=row.duplicate_of,
    )


def documents_since(session: Session, since: datetime) -> list[r.Document]:
    """Return the stored documents published at or after `since`, oldest first."""
    statement = (
        select(t.Document)
        .where(t.Document.published_at >= since)
        .order_by(t.Document.published_at, t.Document.id)
    )
    return [to_document(row) for row in session.execute(statement).scalars()]


def replace_analysis(session: Session, ids: Sequence[str]) -> set[tuple[str, str]]:
    """Delete the mentions and stances of `ids`; return the (party, demand) pairs they held."""
    if not ids:
        return set()
    pairs = {
        (row[0], row[1])
        for row in session.execute(
            select(t.StanceObservation.party_id, t.StanceObservation.demand_id).where(
                t.StanceObservation.document_id.in_(ids)
            )
        )
    }
    for model in (t.StanceObservation, t.Mention):
        session.execute(delete(model).where(model.document_id.in_(ids)))
    return pairs


def update_descriptions(session: Session, docs: Sequence[r.Document]) -> None:
    """Store re-computed language and MT fields of documents."""
    for doc in docs:
        row = document_row(doc, None)
        session.execute(
            update(t.Document)
            .where(t.Document.id == doc.id)
            .values(
                language=row["language"],
                languages=row["languages"],
                segments=row["segments"],
                mt_score=row["mt_score"],
                mt_artifacts=row["mt_artifacts"],
                body_end=row["body_end"],
            )
        )
