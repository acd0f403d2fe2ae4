"""Scheduled runs really fire: a real Prefect server with its scheduler on, the monitor served
with a short interval schedule, and runs the scheduler created (not triggered by hand) that
complete with their artifacts — on SQLite and on PostgreSQL as Prefect's own database.

SQLAlchemy 2.1 stopped Prefect 3.8.8's scheduler ("Can't evaluate bulk DML statement") while
the suite, with the scheduler off, stayed green; this test is the one that would have failed.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest
from conftest import ROOT
from test_prefect_server import (
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


def _scheduled_runs_complete(home: Path, api_url: str, tmp: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    seeds = tmp / "seeds"
    seeds.mkdir()
    for f in sorted((ROOT / "data" / "seeds").glob("00[01]_*.txt")):
        (seeds / f.name).write_bytes(f.read_bytes())
    server_env = {"PREFECT_API_URL": api_url, "PREFECT_HOME": str(home)}
    log = tmp / "serve.log"
    served = _start(
        [sys.executable, "-c", SERVE, str(seeds), f"sqlite:///{tmp / 'sw.db'}"],
        _clean_env(**server_env, PREFECT_RUNNER_POLL_FREQUENCY="2"),
        log,
        tmp,
    )
    try:
        with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as api:

            def completed_scheduled_run():
                runs = api.read_flow_runs()
                done = [
                    r
                    for r in runs
                    if r.auto_scheduled and r.state is not None and r.state.is_completed()
                ]
                return done[0] if done else None

            run = _wait_for(completed_scheduled_run, 110, "a completed scheduled run", log)
            assert run.auto_scheduled and run.deployment_id is not None
            artifacts = api.read_artifacts()
            assert any(a.flow_run_id == run.id for a in artifacts)
    finally:
        _stop(served)


def test_scheduled_monitor_runs_fire_on_sqlite(tmp_path):
    home = tmp_path / "prefect"
    home.mkdir()
    database = f"sqlite+aiosqlite:///{home / 'prefect.db'}"
    with running_server(home, database, scheduler=True) as server:
        _scheduled_runs_complete(home, server["url"], tmp_path)


@pytest.mark.postgres
def test_scheduled_monitor_runs_fire_on_postgresql(tmp_path, postgres_server):
    import sqlalchemy

    name = f"prefect_sched_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    home = tmp_path / "prefect"
    home.mkdir()
    url = postgres_server.rsplit("/", 1)[0].replace("+psycopg", "+asyncpg") + f"/{name}"
    try:
        with running_server(home, url, scheduler=True) as server:
            _scheduled_runs_complete(home, server["url"], tmp_path)
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
