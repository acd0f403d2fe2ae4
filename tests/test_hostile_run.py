"""Issue 19 items 3 and 4 through the real command line, on SQLite and PostgreSQL.

`shiftwatch run` runs as an operator starts it (the installed console script, a process of
its own, `--feed`/`--seeds`/`--db`), against loopback servers started here; only Prefect's
API is the test session's (`prefect_harness`), so no run waits for a server of its own to
start (`test_run_process` covers that one). Each run must exit 0 and print one summary and
no `error:` line; its peak RSS is its own `VmHWM` (`hostile_run_driver.run_command`).

- The hostile mix of `test_hostile_limits` (amplifying entities, a gzip bomb, billion
  laughs, a 9 MB entry, a 100 MB body; a folder with a YAML bomb in front matter, a link to
  /dev/zero, a FIFO and a 10 MB file) beside three normal feeds and a normal file: everything
  normal is stored (the bomb's file too, its front matter unexpanded), every other hostile
  input rejected with its reason, peak RSS under 600 MB.
- 32 feeds trickling a byte a second and a good feed, all on one server: the good feed's
  entries are stored in the same run, every trickling feed fails `timeout`.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import _create_pg_database, _drop_pg_database
from hostile_run_driver import CommandRun, run_command
from pytest_httpserver import HTTPServer
from reliability_support import record
from sqlalchemy import select
from test_fairness import DEADLINE_S, SPACING_S, _Server
from test_hostile_limits import RSS_CEILING, _hostile_folder, _serve_hostile_mix

from shiftwatch.models import tables as t
from shiftwatch.models.db import open_database, session_scope

pytestmark = [pytest.mark.slow, pytest.mark.prefect, pytest.mark.timeout(400)]

SHIFTWATCH = str(Path(sys.executable).with_name("shiftwatch"))
MB = 1024 * 1024
SUMMARY = re.compile(r"^this run: (\d+) new, \d+ duplicate, \d+ unchanged, (\d+) rejected")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Return the run's environment: the session's Prefect API, loopback feeds allowed."""
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SHIFTWATCH_"))}
    env.update(
        PREFECT_API_URL=str(PREFECT_API_URL.value()),
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        SHIFTWATCH_ALLOWED_NETWORKS="127.0.0.0/8",
        SHIFTWATCH_OUTBOX_DIR=str(tmp_path / "outbox"),
        **extra,
    )
    return env


def _shiftwatch_run(
    tmp_path: Path, db: str, feeds: list[str], seeds: Path, **env: str
) -> CommandRun:
    """Run `shiftwatch run` over the feeds and folder, without delivering."""
    args = [SHIFTWATCH, "run", "--seeds", str(seeds), "--db", db, "--no-deliver"]
    args += [a for url in feeds for a in ("--feed", url)]
    return run_command(args, _env(tmp_path, **env), tmp_path, timeout_s=360)


def _summary(run: CommandRun) -> tuple[int, int]:
    """Return (new, rejected) of the run's one summary; fail unless it ended cleanly."""
    said = run.stdout + run.stderr
    assert run.returncode == 0, said[-3000:]
    assert "Traceback" not in said, said[-3000:]
    assert [line for line in said.splitlines() if line.startswith("error:")] == [], said
    found = [SUMMARY.match(line) for line in run.stdout.splitlines()]
    summaries = [m for m in found if m]
    assert len(summaries) == 1, run.stdout
    return int(summaries[0].group(1)), int(summaries[0].group(2))


def _stored(db: str) -> tuple[set[str], dict[str, t.Rejection]]:
    """Return the stored documents' URLs and the rejections by item."""
    engine = open_database(db)
    with session_scope(engine) as session:
        docs = {d.url for d in session.execute(select(t.Document)).scalars()}
        rejections = {r.item: r for r in session.execute(select(t.Rejection)).scalars()}
        session.expunge_all()
    engine.dispose()
    return docs, rejections


