"""Reads and writes the pipeline makes, batched, idempotent, the same on SQLite and PostgreSQL.

Every insert is insert-or-ignore on a natural key, so a re-run, a retry or two runs at once
store nothing twice. Functions take a session and plain records; ORM rows never leave here.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel

from shiftwatch import records as r
from shiftwatch.models import tables as t
from shiftwatch.models.tables import utcnow

CHUNK = 500  # rows per INSERT statement: below SQLite's variable limit for our widest table


def insert_ignore(
    session: Session, model: type[SQLModel], rows: Iterable[Mapping[str, Any]]
) -> int:
    """Insert `rows`, skipping those whose unique key exists; return how many were new.

    `rows` is consumed `CHUNK` rows at a time, so a caller may pass a generator and never hold
    every row of a big batch at once (750,000 mention rows for 10,000 documents)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = model.__table__  # type: ignore[attr-defined]
    key = list(table.primary_key.columns)
    # One statement compiled once, its parameters sent as batches ("insertmanyvalues"): a
    # multi-row VALUES built per chunk cost ~0.5 ms a row to compile (bench/PROFILE.md).
    uniform = insert(table).on_conflict_do_nothing().returning(*key)
    added = 0
    rows = iter(rows)
    while chunk := list(itertools.islice(rows, CHUNK)):
        # RETURNING counts what was really inserted (rowcount is -1 for psycopg batches).
        if len({frozenset(row) for row in chunk}) == 1:
            added += len(session.execute(uniform, chunk).all())
        else:  # rows with different columns: defaults fill the gaps
            statement = insert(model).values(chunk).on_conflict_do_nothing()
            added += len(session.execute(statement.returning(*key)).all())
    return added


def known_raw_hashes(session: Session, hashes: Iterable[str]) -> set[str]:
    """Return which fetched-bytes hashes are already stored (unchanged input costs nothing)."""
    wanted = list(set(hashes))
    found: set[str] = set()
    for i in range(0, len(wanted), CHUNK):
        rows = session.exec(
            select(t.Document.raw_hash).where(t.Document.raw_hash.in_(wanted[i : i + CHUNK]))
        )
        found.update(row[0] for row in rows)
    return found


def existing_documents(session: Session, ids: Iterable[str]) -> dict[str, str]:
    """Return {document id: content hash} for the ids already stored."""
    wanted = list(set(ids))
    found: dict[str, str] = {}
    for i in range(0, len(wanted), CHUNK):
        statement = select(t.Document.id, t.Document.content_hash).where(
            t.Document.id.in_(wanted[i : i + CHUNK])
        )
        found.update((row[0], row[1]) for row in session.execute(statement))
    return found


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def flat_row(record: Any) -> dict[str, Any]:
    """Return a record's fields as a dict, without `asdict`'s recursive deep copy (which cost
    more than the INSERT itself); nested records are converted by the caller."""
    return {name: getattr(record, name) for name in _field_names(type(record))}


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
    for model in (t.StanceObservation, t.Mention, t.Signature):
        session.execute(delete(model).where(model.document_id.in_(ids)))
    session.execute(delete(t.Document).where(t.Document.id.in_(ids)))


def save_documents(session: Session, docs: Sequence[r.Document], run_id: str | None) -> int:
    """Insert document rows; return how many were new."""
    return insert_ignore(session, t.Document, (document_row(d, run_id) for d in docs))


def save_mentions(session: Session, mentions: Sequence[r.Mention]) -> int:
    """Insert mention rows; return how many were new."""
    rows = ({**flat_row(m), "kind": str(m.kind)} for m in mentions)
    return insert_ignore(session, t.Mention, rows)


def stance_row(obs: r.StanceObservation) -> dict[str, Any]:
    """Return the table row for a stance observation."""
    return {**flat_row(obs), "stance": str(obs.stance)}


_STANCE_KEY = ("document_id", "party_id", "demand_id", "evidence_start", "actor_id")


def save_stances(session: Session, stances: Sequence[r.StanceObservation]) -> int:
    """Insert stance rows; return how many were new.

    The unique key holds `actor_id`, NULL for a party's own stance, and SQL never finds two
    NULLs equal: insert-or-ignore alone would store such a stance again when two runs ingest
    one document at once. Existing keys are skipped here; the documents were inserted
    earlier in the same transaction, so a concurrent run waits on them and then sees ours.
    """
    rows = [stance_row(s) for s in stances]
    known = _stance_keys(session, {row["document_id"] for row in rows})
    fresh = [row for row in rows if tuple(row[k] for k in _STANCE_KEY) not in known]
    return insert_ignore(session, t.StanceObservation, fresh)


