"""The outbox contract on SQLite and PostgreSQL: recorded once, claimed once, sent once."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from alerting_support import record, save_documents, settings, shift
from sqlalchemy import func, select

from shiftwatch.errors import TransientDeliveryError
from shiftwatch.models import outbox
from shiftwatch.models import tables as t
from shiftwatch.models.db import session_scope
from shiftwatch.models.tables import utcnow
from shiftwatch.pipeline.deliver import (
    channels_for,
    close_channels,
    deliver_pending,
    record_shifts,
    run_delivery,
)
from shiftwatch.views import ShiftView

ROOT = Path(__file__).resolve().parents[1]


def _alerts(engine) -> dict[str, t.Alert]:
    with session_scope(engine) as session:
        return {a.dedupe_key: a for a in session.execute(select(t.Alert)).scalars()}


def _deliveries(engine) -> list[t.Delivery]:
    with session_scope(engine) as session:
        statement = select(t.Delivery).order_by(t.Delivery.id)
        return list(session.execute(statement).scalars())


def _count(engine, model) -> int:
    with session_scope(engine) as session:
        return session.execute(select(func.count()).select_from(model)).scalar()


class FakeChannel:
    """A channel that records what it sent (thread-safe), optionally failing."""

    suffix = ".txt"

    def __init__(self, name: str, fail: Exception | None = None, delay_s: float = 0.0):
        self.name, self.fail, self.delay_s = name, fail, delay_s
        self.sent: list[str] = []
        self.lock = threading.Lock()

    def render(self, view: ShiftView, key: str) -> bytes:
        return key.encode()

    def send(self, body: bytes) -> str:
        time.sleep(self.delay_s)
        if self.fail is not None:
            raise self.fail
        with self.lock:
            self.sent.append(body.decode())
        return "ok"


# --- recording ---------------------------------------------------------------------------


def test_a_confirmed_shift_gets_one_alert_per_channel_once(engine):
    save_documents(engine)
    assert record(engine, [shift()], ["slack", "email"]) == 2
    assert record(engine, [shift()], ["slack", "email"]) == 0  # re-run: insert-or-ignore
    alerts = _alerts(engine)
    assert set(alerts) == {"shift-arms-1:slack", "shift-arms-1:email"}
    assert {a.status for a in alerts.values()} == {"pending"}
    assert _count(engine, t.Shift) == 1


def test_unconfigured_channels_are_held_and_never_claimed(engine):
    assert record(engine, [shift()], ["email"]) == 1
    alerts = _alerts(engine)
    assert alerts["shift-arms-1:slack"].status == "held"
    assert "not configured" in alerts["shift-arms-1:slack"].last_error
    claims = outbox.claim_alerts(engine, "w", 10, 60, utcnow())
    assert [c.alert.channel for c in claims] == ["email"]


def test_possible_and_retroactive_shifts_are_recorded_without_alerts(engine):
    record(
        engine, [shift("s-possible", confirmed=False), shift("s-late", retroactive=True)], ["slack"]
    )
    assert _count(engine, t.Shift) == 2
    assert _alerts(engine) == {}
    # The possible shift is confirmed by a later run: same id, now announced.
    assert record(engine, [shift("s-possible", confirmed=True)], ["slack"]) == 1
    with session_scope(engine) as session:
        assert session.get(t.Shift, "s-possible").confirmed is True


def test_evidence_items_say_which_side_they_are_on(engine):
    record(engine, [shift()], ["slack"])
    with session_scope(engine) as session:
        items = session.get(t.Shift, "shift-arms-1").evidence
    assert [(i["side"], i["document_id"]) for i in items] == [
        ("before", "doc-day1"),
        ("after", "doc-day2"),
    ]
    assert {"evidence", "actor_id", "party_id", "machine_translated", "published_at"} <= set(
        items[0]
    )


def test_shift_and_alerts_land_in_the_callers_transaction(engine):
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        record_shifts(session, [shift()], ["slack"], "run-x")
        raise RuntimeError("the positions step failed after recording")
    assert (_count(engine, t.Shift), _count(engine, t.Alert)) == (0, 0)


def test_unknown_channel_is_refused(engine):
    with pytest.raises(ValueError, match="unknown alert channels"), session_scope(engine) as s:
        record_shifts(s, [shift()], ["pager"], None)


# --- claiming, leases, retries ---------------------------------------------------------------


def test_claims_lease_one_owner_and_expire(engine):
    record(engine, [shift()], ["slack", "email"])
    now = utcnow()
    first = outbox.claim_alerts(engine, "a", 1, 60, now)
    second = outbox.claim_alerts(engine, "b", 5, 60, now)
    assert len(first) == 1 and len(second) == 1
    assert first[0].alert.id != second[0].alert.id
    assert outbox.claim_alerts(engine, "c", 5, 60, now) == []  # both leased
    later = now + timedelta(seconds=61)
    taken_over = outbox.claim_alerts(engine, "c", 5, 60, later)  # owners died: leases expired
    assert {c.alert.id for c in taken_over} == {first[0].alert.id, second[0].alert.id}
    assert {c.attempt for c in taken_over} == {2}
    assert outbox.mark_sent(engine, first[0], "late") is False  # fenced: "a" lost its lease
    assert "lease lost" in _deliveries(engine)[-1].detail


def test_transient_failures_back_off_then_give_up_with_the_reason(engine):
    record(engine, [shift()], ["slack"])
    now = utcnow()
    rng = random.Random(7)
    for attempt in (1, 2):
        (claim,) = outbox.claim_alerts(engine, "w", 1, 60, now)
        assert claim.attempt == attempt
        status = outbox.mark_failed(
            engine, claim, "503 busy", transient=True, max_attempts=3, now=now, rng=rng
        )
        assert status == "pending"
        alert = _alerts(engine)["shift-arms-1:slack"]
        wait = (alert.next_attempt_at - now).total_seconds()
        base = outbox.BACKOFF_BASE_S * 2 ** (attempt - 1)
        assert base / 2 <= wait <= base
        assert outbox.claim_alerts(engine, "w", 1, 60, now) == []  # not due yet
        now += timedelta(seconds=wait + 0.001)
    (claim,) = outbox.claim_alerts(engine, "w", 1, 60, now)
    assert outbox.mark_failed(engine, claim, "503 busy", transient=True, max_attempts=3) == "failed"
    alert = _alerts(engine)["shift-arms-1:slack"]
    assert (alert.status, alert.attempts) == ("failed", 3)
    assert alert.last_error == "gave up after 3 attempts: 503 busy"
    assert [d.outcome for d in _deliveries(engine)] == ["retry", "retry", "failed"]


def test_permanent_failure_fails_at_once(engine):
    record(engine, [shift()], ["slack"])
    (claim,) = outbox.claim_alerts(engine, "w", 1, 60, utcnow())
    outbox.mark_failed(engine, claim, "404 channel_not_found", transient=False, max_attempts=5)
    alert = _alerts(engine)["shift-arms-1:slack"]
    assert (alert.status, alert.last_error) == ("failed", "404 channel_not_found")


def test_backoff_grows_jitters_caps_and_honours_retry_after():
    rng = random.Random(1)
    waits = [outbox.backoff_s(n, rng=rng) for n in range(1, 12)]
    assert all(0 < w <= outbox.BACKOFF_CAP_S for w in waits)
    assert waits[3] > waits[0]
    assert len({round(outbox.backoff_s(2, rng=rng), 6) for _ in range(5)}) == 5  # jitter
    assert outbox.backoff_s(1, retry_after=120, rng=rng) == 120


# --- delivery passes -------------------------------------------------------------------------


def test_a_pass_sends_each_alert_once_and_a_rerun_sends_nothing(engine, watchlist):
    save_documents(engine)
    record(engine, [shift("s1"), shift("s2", demand="de-escalation")], ["slack", "email"])
    slack, email = FakeChannel("slack"), FakeChannel("email")
    for _ in range(3):
        deliver_pending(engine, {"slack": slack, "email": email}, watchlist, owner="w")
    assert sorted(slack.sent) == ["s1:slack", "s2:slack"]
    assert sorted(email.sent) == ["s1:email", "s2:email"]
    assert {a.status for a in _alerts(engine).values()} == {"sent"}
    assert [d.outcome for d in _deliveries(engine)] == ["sent"] * 4


def test_a_transient_failure_pauses_the_channel_for_the_pass(engine, watchlist):
    record(engine, [shift("s1"), shift("s2", demand="de-escalation")], ["slack", "email"])
    down = FakeChannel("slack", fail=TransientDeliveryError("503"))
    email = FakeChannel("email")
    report = deliver_pending(engine, {"slack": down, "email": email}, watchlist, owner="w")
    assert (report.sent, report.retrying, report.paused) == (2, 1, ["slack"])
    statuses = Counter(a.status for k, a in _alerts(engine).items() if k.endswith(":slack"))
    assert statuses == {"pending": 2}  # one retried later, one not even tried: Slack is down


def test_two_deliverers_at_once_send_every_alert_exactly_once(engine, watchlist):
    shifts = [shift(f"s{i:02d}", demand=f"demand-{i}") for i in range(12)]
    record(engine, shifts, ["slack", "email"])
    slack, email = FakeChannel("slack", delay_s=0.002), FakeChannel("email", delay_s=0.002)
    channels = {"slack": slack, "email": email}
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def work(owner: str) -> None:
        try:
            barrier.wait()
            deliver_pending(engine, channels, watchlist, owner=owner)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    sent = slack.sent + email.sent
    assert len(sent) == 24 and len(set(sent)) == 24
    assert {a.status for a in _alerts(engine).values()} == {"sent"}


def test_no_deliver_writes_the_exact_payloads_and_never_sends_them_later(
    engine, watchlist, tmp_path, database_url
):
    save_documents(engine)
    record(engine, [shift()], ["slack", "email"])
    cfg = settings(
        database_url,
        tmp_path,
        slack_webhook_url="http://127.0.0.1:9/hook",
        smtp_host="127.0.0.1",
        smtp_port=9,
        smtp_security="none",
        email_from="shiftwatch@example.org",
        email_to="desk@example.org",
    )
    report = run_delivery(engine, cfg, watchlist, owner="dry", write_only=True)
    assert report.written == 2
    files = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert files == ["shift-arms-1.email.eml", "shift-arms-1.slack.json"]
    assert b"Message-ID:" in (tmp_path / "outbox" / "shift-arms-1.email.eml").read_bytes()
    assert {a.status for a in _alerts(engine).values()} == {"written"}
    assert [d.outcome for d in _deliveries(engine)] == ["written", "written"]
    # A real run afterwards has nothing left to send (the ports above would refuse anyway).
    assert run_delivery(engine, cfg, watchlist, owner="real").sent == 0


# --- crashes ---------------------------------------------------------------------------------

CRASHER = """
import os, signal, sys
from shiftwatch.connectors.channels.slack import SlackChannel
from shiftwatch.pipeline import deliver
from shiftwatch.models import outbox
from shiftwatch.models.db import open_database
from shiftwatch.watchlist import load_watchlist
from shiftwatch.settings import Settings

