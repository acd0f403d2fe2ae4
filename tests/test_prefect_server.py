"""Team mode on loopback: a real Prefect server, `prefect deploy` of deploy/prefect.yaml, a
process worker, a monitor run triggered through the API, and a failure notice.

Everything runs as it would for an operator: `prefect server start` with its own SQLite
database under a temporary PREFECT_HOME (telemetry off), `prefect deploy --all` from the
checkout, `prefect worker start` in a temporary working directory. Every process is torn down
at the end, whatever happened.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from conftest import ROOT, seed_prefect_home

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

PREFECT = str(Path(sys.executable).with_name("prefect"))
STARTUP_TIMEOUT_S = 120
RUN_TIMEOUT_S = 180
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}

SEED = """---
title: Talks end without a breakthrough
published: 2022-01-10T18:00:00+00:00
source: test
---
Deputy Foreign Minister Sergei Ryabkov said Russia insists on legally binding guarantees
that NATO expansion stops. The Geneva talks ended without a breakthrough.
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _clean_env(**extra: str) -> dict[str, str]:
    """Return this environment without any Prefect/shiftwatch settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SHIFTWATCH_"))}
    env.update(
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        **extra,
    )
    return env


def _start(args: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen:
    """Start `args` as the leader of its own process group, output to `log`."""
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(proc: subprocess.Popen) -> None:
    """Stop `proc` and its children (its own process group): TERM, then KILL."""
    if proc.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_for(check: Callable[[], Any], timeout_s: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    pytest.fail(f"timed out after {timeout_s}s waiting for {what}\n{tail}")


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def launch_server(home: Path, database_url: str, scheduler: bool = False) -> dict[str, Any]:
    """Start `prefect server start` on a free loopback port (returns at once; see
    `await_server`). With `scheduler`, the server's scheduler runs every few seconds, as in
    production but faster."""
    port = _free_port()
    env = _clean_env(
        PREFECT_HOME=str(home),
        PREFECT_API_DATABASE_CONNECTION_URL=database_url,
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_UI_ENABLED="false",  # the UI is scripts/screenshot-ui's business
        # No scheduled runs unless asked: only the runs a test triggers may reach the worker.
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="true" if scheduler else "false",
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="3",
    )
    log = home / "server.log"
    proc = _start([PREFECT, "server", "start"], env, log, home)
    return {"url": f"http://127.0.0.1:{port}/api", "home": home, "proc": proc, "log": log}


def await_server(server: dict[str, Any]) -> dict[str, Any]:
    """Wait until a launched server answers; return it."""
    proc, log = server["proc"], server["log"]
    _wait_for(
        lambda: proc.poll() is not None or _healthy(server["url"]),
        STARTUP_TIMEOUT_S,
        "the Prefect server",
        log,
    )
    assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
    return server


@contextmanager
def running_server(
    home: Path, database_url: str, scheduler: bool = False
) -> Iterator[dict[str, Any]]:
    """Run `prefect server start` on a free loopback port; yield its API URL; stop it. With
    `scheduler`, the server's scheduler runs every few seconds, as in production but faster."""
    server = launch_server(home, database_url, scheduler)
    try:
        yield await_server(server)
    finally:
        _stop(server["proc"])


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory, prefect_db_template) -> Iterator[dict[str, Any]]:
    """A Prefect server on loopback with its own SQLite database (a migrated copy), for this
    module."""
    home = seed_prefect_home(tmp_path_factory.mktemp("prefect-home"), prefect_db_template)
    with running_server(home, f"sqlite+aiosqlite:///{home / 'prefect.db'}") as server:
        yield server


@pytest.fixture(scope="module")
def api(prefect_server):
    """Yield a sync Prefect client pointed at the loopback server."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with (
        temporary_settings({PREFECT_API_URL: prefect_server["url"]}),
        get_client(sync_client=True) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def deployed(prefect_server, api, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """Create the process pool, `prefect deploy --all` from prefect.yaml, start a worker."""
    from prefect.client.schemas.actions import WorkPoolCreate

    api.create_work_pool(WorkPoolCreate(name="shiftwatch", type="process"))
    logs = tmp_path_factory.mktemp("logs")
    workdir = tmp_path_factory.mktemp("worker-home")
    base = {"PREFECT_API_URL": prefect_server["url"], "PREFECT_HOME": str(prefect_server["home"])}
    # SHIFTWATCH_HOME is unset while deploying, so each worker resolves the pull step itself.
    deploy = _start(
        [PREFECT, "--no-prompt", "deploy", "--all", "--prefect-file", "deploy/prefect.yaml"],
        _clean_env(**base),
        logs / "deploy.log",
        ROOT,
    )
    worker = _start(
        [PREFECT, "worker", "start", "--pool", "shiftwatch", "--type", "process"],
        _clean_env(**base, SHIFTWATCH_HOME=str(workdir), PREFECT_WORKER_QUERY_SECONDS="1"),
        logs / "worker.log",
        workdir,
    )
    try:
        assert deploy.wait(120) == 0, (logs / "deploy.log").read_text(errors="replace")
        yield {"worker_log": logs / "worker.log", "workdir": workdir}
    finally:
        _stop(deploy)
        _stop(worker)


def _run_monitor(api, deployed, parameters: dict[str, Any]):
    deployment = api.read_deployment_by_name("monitor/monitor")
    run = api.create_flow_run_from_deployment(deployment.id, parameters=parameters)

    def finished():
        current = api.read_flow_run(run.id)
        return current if current.state and current.state.type.value in TERMINAL else None

    return _wait_for(finished, RUN_TIMEOUT_S, f"flow run {run.id}", deployed["worker_log"])


def _artifacts(api, flow_run_id: UUID) -> dict[str, Any]:
    """Return the flow run's keyed artifacts by key."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    artifacts = api.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
    )
    return {a.key: a for a in artifacts if a.key}


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("seeds")
    (folder / "talks.md").write_text(SEED, encoding="utf-8")
    (folder / "empty.txt").write_text("\n", encoding="utf-8")
    return folder


