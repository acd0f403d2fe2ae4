"""Scheduled runs really fire: a real Prefect server with its scheduler on, the monitor served
(and, on the same server, deployed to a process work pool with a worker) with a short interval
schedule, and runs the scheduler created (not triggered by hand) that complete with their
artifacts — on SQLite and on PostgreSQL as Prefect's own database.

One server per Prefect database, for both layouts, and everything started at once: both
servers, then on each the `serve` process and the pool's deployment and worker, so the waits
for the scheduler overlap. Each test waits for a scheduled run of its own deployment.

SQLAlchemy 2.1 stopped Prefect 3.8.8's scheduler ("Can't evaluate bulk DML statement") while
the suite, with the scheduler off, stayed green; this test is the one that would have failed.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import (
    PG_ADMIN_URL,
    ROOT,
    _create_pg_database,
    _drop_pg_database,
    _postgres_reachable,
    seed_prefect_home,
)
from test_prefect_server import (
    PREFECT,
    SEED,
    _clean_env,
    _start,
    _stop,
    _wait_for,
    await_server,
    launch_server,
)

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

SERVE = """
import sys
from datetime import timedelta
from prefect import serve
from shiftwatch.flows.monitor import monitor

seeds, db = sys.argv[1], sys.argv[2]
deployment = monitor.to_deployment(
    name="served",
    interval=timedelta(seconds=15),
    parameters={"seeds": [seeds], "database_url": db, "deliver": False},
)
serve(deployment, pause_on_shutdown=False)
"""
SERVED = "monitor/served"
POOLED = "monitor/scheduled"  # the name deploy/prefect.yaml's layout gives it below


def _seeds(tmp: Path) -> Path:
    seeds = tmp / "seeds"
    seeds.mkdir()
    for f in sorted((ROOT / "data" / "seeds").glob("00[01]_*.txt")):
        (seeds / f.name).write_bytes(f.read_bytes())
    return seeds


def _a_scheduled_run_completes(
    api_url: str, deployment_name: str, log: Path, timeout_s: float = 110
) -> None:
    """Wait for a run the scheduler created for `deployment_name` to complete; check it left
    its artifacts."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as api:

        def completed_scheduled_run():
            try:
                deployment = api.read_deployment_by_name(deployment_name)
            except ObjectNotFound:  # not registered yet
                return None
            # Asked of the server: the scheduler keeps up to 100 runs of each deployment ahead,
            # more than one page of an unfiltered listing.
            completed = FlowRunFilter(
                deployment_id=FlowRunFilterDeploymentId(any_=[deployment.id]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.COMPLETED])),
            )
            done = [r for r in api.read_flow_runs(flow_run_filter=completed) if r.auto_scheduled]
            return done[0] if done else None

        run = _wait_for(completed_scheduled_run, timeout_s, "a completed scheduled run", log)
        assert run.auto_scheduled and run.deployment_id is not None
        artifacts = api.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
        )
        assert {"monitor-sources", "monitor-summary"} <= {a.key for a in artifacts}


POOL_DEPLOYMENT = """\
name: shiftwatch-schedule-test
prefect-version: 3.8.8
build: null
push: null
pull:
  - prefect.deployments.steps.set_working_directory:
      directory: "{workdir}"
deployments:
  - name: scheduled
    entrypoint: shiftwatch.flows.monitor.monitor
    parameters: {{seeds: ["{seeds}"], database_url: "{db}", deliver: false}}
    schedules:
      - interval: 15
    concurrency_limit: {{limit: 1, collision_strategy: CANCEL_NEW}}
    work_pool: {{name: scheduled-pool, work_queue_name: default, job_variables: {{}}}}
"""


@dataclass
class Scheduled:
    """One Prefect server with its scheduler on, the monitor served on it and deployed to a
    process pool with a worker; each layout with its own folder, database and log."""

    home: Path
    api_url: str
    served: subprocess.Popen
    serve_log: Path
    worker: subprocess.Popen
    worker_log: Path
    pool_tmp: Path


def _serve(home: Path, api_url: str, tmp: Path) -> tuple[subprocess.Popen, Path]:
    """Start `serve` of an interval deployment of the monitor (returns at once)."""
    tmp.mkdir()
    seeds = _seeds(tmp)
    server_env = {"PREFECT_API_URL": api_url, "PREFECT_HOME": str(home)}
    log = tmp / "serve.log"
    served = _start(
        [sys.executable, "-c", SERVE, str(seeds), f"sqlite:///{tmp / 'sw.db'}"],
        _clean_env(**server_env, PREFECT_RUNNER_POLL_FREQUENCY="2"),
        log,
        tmp,
    )
    return served, log