def test_shiftwatch_run_over_a_hostile_mix_stores_the_normal_inputs_under_600_mb(
    prefect_harness, database_url: str, httpserver: HTTPServer, tmp_path: Path
) -> None:
    folder = tmp_path / "seeds"
    _hostile_folder(folder)
    hostile, normal = _serve_hostile_mix(httpserver)
    run = _shiftwatch_run(tmp_path, database_url, [*hostile, *normal], folder)
    peak = run.peak_rss_kb * 1024
    print(f"hostile mix (shiftwatch run): peak RSS {peak / MB:.0f} MB, {run.seconds:.0f}s")
    docs, rejections = _stored(database_url)
    expected = {f"https://normal.example/{n}/{i}" for n in range(3) for i in range(5)}
    # The YAML bomb is in front matter, whose fields are read as scalars only: the file's
    # text is stored, the bomb never expanded (test_hostile_input).
    expected |= {(folder / name).resolve().as_uri() for name in ("normal.md", "bomb.md")}
    hostile_files = sorted(p for p in folder.iterdir() if p.suffix == ".txt")
    refused = [u for u in hostile if u in rejections] + ["https://big.example/99"]
    refused += [p.as_uri() for p in hostile_files if p.as_uri() in rejections]
    record("hostile-cli", inputs=len(hostile) + len(normal) + len(hostile_files) + 1,
           rejected=len(refused), losses=len(expected - docs))  # fmt: skip
    new, rejected = _summary(run)
    assert expected <= docs, sorted(expected - docs)
    assert new == len(docs) and rejected >= len(hostile) + len(hostile_files)
    for url in hostile:
        if url.endswith("/nine-mb.xml"):  # a feed whose one entry is over the entry cap
            assert rejections["https://big.example/99"].reason == "oversized"
        else:
            assert rejections[url].reason in {"unsafe", "oversized"}, rejections[url].detail
    for path in hostile_files:
        assert rejections[path.as_uri()].reason, path  # each with its recorded reason
    assert 0 < peak < RSS_CEILING, f"peak RSS {peak / MB:.0f} MB"


@pytest.fixture
def trickling_server() -> Iterator[str]:
    """Yield the base URL of a server trickling every feed but /good.xml a byte a second."""
    stop = threading.Event()
    server = _Server(True, stop)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    stop.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def both_databases(tmp_path: Path, postgres_server: str) -> Iterator[dict[str, str]]:
    """Yield an empty database URL per backend, for runs that go at once (their waits
    overlap: the suite pays the trickling feeds' polite starts once, not twice)."""
    name, url = _create_pg_database(postgres_server)
    try:
        yield {"sqlite": f"sqlite:///{tmp_path / 'sw.db'}", "postgresql": url}
    finally:
        _drop_pg_database(postgres_server, name)


def test_shiftwatch_run_stores_a_good_feed_beside_32_trickling_ones_on_its_server(
    prefect_harness, both_databases: dict[str, str], trickling_server: str, tmp_path: Path
) -> None:
    """One run per database, both at once, each over 32 trickling feeds and the good feed
    on one server (the good one asked last)."""
    slow = [f"{trickling_server}/feed-{i}.xml" for i in range(32)]
    good = f"{trickling_server}/good.xml"
    with ThreadPoolExecutor(len(both_databases)) as pool:
        started = {kind: pool.submit(_trickling_run, tmp_path / kind, db, [*slow, good])
                   for kind, db in both_databases.items()}  # fmt: skip
        runs = {kind: future.result() for kind, future in started.items()}
    for kind, run in runs.items():
        print(f"fairness (shiftwatch run, {kind}): {run.seconds:.0f}s, "
              f"peak RSS {run.peak_rss_kb // 1024} MB")  # fmt: skip
        _check_trickling_run(run, both_databases[kind], slow)


def _trickling_run(work: Path, db: str, feeds: list[str]) -> CommandRun:
    """Run `shiftwatch run` over the feeds alone, with a test-sized deadline."""
    empty = work / "no-seeds"
    empty.mkdir(parents=True)
    return _shiftwatch_run(work, db, feeds, empty,
                           SHIFTWATCH_FEED_DEADLINE_S=str(DEADLINE_S),
                           SHIFTWATCH_HTTP_TIMEOUT_S=str(2 * DEADLINE_S))  # fmt: skip


def _check_trickling_run(run: CommandRun, db: str, slow: list[str]) -> None:
    """The good feed's entries are stored, every trickling feed failed `timeout`."""
    docs, rejections = _stored(db)
    good_docs = {f"https://good.example/a/{i}" for i in range(3)}
    record("fairness", inputs=len(slow) + 1, rejected=len(slow), losses=len(good_docs - docs))
    new, rejected = _summary(run)
    assert good_docs <= docs and new == 3, run.stdout
    assert rejected == len(slow), run.stdout
    assert all(rejections[u].reason == "timeout" for u in slow), [
        rejections[u].detail for u in slow if rejections[u].reason != "timeout"
    ]
    # Generous: the feeds' polite starts and two deadlines, plus the command's own start-up.
    assert run.seconds < len(slow) * SPACING_S + 2 * DEADLINE_S + 120, run.seconds
    assert 0 < run.peak_rss_kb * 1024 < RSS_CEILING