def test_server_answers_and_reports_its_version(prefect_server):
    response = httpx.get(f"{prefect_server['url']}/admin/version", timeout=5)
    assert response.json().startswith("3.")


def test_deployments_from_prefect_yaml_are_registered(api, deployed):
    monitor = api.read_deployment_by_name("monitor/monitor")
    digest = api.read_deployment_by_name("digest/digest")
    assert monitor.work_pool_name == digest.work_pool_name == "shiftwatch"
    assert monitor.global_concurrency_limit.limit == 1
    assert monitor.concurrency_options.collision_strategy.value == "CANCEL_NEW"
    assert [s.schedule.cron for s in monitor.schedules] == ["*/15 * * * *"]
    assert [(s.schedule.cron, bool(s.schedule.timezone)) for s in digest.schedules] == [
        ("0 7 * * *", True)
    ]


def test_a_triggered_monitor_run_completes_with_its_health_artifacts(
    api, deployed, seeds, tmp_path
):
    db = f"sqlite:///{tmp_path / 'shiftwatch.db'}"
    run = _run_monitor(api, deployed, {"seeds": [str(seeds)], "database_url": db, "deliver": False})
    assert run.state.type.value == "COMPLETED", run.state.message
    artifacts = _artifacts(api, run.id)
    assert {"monitor-sources", "monitor-summary"} <= set(artifacts)
    assert (artifacts["monitor-sources"].type, artifacts["monitor-summary"].type) == (
        "table",
        "markdown",
    )
    data = artifacts["monitor-sources"].data
    rows = json.loads(data) if isinstance(data, str) else data
    assert {"status", "new", "duplicate", "rejected", "latency_s"} <= set(rows[0])
    assert (rows[0]["new"], rows[0]["rejected"]) == (1, 1)
    assert run.name.startswith("monitor: 1 new"), run.name  # renamed with what it did


@pytest.fixture
def webhook(httpserver):
    """A loopback endpoint standing in for Slack: records what the Prefect server posts."""
    received: list[dict[str, Any]] = []

    def record(request):
        from werkzeug import Response

        received.append(request.get_json(force=True))
        return Response("ok")

    httpserver.expect_request("/hook", method="POST").respond_with_handler(record)
    return httpserver.url_for("/hook"), received


def test_a_failed_run_reaches_operators_through_the_automation(
    api, prefect_server, deployed, webhook, tmp_path
):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from shiftwatch.flows.notify import NoticeTarget, setup_failure_notices

    url, received = webhook
    with temporary_settings({PREFECT_API_URL: prefect_server["url"]}):
        setup_failure_notices(NoticeTarget(webhook=url))
        setup_failure_notices(NoticeTarget(webhook=url))  # re-running replaces, not adds
    from shiftwatch.flows.notify import AUTOMATION_NAME

    assert len(api.read_automations_by_name(AUTOMATION_NAME)) == 1
    run = _run_monitor(
        api,
        deployed,
        {
            "watchlist": str(tmp_path / "missing.yaml"),
            "database_url": f"sqlite:///{tmp_path / 'x.db'}",
        },
    )
    assert run.state.type.value == "FAILED"
    _wait_for(lambda: received, 60, "the failure notice")
    assert run.name in received[0]["text"]
    assert "Failed" in received[0]["subject"]


def _flow_runs(url: str) -> list[dict[str, Any]]:
    response = httpx.post(f"{url}/flow_runs/filter", json={"sort": "START_TIME_DESC"}, timeout=10)
    return response.json()


# Team mode on PostgreSQL (Prefect's database and ours, each on PostgreSQL) is in
# test_schedules.py, on the Prefect server that module starts on PostgreSQL anyway.
