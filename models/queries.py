"""Read models: exports and digest data, straight from the tables, in stable order."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlmodel import Session, SQLModel

from shiftwatch.analysis.language.translation import MT_THRESHOLD
from shiftwatch.analysis.positions.reviews import observation_id_of
from shiftwatch.models import reports
from shiftwatch.models import tables as t
from shiftwatch.models.reviews import evidence_id
from shiftwatch.views import DigestData, DocumentView, EvidenceView, HeldChange, ShiftView
from shiftwatch.watchlist import Watchlist

EXPORTS: dict[str, tuple[type[SQLModel], tuple[str, ...], tuple[str, ...]]] = {
    "documents": (
        t.Document,
        (
            "id",
            "url",
            "canonical_url",
            "source_id",
            "title",
            "published_at",
            "date_source",
            "kind",
            "language",
            "languages",
            "mt_score",
            "mt_artifacts",
            "cluster_id",
            "duplicate_of",
            "content_hash",
            "fetched_at",
        ),
        ("published_at", "id"),
    ),
    "mentions": (
        t.Mention,
        ("document_id", "kind", "entity_id", "text", "start", "end"),
        ("document_id", "start", "kind", "entity_id"),
    ),
    "stances": (
        t.StanceObservation,
        (
            "id",
            "document_id",
            "party_id",
            "actor_id",
            "demand_id",
            "stance",
            "confidence",
            "evidence",
            "published_at",
            "machine_translated",
            "reported",
            "statement_id",
            "cluster_id",
            "basis",
            "said_at",
            "review",
        ),
        ("published_at", "document_id", "evidence_start", "party_id", "demand_id"),
    ),
    "positions": (
        t.Position,
        (
            "party_id",
            "demand_id",
            "stance",
            "since",
            "observations",
            "confidence",
            "possible_change",
            "possible_since",
        ),
        ("party_id", "demand_id"),
    ),
    "shifts": (
        t.Shift,
        (
            "id",
            "party_id",
            "demand_id",
            "from_stance",
            "to_stance",
            "at",
            "evidence_document_ids",
            "confirmed",
            "retroactive",
            "detected_at",
            "status",
            "confirmed_at",
            "withdrawn_at",
            "withdrawn_note",
        ),
        ("at", "id"),
    ),
    "alerts": (
        t.Alert,
        (
            "id",
            "shift_id",
            "channel",
            "kind",
            "status",
            "attempts",
            "sent_at",
            "last_error",
            "created_at",
        ),
        ("created_at", "id"),
    ),
    "reviews": (
        t.Review,
        ("id", "target_id", "target_kind", "verdict", "stance", "note", "at", "undone_at"),
        ("at", "id"),
    ),
    "rejections": (
        t.Rejection,
        ("source_id", "item", "stage", "reason", "detail", "at"),
        ("at", "id"),
    ),
    "runs": (
        t.Run,
        ("id", "flow", "flow_run_id", "started_at", "finished_at", "status", "counts"),
        ("started_at", "id"),
    ),
}


def export_rows(session: Session, kind: str) -> Iterator[dict[str, Any]]:
    """Yield the rows of export `kind` as plain dicts with the documented fields."""
    model, fields, order = EXPORTS[kind]
    statement = select(model).order_by(*(getattr(model, c) for c in order))
    verdicts = _verdicts(session) if kind == "stances" else {}
    for row in session.execute(statement).scalars():
        out = {f: getattr(row, f, None) for f in fields}
        if kind == "stances":
            out["id"] = observation_id_of(
                row.document_id, row.evidence_start, row.party_id, row.actor_id, row.demand_id
            )
            out["review"] = verdicts.get(out["id"])
        elif kind == "shifts":
            out["status"] = _shift_status(row)
        elif kind == "documents":
            out["mt_artifacts"] = [
                {"kind": a.get("kind"), "evidence": a.get("evidence"), **a}
                for a in row.mt_artifacts
            ]
        yield out


def _verdicts(session: Session) -> dict[str, str]:
    """Return {observation id: its latest active verdict} (a shift's review counts for the
    observations it voided)."""
    rows = session.execute(
        select(t.Review).where(t.Review.undone_at.is_(None)).order_by(t.Review.at, t.Review.id)
    )
    out = {}
    for review in rows.scalars():
        ids = [review.target_id] if review.target_kind == "stance" else review.observation_ids
        out.update((i, review.verdict) for i in ids or [])
    return out


def _shift_status(row: t.Shift) -> str:
    """Return a shift's status as exports say it: rejected (withdrawn), confirmed, possible."""
    if row.withdrawn_at is not None:
        return "rejected"
    return "confirmed" if row.confirmed else "possible"


