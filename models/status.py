"""What the command line reports: what one run found, and the state of the installation
(last runs, failing sources, the outbox), read in a few small queries."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from shiftwatch.models import tables as t
from shiftwatch.models.reports import source_label, source_names

FAILING = ("failing", "dead")  # source health columns that mean "not answering"


@dataclass(frozen=True, kw_only=True)
class RunFindings:
    """What one run left in storage beyond its counts: new stances, its shifts' alerts."""

    stances: int = 0
    alerts: dict[str, int] = field(default_factory=dict)  # status -> alerts of its shifts
    previews: tuple[str, ...] = ()  # payload files written since it began (--no-deliver)


@dataclass(frozen=True, kw_only=True)
class RunLine:
    """One run as `shiftwatch status` lists it."""

    id: str
    flow: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, Any]
    failing: tuple[str, ...]  # labels of the sources that failed in it


@dataclass(frozen=True, kw_only=True)
class SourceLine:
    """A source that is failing, named as users know it."""

    label: str
    kind: str
    status: str
    failures: int
    last_error: str | None


@dataclass(frozen=True, kw_only=True)
class StatusReport:
    runs: tuple[RunLine, ...]
    failing_sources: tuple[SourceLine, ...]
    sources: int
    outbox: dict[str, int]


def run_findings(session: Session, run_id: str) -> RunFindings:
    """Return the stances stored by `run_id`'s documents and the alerts of its shifts."""
    stances = session.execute(
        select(func.count())
        .select_from(t.StanceObservation)
        .join(t.Document, t.Document.id == t.StanceObservation.document_id)
        .where(t.Document.run_id == run_id)
    ).scalar()
    rows = session.execute(
        select(t.Alert.status, func.count())
        .join(t.Shift, t.Shift.id == t.Alert.shift_id)
        .where(t.Shift.run_id == run_id)
        .group_by(t.Alert.status)
    )
    started = select(t.Run.started_at).where(t.Run.id == run_id).scalar_subquery()
    written = session.execute(
        select(t.Delivery.detail)
        .where(t.Delivery.outcome == "written", t.Delivery.at >= started)
        .order_by(t.Delivery.at)
    )
    return RunFindings(
        stances=int(stances or 0),
        alerts={s: int(n) for s, n in rows},
        previews=tuple(str(p) for (p,) in written if p),
    )


def _failed_in(sources: list[dict[str, Any]] | None) -> list[str]:
    return [str(s.get("source_id")) for s in sources or [] if s.get("status") == "failed"]


def status_report(session: Session, runs: int = 5) -> StatusReport:
    """Return the last `runs` runs, the failing sources and the outbox's counts."""
    rows = list(
        session.execute(select(t.Run).order_by(t.Run.started_at.desc()).limit(runs)).scalars()
    )
    labels = source_names(session, sorted({i for r in rows for i in _failed_in(r.sources)}))
    lines = tuple(
        RunLine(
            id=r.id,
            flow=r.flow,
            status=r.status,
            started_at=r.started_at,
            finished_at=r.finished_at,
            counts=dict(r.counts or {}),
            failing=tuple(labels.get(i, i) for i in _failed_in(r.sources)),
        )
        for r in rows
    )
    failing = session.execute(
        select(t.Source).where(t.Source.status.in_(FAILING)).order_by(t.Source.url)
    ).scalars()
    outbox = Counter(
        {
            s: int(n)
            for s, n in session.execute(
                select(t.Alert.status, func.count()).group_by(t.Alert.status)
            )
        }
    )
    return StatusReport(
        runs=lines,
        failing_sources=tuple(
            SourceLine(
                label=source_label("", s.id, s.name) if s.kind == "file" else s.name or s.url,
                kind=s.kind,
                status=s.status,
                failures=s.failures,
                last_error=s.last_error,
            )
            for s in failing
        ),
        sources=int(session.execute(select(func.count()).select_from(t.Source)).scalar() or 0),
        outbox=dict(outbox),
    )


def held_alerts(session: Session, run_id: str) -> list[tuple[str, str, str]]:
    """Return (shift id, channel, dedupe key) of the held alerts of `run_id`'s shifts."""
    rows = session.execute(
        select(t.Alert.shift_id, t.Alert.channel, t.Alert.dedupe_key)
        .join(t.Shift, t.Shift.id == t.Alert.shift_id)
        .where(t.Shift.run_id == run_id, t.Alert.status == "held")
        .order_by(t.Alert.shift_id, t.Alert.channel)
    )
    return [(s, c, k) for s, c, k in rows]
