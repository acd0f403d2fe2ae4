"""A monitor run without Prefect, for the crash and concurrency tests (test_crash_safety.py).

It runs what the monitor flow runs, in the same order and with the same functions: read a
folder, poll a feed, analyse and store (one transaction), update positions and queue alerts
(one transaction), deliver the outbox to Slack. Before each step it prints `phase <name>`,
so a test can kill it at a known point, and `CRASH_AT` makes it SIGKILL itself inside one:

    ingest-write      after the stances are inserted, before the ingest transaction commits
    after-ingest      after the ingest committed, before positions start
    positions-write   after shifts and alerts are inserted, before that transaction commits
    after-claim       after an alert was claimed (leased), before it is sent
    after-send        after Slack accepted an alert, before it is recorded as sent

    python tests/crash_driver.py DB_URL SEEDS_DIR FEED_URL
    python tests/crash_driver.py --zygote     # forks runs on request (see `zygote`)

Settings come from the environment (SHIFTWATCH_*), as in production.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from shiftwatch.analysis.analyzer import Analyzer
from shiftwatch.connectors.channels.slack import SlackChannel
from shiftwatch.connectors.feedlist import FeedConfig
from shiftwatch.connectors.files import read_folder
from shiftwatch.models import outbox
from shiftwatch.models import sources as source_store
from shiftwatch.models import stances as stance_store
from shiftwatch.models.db import open_database, session_scope
from shiftwatch.pipeline.deliver import (
    announcer,
    channels_for,
    close_channels,
    deliver_pending,
    owner_id,
)
from shiftwatch.pipeline.feeds import poll_feeds
from shiftwatch.pipeline.ingest import ingest_items
from shiftwatch.pipeline.positions import update_positions
from shiftwatch.settings import load_settings
from shiftwatch.watchlist import load_watchlist

_ANALYZER: Any = None  # built once in a zygote, shared by the runs it forks
LEASE_S = 2.0  # short, so the next run finds a crashed delivery's lease expired
WATCHLIST = Path(__file__).resolve().parents[1] / "watchlists" / "russia-nato-2022.yaml"
# (party's speaker sentence, what they oppose, what they are open to): one tracked pair each.
PAIRS = [
    ("Deputy Foreign Minister Sergei Ryabkov said on {day} that Russia",
     "categorically rejects talks on arms control", "is ready to discuss arms control"),
    ("NATO Secretary General Jens Stoltenberg said on {day} that NATO",
     "rejects any halt to NATO enlargement", "is ready to discuss NATO enlargement"),
    ("US Secretary of State Antony Blinken said on {day} that the United States",
     "rejects legally binding security guarantees",
     "is ready to discuss legally binding security guarantees"),
    ("Foreign Minister Sergei Lavrov said on {day} that Russia", "rejects de-escalation",
     "is ready to discuss de-escalation"),
]  # fmt: skip
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
FIRST = datetime(2022, 1, 3, 9, tzinfo=UTC)
FILE_STATEMENTS = 3  # per pair in the folder: opposes, open, opposes (two shifts)
FEED_STATEMENTS = 2  # per pair in the feed, later: open, opposes (two more shifts)


def statement(pair: int, n: int) -> tuple[str, datetime]:
    """Return the n-th statement of a pair (stances alternate) and its publication time."""
    speaker, against, open_to = PAIRS[pair]
    when = FIRST + timedelta(days=2 * n, hours=pair)
    stance = against if n % 2 == 0 else open_to
    text = (f"{speaker.format(day=DAYS[n % len(DAYS)])} {stance}. "
            f"This is dispatch {pair}-{n} of the crash-test wire.")  # fmt: skip
    return text, when


def write_corpus(folder: Path) -> int:
    """Write the folder's documents (markdown with front matter); return how many."""
    folder.mkdir(parents=True, exist_ok=True)
    for pair in range(len(PAIRS)):
        for n in range(FILE_STATEMENTS):
            text, when = statement(pair, n)
            head = yaml.safe_dump({"title": f"Dispatch {pair}-{n}", "published": when.isoformat()})
            (folder / f"dispatch-{pair}-{n}.md").write_text(f"---\n{head}---\n{text}\n", "utf-8")
    return len(PAIRS) * FILE_STATEMENTS


def feed_xml() -> bytes:
    """Return the feed: each pair's later statements as RSS items."""
    items = []
    for pair in range(len(PAIRS)):
        for n in range(FILE_STATEMENTS, FILE_STATEMENTS + FEED_STATEMENTS):
            text, when = statement(pair, n)
            items.append(
                f"<item><title>Wire {pair}-{n}</title><link>https://wire.example/{pair}/{n}</link>"
                f"<description>{text}</description>"
                f"<pubDate>{when.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate></item>"
            )
    channel = "<channel><title>Crash wire</title><link>https://wire.example/</link>"
    body = f'<?xml version="1.0"?><rss version="2.0">{channel}{"".join(items)}</channel></rss>'
    return body.encode()


