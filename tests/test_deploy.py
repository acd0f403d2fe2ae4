"""Deployment config: prefect.yaml loads the way `prefect deploy` reads it, serve mirrors it,
the compose file has the services team mode needs, and failure notices are well formed."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from conftest import ROOT
from prefect.cli.deploy._models import PrefectYamlModel
from prefect.cli.deploy._schedules import _schedule_config_to_deployment_schedule
from prefect.client.schemas.objects import ConcurrencyLimitStrategy
from prefect.client.schemas.schedules import CronSchedule
from prefect.flows import load_flow_from_entrypoint
from typer.testing import CliRunner

DEPLOY = ROOT / "deploy"
PREFECT_YAML = DEPLOY / "prefect.yaml"
COMPOSE = DEPLOY / "compose.yaml"


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def deployments(config) -> dict[str, dict]:
    return {d["name"]: d for d in config["deployments"]}


def _schedule(deployment: dict) -> CronSchedule:
    (entry,) = deployment["schedules"]
    schedule = _schedule_config_to_deployment_schedule(entry)["schedule"]
    assert isinstance(schedule, CronSchedule)
    return schedule


def _next_runs(schedule: CronSchedule, count: int) -> list[datetime]:
    """Return the next run times as the Prefect server's scheduler computes them."""
    from prefect.server.schemas.schedules import CronSchedule as ServerCron

    server = ServerCron(cron=schedule.cron, timezone=schedule.timezone)
    start = datetime(2022, 1, 10, 6, 1, tzinfo=ZoneInfo(schedule.timezone))
    dates = asyncio.run(server.get_dates(count, start=start))
    return [datetime.fromtimestamp(d.timestamp(), ZoneInfo(schedule.timezone)) for d in dates]


def _steps(config: dict) -> list[dict]:
    """Return every build/push/pull step, top level and per deployment."""
    sections = [config, *config.get("deployments", [])]
    return [step for c in sections for k in ("build", "push", "pull") for step in c.get(k) or []]


def test_prefect_yaml_parses_with_prefects_own_model(config):
    model = PrefectYamlModel.model_validate(config)
    assert {d.name for d in model.deployments} == {"monitor", "digest"}
    assert all(d.work_pool and d.work_pool.name == "shiftwatch" for d in model.deployments)


def test_no_requires_steps_and_pull_only_sets_the_working_directory(config):
    assert not any("requires" in body for step in _steps(config) for body in step.values())
    assert not config.get("build") and not config.get("push")
    assert [next(iter(step)) for step in config["pull"]] == [
        "prefect.deployments.steps.set_working_directory"
    ]


@pytest.mark.parametrize("name", ["monitor", "digest"])
def test_every_entrypoint_loads_without_placeholder(deployments, name):
    flow = load_flow_from_entrypoint(deployments[name]["entrypoint"], use_placeholder_flow=False)
    assert flow.name == name


def test_monitor_runs_every_15_minutes(deployments):
    runs = _next_runs(_schedule(deployments["monitor"]), 5)
    assert {b - a for a, b in itertools.pairwise(runs)} == {timedelta(minutes=15)}


def test_digest_runs_daily_at_seven_in_an_explicit_timezone(deployments):
    schedule = _schedule(deployments["digest"])
    assert deployments["digest"]["schedules"][0].get("timezone")
    runs = _next_runs(schedule, 3)
    assert all((r.hour, r.minute) == (7, 0) for r in runs)
    assert {b - a for a, b in itertools.pairwise(runs)} == {timedelta(days=1)}


def test_monitor_concurrency_is_one_and_cancels_new_runs(deployments):
    limit = deployments["monitor"]["concurrency_limit"]
    assert limit["limit"] == 1
    assert ConcurrencyLimitStrategy(limit["collision_strategy"]) is (
        ConcurrencyLimitStrategy.CANCEL_NEW
    )


def test_serve_builds_the_same_deployments_as_prefect_yaml(deployments):
    from shiftwatch.flows.serve import build_deployments

    served = {d.name: d for d in build_deployments("UTC")}
    assert set(served) == set(deployments)
    for name, runner in served.items():
        assert runner.entrypoint == deployments[name]["entrypoint"]
        expected = _schedule(deployments[name])
        (got,) = runner.schedules
        assert (got.schedule.cron, got.schedule.timezone) == (expected.cron, expected.timezone)
    monitor = served["monitor"]
    assert monitor.concurrency_limit == 1
    assert monitor.concurrency_options.collision_strategy is ConcurrencyLimitStrategy.CANCEL_NEW


def test_serve_leaves_schedules_active_on_shutdown(monkeypatch):
    import prefect

    from shiftwatch.flows.serve import serve_deployments

    calls = []
    monkeypatch.setattr(prefect, "serve", lambda *d, **kw: calls.append((d, kw)))
    serve_deployments(["a", "b"])
    assert calls == [(("a", "b"), {"pause_on_shutdown": False})]


