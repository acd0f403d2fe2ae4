"""Runs in processes of their own, each measured by its own memory high-water mark.

- As a script: one monitor run's I/O and storage steps (read folders, poll feeds, ingest,
  without Prefect) over given folders and feeds. `test_hostile_limits` starts it and reads
  the peak RSS it reports from its own `VmHWM`: the run's figure, not the test process's.

      python tests/hostile_run_driver.py CONFIG.json   ->   one JSON line on stdout

- `run_command`: the real `shiftwatch` command (`test_hostile_run`), its `VmHWM` polled
  from /proc while it runs. Not `ru_maxrss`: Linux carries the parent's high-water mark
  across fork and exec, so a child of a 700 MB test process would report 700 MB.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

POLL_S = 0.05  # how often a command's VmHWM is read


@dataclass(frozen=True, kw_only=True)
class CommandRun:
    """A finished command: its status, what it printed, its peak RSS (kB) and seconds."""

    returncode: int
    stdout: str
    stderr: str
    peak_rss_kb: int
    seconds: float


def vm_hwm_kb(pid: int) -> int:
    """Return a live process's resident high-water mark in kB (0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    lines = [line for line in status.splitlines() if line.startswith("VmHWM:")]
    return int(lines[0].split()[1]) if lines else 0  # a zombie has no memory map


def run_command(
    args: Sequence[str], env: Mapping[str, str], cwd: Path, timeout_s: float
) -> CommandRun:
    """Run a command to its end; poll its VmHWM meanwhile (the mark only rises, so the
    last reading before the process ends is its peak, up to the last POLL_S)."""
    started = time.monotonic()
    process = subprocess.Popen(list(args), env=dict(env), cwd=cwd, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    peak = [0]

    def watch() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], vm_hwm_kb(process.pid))
            time.sleep(POLL_S)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        out, err = process.communicate(timeout=timeout_s)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        watcher.join()
    return CommandRun(returncode=process.returncode, stdout=out, stderr=err,
                      peak_rss_kb=peak[0], seconds=time.monotonic() - started)  # fmt: skip


def main(config_path: str) -> None:
    """Run the steps named in the config file and print a JSON summary."""
    from shiftwatch.connectors.feedlist import FeedConfig
    from shiftwatch.connectors.files import read_folder
    from shiftwatch.pipeline.feeds import poll_feeds
    from shiftwatch.pipeline.ingest import ingest_items
    from shiftwatch.settings import load_settings
    from shiftwatch.watchlist import load_watchlist

    with open(config_path, encoding="utf-8") as handle:
        config = json.load(handle)
    settings = load_settings(**config["settings"])
    watchlist = load_watchlist(settings.watchlist)
    from shiftwatch.analysis.analyzer import Analyzer
    from shiftwatch.models.db import open_database

    analyzer = Analyzer(watchlist.entities(), watchlist.stop_phrases(), watchlist.demand_terms())
    engine = open_database(settings.database_url)
    started = time.monotonic()
    items, rejected = [], []
    for folder in config["folders"]:
        batch = read_folder(folder, max_bytes=settings.max_document_bytes)
        items += batch.items
        rejected += batch.rejected
    print(f"folders read: {time.monotonic() - started:.1f}s", file=sys.stderr)
    feeds = poll_feeds(engine, [FeedConfig(url=u) for u in config["feeds"]], settings)
    items += feeds.items
    rejected += feeds.rejected
    print(f"feeds polled: {time.monotonic() - started:.1f}s", file=sys.stderr)
    result = ingest_items(engine, analyzer, items, "run-hostile", rejected)
    # The process's own high-water mark (VmHWM, its memory map's): `ru_maxrss` would also count
    # the parent's size at fork, which Linux carries across exec (a test process of 700 MB).
    status = Path("/proc/self/status").read_text().splitlines()
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(json.dumps({"seconds": round(time.monotonic() - started, 1), "peak_rss_kb": peak_kb,
                      "new_documents": len(result.new_document_ids)}))  # fmt: skip
    engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1])