def _labels(watchlist: Watchlist) -> dict[tuple[str, str], str]:
    return {(kind, e.id): e.name for kind, e in watchlist.entries()}


def digest_data(
    session: Session,
    watchlist: Watchlist,
    *,
    since: datetime | None = None,
    limit: int = 200,
    health: dict[str, object] | None = None,
    until: datetime | None = None,
) -> DigestData:
    """Return everything a digest shows for what was stored in [since, until)."""
    names = _labels(watchlist)
    rows = _digest_documents(session, since, until, limit)
    ids = [d.id for d in rows]
    mentions = _mention_counts(session, ids)
    copies = Counter(d.duplicate_of for d in rows if d.duplicate_of)
    documents = tuple(
        _digest_document(d, mentions.get(d.id, {}), names, copies.get(d.id, 0)) for d in rows
    )
    now = datetime.now(UTC)
    return DigestData(
        watchlist=watchlist.name,
        generated_at=now,
        since=since,
        until=until,
        documents=documents,
        shifts=_shifts(session, names, since, until),
        parties=tuple((p.id, p.name) for p in watchlist.parties),
        demands=tuple((d.id, d.name) for d in watchlist.demands),
        positions={
            (p.party_id, p.demand_id): p.stance
            for p in session.execute(select(t.Position)).scalars()
        },
        held=_held(session, names),
        possible=tuple(
            (
                names.get(("party", p.party_id), p.party_id),
                names.get(("demand", p.demand_id), p.demand_id),
                p.stance,
                p.possible_change,
                p.possible_since,
            )
            for p in session.execute(
                select(t.Position).where(t.Position.possible_change.is_not(None))
            ).scalars()
        ),
        health=health
        if health is not None
        else {**_health(session, since), **reports.source_failures(session, since, until)},
        rejections=_rejections(session, since),
        statements_by_venue=reports.statements_by_venue(session, names, since, until),
        sources=reports.top_sources(session, since, until),
        timeline=reports.timeline_chart(session, names, since, until or now),
    )


def _digest_documents(
    session: Session, since: datetime | None, until: datetime | None, limit: int
) -> list[t.Document]:
    """Return the window's first `limit` documents: dated ones by publication time, then the
    undated (two queries an index serves, not one sort of every stored document)."""
    window = reports.within(t.Document.created_at, since, until)
    dated = (
        select(t.Document)
        .where(t.Document.published_at.is_not(None), *window)
        .order_by(t.Document.published_at, t.Document.id)
        .limit(limit)
    )
    rows = list(session.execute(dated).scalars())
    if len(rows) < limit:
        undated = (
            select(t.Document)
            .where(t.Document.published_at.is_(None), *window)
            .order_by(t.Document.id)
            .limit(limit - len(rows))
        )
        rows.extend(session.execute(undated).scalars())
    return rows


