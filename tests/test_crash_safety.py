"""Crash safety: kill -9 the monitor at every step and at random, run it again, and two at once.

The monitor's steps run in a subprocess (tests/crash_driver.py: the flow's own functions,
without Prefect's start-up) against a loopback feed and a loopback Slack webhook. The
process is SIGKILLed while it fetches, inside the ingest transaction, between ingest and
positions, inside the positions transaction, after claiming an alert, after Slack accepted
one, and at random moments; then a clean run follows. The database must then equal that of
a run that never crashed (no document lost, no row doubled), every alert must have reached
Slack, and no alert twice except the one in flight when a kill hit (the outbox's window).
Two runs at once (two processes), on one SQLite file and on PostgreSQL, must leave the
same database and post every alert exactly once.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import crash_driver
import pytest
from pytest_httpserver import HTTPServer
from reliability_support import record
from sqlalchemy import Integer, select
from sqlmodel import SQLModel
from werkzeug import Request, Response

from shiftwatch.models import tables as t  # noqa: F401  (registers every table)
from shiftwatch.models.db import open_database
from shiftwatch.settings import Settings

DRIVER = Path(crash_driver.__file__)
SEED = int(os.environ.get("SHIFTWATCH_CRASH_SEED", "20220110"))  # random kill times
COMPARED_OUT = {"runs", "deliveries", "sources", "digests", "alembic_version"}
VOLATILE = {"created_at", "run_id", "detected_at", "updated_at", "fetched_at", "at",
            "lease_until", "lease_owner", "attempts", "sent_at", "next_attempt_at",
            "last_error"}  # fmt: skip
KEY = re.compile(r"key `([^`]+)`")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@dataclass
class Sink:
    """The loopback Slack webhook and feed: records alerts by hook path, can stall fetches."""

    posts: dict[str, Counter[str]] = field(default_factory=dict)
    stall: threading.Event = field(default_factory=threading.Event)
    stalled: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def slack(self, request: Request) -> Response:
        text = request.get_data(as_text=True)
        key = KEY.search(text)
        with self.lock:
            hook = self.posts.setdefault(request.path, Counter())
            hook[key.group(1) if key else "?"] += 1
        return Response("ok")

    def feed(self, request: Request) -> Response:
        if self.stall.is_set():
            self.stalled.set()
            self.release.wait(30)
        return Response(crash_driver.feed_xml(), content_type="application/rss+xml")


@dataclass
class World:
    server: HTTPServer
    sink: Sink
    seeds: Path
    feed_url: str
    reference: dict[str, Counter[tuple[str, ...]]]
    alert_keys: set[str]

    def hook(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.port}/hook/{name}"

    def env(self, hook: str, **extra: str) -> dict[str, str]:
        """Return a driver's environment: Slack at `hook`, loopback allowed, no pacing."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFTWATCH_")}
        env.update(
            SHIFTWATCH_SLACK_WEBHOOK_URL=self.hook(hook), SHIFTWATCH_SLACK_MIN_INTERVAL_S="0",
            SHIFTWATCH_ALLOWED_NETWORKS="127.0.0.0/8", SHIFTWATCH_HTTP_TIMEOUT_S="10",
            # Crashed sends count as attempts; the campaign kills more often than life does.
            SHIFTWATCH_DELIVERY_MAX_ATTEMPTS="50", PYTHONUNBUFFERED="1", **extra,
        )  # fmt: skip
        return env


def _surrogate(table: Any) -> list[str]:
    """Return the table's generated integer keys (not `signature_bands.key`, a band key)."""
    pk = table.primary_key.columns
    return [c.name for c in pk if isinstance(c.type, Integer) and c.autoincrement is not False]


def _alert_columns() -> dict[str, int]:
    """Return where each column of the alerts table sits in `dump`'s rows."""
    table = SQLModel.metadata.tables["alerts"]
    auto = _surrogate(table)
    names = [c.name for c in table.columns if c.name not in VOLATILE and c.name not in auto]
    return {name: i for i, name in enumerate(names)}


def dump(url: str) -> dict[str, Counter[tuple[str, ...]]]:
    """Return every compared table as a multiset of its rows' stable columns (opening the
    database as the app does: a kill may have come before or during its first migration)."""
    engine = open_database(url)
    out: dict[str, Counter[tuple[str, ...]]] = {}
    with engine.connect() as conn:
        for name, table in SQLModel.metadata.tables.items():
            if name in COMPARED_OUT:
                continue
            auto = _surrogate(table)
            columns = [c for c in table.columns if c.name not in VOLATILE and c.name not in auto]
            if name != "alerts":
                columns = [c for c in columns if c.name != "status"]
            rows = conn.execute(select(*columns)).all()
            out[name] = Counter(tuple(_plain(v) for v in row) for row in rows)
    engine.dispose()
    return out


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6f}"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def doubled(state: dict[str, Counter[Any]]) -> list[str]:
    """Return the rows stored more than once."""
    return [f"{name}: {row}" for name, rows in state.items() for row, n in rows.items() if n > 1]


