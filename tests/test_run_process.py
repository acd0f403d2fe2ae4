"""`shiftwatch run` as an operator starts it: a process of its own, with Prefect's temporary
server (no PREFECT_API_URL), its feed on a loopback server that holds the run still while
the test acts on it.

- `kill -9` of the run leaves no Prefect server behind (issue 19, point 5): the server is
  found by a marker in its environment, inherited from the run.
- The database lost mid-run (SQLite file overwritten, PostgreSQL database dropped under the
  run) ends in one `error:` line with the URL masked, a non-zero status and no traceback.
- Four first runs at once (a fresh PREFECT_HOME, fresh databases of both kinds) each end in
  one summary, with no traceback (issue 19 item 6: Prefect's migrations used to print some).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PG_ADMIN_URL, _create_pg_database, _drop_pg_database, seed_prefect_home
from pytest_httpserver import HTTPServer
from reliability_support import record
from werkzeug import Request, Response

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SHIFTWATCH = str(Path(sys.executable).with_name("shiftwatch"))
STARTUP_S = 180  # the run's imports and Prefect's server start-up, on a loaded machine
GONE_S = 10  # how long the kernel may take to deliver the parent-death signal
CANARY = f"canary{uuid.uuid4().hex}"
FEED = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
    b"<item><title>Geneva talks</title><link>https://news.example.org/a</link>"
    b"<pubDate>Mon, 10 Jan 2022 18:00:00 GMT</pubDate>"
    b"<description>Ryabkov said Russia insists on legal guarantees.</description></item>"
    b"</channel></rss>"
)


class StallingFeed:
    """A feed that answers only once the test says so; `arrived` is set when the run asks."""

    def __init__(self) -> None:
        self.arrived, self.release = threading.Event(), threading.Event()
        self.server = HTTPServer(host="127.0.0.1", port=0)
        self.server.expect_request("/feed.xml").respond_with_handler(self._answer)

    def _answer(self, request: Request) -> Response:
        self.arrived.set()
        self.release.wait(120)
        return Response(FEED, content_type="application/rss+xml")

    @property
    def url(self) -> str:
        return self.server.url_for("/feed.xml")


def _serving() -> Iterator[StallingFeed]:
    """Yield a started stalling feed; release and stop it after."""
    feed = StallingFeed()
    feed.server.start()
    yield feed
    feed.release.set()
    feed.server.clear()
    feed.server.stop()


@pytest.fixture
def stalling_feed() -> Iterator[StallingFeed]:
    yield from _serving()


@pytest.fixture
def prefect_home(tmp_path: Path, prefect_db_template: Path) -> Path:
    """A Prefect home holding a migrated Prefect database, as after the operator's first run
    (the temporary server then starts without migrating one: seconds less per test)."""
    return seed_prefect_home(tmp_path / "prefect-home", prefect_db_template)


def start_run(tmp_path: Path, feed: StallingFeed, db: str, marker: str) -> subprocess.Popen:
    """Start `shiftwatch run` on the feed alone, with a temporary Prefect server of its own
    (Prefect home: the `prefect_home` fixture's folder)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SHIFTWATCH_"))}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        SHIFTWATCH_ALLOWED_NETWORKS="127.0.0.0/8",
        SHIFTWATCH_HTTP_TIMEOUT_S="150",
        SHIFTWATCH_OUTBOX_DIR=str(tmp_path / "outbox"),
        SHIFTWATCH_TEST_MARKER=marker,
    )
    empty = tmp_path / "no-seeds"
    empty.mkdir(parents=True, exist_ok=True)
    args = [SHIFTWATCH, "run", "--seeds", str(empty), "--feed", feed.url, "--db", db]
    return subprocess.Popen(
        args, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def marked_servers(marker: str) -> list[int]:
    """Return the pids of Prefect API servers (uvicorn) whose environment holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours
            continue
        if b"uvicorn" in cmdline and f"SHIFTWATCH_TEST_MARKER={marker}".encode() in environ:
            found.append(int(entry.name))
    return found


def wait_for(check, timeout_s: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended ({proc.returncode}) before {what}:\n{out}\n{err}")
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout_s}s waiting for {what}")


@pytest.fixture
def second_stalling_feed() -> Iterator[StallingFeed]:
    """A second stalling feed, for a second run at the same time."""
    yield from _serving()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal: Linux")
def test_kill_9_of_a_run_leaves_no_prefect_server(
    tmp_path: Path, prefect_db_template: Path, stalling_feed, second_stalling_feed, pg_database
) -> None:
    """Two runs at once, one on SQLite and one on PostgreSQL, each killed while it polls."""
    feeds = {"sqlite": stalling_feed, "postgresql": second_stalling_feed}
    dbs = {"sqlite": f"sqlite:///{tmp_path / 'sw.db'}", "postgresql": pg_database[1]}
    markers = {kind: uuid.uuid4().hex for kind in feeds}
    for kind in feeds:  # each run's Prefect home holds a migrated database (see prefect_home)
        seed_prefect_home(tmp_path / kind / "prefect-home", prefect_db_template)
    runs = {kind: start_run(tmp_path / kind, feeds[kind], dbs[kind], markers[kind])
            for kind in feeds}  # fmt: skip
    try:
        for kind, run in runs.items():
            wait_for(feeds[kind].arrived.is_set, STARTUP_S, f"the {kind} run to poll", run)
        for kind, run in runs.items():
            assert marked_servers(markers[kind]), f"the {kind} run's Prefect server not found"
            os.kill(run.pid, signal.SIGKILL)
            run.wait(10)
        deadline = time.monotonic() + GONE_S
        while any(map(marked_servers, markers.values())) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = {kind: marked_servers(marker) for kind, marker in markers.items()}
        record("orphans", inputs=len(runs), kills=len(runs),
               leaks=sum(map(len, left.values())))  # fmt: skip
        assert left == {"sqlite": [], "postgresql": []}, f"servers outlived their runs: {left}"
    finally:
        for pid in [p for marker in markers.values() for p in marked_servers(marker)]:
            os.kill(pid, signal.SIGKILL)  # never leave one behind, whatever happened
        for run in runs.values():
            if run.poll() is None:
                run.kill()
            run.communicate()


def lose_sqlite(url: str) -> None:
    """Overwrite the database file (and its WAL) in place: the open connections see garbage."""
    path = Path(url.removeprefix("sqlite:///"))
    for part in (path, path.with_name(path.name + "-wal")):
        if part.exists():
            with part.open("r+b") as file:
                file.write(b"lost" * (part.stat().st_size // 4 + 1))


@pytest.fixture
def pg_database(postgres_server) -> Iterator[tuple[str, str]]:
    """Yield (name, URL with a canary password: trust auth ignores it) of a new database."""
    name, url = _create_pg_database(postgres_server)
    try:
        yield name, url.replace("postgres@", f"postgres:{CANARY}@", 1)
    finally:
        _drop_pg_database(postgres_server, name)


def lose_postgresql(name: str) -> None:
    """Drop the database under the run (its connections are cut, reconnecting fails)."""
    _drop_pg_database(PG_ADMIN_URL, name)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_database_lost_mid_run_ends_in_one_error_line(
    tmp_path: Path, prefect_home: Path, stalling_feed, backend: str, request
) -> None:
    if backend == "sqlite":
        db = f"sqlite:///{tmp_path / 'sw.db'}"
        lose = lambda: lose_sqlite(db)  # noqa: E731
    else:
        name, db = request.getfixturevalue("pg_database")
        lose = lambda: lose_postgresql(name)  # noqa: E731
    run = start_run(tmp_path, stalling_feed, db, uuid.uuid4().hex)
    try:
        wait_for(stalling_feed.arrived.is_set, STARTUP_S, "the run to poll its feed", run)
        lose()
        stalling_feed.release.set()
        out, err = run.communicate(timeout=180)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    crashed = "Traceback" in err + out or len(errors) != 1 or run.returncode == 0
    record("database-lost", inputs=1, crashes=int(crashed), leaks=int(CANARY in err + out))
    assert run.returncode != 0, (out, err)
    assert len(errors) == 1, err
    from shiftwatch.models.db import masked

    said = errors[0].replace(masked(db), "<url>")
    assert said.startswith("error: database <url> is ") and " gone" in said, errors
    assert "Traceback" not in err + out, err
    assert CANARY not in err + out


def _first_run(tmp_path: Path, seeds: Path, db: str, n: int) -> subprocess.Popen:
    """Start `shiftwatch run` with the shared PREFECT_HOME, no Prefect server yet anywhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SHIFTWATCH_"))}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), DO_NOT_TRACK="1",
               PREFECT_SERVER_ANALYTICS_ENABLED="false",
               SHIFTWATCH_OUTBOX_DIR=str(tmp_path / f"outbox-{n}"))  # fmt: skip
    args = [SHIFTWATCH, "run", "--seeds", str(seeds), "--db", db, "--no-deliver"]
    return subprocess.Popen(args, env=env, cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def test_four_first_runs_at_once_each_end_in_one_clean_summary(
    tmp_path: Path, pg_database: tuple[str, str]
) -> None:
    """Issue 19 item 6: four runs started at once on a fresh PREFECT_HOME (each starting a
    temporary server that migrates Prefect's database) and fresh databases, two on SQLite
    and two on PostgreSQL: no traceback, no `error:` line, each run's one summary."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a.md").write_text("Ryabkov said Russia insists on legal guarantees.\n")
    dbs = [f"sqlite:///{tmp_path / 'sw.db'}"] * 2 + [pg_database[1]] * 2
    runs = [_first_run(tmp_path, seeds, db, n) for n, db in enumerate(dbs)]
    try:
        outputs = [run.communicate(timeout=STARTUP_S + 60) for run in runs]
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.communicate()
    said = ["\n".join(pair) for pair in outputs]
    crashed = [s for s, run in zip(said, runs, strict=True)
               if run.returncode or "Traceback" in s or "error:" in s]  # fmt: skip
    record("concurrency", inputs=len(runs), crashes=len(crashed))
    assert crashed == [], crashed[0][-3000:]
    for out, _ in outputs:
        assert sum(line.startswith("this run: ") for line in out.splitlines()) == 1, out