def _mention_counts(session: Session, ids: list[str]) -> dict[str, dict[tuple[str, str], int]]:
    out: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
    if not ids:
        return out
    statement = (
        select(t.Mention.document_id, t.Mention.kind, t.Mention.entity_id, func.count())
        .where(t.Mention.document_id.in_(ids))
        .group_by(t.Mention.document_id, t.Mention.kind, t.Mention.entity_id)
    )
    for doc_id, kind, entity_id, n in session.execute(statement):
        out[doc_id][(kind, entity_id)] = n
    return out


def _digest_document(
    row: t.Document,
    counts: dict[tuple[str, str], int],
    names: dict[tuple[str, str], str],
    copies: int,
) -> DocumentView:
    def named(kind: str) -> tuple[tuple[str, int], ...]:
        found = [(names.get(k, k[1]), n) for k, n in counts.items() if k[0] == kind]
        return tuple(sorted(found, key=lambda x: (-x[1], x[0])))

    return DocumentView(
        id=row.id,
        title=row.title,
        url=row.url,
        published_at=row.published_at,
        date_source=row.date_source,
        kind=row.kind,
        language=row.language,
        other_languages=tuple(
            x["lang"] for x in row.languages if x.get("lang") not in (row.language, "und")
        ),
        mt_score=row.mt_score,
        mt_kinds=tuple(sorted({a.get("kind", "") for a in row.mt_artifacts})),
        demands=named("demand"),
        venues=named("venue"),
        speakers=tuple(n for n, _ in named("actor")),
        copies=copies,
        duplicate_of=row.duplicate_of,
    )


def _evidence(
    session: Session, items: list[dict[str, Any]], names: dict[tuple[str, str], str]
) -> tuple[EvidenceView, ...]:
    out = []
    for item in items:
        doc = session.get(t.Document, item.get("document_id"))
        out.append(
            EvidenceView(
                id=_observation_id(item),
                said_at=_when(item.get("said_at")),
                quote=str(item.get("evidence", "")),
                speaker=_speaker(item, names),
                source_title=doc.title if doc else "",
                url=doc.url if doc else "",
                published_at=doc.published_at if doc else None,
                machine_translated=bool(item.get("machine_translated")),
                basis=str(item.get("basis") or ""),
                reported=bool(item.get("reported")),
            )
        )
    return tuple(out)


def _observation_id(item: dict[str, Any]) -> str:
    try:
        return evidence_id(item)
    except KeyError:  # evidence stored by hand without its key
        return ""


def _when(value: object) -> datetime | None:
    """Return a datetime stored in JSON as ISO text (None when absent or unreadable)."""
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _speaker(item: dict[str, Any], names: dict[tuple[str, str], str]) -> str:
    if item.get("actor_id"):
        return names.get(("actor", item["actor_id"]), item["actor_id"])
    return names.get(("party", item.get("party_id", "")), str(item.get("party_id", "")))


def _shifts(
    session: Session,
    names: dict[tuple[str, str], str],
    since: datetime | None,
    until: datetime | None = None,
) -> tuple[ShiftView, ...]:
    statement = (
        select(t.Shift)
        .where(t.Shift.confirmed, t.Shift.withdrawn_at.is_(None))
        .order_by(t.Shift.at, t.Shift.id)
    )
    statement = statement.where(*reports.within(t.Shift.detected_at, since, until))
    return tuple(_digest_shift(session, s, names) for s in session.execute(statement).scalars())


def _digest_shift(session: Session, s: t.Shift, names: dict[tuple[str, str], str]) -> ShiftView:
    before = [e for e in s.evidence if e.get("side") == "before"]
    after = [e for e in s.evidence if e.get("side") != "before"]
    return ShiftView(
        party=names.get(("party", s.party_id), s.party_id),
        demand=names.get(("demand", s.demand_id), s.demand_id),
        from_stance=s.from_stance,
        to_stance=s.to_stance,
        at=s.at,
        retroactive=s.retroactive,
        before=_evidence(session, before, names),
        after=_evidence(session, after, names),
        id=s.id,
        confirmed=s.confirmed,
        confirmed_at=s.confirmed_at,
        withdrawn_at=s.withdrawn_at,
        withdrawn_note=s.withdrawn_note or "",
    )