def phase(name: str) -> None:
    """Announce the step about to run (the test reads these lines)."""
    print(f"phase {name}", flush=True)


def die() -> None:
    """Kill this process the way the OOM killer or a power cut would: no cleanup at all."""
    os.kill(os.getpid(), signal.SIGKILL)


def arm(crash_at: str | None) -> None:
    """Patch the step named by `crash_at` to SIGKILL the process in the middle of it."""
    if crash_at in (None, "", "after-ingest"):
        return

    def after(owner: Any, name: str, when: Any = bool) -> None:
        original = getattr(owner, name)

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            if when(result):
                die()
            return result

        setattr(owner, name, wrapped)

    targets = {
        "ingest-write": (stance_store, "save_stances", lambda _: True),
        "positions-write": (outbox, "record_shifts", lambda _: True),
        "after-claim": (outbox, "claim_alerts", bool),
        "after-send": (SlackChannel, "send", lambda _: True),
    }
    owner, name, when = targets[crash_at]
    after(owner, name, when)


def run_once(database_url: str, seeds: str, feed_url: str, *, crash_at: str | None = None,
             settings: Any = None, lease_s: float = LEASE_S) -> dict[str, Any]:  # fmt: skip
    """Run the pipeline once; return its counts."""
    settings = settings or load_settings(database_url=database_url, watchlist=WATCHLIST)
    watchlist = load_watchlist(settings.watchlist)
    analyzer = _ANALYZER or Analyzer(watchlist.entities(), watchlist.stop_phrases(),
                                     watchlist.demand_terms())  # fmt: skip
    arm(crash_at)
    phase("ready")  # imports done: what follows is the run itself
    engine = open_database(database_url)
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    with session_scope(engine) as session:
        source_store.start_run(session, run_id, "monitor", None)
    phase("fetch")
    folder = read_folder(seeds, max_bytes=settings.max_document_bytes)
    polled = poll_feeds(engine, [FeedConfig(url=feed_url)], settings, force=True)
    phase("ingest")
    items, rejected = [*folder.items, *polled.items], [*folder.rejected, *polled.rejected]
    result = ingest_items(engine, analyzer, items, run_id, rejected)
    if crash_at == "after-ingest":
        die()
    phase("positions")
    positions = update_positions(engine, result.pairs, result.new_document_ids, run_id,
                                 announcer(settings, run_id))  # fmt: skip
    phase("deliver")
    channels = channels_for(settings, write_only=False)
    try:
        report = deliver_pending(
            engine,
            channels,
            watchlist,
            owner=owner_id(run_id),
            max_attempts=settings.delivery_max_attempts,
            lease_s=lease_s,
        )
    finally:
        close_channels(channels)
    with session_scope(engine) as session:
        source_store.finish_run(session, run_id, "completed", {}, [])
    engine.dispose()
    phase("done")
    return {"new": len(result.new_document_ids), "shifts": len(positions.shifts),
            "recovered": positions.recovered, "sent": report.sent}  # fmt: skip


def zygote() -> None:
    """Import everything once, then fork one run per JSON request read from stdin.

    Each run is a child process of its own (killed with SIGKILL like any other); only the
    imports (seconds per interpreter) are shared. A line holding a list starts its runs
    together (concurrent runs). Prints `child <pid>` when a run starts and
    `exit <pid> <code>` when it ended (-9: killed).
    """
    global _ANALYZER
    _ANALYZER = _analyzer()
    print("zygote ready", flush=True)
    for line in sys.stdin:
        runs = json.loads(line)  # one run, or a list of runs to start at the same moment
        pids = []
        for request in runs if isinstance(runs, list) else [runs]:
            pid = os.fork()
            if pid == 0:
                _child(request)
            pids.append(pid)
            print(f"child {pid}", flush=True)
        for pid in pids:
            _, status = os.waitpid(pid, 0)
            print(f"exit {pid} {os.waitstatus_to_exitcode(status)}", flush=True)


def _child(request: dict[str, Any]) -> None:
    """Run one request in a forked child, then leave without running the parent's cleanup."""
    code = 1
    try:
        for name in [n for n in os.environ if n.startswith("SHIFTWATCH_")]:
            del os.environ[name]
        os.environ.update(request["env"])
        run_once(request["url"], request["seeds"], request["feed"],
                 crash_at=request.get("crash_at"))  # fmt: skip
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        os._exit(code)


def _analyzer() -> Any:
    """Return the analyzer of the crash-test watchlist."""
    watchlist = load_watchlist(WATCHLIST)
    return Analyzer(watchlist.entities(), watchlist.stop_phrases(), watchlist.demand_terms())


def main(argv: list[str]) -> None:
    """Run once from the command line, or serve runs with --zygote (see the docstrings)."""
    if argv == ["--zygote"]:
        zygote()
        return
    summary = run_once(argv[0], argv[1], argv[2], crash_at=os.environ.get("CRASH_AT"))
    print(f"summary {summary}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