def missing_or_extra(state: dict[str, Counter[Any]], reference: dict[str, Counter[Any]]):
    """Return (rows the reference has and state lacks, rows state has beyond the reference)."""
    lost = [f"{n}: {r}" for n, rows in reference.items() for r in rows - state.get(n, Counter())]
    extra = [f"{n}: {r}" for n, rows in state.items() for r in rows - reference.get(n, Counter())]
    return lost, extra


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Start the loopback servers, write the corpus, and run the pipeline once, cleanly,
    in this process: the reference every crashed database must end up equal to."""
    sink = Sink()
    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request("/feed.xml").respond_with_handler(sink.feed)
    server.expect_request(re.compile("^/hook/")).respond_with_handler(sink.slack)
    server.start()
    seeds = tmp_path_factory.mktemp("crash-seeds")
    crash_driver.write_corpus(seeds)
    feed_url = f"http://127.0.0.1:{server.port}/feed.xml"
    url = f"sqlite:///{tmp_path_factory.mktemp('reference') / 'ref.db'}"
    settings = Settings(
        database_url=url, watchlist=crash_driver.WATCHLIST, allowed_networks="127.0.0.0/8",
        slack_webhook_url=f"http://127.0.0.1:{server.port}/hook/reference",
        slack_min_interval_s=0,
    )  # fmt: skip
    summary = crash_driver.run_once(url, str(seeds), feed_url, settings=settings)
    reference = dump(url)
    keys = set(sink.posts["/hook/reference"])
    assert summary["sent"] == len(keys) >= 10, summary
    at = _alert_columns()
    statuses = {(row[at["channel"]], row[at["status"]]) for row in reference["alerts"]}
    assert statuses == {("slack", "sent"), ("email", "held")}, statuses
    yield World(server, sink, seeds, feed_url, reference, keys)
    server.clear()
    server.stop()


@dataclass
class Outcome:
    code: int
    phases: list[str]
    output: str


class Zygote:
    """The driver in --zygote mode: every run is a fresh child process forked from it, so
    a round costs the run, not the interpreter's imports."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(DRIVER), "--zygote"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.expect("zygote ready", 120)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip())

    def expect(self, prefix: str, timeout: float, seen: list[str] | None = None) -> str:
        """Return the next line starting with `prefix`, keeping the others in `seen`."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            if seen is not None:
                seen.append(line)
            if line.startswith(prefix):
                return line

    def start(self, request: dict[str, Any]) -> int:
        """Fork one run; return its pid."""
        return self.start_together([request])[0]

    def start_together(self, requests: list[dict[str, Any]]) -> list[int]:
        """Fork runs at the same moment (separate processes, running concurrently)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(requests) + "\n")
        self.proc.stdin.flush()
        return [int(self.expect("child ", 30).split()[1]) for _ in requests]

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)


@pytest.fixture(scope="module")
def zygote() -> Iterator[Zygote]:
    forker = Zygote()
    yield forker
    forker.close()


def drive(world: World, zygote: Zygote, url: str, hook: str, *, crash_at: str | None = None,
          kill_after: float | None = None, stall_fetch: bool = False) -> Outcome:  # fmt: skip
    """Run the pipeline once in a child process; with `kill_after`, SIGKILL it that many
    seconds after it is ready; with `stall_fetch`, SIGKILL it while the feed server holds
    its request. `crash_at` makes it kill itself (see crash_driver)."""
    env = world.env(hook)
    request = {"url": url, "seeds": str(world.seeds), "feed": world.feed_url, "crash_at": crash_at,
               "env": {k: v for k, v in env.items() if k.startswith("SHIFTWATCH_")}}  # fmt: skip
    if stall_fetch:
        world.sink.stall.set()
    seen: list[str] = []
    pid = zygote.start(request)
    try:
        if stall_fetch:
            assert world.sink.stalled.wait(60)
            os.kill(pid, signal.SIGKILL)
        elif kill_after is not None:
            zygote.expect("phase ready", 60, seen)
            time.sleep(kill_after)
            with contextlib.suppress(ProcessLookupError):  # it may have finished already
                os.kill(pid, signal.SIGKILL)
        code = int(zygote.expect(f"exit {pid} ", 120, seen).split()[2])
    finally:
        world.sink.stall.clear()
        world.sink.release.set()
        world.sink.stalled.clear()
        time.sleep(0.05)
        world.sink.release.clear()
    phases = [line.split()[1] for line in seen if line.startswith("phase ")]
    return Outcome(code, phases, "\n".join(seen[-30:]))


def settle(outcome: Outcome) -> None:
    """Wait until leases a run killed while delivering took have expired."""
    if outcome.phases and outcome.phases[-1] == "deliver":
        time.sleep(crash_driver.LEASE_S + 0.2)


