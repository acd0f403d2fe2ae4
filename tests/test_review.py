"""An analyst's review, obeyed: on SQLite and PostgreSQL, with Slack and SMTP on loopback.

Rejecting the evidence of an alerted shift withdraws it from the positions and sends exactly
one correction per channel, however often the monitor re-runs or the review is repeated;
confirming a held change announces it as confirmed, dated from its first evidence.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from alerting_support import DAY1, DAY2, Inbox, observation, save_documents, settings, smtp_server
from sqlalchemy import select
from typer.testing import CliRunner

from shiftwatch.analysis.positions.reviews import observation_id
from shiftwatch.cli.main import app
from shiftwatch.errors import ReviewError
from shiftwatch.models import queries
from shiftwatch.models import stances as stance_store
from shiftwatch.models import tables as t
from shiftwatch.models.db import session_scope
from shiftwatch.pipeline.deliver import announcer, configured_channels, run_delivery
from shiftwatch.pipeline.positions import update_positions
from shiftwatch.pipeline.review import review_target, undo_review
from shiftwatch.records import ReviewVerdict, Stance

HOOK = "/services/T00000000/B00000000/review"
PAIR = ("russia", "arms-control-talks")
BEFORE = observation("doc-day1", Stance.OPPOSES, DAY1, "We reject any talks on arms control.")
AFTER = observation("doc-day2", Stance.OPEN, DAY2, "Russia is ready to discuss arms control.")


@pytest.fixture
def servers(httpserver):
    """Yield (inbox, smtp port, slack url): both channels answering on loopback."""
    inbox = Inbox()
    controller, port = smtp_server(inbox)
    httpserver.expect_request(HOOK, method="POST").respond_with_data("ok")
    yield inbox, port, httpserver.url_for(HOOK)
    controller.stop()


@pytest.fixture
def cfg(database_url, tmp_path: Path, servers):
    _, port, hook = servers
    return settings(
        database_url,
        tmp_path,
        slack_webhook_url=hook,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        email_from="shiftwatch@example.org",
        email_to="analysts@example.org",
    )


def _monitor(engine, cfg, stances, run_id: str) -> list[str]:
    """A monitor-like run over stored documents: stances in, positions replayed, alerts
    queued (the real positions step), then delivered; return the shifts it recorded."""
    with session_scope(engine) as session:
        stance_store.save_stances(session, stances)
    docs = sorted({s.document_id for s in stances})
    result = update_positions(engine, [PAIR], docs, run_id, announcer(cfg, run_id))
    return result.shifts


def _deliver(engine, cfg, watchlist) -> None:
    run_delivery(engine, cfg, watchlist, owner="test")


def _position(engine) -> tuple[str, str | None] | None:
    with session_scope(engine) as session:
        row = session.get(t.Position, PAIR)
        return None if row is None else (row.stance, row.possible_change)


def _slack_texts(httpserver) -> list[str]:
    return [json.loads(request.get_data())["text"] for request, _ in httpserver.log]


def test_rejecting_an_alerted_shifts_evidence_corrects_it_once_per_channel(
    engine, cfg, watchlist, servers, httpserver
):
    inbox, _, _ = servers
    save_documents(engine)
    (shift_id,) = _monitor(engine, cfg, [BEFORE, AFTER], "run-1")
    _deliver(engine, cfg, watchlist)
    assert len(httpserver.log) == 1 and len(inbox.messages) == 1
    assert _position(engine) == ("open", None)

    outcome = review_target(
        engine,
        observation_id(AFTER)[:9],  # a short prefix, as typed from an alert
        ReviewVerdict.REJECTED,
        configured_channels(cfg),
        note="misread: a question, not a stance",
    )
    assert outcome.withdrawn == [shift_id]
    assert outcome.corrections_queued == 2
    assert _position(engine) == ("opposes", None)
    _deliver(engine, cfg, watchlist)
    assert len(httpserver.log) == 2 and len(inbox.messages) == 2
    assert _slack_texts(httpserver)[1].startswith("Correction: Russia did not shift")
    assert inbox.messages[1]["Subject"].startswith("[shiftwatch] Correction:")
    assert "misread: a question" in inbox.messages[1].get_body(("plain",)).get_content()

    # the monitor re-runs, the analyst repeats the review: nothing is sent again
    assert _monitor(engine, cfg, [BEFORE, AFTER], "run-2") == []
    again = review_target(engine, observation_id(AFTER), ReviewVerdict.REJECTED, ["slack"])
    assert again.withdrawn == [] and again.corrections_queued == 0
    _deliver(engine, cfg, watchlist)
    assert len(httpserver.log) == 2 and len(inbox.messages) == 2

    with session_scope(engine) as session:
        shifts = list(queries.export_rows(session, "shifts"))
        stances = {row["id"]: row for row in queries.export_rows(session, "stances")}
        reviews = list(queries.export_rows(session, "reviews"))
        digest = queries.digest_data(session, watchlist)
    assert [s["status"] for s in shifts] == ["rejected"]
    assert stances[observation_id(AFTER)]["review"] == "rejected"
    assert [r["verdict"] for r in reviews] == ["rejected", "rejected"]
    assert digest.shifts == ()


def test_undoing_and_redoing_a_rejection_never_corrects_twice(
    engine, cfg, watchlist, servers, httpserver
):
    inbox, _, _ = servers
    save_documents(engine)
    (shift_id,) = _monitor(engine, cfg, [BEFORE, AFTER], "run-1")
    _deliver(engine, cfg, watchlist)
    channels = configured_channels(cfg)
    first = review_target(engine, shift_id[:12], ReviewVerdict.FALSE_SHIFT, channels)
    assert first.withdrawn == [shift_id]
    undone = undo_review(engine, None, channels)
    assert undone.restored == [shift_id] and undone.alerts_queued == 0
    assert _position(engine) == ("open", None)
    second = review_target(engine, shift_id, ReviewVerdict.REJECTED, channels)
    assert second.withdrawn == [shift_id] and second.corrections_queued == 0
    _deliver(engine, cfg, watchlist)
    assert len(httpserver.log) == 2 and len(inbox.messages) == 2  # the alert, one correction
    with session_scope(engine) as session:
        kinds = sorted((a.kind, a.channel) for a in session.execute(select(t.Alert)).scalars())
    assert kinds == [
        ("correction", "email"),
        ("correction", "slack"),
        ("shift", "email"),
        ("shift", "slack"),
    ]


def test_a_withdrawn_shift_not_yet_sent_is_held_not_corrected(engine, cfg, watchlist, httpserver):
    save_documents(engine)
    (shift_id,) = _monitor(engine, cfg, [BEFORE, AFTER], "run-1")
    outcome = review_target(
        engine, observation_id(AFTER), ReviewVerdict.NOT_A_STANCE, configured_channels(cfg)
    )
    assert outcome.withdrawn == [shift_id] and outcome.corrections_queued == 0
    _deliver(engine, cfg, watchlist)
    assert httpserver.log == []
    with session_scope(engine) as session:
        statuses = {a.status for a in session.execute(select(t.Alert)).scalars()}
    assert statuses == {"held"}


def test_confirming_a_held_change_announces_it_confirmed_from_its_first_evidence(
    engine, cfg, watchlist, servers, httpserver
):
    inbox, _, _ = servers
    save_documents(engine)
    weak = observation("doc-day2", Stance.OPEN, DAY2, "Moscow may be ready to talk.", mt=True)
    (held,) = _monitor(engine, cfg, [BEFORE, weak], "run-1")
    assert _position(engine) == ("opposes", "open")
    _deliver(engine, cfg, watchlist)
    assert httpserver.log == []  # a possible shift is never alerted
    outcome = review_target(engine, held, ReviewVerdict.CONFIRMED, configured_channels(cfg))
    assert outcome.recorded == [held] and outcome.alerts_queued == 2
    assert _position(engine) == ("open", None)
    _deliver(engine, cfg, watchlist)
    (slack,) = _slack_texts(httpserver)
    assert slack.startswith("Russia shifted on Arms-control talks")
    assert slack.endswith("opposes → open (confirmed)")
    text = inbox.messages[0].get_body(("plain",)).get_content()
    assert f"possible change held since {DAY2:%Y-%m-%d}" in text
    with session_scope(engine) as session:
        row = session.get(t.Shift, held)
    assert row.confirmed and row.at == DAY2 and row.confirmed_at is not None


def test_a_review_names_a_stored_target_and_a_fitting_verdict(engine, cfg):
    save_documents(engine)
    _monitor(engine, cfg, [BEFORE, AFTER], "run-1")
    for target, verdict, message in (
        ("st-000000", ReviewVerdict.REJECTED, "no stored stance"),
        ("shift-zz", ReviewVerdict.REJECTED, "no stored shift"),
        ("nonsense", ReviewVerdict.REJECTED, "is not an id"),
        (observation_id(AFTER), ReviewVerdict.FALSE_SHIFT, "cannot be reviewed"),
        (observation_id(AFTER), ReviewVerdict.WRONG_STANCE, "--stance"),
        ("st-", ReviewVerdict.REJECTED, "ambiguous"),
    ):
        with pytest.raises(ReviewError, match=message):
            review_target(engine, target, verdict, [])


def test_the_review_command_lists_rejects_exports_and_undoes(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("SHIFTWATCH_DATABASE_URL", url)
    for name in ("SHIFTWATCH_SLACK_WEBHOOK_URL", "SHIFTWATCH_SMTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    from shiftwatch.models.db import open_database

    engine = open_database(url)
    save_documents(engine)
    weak = observation("doc-day2", Stance.OPEN, DAY2, "Moscow may be ready to talk.", mt=True)
    (held,) = _monitor(engine, settings(url, tmp_path), [BEFORE, weak], "run-1")
    engine.dispose()
    runner = CliRunner()
    listed = runner.invoke(app, ["review"])
    assert listed.exit_code == 0, listed.output
    assert held in listed.output and observation_id(weak) in listed.output
    rejected = runner.invoke(
        app, ["review", "stance", observation_id(weak), "--not-a-stance", "--note", "a rumour"]
    )
    assert rejected.exit_code == 0, rejected.output
    assert f"shifts withdrawn: {held}" in rejected.output
    exported = runner.invoke(app, ["export", "reviews"])
    (row,) = [json.loads(line) for line in exported.output.splitlines()]
    assert (row["target_id"], row["verdict"], row["note"]) == (
        observation_id(weak),
        "not_a_stance",
        "a rumour",
    )
    undone = runner.invoke(app, ["review", "undo"])
    assert undone.exit_code == 0 and f"shifts restored: {held}" in undone.output
    bad = runner.invoke(app, ["review", "reject", "st-ffffffffffff"])
    assert bad.exit_code == 2 and "no stored stance" in bad.output
    both = runner.invoke(app, ["review", "shift", held, "--false", "--confirm"])
    assert both.exit_code == 2


def test_reviews_survive_reanalysis(engine, cfg):
    """A re-analysis stores the same sentence again (its stance perhaps read anew): the
    review names it by its stable id and still applies."""
    save_documents(engine)
    _monitor(engine, cfg, [BEFORE, AFTER], "run-1")
    review_target(engine, observation_id(AFTER), ReviewVerdict.REJECTED, [])
    with session_scope(engine) as session:
        session.execute(t.StanceObservation.__table__.delete())
    reread = observation("doc-day2", Stance.SUPPORTS, DAY2 + timedelta(hours=1), "Read anew.")
    assert observation_id(reread) == observation_id(AFTER)
    assert _monitor(engine, cfg, [BEFORE, reread], "run-2") == []
    assert _position(engine) == ("opposes", None)


def test_a_genuine_change_after_a_withdrawn_one_is_news(engine, cfg, watchlist, httpserver):
    save_documents(engine)
    (withdrawn,) = _monitor(engine, cfg, [BEFORE, AFTER], "run-1")
    review_target(engine, withdrawn, ReviewVerdict.FALSE_SHIFT, configured_channels(cfg))
    later = DAY2 + timedelta(days=3)
    with session_scope(engine) as session:
        from alerting_support import document

        from shiftwatch.models import documents as document_store

        document_store.save_documents(session, [document("doc-day5", later, "Talks")], "run-2")
    genuine = observation("doc-day5", Stance.OPEN, later, "We are ready to talk arms control.")
    (new,) = _monitor(engine, cfg, [genuine], "run-2")
    assert new != withdrawn
    assert _position(engine) == ("open", None)
    _deliver(engine, cfg, watchlist)
    texts = _slack_texts(httpserver)
    assert len(texts) == 1 and texts[0].startswith("Russia shifted")  # never alerted before


def test_alerts_show_ids_the_statement_day_a_held_change_and_corrections():
    from shiftwatch.render.alerts import alert_message
    from shiftwatch.views import EvidenceView, ShiftView

    quote = EvidenceView(
        quote="Russia is ready to discuss arms control.",
        speaker="Sergei Ryabkov",
        source_title="Wire",
        url="https://news.example/a",
        published_at=DAY2,
        machine_translated=False,
        id="st-0123456789ab",
        said_at=DAY1,
    )
    view = ShiftView(
        party="Russia",
        demand="Arms-control talks",
        from_stance="opposes",
        to_stance="open",
        at=DAY1,
        retroactive=False,
        before=(),
        after=(quote,),
        id="shift-abc",
        confirmed_at=DAY2,
        possible="open — possible change to supports since 12 Jan 2022, awaiting confirmation",
    )
    message = alert_message(view, "shift-abc:slack")
    slack = json.dumps(message.slack, ensure_ascii=False)
    for text in (message.text, message.html, slack):
        assert "st-0123456789ab" in text and "shift-abc" in text
        assert f"said {DAY1:%Y-%m-%d}, published {DAY2:%Y-%m-%d}" in text
        assert "possible change to supports since 12 Jan 2022" in text
        assert f"held since {DAY1:%Y-%m-%d}" in text
    correction = alert_message(
        replace(view, correction=True, withdrawn_note="a rumour"), "k:correction"
    )
    assert correction.subject.startswith("[shiftwatch] Correction: Russia did not shift")
    assert "a rumour" in correction.text and "a rumour" in correction.html
    assert correction.slack["text"].startswith("Correction:")
