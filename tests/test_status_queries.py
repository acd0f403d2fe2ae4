"""What `run` and `status` read from storage, on every backend: a run's findings (stances of
its documents, alerts of its shifts, previews written) and the installation's status."""

from __future__ import annotations

from alerting_support import DAY1, DAY2, observation, record, save_documents, shift
from sqlalchemy import update

from shiftwatch.models import sources as source_store
from shiftwatch.models import stances as stance_store
from shiftwatch.models import tables as t
from shiftwatch.models.db import session_scope
from shiftwatch.models.status import held_alerts, run_findings, status_report
from shiftwatch.records import SourceRef, Stance


def test_run_findings_count_its_stances_and_its_shifts_alerts(engine):
    save_documents(engine)  # stored by "run-test"
    with session_scope(engine) as session:
        source_store.start_run(session, "run-test", "monitor", None)
        stance_store.save_stances(
            session,
            [
                observation("doc-day1", Stance.OPPOSES, DAY1, "We reject these talks."),
                observation("doc-day2", Stance.OPEN, DAY2, "Ready to discuss."),
            ],
        )
    record(engine, [shift()], ["slack"])  # pending on slack, held on email
    with session_scope(engine) as session:
        found = run_findings(session, "run-test")
        other = run_findings(session, "run-other")
        held = held_alerts(session, "run-test")
    assert found.stances == 2 and found.alerts == {"pending": 1, "held": 1}
    assert found.previews == ()
    assert (other.stances, other.alerts) == (0, {})
    assert [(s, c) for s, c, _ in held] == [("shift-arms-1", "email")]


def test_status_report_lists_runs_failing_sources_and_the_outbox(engine):
    feeds = [
        SourceRef(id="feed-a", kind="feed", url="https://a.example/rss", name="Agency A"),
        SourceRef(id="feed-b", kind="feed", url="https://b.example/rss"),
    ]
    save_documents(engine)
    with session_scope(engine) as session:
        source_store.ensure_sources(session, feeds)
        session.execute(update(t.Source).where(t.Source.id == "feed-b").values(status="dead"))
        for run in ("run-1", "run-2"):
            source_store.start_run(session, run, "monitor", None)
        source_store.finish_run(
            session, "run-2", "completed", {"new": 3}, [{"source_id": "feed-a", "status": "failed"}]
        )
    record(engine, [shift()], [])
    with session_scope(engine) as session:
        report = status_report(session, runs=1)
    assert len(report.runs) == 1
    assert report.sources == 2 and report.outbox == {"held": 2}
    assert [(s.label, s.status) for s in report.failing_sources] == [
        ("https://b.example/rss", "dead")
    ]
    with session_scope(engine) as session:
        both = status_report(session, runs=5).runs
    finished = next(r for r in both if r.id == "run-2")
    assert finished.failing == ("Agency A",) and finished.counts == {"new": 3}
