"""Sources and runs: what a run reads, its polling state and health, and how runs ended."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session

from shiftwatch import records as r
from shiftwatch.models import tables as t
from shiftwatch.models.rows import insert_ignore
from shiftwatch.models.tables import utcnow
from shiftwatch.records import RunStatus


def ensure_sources(session: Session, sources: Sequence[r.SourceRef]) -> None:
    """Create source rows that do not exist yet."""
    insert_ignore(session, t.Source, [{"created_at": utcnow(), **asdict(s)} for s in sources])


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
        t.Run.flow == "monitor", t.Run.status == RunStatus.COMPLETED,
        t.Run.started_at <= fetched, t.Run.finished_at >= fetched,
    )  # fmt: skip
    unfinished = select(t.Run.id).where(
        t.Run.flow == "monitor", t.Run.status != RunStatus.COMPLETED, t.Run.started_at <= fetched
    )
    statement = select(t.Source.id).where(
        t.Source.id.in_(wanted), fetched.is_not(None), ~covered.exists(), unfinished.exists()
    )
    return {row[0] for row in session.execute(statement)}


def feed_health(session: Session) -> list[r.FeedHealth]:
    """Return every feed source's health, for `shiftwatch feeds health`."""
    statement = select(t.Source).where(t.Source.kind == "feed").order_by(t.Source.url)
    return [
        r.FeedHealth(
            url=s.url,
            name=s.name,
            status=s.status,
            last_fetched_at=s.last_fetched_at,
            next_poll_at=s.next_poll_at,
            failures=s.failures,
            error_score=s.error_score,
            last_error=s.last_error,
        )
        for s in session.execute(statement).scalars()
    ]


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
                "status": RunStatus.RUNNING,
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
    running = select(t.Run.id).where(t.Run.status == RunStatus.RUNNING, t.Run.id != run_id)
    rows = session.execute(
        select(t.Document.run_id, t.Document.id).where(t.Document.run_id.in_(running))
    )
    out: dict[str, list[str]] = {}
    for run, document in rows:
        out.setdefault(run, []).append(document)
    return out


def mark_runs_interrupted(session: Session, run_ids: Sequence[str]) -> None:
    """Record that runs died and another run carried their documents through positions."""
    if run_ids:
        session.execute(
            update(t.Run)
            .where(t.Run.id.in_(list(run_ids)), t.Run.status == RunStatus.RUNNING)
            .values(status=RunStatus.INTERRUPTED, finished_at=utcnow())
        )


def last_run_end(session: Session, flow: str) -> datetime | None:
    """Return when the last finished run of `flow` ended."""
    finished = (t.Run.flow == flow, t.Run.status == RunStatus.COMPLETED)
    statement = select(t.Run.finished_at).where(*finished)
    return session.execute(statement.order_by(t.Run.finished_at.desc()).limit(1)).scalar()