def check_after_crash(url: str, world: World, label: str) -> list[str]:
    """Return rows doubled or beyond the reference after a crash (must be none)."""
    state = dump(url)
    _, extra = missing_or_extra(state, world.reference)
    alerts_extra = [row for row in extra if row.startswith("alerts:")]
    # Alerts differ from the reference only by status while a crash left them undelivered.
    problems = doubled(state) + [row for row in extra if row not in alerts_extra]
    statuses = {row[_alert_columns()["status"]] for row in state.get("alerts", Counter())}
    assert statuses <= {"pending", "sending", "sent", "held"}, (label, statuses)
    return problems


def final_check(url: str, world: World, hook: str, window: int, label: str) -> None:
    """Compare with the reference and count what Slack got; record and assert."""
    state = dump(url)
    lost, extra = missing_or_extra(state, world.reference)
    posts = world.sink.posts.get(f"/hook/{hook}", Counter())
    unsent = world.alert_keys - set(posts)
    strangers = set(posts) - world.alert_keys
    twice = sum(n - 1 for n in posts.values())
    record(label, inputs=sum(c.total() for c in world.reference.values()),
           losses=len(lost) + len(unsent),
           duplicates=len(doubled(state)) + len(extra) + len(strangers) + max(twice - window, 0),
           window=min(twice, window))  # fmt: skip
    assert lost == [] and extra == [] and doubled(state) == []
    assert unsent == set() and strangers == set()
    assert twice <= window, f"{twice} alerts posted twice, window allows {window}"


RANDOM_KILLS = 4
CRASH_POINTS = ["ingest-write", "after-ingest", "positions-write", "after-claim", "after-send"]


def test_kill_9_at_every_step_then_rerun_loses_and_doubles_nothing(world, zygote, tmp_path):
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    hook = "crash-sqlite"
    kills, window, problems = 0, 0, []
    outcome = drive(world, zygote, url, hook, stall_fetch=True)  # during the feed request
    assert outcome.code == -signal.SIGKILL and outcome.phases[-1] == "fetch", outcome.output
    kills += 1
    for point in CRASH_POINTS:
        outcome = drive(world, zygote, url, hook, crash_at=point)
        assert outcome.code == -signal.SIGKILL, (point, outcome.output)
        kills += 1
        window += point == "after-send"
        problems += check_after_crash(url, world, point)
        settle(outcome)
    final = drive(world, zygote, url, hook)
    assert final.code == 0, final.output
    record("crash", kills=kills)
    assert problems == []
    final_check(url, world, hook, window, "crash")


def test_kill_9_at_random_moments_then_rerun(world, zygote, tmp_path) -> None:
    """Each round on a fresh database (so the kill lands amid real work), killed after a
    random share of a clean run's duration, then run again."""
    started = time.monotonic()
    clean = drive(world, zygote, f"sqlite:///{tmp_path / 'timing.db'}", "timing")
    duration = time.monotonic() - started  # a clean run in a forked child, fresh database
    assert clean.code == 0, clean.output
    rng = random.Random(SEED)
    landed = []
    for n in range(RANDOM_KILLS):
        url, hook = f"sqlite:///{tmp_path / f'random-{n}.db'}", f"random-{n}"
        outcome = drive(world, zygote, url, hook, kill_after=rng.uniform(0.0, duration))
        killed = outcome.code == -signal.SIGKILL
        landed.append(outcome.phases[-1] if killed else "finished")
        assert check_after_crash(url, world, f"random ({landed[-1]})") == []
        settle(outcome)
        assert drive(world, zygote, url, hook).code == 0
        record("crash", kills=int(killed))
        final_check(url, world, hook, int(killed and landed[-1] == "deliver"), "crash")
    print(f"random kills landed in: {landed}")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_kill_9_on_postgresql_then_rerun(world, zygote, database_url) -> None:
    hook = "crash-postgresql"
    window = 0
    for point in ("ingest-write", "positions-write", "after-send"):
        outcome = drive(world, zygote, database_url, hook, crash_at=point)
        assert outcome.code == -signal.SIGKILL, (point, outcome.output)
        window += point == "after-send"
        assert check_after_crash(database_url, world, point) == []
        settle(outcome)
    assert drive(world, zygote, database_url, hook).code == 0
    record("crash", kills=3)
    final_check(database_url, world, hook, window, "crash")


def test_two_runs_at_once_store_and_send_everything_once(world, zygote, database_url) -> None:
    open_database(database_url).dispose()  # an existing, empty database, as after `run` once
    hook = f"concurrent-{database_url.split(':')[0].split('+')[0]}"
    env = {k: v for k, v in world.env(hook).items() if k.startswith("SHIFTWATCH_")}
    run = {"url": database_url, "seeds": str(world.seeds), "feed": world.feed_url, "env": env}
    seen: list[str] = []
    pids = zygote.start_together([run, run])
    codes = [int(zygote.expect(f"exit {pid} ", 180, seen).split()[2]) for pid in pids]
    assert codes == [0, 0], "\n".join(seen[-40:])
    final_check(database_url, world, hook, 0, "concurrency")