def test_serve_command_serves_both_deployments(monkeypatch, tmp_path):
    import shiftwatch.flows.serve as serve_module
    from shiftwatch.cli import app

    served = []
    monkeypatch.setattr(serve_module, "serve_deployments", served.extend)
    for name in ("SHIFTWATCH_DATABASE_URL", "SHIFTWATCH_WATCHLIST", "PREFECT_LOGGING_LEVEL"):
        monkeypatch.delenv(name, raising=False)  # restored (or removed again) after the test
    monkeypatch.setenv("SHIFTWATCH_DIGEST_TIMEZONE", "Europe/Brussels")
    url = f"sqlite:///{tmp_path / 'sw.db'}"
    result = CliRunner().invoke(app, ["serve", "--db", url])
    assert result.exit_code == 0, result.output
    assert [d.name for d in served] == ["monitor", "digest"]
    assert served[1].schedules[0].schedule.timezone == "Europe/Brussels"
    assert os.environ["SHIFTWATCH_DATABASE_URL"] == url  # handed down to the runs


def test_serve_command_rejects_an_unknown_timezone(monkeypatch, tmp_path):
    from shiftwatch.cli import app

    monkeypatch.setenv("SHIFTWATCH_DIGEST_TIMEZONE", "Mars/Olympus")
    result = CliRunner().invoke(app, ["serve", "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code == 2
    assert "unknown timezone" in result.output


def test_run_title_says_what_the_run_did():
    from shiftwatch.pipeline.monitor import monitor_run_title

    summary = {"new": 5, "unchanged": 3, "duplicate": 1, "rejected": 2, "shifts": 1}
    sources = [{"status": "ok"}, {"status": "failed"}]
    assert monitor_run_title(summary, sources) == (
        "monitor: 5 new, 3 unchanged, 1 dup, 2 rejected, 1 shift, 1/2 sources failing"
    )


def test_compose_file_has_both_databases_the_server_and_a_worker():
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"shiftwatch-db", "prefect-db", "prefect-server", "worker"} <= set(services)
    server_env = services["prefect-server"]["environment"]
    assert "@prefect-db:" in server_env["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert "@shiftwatch-db:" in services["worker"]["environment"]["SHIFTWATCH_DATABASE_URL"]
    assert server_env["PREFECT_UI_STATIC_DIRECTORY"]
    for name in ("prefect-server", "worker"):
        env = services[name]["environment"]
        assert (env["DO_NOT_TRACK"], env["PREFECT_SERVER_ANALYTICS_ENABLED"]) == ("1", "false")


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_config_validates():
    command = _compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    env = {**os.environ, "SHIFTWATCH_DB_PASSWORD": "x", "PREFECT_DB_PASSWORD": "y"}
    result = subprocess.run(
        [*command, "-f", str(COMPOSE), "config", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        cwd=DEPLOY,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_failure_automation_watches_failed_and_crashed_runs_of_our_flows():
    from uuid import uuid4

    from shiftwatch.flows.notify import failure_automation

    block_id = uuid4()
    automation = failure_automation(block_id)
    trigger = automation.trigger
    assert {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"} <= set(trigger.expect)
    related = trigger.match_related
    related = related[0] if isinstance(related, list) else related
    assert set(related.get("prefect.resource.name")) == {"monitor", "digest"}
    (action,) = automation.actions
    assert action.block_document_id == block_id


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one"),
        ({"slack_webhook": "https://x", "webhook": "https://y"}, "exactly one"),
        ({"webhook": "ftp://x"}, "http(s)"),
        ({"email": ("ops@example.org",)}, "--sendgrid-api-key"),
    ],
)
def test_notice_targets_are_checked_before_anything_is_saved(kwargs, message):
    from shiftwatch.errors import ConfigError
    from shiftwatch.flows.notify import NoticeTarget, notification_block

    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        notification_block(NoticeTarget(**kwargs))


def test_notify_setup_without_a_server_is_one_clear_line(monkeypatch):
    import shiftwatch.cli.main as cli

    monkeypatch.setattr(cli, "_prefect_api_url", lambda: None)
    result = CliRunner().invoke(cli.app, ["notify", "setup", "--webhook", "http://127.0.0.1:9/x"])
    assert result.exit_code == 2
    assert "PREFECT_API_URL" in result.output


def test_serve_with_the_server_down_is_one_clear_line(monkeypatch, tmp_path):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from shiftwatch.cli import app

    for name in ("SHIFTWATCH_DATABASE_URL", "SHIFTWATCH_WATCHLIST", "PREFECT_LOGGING_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        result = CliRunner().invoke(app, ["serve", "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code == 2, result.output
    assert "Prefect server at http://127.0.0.1:9/api" in result.output
    assert "Traceback" not in result.output


def test_schedules_compute_in_utc_without_drift():
    # Sanity for the helper above: 06:01 local on the anchor day → next 07:00 same day.
    schedule = CronSchedule(cron="0 7 * * *", timezone="Europe/Brussels")
    first = _next_runs(schedule, 1)[0]
    assert first.astimezone(UTC).hour == 6  # 07:00 CET is 06:00 UTC in January
