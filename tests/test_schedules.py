"""Scheduled runs really fire: a real Prefect server with its scheduler on, the monitor served
(and, separately, deployed to a process work pool with a worker) with a short interval
schedule, and runs the scheduler created (not triggered by hand) that complete with their
artifacts — on SQLite and on PostgreSQL as Prefect's own database.

SQLAlchemy 2.1 stopped Prefect 3.8.8's scheduler ("Can't evaluate bulk DML statement") while
the suite, with the scheduler off, stayed green; this test is the one that would have failed.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import ROOT
from test_prefect_server import (
    PREFECT,
    _clean_env,
    _start,
    _stop,
    _wait_for,
    running_server,
)

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

SERVE = """
import sys
from datetime import timedelta
from prefect import serve
from shiftwatch.flows.monitor import monitor

seeds, db = sys.argv[1], sys.argv[2]
deployment = monitor.to_deployment(
    name="scheduled",
    interval=timedelta(seconds=15),
    parameters={"seeds": [seeds], "database_url": db, "deliver": False},
)
serve(deployment, pause_on_shutdown=False)
"""


def _seeds(tmp: Path) -> Path:
    seeds = tmp / "seeds"
    seeds.mkdir()
    for f in sorted((ROOT / "data" / "seeds").glob("00[01]_*.txt")):
        (seeds / f.name).write_bytes(f.read_bytes())
    return seeds


def _a_scheduled_run_completes(api_url: str, log: Path, timeout_s: float = 110) -> None:
    """Wait for a run the scheduler created to complete; check it left its artifacts."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as api:

        def completed_scheduled_run():
            runs = api.read_flow_runs()
            done = [
                r
                for r in runs
                if r.auto_scheduled and r.state is not None and r.state.is_completed()
            ]
            return done[0] if done else None

        run = _wait_for(completed_scheduled_run, timeout_s, "a completed scheduled run", log)
        assert run.auto_scheduled and run.deployment_id is not None
        artifacts = api.read_artifacts()
        assert {"monitor-sources", "monitor-summary"} <= {
            a.key for a in artifacts if a.flow_run_id == run.id
        }


def _scheduled_runs_complete(home: Path, api_url: str, tmp: Path) -> None:
    seeds = _seeds(tmp)
    server_env = {"PREFECT_API_URL": api_url, "PREFECT_HOME": str(home)}
    log = tmp / "serve.log"
    served = _start(
        [sys.executable, "-c", SERVE, str(seeds), f"sqlite:///{tmp / 'sw.db'}"],
        _clean_env(**server_env, PREFECT_RUNNER_POLL_FREQUENCY="2"),
        log,
        tmp,
    )
    try:
        _a_scheduled_run_completes(api_url, log)
    finally:
        _stop(served)


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


def _pool_runs_complete(home: Path, api_url: str, tmp: Path) -> None:
    """Create a process pool, `prefect deploy` an interval schedule, start a worker, wait."""
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
    try:
        _a_scheduled_run_completes(api_url, log)
    finally:
        _stop(worker)
    # `shiftwatch status` shows the schedule (asked over HTTP) and the runs it stored
    shiftwatch = str(Path(sys.executable).with_name("shiftwatch"))
    status = subprocess.run(
        [shiftwatch, "status", "--db", f"sqlite:///{tmp / 'sw.db'}"],
        env=env, cwd=tmp, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    assert f"schedules (Prefect server at {api_url}):" in status.stdout
    assert "  scheduled: every 15s" in status.stdout
    assert " monitor run-" in status.stdout and " completed in " in status.stdout


def test_scheduled_monitor_runs_fire_on_sqlite(tmp_path):
    home = tmp_path / "prefect"
    home.mkdir()
    database = f"sqlite+aiosqlite:///{home / 'prefect.db'}"
    with running_server(home, database, scheduler=True) as server:
        _scheduled_runs_complete(home, server["url"], tmp_path)


def test_scheduled_monitor_runs_fire_on_a_process_work_pool(tmp_path):
    """The operators' layout (deploy/prefect.yaml): a process pool and a worker, no `serve`."""
    home = tmp_path / "prefect"
    home.mkdir()
    database = f"sqlite+aiosqlite:///{home / 'prefect.db'}"
    with running_server(home, database, scheduler=True) as server:
        _pool_runs_complete(home, server["url"], tmp_path)


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


@pytest.mark.postgres
def test_scheduled_monitor_runs_fire_on_postgresql(tmp_path, postgres_server):
    with (
        prefect_on_postgresql(tmp_path, postgres_server) as (home, url),
        running_server(home, url, scheduler=True) as server,
    ):
        _scheduled_runs_complete(home, server["url"], tmp_path)


@pytest.mark.postgres
def test_scheduled_monitor_runs_fire_on_a_process_work_pool_on_postgresql(
    tmp_path, postgres_server
):
    with (
        prefect_on_postgresql(tmp_path, postgres_server) as (home, url),
        running_server(home, url, scheduler=True) as server,
    ):
        _pool_runs_complete(home, server["url"], tmp_path)