def _held(session: Session, names: dict[tuple[str, str], str]) -> dict[tuple[str, str], HeldChange]:
    """Return the held changes beside the positions, each with its stored possible shift."""
    out = {}
    rows = session.execute(select(t.Position).where(t.Position.possible_change.is_not(None)))
    for p in rows.scalars():
        shift = session.execute(
            select(t.Shift)
            .where(
                t.Shift.party_id == p.party_id,
                t.Shift.demand_id == p.demand_id,
                t.Shift.to_stance == p.possible_change,
                t.Shift.confirmed.is_(False),
                t.Shift.withdrawn_at.is_(None),
            )
            .order_by(t.Shift.detected_at.desc(), t.Shift.id)
            .limit(1)
        ).scalar()
        view = _digest_shift(session, shift, names) if shift is not None else None
        out[(p.party_id, p.demand_id)] = HeldChange(
            stance=str(p.possible_change), since=p.possible_since, shift=view
        )
    return out


def shift_view(session: Session, shift_id: str, watchlist: Watchlist) -> ShiftView | None:
    """Return a stored shift as alerts and digests show it (labels, quotes, sources)."""
    row = session.get(t.Shift, shift_id)
    if row is None:
        return None
    view = _digest_shift(session, row, _labels(watchlist))
    position = session.get(t.Position, (row.party_id, row.demand_id))
    if position is None or not position.possible_change:
        return view
    held = HeldChange(stance=position.possible_change, since=position.possible_since)
    return replace(view, possible=held.label(position.stance))


def _health(session: Session, since: datetime | None) -> dict[str, object]:
    """Return the health lines of the documents stored since `since` (counted in SQL)."""
    window = [t.Document.created_at >= since] if since is not None else []
    rejected = select(func.count()).select_from(t.Rejection)
    if since is not None:
        rejected = rejected.where(t.Rejection.at >= since)
    by_language = select(
        t.Document.language,
        func.count(),
        func.count(t.Document.duplicate_of),
        func.sum(case((t.Document.mt_score >= MT_THRESHOLD, 1), else_=0)),
    ).where(*window)
    rows = list(session.execute(by_language.group_by(t.Document.language)))
    total = sum(r[1] for r in rows)
    duplicates = sum(r[2] for r in rows)
    mt = sum(int(r[3] or 0) for r in rows)
    languages = sorted(((r[0], r[1]) for r in rows), key=lambda kv: (-kv[1], kv[0]))
    return {
        "documents": f"{total - duplicates} original, {duplicates} duplicate, "
        f"{session.execute(rejected).scalar()} rejected",
        "languages": ", ".join(f"{k} {v}" for k, v in languages) or "none",
        "machine-translated": f"{mt} of {total}" + (f" ({100 * mt / total:.0f}%)" if total else ""),
    }


def _rejections(session: Session, since: datetime | None) -> tuple[tuple[str, str, str], ...]:
    statement = select(t.Rejection).order_by(t.Rejection.at.desc()).limit(50)
    if since is not None:
        statement = statement.where(t.Rejection.at >= since)
    return tuple((r.item, r.reason, r.detail or "") for r in session.execute(statement).scalars())


def document_owners(session: Session, ids: Iterable[str]) -> dict[str, tuple[str, str | None]]:
    """Return {document id: (source id, guid)} for the ids already stored: which item holds
    an identity, so another item claiming it is a duplicate, not an edit."""
    wanted = sorted(set(ids))
    found: dict[str, tuple[str, str | None]] = {}
    for i in range(0, len(wanted), 500):
        statement = select(t.Document.id, t.Document.source_id, t.Document.guid).where(
            t.Document.id.in_(wanted[i : i + 500])
        )
        found.update((row[0], (row[1], row[2])) for row in session.execute(statement))
    return found