url, hook, where = sys.argv[1:4]
engine = open_database(url)
real_mark_sent, real_send = outbox.mark_sent, SlackChannel.send

def crash():
    os.kill(os.getpid(), signal.SIGKILL)

def mark_then_crash(*args, **kwargs):
    real_mark_sent(*args, **kwargs)
    crash()

def send_then_crash(self, body):
    real_send(self, body)  # the server accepted it ...
    crash()                # ... and we die before recording that

if where == "after-record":
    outbox.mark_sent = mark_then_crash
else:
    SlackChannel.send = send_then_crash
settings = Settings(database_url=url, slack_webhook_url=hook, slack_min_interval_s=0,
                    smtp_host=None)
wl = load_watchlist(sys.argv[4])
deliver.run_delivery(engine, settings, wl, owner="doomed")
"""


def _crash_run(database_url: str, hook: str, where: str) -> int:
    from conftest import DEFAULT_WATCHLIST

    done = subprocess.run(
        [sys.executable, "-c", CRASHER, database_url, hook, where, str(DEFAULT_WATCHLIST)],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == -9, done.stderr.decode()[-2000:]
    return done.returncode


def _slack_hook(httpserver):
    httpserver.expect_request("/services/T1/B1/crash", method="POST").respond_with_data("ok")
    return httpserver.url_for("/services/T1/B1/crash")


def _slack_statuses(engine) -> Counter[str]:
    return Counter(a.status for k, a in _alerts(engine).items() if k.endswith(":slack"))


def _posted_keys(httpserver) -> list[str]:
    import json

    keys = []
    for request, _ in httpserver.log:
        blocks = json.loads(request.get_data())["blocks"]
        keys.append(blocks[-1]["elements"][0]["text"].split("`")[1])
    return keys


def test_a_crash_after_recording_loses_and_doubles_nothing(
    engine, database_url, httpserver, watchlist, tmp_path
):
    save_documents(engine)
    record(engine, [shift(f"s{i}", demand=f"d{i}") for i in range(3)], ["slack"])
    hook = _slack_hook(httpserver)
    _crash_run(database_url, hook, "after-record")
    assert len(httpserver.log) == 1  # killed right after the first alert was recorded sent
    assert _slack_statuses(engine) == {"sent": 1, "pending": 2}
    cfg = settings(database_url, tmp_path, slack_webhook_url=hook)
    report = run_delivery(engine, cfg, watchlist, owner="next")
    assert report.sent == 2
    assert sorted(_posted_keys(httpserver)) == ["s0:slack", "s1:slack", "s2:slack"]


def test_a_crash_between_accept_and_record_resends_that_one_alert_only_after_its_lease(
    engine, database_url, httpserver, watchlist, tmp_path
):
    save_documents(engine)
    record(engine, [shift(f"s{i}", demand=f"d{i}") for i in range(3)], ["slack"])
    hook = _slack_hook(httpserver)
    _crash_run(database_url, hook, "before-record")
    assert len(httpserver.log) == 1
    assert _slack_statuses(engine) == {"sending": 1, "pending": 2}
    cfg = settings(database_url, tmp_path, slack_webhook_url=hook)
    assert run_delivery(engine, cfg, watchlist, owner="next").sent == 2  # the rest, at once
    assert len(httpserver.log) == 3
    # After the lease the in-flight alert is sent again: the one duplicate the window allows.
    channels = channels_for(cfg, write_only=False)
    later = utcnow() + timedelta(seconds=outbox.LEASE_S + 1)
    try:
        report = deliver_pending(engine, channels, watchlist, owner="later", clock=lambda: later)
    finally:
        close_channels(channels)
    assert report.sent == 1
    keys = Counter(_posted_keys(httpserver))
    assert sorted(keys.values()) == [1, 1, 2]
    assert _slack_statuses(engine) == {"sent": 3}
