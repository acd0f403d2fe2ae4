"""Shared fixtures: the default watchlist, databases on every backend, a Prefect harness."""

from __future__ import annotations

import os
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


def _create_pg_database(admin_url: str) -> tuple[str, str]:
    import sqlalchemy

    name = f"shiftwatch_test_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, admin_url.rsplit("/", 1)[0] + "/" + name


def _drop_pg_database(admin_url: str, name: str) -> None:
    import sqlalchemy

    admin = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    """Yield an empty database URL on each backend (the storage contract runs on both)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shiftwatch.db'}"
        return
    admin_url = request.getfixturevalue("postgres_server")
    name, url = _create_pg_database(admin_url)
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
def prefect_harness():
    """One temporary Prefect API for the whole session (its start-up costs seconds)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield
