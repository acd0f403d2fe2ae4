"""Acceptance: a two-day timeline in which Russia moves from opposing to `open` on
arms-control talks produces exactly one Slack message and one email across three runs, with
mention and link injection from the news arriving escaped. Real servers on loopback: an HTTP
endpoint standing in for Slack, aiosmtpd for mail; SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import yaml
from alerting_support import (
    DAY1,
    DAY2,
    Inbox,
    document,
    observation,
    settings,
    smtp_server,
)
from conftest import FIXTURES
from sqlalchemy import select

from shiftwatch.models import documents as document_store
from shiftwatch.models import outbox
from shiftwatch.models import stances as stance_store
from shiftwatch.models import tables as t
from shiftwatch.models.db import open_database, session_scope
from shiftwatch.pipeline.deliver import configured_channels, record_shifts, run_delivery
from shiftwatch.records import Shift, Stance

CASE = FIXTURES / "alerts"
EXPECT = yaml.safe_load((CASE / "expect.yaml").read_text(encoding="utf-8"))
HOOK = "/services/T00000000/B00000000/e2e"
DAY2_QUOTE = (
    "Russia is ready to discuss arms control and missile placement "
    "<!channel> @here <https://evil.example|click>"
)


@pytest.fixture
def servers(httpserver):
    """Yield (inbox, smtp port, slack url): both channels answering on loopback."""
    inbox = Inbox()
    controller, port = smtp_server(inbox)
    httpserver.expect_request(HOOK, method="POST").respond_with_data("ok")
    yield inbox, port, httpserver.url_for(HOOK)
    controller.stop()


def _config(url: str, tmp_path: Path, port: int, hook: str):
    return settings(
        url,
        tmp_path,
        slack_webhook_url=hook,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        email_from="shiftwatch@example.org",
        email_to="analysts@example.org",
    )


def _run(engine, cfg, watchlist, day: int) -> None:
    """One monitor-like run: store the day's news, record what shifted, deliver."""
    docs = [document("doc-day1", DAY1, "Moscow rules out arms control talks")]
    stances = [
        observation("doc-day1", Stance.OPPOSES, DAY1, "We reject any talks on arms control.")
    ]
    shifts: list[Shift] = []
    if day >= 2:
        docs.append(document("doc-day2", DAY2, "Russia ready to discuss arms control"))
        stances.append(observation("doc-day2", Stance.OPEN, DAY2, DAY2_QUOTE))
        shifts.append(
            Shift(
                id="shift-russia-arms-opposes-open",
                party_id="russia",
                demand_id="arms-control-talks",
                from_stance=Stance.OPPOSES,
                to_stance=Stance.OPEN,
                at=DAY2,
                evidence_document_ids=("doc-day1", "doc-day2"),
                evidence=tuple(stances),
            )
        )
    with session_scope(engine) as session:  # one transaction: news, shifts and their alerts
        document_store.save_documents(session, docs, f"run-day{day}")
        stance_store.save_stances(session, stances)
        record_shifts(session, shifts, configured_channels(cfg), f"run-day{day}")
    run_delivery(engine, cfg, watchlist, owner=f"run-day{day}")


def _check_escaped(httpserver, inbox: Inbox) -> None:
    slack = httpserver.log[0][0].get_data(as_text=True)
    html = inbox.messages[0].get_body(("html",)).get_content()
    for raw in EXPECT["must_not_appear"]:
        assert raw not in slack and raw not in html
    texts = [b["text"]["text"] for b in json.loads(slack)["blocks"] if "text" in b]
    assert any(EXPECT["escaped_in_slack"] in text for text in texts)
    assert EXPECT["escaped_in_html"] in html


def test_a_two_day_timeline_alerts_once_across_three_runs(
    engine, database_url, watchlist, tmp_path, servers, httpserver
):
    inbox, port, hook = servers
    cfg = _config(database_url, tmp_path, port, hook)
    for day in (1, 2, 2):
        _run(engine, cfg, watchlist, day)
    assert len(httpserver.log) == EXPECT["slack_messages"]
    assert len(inbox.messages) == EXPECT["emails"]
    assert "Russia shifted on Arms-control talks" in inbox.messages[0]["Subject"]
    _check_escaped(httpserver, inbox)
    with session_scope(engine) as session:
        alerts = list(session.execute(select(t.Alert)).scalars())
    assert sorted((a.channel, a.status, a.attempts) for a in alerts) == [
        ("email", "sent", 1),
        ("slack", "sent", 1),
    ]


