"""The run context: settings, secrets (Prefect Secret blocks included), engine, watchlist and
channels resolved once per run; a Slack webhook held only in a Secret block gets alerts sent."""

from __future__ import annotations

import dataclasses
import json

import pytest
from conftest import FIXTURES
from typer.testing import CliRunner

from shiftwatch.cli import app
from shiftwatch.context import SECRET_BLOCKS, RunContext, build_context

CASE = FIXTURES / "alerts"
HOOK = "/services/T00000000/B00000000/from-a-secret-block"
CHANNEL_ENV = (
    "SHIFTWATCH_SLACK_WEBHOOK_URL",
    "SHIFTWATCH_SMTP_HOST",
    "SHIFTWATCH_EMAIL_FROM",
    "SHIFTWATCH_EMAIL_TO",
)


def test_the_context_is_frozen_and_knows_its_channels(tmp_path, monkeypatch):
    for name in CHANNEL_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SHIFTWATCH_SLACK_WEBHOOK_URL", "https://hooks.slack.example/x")
    ctx = build_context(database_url=f"sqlite:///{tmp_path / 'c.db'}", secret_blocks=False)
    try:
        assert isinstance(ctx, RunContext)
        assert ctx.channels == ("slack",)
        assert ctx.routing.known == ("slack", "email")
        assert ctx.routing.configured == ("slack",)
        assert ctx.watchlist.name
        with pytest.raises(dataclasses.FrozenInstanceError):
            ctx.channels = ()  # type: ignore[misc]
    finally:
        ctx.close()


@pytest.mark.prefect
def test_a_slack_webhook_held_only_in_a_secret_block_gets_the_shift_alert_sent(
    prefect_harness, httpserver, tmp_path, monkeypatch
):
    """The monitor queues the alert `pending` (not `held`) and sends it: the Secret block is
    applied once, for queueing and delivery alike."""
    from prefect.blocks.system import Secret
    from prefect.client.orchestration import get_client

    from shiftwatch.flows.monitor import monitor

    for name in CHANNEL_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SHIFTWATCH_SLACK_MIN_INTERVAL_S", "0")
    monkeypatch.setenv("SHIFTWATCH_OUTBOX_DIR", str(tmp_path / "outbox"))
    httpserver.expect_request(HOOK, method="POST").respond_with_data("ok")
    block = SECRET_BLOCKS["slack_webhook_url"]
    block_id = Secret(value=httpserver.url_for(HOOK)).save(block, overwrite=True)
    url = f"sqlite:///{tmp_path / 'secret-block.db'}"
    try:
        summaries = [
            monitor(seeds=[str(CASE / day) for day in days], database_url=url)
            for days in (["day1"], ["day1", "day2"])
        ]
    finally:
        with get_client(sync_client=True) as client:
            client.delete_block_document(block_id)
    assert [s.alerts.sent for s in summaries] == [0, 1]
    assert len(httpserver.log) == 1
    exported = CliRunner().invoke(app, ["export", "alerts", "--db", url])
    alerts = [json.loads(line) for line in exported.output.splitlines()]
    assert sorted((a["channel"], a["status"]) for a in alerts) == [
        ("email", "held"),
        ("slack", "sent"),
    ]