def _stance_keys(session: Session, document_ids: set[str]) -> set[tuple[Any, ...]]:
    """Return the unique keys of the stances stored for the given documents."""
    wanted = list(document_ids)
    columns = [getattr(t.StanceObservation, k) for k in _STANCE_KEY]
    keys: set[tuple[Any, ...]] = set()
    for i in range(0, len(wanted), CHUNK):
        statement = select(*columns).where(
            t.StanceObservation.document_id.in_(wanted[i : i + CHUNK])
        )
        keys.update(tuple(row) for row in session.execute(statement))
    return keys


def save_signatures(session: Session, signatures: Mapping[str, bytes]) -> int:
    """Insert MinHash signatures by document id."""
    rows = [{"document_id": k, "minhash": v} for k, v in signatures.items()]
    return insert_ignore(session, t.Signature, rows)


def load_signatures(session: Session) -> list[tuple[str, bytes]]:
    """Return every stored signature (the dedupe index is rebuilt from these, not from text)."""
    return [
        (row[0], row[1])
        for row in session.execute(select(t.Signature.document_id, t.Signature.minhash))
    ]


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


def ensure_sources(session: Session, sources: Sequence[Mapping[str, Any]]) -> None:
    """Create source rows that do not exist yet (id, kind, url, name...)."""
    insert_ignore(session, t.Source, [{"created_at": utcnow(), **s} for s in sources])


_STANCE_COLUMNS = tuple(
    getattr(t.StanceObservation, name)
    for name in (
        "document_id",
        "party_id",
        "actor_id",
        "demand_id",
        "stance",
        "confidence",
        "evidence",
        "evidence_start",
        "published_at",
        "machine_translated",
        "reported",
        "statement_id",
        "cluster_id",
    )
)


def to_observation(row: t.StanceObservation) -> r.StanceObservation:
    """Return the record for a stored stance row."""
    return r.StanceObservation(
        document_id=row.document_id,
        party_id=row.party_id,
        actor_id=row.actor_id,
        demand_id=row.demand_id,
        stance=r.Stance(row.stance),
        confidence=row.confidence,
        evidence=row.evidence,
        evidence_start=row.evidence_start,
        published_at=row.published_at,
        machine_translated=row.machine_translated,
        reported=row.reported,
        statement_id=row.statement_id,
        cluster_id=row.cluster_id,
    )


def load_stances(
    session: Session, pairs: Iterable[tuple[str, str]] | None = None
) -> list[r.StanceObservation]:
    """Return stored observations for the given (party, demand) pairs, or all of them.

    Plain columns, not ORM objects: a run replays every observation of the pairs it touched,
    and building ORM instances cost more than reading the rows (bench/PROFILE.md)."""
    statement = select(*_STANCE_COLUMNS)
    if pairs is not None:
        wanted = set(pairs)
        if not wanted:
            return []
        statement = statement.where(
            t.StanceObservation.party_id.in_({p for p, _ in wanted}),
            t.StanceObservation.demand_id.in_({d for _, d in wanted}),
        )
    rows = session.execute(statement)
    out = [to_observation(row) for row in rows]  # type: ignore[arg-type]
    return out if pairs is None else [o for o in out if (o.party_id, o.demand_id) in wanted]


def start_run(session: Session, run_id: str, flow: str, flow_run_id: str | None) -> None:
    """Record that a run began."""
    insert_ignore(
        session,
        t.Run,
        [
            {
                "id": run_id,
                "flow": flow,
                "flow_run_id": flow_run_id,
                "started_at": utcnow(),
                "status": "running",
            }
        ],
    )


def finish_run(
    session: Session,
    run_id: str,
    status: str,
    counts: Mapping[str, Any],
    sources: Sequence[Mapping[str, Any]],
) -> None:
    """Record how a run ended, with its counts and per-source health."""
    session.execute(
        update(t.Run)
        .where(t.Run.id == run_id)
        .values(finished_at=utcnow(), status=status, counts=dict(counts), sources=list(sources))
    )