def test_two_deliveries_at_once_send_each_alert_once(
    engine, database_url, watchlist, tmp_path, servers, httpserver
):
    inbox, port, hook = servers
    cfg = _config(database_url, tmp_path, port, hook)
    with session_scope(engine) as session:
        document_store.save_documents(
            session, [document("doc-day1", DAY1, "t"), document("doc-day2", DAY2, "t")], "r"
        )
        shifts = [
            Shift(
                id=f"shift-{i}",
                party_id="russia",
                demand_id=f"demand-{i}",
                from_stance=Stance.OPPOSES,
                to_stance=Stance.OPEN,
                at=DAY2,
                evidence_document_ids=("doc-day2",),
                evidence=(observation("doc-day2", Stance.OPEN, DAY2, f"quote {i}"),),
            )
            for i in range(6)
        ]
        record_shifts(session, shifts, ["slack", "email"], "r")
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def deliver(owner: str) -> None:
        try:
            barrier.wait()
            run_delivery(engine, cfg, watchlist, owner=owner)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    keys = [m["X-Shiftwatch-Key"] for m in inbox.messages]
    assert sorted(keys) == sorted(f"shift-{i}:email" for i in range(6))
    assert len(httpserver.log) == 6
    slack_keys = {
        json.loads(r.get_data())["blocks"][-1]["elements"][0]["text"].split("`")[1]
        for r, _ in httpserver.log
    }
    assert slack_keys == {f"shift-{i}:slack" for i in range(6)}


@pytest.mark.prefect
def test_the_monitor_alerts_once_across_three_runs(
    prefect_harness, servers, httpserver, tmp_path, monkeypatch
):
    """The real monitor flow over text files; the stance stage finds the shift itself."""
    from shiftwatch.flows.monitor import monitor

    inbox, port, hook = servers
    for key, value in {
        "SHIFTWATCH_SLACK_WEBHOOK_URL": hook,
        "SHIFTWATCH_SLACK_MIN_INTERVAL_S": "0",
        "SHIFTWATCH_SMTP_HOST": "127.0.0.1",
        "SHIFTWATCH_SMTP_PORT": str(port),
        "SHIFTWATCH_SMTP_SECURITY": "none",
        "SHIFTWATCH_EMAIL_FROM": "shiftwatch@example.org",
        "SHIFTWATCH_EMAIL_TO": "analysts@example.org",
    }.items():
        monkeypatch.setenv(key, value)
    url = f"sqlite:///{tmp_path / 'monitor.db'}"
    summaries = [
        monitor(seeds=[str(CASE / day) for day in days], database_url=url)
        for days in EXPECT["runs"]
    ]
    assert [s["alerts"]["sent"] for s in summaries] == [0, 2, 0]
    assert len(httpserver.log) == EXPECT["slack_messages"]
    assert len(inbox.messages) == EXPECT["emails"]
    _check_escaped(httpserver, inbox)
    engine = open_database(url)
    with session_scope(engine) as session:
        (row,) = session.execute(select(t.Shift)).scalars()
    engine.dispose()
    want = EXPECT["shift"]
    assert (row.party_id, row.demand_id, row.from_stance, row.to_stance) == (
        want["party"],
        want["demand"],
        want["from"],
        want["to"],
    )


def test_the_retry_condition_accepts_transient_delivery_errors_only():
    from prefect.states import Failed

    from shiftwatch.errors import PermanentDeliveryError, TransientDeliveryError
    from shiftwatch.flows.deliver import transient_only

    def state(exc: BaseException):
        return Failed(data=exc)

    assert transient_only(None, None, state(TransientDeliveryError("503"))) is True
    assert transient_only(None, None, state(PermanentDeliveryError("404"))) is False
    assert transient_only(None, None, state(RuntimeError("bug"))) is False


@pytest.mark.prefect
def test_the_delivery_task_retries_a_transient_failure(
    prefect_harness, httpserver, watchlist, tmp_path, monkeypatch
):
    from prefect import flow

    from shiftwatch.flows.deliver import deliver_alerts

    monkeypatch.setattr(outbox, "BACKOFF_BASE_S", 0.01)  # the outbox's wait, shrunk for the test
    httpserver.expect_ordered_request(HOOK).respond_with_data("rollup_error", status=500)
    httpserver.expect_ordered_request(HOOK).respond_with_data("ok")
    url = f"sqlite:///{tmp_path / 'retry.db'}"
    engine = open_database(url)
    cfg = settings(url, tmp_path, slack_webhook_url=httpserver.url_for(HOOK))
    with session_scope(engine) as session:
        document_store.save_documents(session, [document("doc-day2", DAY2, "t")], "r")
        record_shifts(
            session,
            [
                Shift(
                    id="shift-retry",
                    party_id="russia",
                    demand_id="arms-control-talks",
                    from_stance=Stance.OPPOSES,
                    to_stance=Stance.OPEN,
                    at=DAY2,
                    evidence_document_ids=("doc-day2",),
                    evidence=(observation("doc-day2", Stance.OPEN, DAY2, "Ready to talk."),),
                )
            ],
            ["slack"],
            "r",
        )

    @flow
    def deliver_once() -> dict:
        return deliver_alerts.with_options(retry_delay_seconds=0.2)(engine, cfg, watchlist, "r")

    report = deliver_once()
    assert report["sent"] == 1 and len(httpserver.log) == 2
    with session_scope(engine) as session:
        outcomes = [d.outcome for d in session.execute(select(t.Delivery)).scalars()]
    assert outcomes == ["retry", "sent"]
    engine.dispose()