def _deploy_to_pool(home: Path, api_url: str, tmp: Path) -> tuple[subprocess.Popen, Path]:
    """Create a process pool, `prefect deploy` an interval schedule, start a worker."""
    tmp.mkdir()
    seeds = _seeds(tmp)
    workdir = tmp / "worker"
    workdir.mkdir()
    yaml_file = tmp / "prefect.yaml"
    yaml_file.write_text(
        POOL_DEPLOYMENT.format(workdir=workdir, seeds=seeds, db=f"sqlite:///{tmp / 'sw.db'}")
    )
    env = _clean_env(PREFECT_API_URL=api_url, PREFECT_HOME=str(home))
    for args, name in (
        ([PREFECT, "work-pool", "create", "scheduled-pool", "--type", "process"], "pool"),
        ([PREFECT, "--no-prompt", "deploy", "--all", "--prefect-file", str(yaml_file)], "deploy"),
    ):
        log = tmp / f"{name}.log"
        assert _start(args, env, log, tmp).wait(120) == 0, log.read_text(errors="replace")
    log = tmp / "worker.log"
    worker = _start(
        [PREFECT, "worker", "start", "--pool", "scheduled-pool", "--type", "process"],
        {**env, "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "5"},
        log,
        workdir,
    )
    return worker, log


@contextmanager
def prefect_on_postgresql(tmp_path: Path, admin_url: str) -> Iterator[tuple[Path, str]]:
    """Yield (PREFECT_HOME, a fresh PostgreSQL database URL for Prefect); drop it after."""
    import sqlalchemy

    name = f"prefect_sched_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    home = tmp_path / "prefect"
    home.mkdir()
    try:
        yield home, admin_url.rsplit("/", 1)[0].replace("+psycopg", "+asyncpg") + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module")
def everything(tmp_path_factory, prefect_db_template) -> Iterator[dict[str, Scheduled]]:
    """Per Prefect database (SQLite: a migrated copy; PostgreSQL, when it answers: an empty
    database), a server with its scheduler on; all started together, then on each `serve` and
    the pool's deployment and worker. Stopped at the end of the module."""
    tmp = tmp_path_factory.mktemp("scheduled")
    with ExitStack() as stack:
        launched = {}
        home = seed_prefect_home(tmp / "sqlite" / "prefect", prefect_db_template)
        database = f"sqlite+aiosqlite:///{home / 'prefect.db'}"
        launched["sqlite"] = launch_server(home, database, scheduler=True)
        stack.callback(_stop, launched["sqlite"]["proc"])
        if _postgres_reachable() is None:  # else its tests skip (or fail, under CI=true)
            (tmp / "postgresql").mkdir()
            on_pg = prefect_on_postgresql(tmp / "postgresql", PG_ADMIN_URL)
            home, database = stack.enter_context(on_pg)
            launched["postgresql"] = launch_server(home, database, scheduler=True)
            stack.callback(_stop, launched["postgresql"]["proc"])
        servers = {name: await_server(server) for name, server in launched.items()}
        served = {}
        for name, server in servers.items():
            served[name] = _serve(server["home"], server["url"], tmp / name / "served")
            stack.callback(_stop, served[name][0])
        out = {}
        for name, server in servers.items():
            worker, log = _deploy_to_pool(server["home"], server["url"], tmp / name / "pool")
            stack.callback(_stop, worker)
            out[name] = Scheduled(server["home"], server["url"], *served[name], worker, log,
                                  tmp / name / "pool")  # fmt: skip
        yield out


@pytest.fixture(params=BACKENDS)
def scheduled(request, everything) -> Scheduled:
    if request.param == "postgresql":
        request.getfixturevalue("postgres_server")  # skips, or fails under CI=true, without it
    return everything[request.param]


def test_scheduled_monitor_runs_fire_when_served(scheduled):
    try:
        _a_scheduled_run_completes(scheduled.api_url, SERVED, scheduled.serve_log)
    finally:
        _stop(scheduled.served)  # its next runs would only load the machine


def test_scheduled_monitor_runs_fire_on_a_process_work_pool(scheduled):
    """The operators' layout (deploy/prefect.yaml): a process pool and a worker, no `serve`."""
    tmp, api_url = scheduled.pool_tmp, scheduled.api_url
    try:
        _a_scheduled_run_completes(api_url, POOLED, scheduled.worker_log)
    finally:
        _stop(scheduled.worker)
    # `shiftwatch status` shows the schedule (asked over HTTP) and the runs it stored
    env = _clean_env(PREFECT_API_URL=api_url, PREFECT_HOME=str(scheduled.home))
    shiftwatch = str(Path(sys.executable).with_name("shiftwatch"))
    status = subprocess.run(
        [shiftwatch, "status", "--db", f"sqlite:///{tmp / 'sw.db'}"],
        env=env, cwd=tmp, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    assert f"schedules (Prefect server at {api_url}):" in status.stdout
    assert "  scheduled: every 15s" in status.stdout
    assert " monitor run-" in status.stdout and " completed in " in status.stdout


@pytest.mark.postgres
def test_team_mode_prefect_and_shiftwatch_each_on_their_own_postgresql_database(
    postgres_server, everything, tmp_path
):
    """`shiftwatch run` against a Prefect server on PostgreSQL, storing in another PostgreSQL
    database (the module's Prefect server on PostgreSQL: its other runs came from schedules)."""
    api_url = everything["postgresql"].api_url
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "talks.md").write_text(SEED, encoding="utf-8")
    (seeds / "empty.txt").write_text("\n", encoding="utf-8")
    ours_db, ours_url = _create_pg_database(postgres_server)
    try:
        env = _clean_env(PREFECT_API_URL=api_url, PREFECT_HOME=str(tmp_path / "c"))
        shiftwatch = str(Path(sys.executable).with_name("shiftwatch"))
        args = [shiftwatch, "run", "--seeds", str(seeds), "--db", ours_url, "--no-deliver"]
        result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        ad_hoc = {"flow_runs": {"deployment_id": {"is_null_": True}}}  # not from a schedule
        runs = httpx.post(f"{api_url}/flow_runs/filter", json=ad_hoc, timeout=10).json()
        (run,) = runs
        assert run["state_type"] == "COMPLETED"
        artifacts = httpx.post(
            f"{api_url}/artifacts/filter",
            json={"artifacts": {"flow_run_id": {"any_": [run["id"]]}}},
            timeout=10,
        )
        assert {"monitor-sources", "monitor-summary"} <= {a["key"] for a in artifacts.json()}
    finally:
        _drop_pg_database(postgres_server, ours_db)