def unfinished_run_documents(session: Session, run_id: str) -> dict[str, list[str]]:
    """Return {run id: its document ids} for the other runs still marked running: runs that
    died (kill -9, a crash) after storing documents, perhaps before updating positions."""
    running = select(t.Run.id).where(t.Run.status == "running", t.Run.id != run_id)
    rows = session.execute(
        select(t.Document.run_id, t.Document.id).where(t.Document.run_id.in_(running))
    )
    out: dict[str, list[str]] = {}
    for run, document in rows:
        out.setdefault(run, []).append(document)
    return out


def stance_pairs(session: Session, document_ids: Iterable[str]) -> set[tuple[str, str]]:
    """Return the (party, demand) pairs the given documents hold stances on."""
    wanted = list(set(document_ids))
    found: set[tuple[str, str]] = set()
    for i in range(0, len(wanted), CHUNK):
        statement = select(t.StanceObservation.party_id, t.StanceObservation.demand_id).where(
            t.StanceObservation.document_id.in_(wanted[i : i + CHUNK])
        )
        found.update((row[0], row[1]) for row in session.execute(statement.distinct()))
    return found


def mark_runs_interrupted(session: Session, run_ids: Sequence[str]) -> None:
    """Record that runs died and another run carried their documents through positions."""
    if run_ids:
        session.execute(
            update(t.Run)
            .where(t.Run.id.in_(list(run_ids)), t.Run.status == "running")
            .values(status="interrupted", finished_at=utcnow())
        )


def last_run_end(session: Session, flow: str) -> datetime | None:
    """Return when the last finished run of `flow` ended."""
    statement = select(t.Run.finished_at).where(t.Run.flow == flow, t.Run.status == "completed")
    return session.execute(statement.order_by(t.Run.finished_at.desc()).limit(1)).scalar()


def shift_row(shift: r.Shift, run_id: str | None) -> dict[str, Any]:
    """Return the table row of a shift; evidence items say which side of the change they are."""
    evidence = [
        {
            **_json_ready(stance_row(o)),
            "side": "before" if o.stance == shift.from_stance else "after",
        }
        for o in shift.evidence
    ]
    return {
        "id": shift.id,
        "party_id": shift.party_id,
        "demand_id": shift.demand_id,
        "from_stance": str(shift.from_stance),
        "to_stance": str(shift.to_stance),
        "at": shift.at,
        "confirmed": shift.confirmed,
        "retroactive": shift.retroactive,
        "evidence_document_ids": list(shift.evidence_document_ids),
        "evidence": evidence,
        "detected_at": utcnow(),
        "run_id": run_id,
    }


