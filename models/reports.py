"""Read models for the digest's wider sections: statements per venue, top sources, source
failures and the position timeline. Plain data out; `queries.digest_data` assembles them.

A window is `[since, until)` on the time rows were stored (`created_at`, `detected_at`,
`started_at`): a digest covers what arrived since the last one, whatever its news date.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, func, select
from sqlmodel import Session

from shiftwatch.models import tables as t
from shiftwatch.views import TimelineChart, TimelinePoint, TimelineRow, TimelineShift

Names = Mapping[tuple[str, str], str]
TIMELINE_DAYS = 60  # the picture shows this much history before the digest's end
TOP_SOURCES = 8
FAILING_SHOWN = 3


def within(column: Any, since: datetime | None, until: datetime | None) -> list[Any]:
    """Return the conditions placing `column` in [since, until)."""
    out = []
    if since is not None:
        out.append(column >= since)
    if until is not None:
        out.append(column < until)
    return out


def statements_by_venue(
    session: Session, names: Names, since: datetime | None, until: datetime | None
) -> dict[str, int]:
    """Return {venue name: new statements} for stances in documents stored in the window; a
    statement repeated by several outlets counts once."""
    statement = (
        select(
            t.Mention.entity_id,
            t.StanceObservation.statement_id,
            t.StanceObservation.document_id,
            t.StanceObservation.evidence_start,
        )
        .join(
            t.Mention,
            and_(
                t.Mention.document_id == t.StanceObservation.document_id,
                t.Mention.kind == "venue",
            ),
        )
        .join(t.Document, t.Document.id == t.StanceObservation.document_id)
        .where(*within(t.Document.created_at, since, until))
    )
    seen: dict[str, set[object]] = defaultdict(set)
    for venue, statement_id, document_id, start in session.execute(statement):
        seen[venue].add(statement_id or (document_id, start))
    counts = {names.get(("venue", v), v): len(keys) for v, keys in seen.items()}
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def source_label(url: str, source_id: str, source_name: str | None) -> str:
    """Return how analysts know a document's source: the site for web documents, else the
    configured name or the folder/feed id."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.hostname:
        host = parts.hostname
        return host[4:] if host.startswith("www.") else host
    if source_name:
        return source_name
    return PurePosixPath(source_id.rstrip("/")).name or source_id


def top_sources(
    session: Session, since: datetime | None, until: datetime | None, limit: int = TOP_SOURCES
) -> tuple[tuple[str, int], ...]:
    """Return the busiest sources of the window as (label, documents), most first."""
    statement = (
        select(t.Document.url, t.Document.source_id, t.Source.name)
        .join(t.Source, t.Source.id == t.Document.source_id, isouter=True)
        .where(*within(t.Document.created_at, since, until))
    )
    counts = Counter(source_label(u, s, n) for u, s, n in session.execute(statement))
    return tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit])


def source_failures(
    session: Session, since: datetime | None, until: datetime | None
) -> dict[str, str]:
    """Return the health lines about sources that failed in the window's runs."""
    statement = select(t.Run.sources).where(*within(t.Run.started_at, since, until))
    runs = 0
    failures: Counter[str] = Counter()
    for (sources,) in session.execute(statement):
        runs += 1
        for s in sources or []:
            # a feed that answered (updated, unchanged: 304 or the same body) is healthy
            if s.get("status", "ok") == "failed":
                failures[str(s.get("source_id", "?"))] += 1
    if not runs:
        return {"source failures": "no runs in this period"}
    if not failures:
        return {"source failures": f"none in {runs} run{'s' if runs != 1 else ''}"}
    names = source_names(session, [k for k, _ in failures.most_common(FAILING_SHOWN)])
    shown = ", ".join(f"{names[k]} ({n})" for k, n in failures.most_common(FAILING_SHOWN))
    more = len(failures) - FAILING_SHOWN
    return {
        "source failures": f"{sum(failures.values())} in {runs} runs: {shown}"
        + (f" and {more} more" if more > 0 else "")
    }


def source_names(session: Session, ids: Sequence[str]) -> dict[str, str]:
    """Return how users know each source: its configured name, else its URL or folder."""
    statement = select(t.Source.id, t.Source.url, t.Source.name, t.Source.kind)
    rows = session.execute(statement.where(t.Source.id.in_(list(ids)))) if ids else []
    known = {i: (u, n, k) for i, u, n, k in rows}
    out = {}
    for i in ids:
        url, name, kind = known.get(i, ("", None, "file"))
        out[i] = name or (url if kind != "file" and url else source_label("", i, None))
    return out


def timeline_chart(
    session: Session,
    names: Names,
    since: datetime | None,
    until: datetime,
    days: int = TIMELINE_DAYS,
) -> TimelineChart | None:
    """Return the position timeline of the `days` before the newest evidence stored by
    `until` (None: nothing dated). Anchored on the evidence, not the clock, so a digest of an
    older corpus still has a picture."""
    end = _latest_evidence(session, until)
    if end is None:
        return None
    start = end - timedelta(days=days)
    points: dict[tuple[str, str], list[TimelinePoint]] = defaultdict(list)
    observations = select(
        t.StanceObservation.party_id,
        t.StanceObservation.demand_id,
        t.StanceObservation.stance,
        t.StanceObservation.published_at,
        t.StanceObservation.machine_translated,
    ).where(
        t.StanceObservation.published_at >= start,
        t.StanceObservation.published_at <= end,
    )
    for party, demand, stance, at, mt in session.execute(observations):
        points[(party, demand)].append(
            TimelinePoint(at=at, stance=stance, machine_translated=bool(mt))
        )
    shifts: dict[tuple[str, str], list[TimelineShift]] = defaultdict(list)
    changes = select(t.Shift).where(
        t.Shift.confirmed,
        t.Shift.withdrawn_at.is_(None),  # a review withdrew it: not drawn
        t.Shift.at.is_not(None),
        t.Shift.at >= start,
        t.Shift.at <= end,
    )
    for s in session.execute(changes).scalars():
        shifts[(s.party_id, s.demand_id)].append(
            TimelineShift(at=s.at, from_stance=s.from_stance, to_stance=s.to_stance)
        )
    rows = [_row(pair, points.get(pair, []), shifts.get(pair, []), names) for pair in points]
    rows += [_row(pair, [], shifts[pair], names) for pair in shifts if pair not in points]
    rows.sort(key=lambda row: (-len(row.shifts), -len(row.points), row.party, row.demand))
    window = (max(since, start), end) if since is not None and since < end else None
    return TimelineChart(rows=tuple(rows), window=window)


def _latest_evidence(session: Session, until: datetime) -> datetime | None:
    """Return the newest publication time among observations and shifts up to `until`."""
    observed = select(func.max(t.StanceObservation.published_at)).where(
        t.StanceObservation.published_at <= until
    )
    shifted = select(func.max(t.Shift.at)).where(t.Shift.confirmed, t.Shift.at <= until)
    found = [session.execute(q).scalar() for q in (observed, shifted)]
    dated = [x for x in found if x is not None]
    return max(dated) if dated else None


def _row(
    pair: tuple[str, str],
    points: list[TimelinePoint],
    shifts: list[TimelineShift],
    names: Names,
) -> TimelineRow:
    party, demand = pair
    return TimelineRow(
        party=names.get(("party", party), party),
        demand=names.get(("demand", demand), demand),
        points=tuple(points),
        shifts=tuple(shifts),
    )
