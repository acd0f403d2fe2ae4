"""Measuring `shiftwatch run` as a user runs it: a subprocess, its wall time, CPU and memory.

The command runs in its own working directory (so `data/outbox` and `data/feeds.yaml` are the
benchmark's, not the repository's), with Prefect's telemetry off and its own `PREFECT_HOME`.
Peak memory is each process's own high-water mark (`VmHWM`, polled from /proc while it runs):
the shiftwatch process, and the sum over it and its descendants (Prefect's ephemeral API server
runs as a child of the command). Not `ru_maxrss`: a child inherits its parent's high-water mark
at fork, so it reports the benchmark's own size, not the command's.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shiftwatch.models.db import make_engine, session_scope

SUMMARY = re.compile(r"this run: (\d+) new, (\d+) duplicate, (\d+) unchanged, (\d+) rejected")
PREFECT_QUIET = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}
POLL_S = 0.05  # how often the shiftwatch process's memory high-water mark is read


@dataclass(frozen=True, kw_only=True)
class CliRun:
    """One finished command: times in seconds, memory in MB (10^6 bytes)."""

    wall_s: float
    cpu_s: float  # user + system of the command and the children it waited for
    peak_rss_mb: float  # the command's own process
    tree_peak_rss_mb: float  # the command and its descendants, each at its own peak, summed
    returncode: int
    stdout: str = field(repr=False)
    stderr: str = field(repr=False)

    def counts(self) -> dict[str, int]:
        """Return the new/duplicate/unchanged/rejected counts the command printed."""
        found = SUMMARY.search(self.stdout)
        if not found:
            return {}
        return dict(
            zip(
                ("new", "duplicate", "unchanged", "rejected"), map(int, found.groups()), strict=True
            )
        )

    def check(self) -> CliRun:
        """Return self, or raise with the command's stderr when it failed."""
        if self.returncode != 0:
            raise RuntimeError(f"shiftwatch exited {self.returncode}: {self.stderr[-2000:]}")
        return self


def shiftwatch_command() -> list[str]:
    """Return the `shiftwatch` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("shiftwatch")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "shiftwatch.cli"]


def prefect_env(home: Path, api_url: str | None = None) -> dict[str, str]:
    """Return an environment for Prefect: its own home, quiet, ephemeral unless `api_url`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SHIFTWATCH_"))}
    env.update(PREFECT_QUIET)
    env["PREFECT_HOME"] = str(home)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def _vm_hwm_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _descendants(pid: int) -> list[int]:
    """Return `pid` and every process below it (Linux /proc children lists)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            text = Path(f"/proc/{current}/task/{current}/children").read_text()
        except OSError:
            continue
        queue.extend(int(child) for child in text.split())
    return found


def _watch_memory(pid: int, peaks: dict[int, int], done: threading.Event) -> None:
    while not done.is_set():
        for member in _descendants(pid):
            value = _vm_hwm_kb(member)
            if value:
                peaks[member] = max(peaks.get(member, 0), value)
        done.wait(POLL_S)


def run_cli(
    args: Sequence[str], env: Mapping[str, str], cwd: Path, timeout_s: float = 3600
) -> CliRun:
    """Run `shiftwatch args...` and return what it cost."""
    out, err = cwd / "stdout.txt", cwd / "stderr.txt"
    started = time.perf_counter()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [*shiftwatch_command(), *args], env=dict(env), cwd=cwd, stdout=stdout, stderr=stderr
        )
        peaks: dict[int, int] = {}
        done = threading.Event()
        watcher = threading.Thread(target=_watch_memory, args=(proc.pid, peaks, done), daemon=True)
        watcher.start()
        timer = threading.Timer(timeout_s, proc.send_signal, args=(signal.SIGTERM,))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
            done.set()
            watcher.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    return CliRun(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=peaks.get(proc.pid, 0) * 1024 / 1e6,
        tree_peak_rss_mb=sum(peaks.values()) * 1024 / 1e6,
        returncode=proc.returncode,
        stdout=out.read_text("utf-8", errors="replace"),
        stderr=err.read_text("utf-8", errors="replace"),
    )


def last_run_counts(url: str) -> dict[str, Any]:
    """Return the counts (with the flow's own `elapsed_s`) of the latest monitor run stored."""
    from sqlalchemy import select

    from shiftwatch.models import tables as t

    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            row = session.execute(
                select(t.Run.counts)
                .where(t.Run.flow == "monitor")
                .order_by(t.Run.started_at.desc())
                .limit(1)
            ).scalar()
    finally:
        engine.dispose()
    return dict(row or {})


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def megabytes(texts: Sequence[str]) -> float:
    """Return the UTF-8 size of `texts` in MB (10^6 bytes)."""
    return sum(len(text.encode("utf-8")) for text in texts) / 1e6