def _json_ready(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def to_shift(row: t.Shift) -> r.Shift:
    """Return the record of a stored shift (evidence is not needed to recognise it)."""
    return r.Shift(
        id=row.id,
        party_id=row.party_id,
        demand_id=row.demand_id,
        from_stance=r.Stance(row.from_stance),
        to_stance=r.Stance(row.to_stance),
        at=row.at,
        evidence_document_ids=tuple(row.evidence_document_ids),
        confirmed=row.confirmed,
        retroactive=row.retroactive,
    )


def load_shifts(session: Session, pairs: Iterable[tuple[str, str]]) -> list[r.Shift]:
    """Return the stored shifts of the given (party, demand) pairs."""
    wanted = set(pairs)
    if not wanted:
        return []
    statement = select(t.Shift).where(
        t.Shift.party_id.in_({p for p, _ in wanted}), t.Shift.demand_id.in_({d for _, d in wanted})
    )
    rows = session.execute(statement).scalars()
    return [to_shift(row) for row in rows if (row.party_id, row.demand_id) in wanted]


def save_shifts(session: Session, shifts: Sequence[r.Shift], run_id: str | None) -> list[r.Shift]:
    """Store shifts; return those that must now be announced.

    Announced: confirmed, not retroactive, and either new or a held shift just confirmed.
    """
    if not shifts:
        return []
    ids = [s.id for s in shifts]
    held = {
        row[0]
        for row in session.execute(
            select(t.Shift.id).where(t.Shift.id.in_(ids), t.Shift.confirmed.is_(False))
        )
    }
    existing = {row[0] for row in session.execute(select(t.Shift.id).where(t.Shift.id.in_(ids)))}
    insert_ignore(session, t.Shift, [shift_row(s, run_id) for s in shifts])
    announce = []
    for shift in shifts:
        if shift.id in held and shift.confirmed:
            row = shift_row(shift, run_id)
            session.execute(
                update(t.Shift)
                .where(t.Shift.id == shift.id)
                .values(
                    confirmed=True,
                    evidence=row["evidence"],
                    evidence_document_ids=row["evidence_document_ids"],
                    run_id=run_id,
                )
            )
        elif shift.id in existing:
            continue
        if shift.confirmed and not shift.retroactive:
            announce.append(shift)
    return announce


def save_positions(
    session: Session, positions: Sequence[r.Position], pairs: Iterable[tuple[str, str]] = ()
) -> None:
    """Replace the stored positions of `pairs` (and of every pair in `positions`)."""
    for party_id, demand_id in {*pairs, *((p.party_id, p.demand_id) for p in positions)}:
        session.execute(
            delete(t.Position).where(
                t.Position.party_id == party_id, t.Position.demand_id == demand_id
            )
        )
    insert_ignore(
        session,
        t.Position,
        [
            {
                "party_id": p.party_id,
                "demand_id": p.demand_id,
                "stance": str(p.stance),
                "since": p.since,
                "observations": p.observations,
                "confidence": p.confidence,
                "updated_at": utcnow(),
            }
            for p in positions
        ],
    )


def load_source_states(session: Session, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Return the stored polling state (JSON) of the given sources."""
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = session.execute(select(t.Source.id, t.Source.state).where(t.Source.id.in_(wanted)))
    return {row[0]: row[1] for row in rows if row[1]}


def save_source_state(session: Session, source_id: str, values: Mapping[str, Any]) -> None:
    """Update a source's polling state and health columns."""
    session.execute(update(t.Source).where(t.Source.id == source_id).values(**values))


def feeds_fetched_by_unfinished_runs(session: Session, ids: Iterable[str]) -> set[str]:
    """Return the feeds whose last fetch was made by a monitor run that never completed (it
    died, or still runs): their entries may never have been stored, so their validators
    (ETag, Last-Modified, body hash) must not make the next poll skip the body."""
    wanted = list(set(ids))
    if not wanted:
        return set()
    fetched = t.Source.last_fetched_at
    covered = select(t.Run.id).where(
        t.Run.flow == "monitor", t.Run.status == "completed",
        t.Run.started_at <= fetched, t.Run.finished_at >= fetched,
    )  # fmt: skip
    unfinished = select(t.Run.id).where(
        t.Run.flow == "monitor", t.Run.status != "completed", t.Run.started_at <= fetched
    )
    statement = select(t.Source.id).where(
        t.Source.id.in_(wanted), fetched.is_not(None), ~covered.exists(), unfinished.exists()
    )
    return {row[0] for row in session.execute(statement)}


def feed_sources(session: Session) -> list[t.Source]:
    """Return every feed source with its stored state, for `shiftwatch feeds health`."""
    statement = select(t.Source).where(t.Source.kind == "feed").order_by(t.Source.url)
    return list(session.execute(statement).scalars())


def known_urls(session: Session, urls: Iterable[str]) -> set[str]:
    """Return which document URLs are already stored (an article page is fetched once)."""
    wanted = list(set(urls))
    found: set[str] = set()
    for i in range(0, len(wanted), CHUNK):
        rows = session.execute(
            select(t.Document.url).where(t.Document.url.in_(wanted[i : i + CHUNK]))
        )
        found.update(row[0] for row in rows)
    return found


def load_dedupe_rows(session: Session, ids: Iterable[str]) -> list[dict[str, Any]]:
    """Return what clustering needs of stored documents (text, body end, MT score, cluster)."""
    wanted = list(set(ids))
    out: list[dict[str, Any]] = []
    columns = (
        t.Document.id,
        t.Document.text,
        t.Document.body_end,
        t.Document.mt_score,
        t.Document.published_at,
        t.Document.cluster_id,
        t.Document.duplicate_of,
    )
    for i in range(0, len(wanted), CHUNK):
        rows = session.execute(select(*columns).where(t.Document.id.in_(wanted[i : i + CHUNK])))
        out.extend(dict(row._mapping) for row in rows)
    return out


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


def replace_signature(session: Session, document_id: str, blob: bytes) -> None:
    """Overwrite a stored signature made with other parameters."""
    session.execute(
        update(t.Signature).where(t.Signature.document_id == document_id).values(minhash=blob)
    )


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
