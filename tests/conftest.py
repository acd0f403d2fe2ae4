"""Shared fixtures: the default watchlist, databases on every backend, a Prefect harness."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "data" / "seeds"
FIXTURES = Path(__file__).parent / "fixtures"
DEFAULT_WATCHLIST = ROOT / "watchlists" / "russia-nato-2022.yaml"
PG_ADMIN_URL = os.environ.get(
    "SHIFTWATCH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def watchlist():
    from shiftwatch.watchlist import load_watchlist

    return load_watchlist(DEFAULT_WATCHLIST)


@pytest.fixture(scope="session")
def analyzer(watchlist):
    from shiftwatch.analysis.analyzer import Analyzer

    return Analyzer(watchlist.entities(), watchlist.stop_phrases(), watchlist.demand_terms())


def _postgres_reachable() -> str | None:
    """Return None when PostgreSQL answers, else the reason it does not."""
    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure to connect means: not here
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {type(exc).__name__}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Yield an admin URL for PostgreSQL; skip (or fail under CI=true) when unreachable."""
    reason = _postgres_reachable()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)")
        pytest.skip(reason)
    yield PG_ADMIN_URL


def _create_pg_database(admin_url: str, template: str | None = None) -> tuple[str, str]:
    """Create a database (empty, or a copy of database `template`); return (name, URL)."""
    import sqlalchemy

    name = f"shiftwatch_test_{uuid.uuid4().hex[:10]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    admin = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"{copy}'))
    admin.dispose()
    return name, admin_url.rsplit("/", 1)[0] + "/" + name


def _drop_pg_database(admin_url: str, name: str) -> None:
    import sqlalchemy

    admin = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_migrated_template(postgres_server) -> Iterator[str]:
    """Yield the name of a PostgreSQL database migrated to head once per session: tests that
    take the `engine` fixture get a copy (CREATE DATABASE ... TEMPLATE) instead of migrating
    an empty one each (half a second each); migrating empty databases stays test_migrations'
    and the `database_url` tests' business."""
    from shiftwatch.models.db import open_database

    name, url = _create_pg_database(postgres_server)
    try:
        open_database(url).dispose()
        yield name
    finally:
        _drop_pg_database(postgres_server, name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    """Yield an empty database URL on each backend (the storage contract runs on both). For a
    test that takes `engine` (which migrates it before the test starts anyway), a PostgreSQL
    database is a copy of one already migrated."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shiftwatch.db'}"
        return
    admin_url = request.getfixturevalue("postgres_server")
    migrated = "engine" in request.fixturenames
    template = request.getfixturevalue("pg_migrated_template") if migrated else None
    name, url = _create_pg_database(admin_url, template)
    try:
        yield url
    finally:
        _drop_pg_database(admin_url, name)


@pytest.fixture
def engine(database_url):
    from shiftwatch.models.db import open_database

    engine = open_database(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def prefect_db_template(tmp_path_factory) -> Path:
    """Return a Prefect SQLite database migrated to head, made once per session.

    A Prefect server (`prefect server start`, the test harness, or the temporary API of
    `shiftwatch run`) migrates an empty database on start-up: about seven seconds each time.
    Tests whose subject is not that first start copy this file into place instead
    (`seed_prefect_home`). A first start on an empty Prefect database stays covered: the cold
    `shiftwatch run` of the benchmarks' smoke runs (test_bench_smoke, empty PREFECT_HOME) and
    test_schedules' Prefect server on an empty PostgreSQL database."""
    home = tmp_path_factory.mktemp("prefect-template")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SHIFTWATCH_"))}
    env.update(PREFECT_HOME=str(home), DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    prefect = str(Path(sys.executable).with_name("prefect"))
    done = subprocess.run(
        [prefect, "server", "database", "upgrade", "-y"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    database = home / "prefect.db"
    assert done.returncode == 0 and database.is_file(), done.stdout + done.stderr
    return database


def seed_prefect_home(home: Path, template: Path, name: str = "prefect.db") -> Path:
    """Put a copy of the migrated Prefect database where a server started with PREFECT_HOME
    `home` looks for it (Prefect's default: $PREFECT_HOME/prefect.db); return `home`."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, home / name)
    return home


@pytest.fixture(scope="session")
def prefect_harness(prefect_db_template):
    """One temporary Prefect API for the whole session (its start-up costs seconds), on a copy
    of the migrated template database (prefect_test_harness makes its database in a fresh
    temporary folder: that folder gets the copy)."""
    import prefect.testing.utilities as harness
    from prefect.testing.utilities import prefect_test_harness

    def seeded_mkdtemp(*args, **kwargs) -> str:
        folder = harness_mkdtemp(*args, **kwargs)
        seed_prefect_home(Path(folder), prefect_db_template, "prefect-test.db")
        return folder

    harness_mkdtemp = harness.mkdtemp
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(harness, "mkdtemp", seeded_mkdtemp)
        with prefect_test_harness(server_startup_timeout=180):
            yield
