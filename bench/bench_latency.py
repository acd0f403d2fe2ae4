"""Benchmark: how long `shiftwatch run` over the five seeds takes, as a user sees it.

Run: `python bench/bench_latency.py [--smoke]`. Every run is the real command line in a
subprocess (`shiftwatch run --seeds data/seeds --db sqlite:///<tmp> --no-deliver`), with
Prefect's telemetry off, in four situations:

- **ephemeral, cold**: a fresh `PREFECT_HOME`, so Prefect's temporary API server must create
  and migrate its own database first (a user's very first run);
- **ephemeral, warm**: the same `PREFECT_HOME` again (every later run);
- **server, first** and **server, warm**: against an already running Prefect server
  (`prefect server start --host 127.0.0.1 --port <free>`, its own temporary home), with
  `PREFECT_API_URL` set, as a deployment or a user who keeps a server up would run.

Each run stores the five seeds into a fresh database ("5 new"), except the *nothing new* rows,
which run again over a database that holds them. Reference rows time what every run pays
before any of our code: `import prefect`, `shiftwatch --help`, and an empty Prefect flow.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import (
    CliRun,
    free_port,
    last_run_counts,
    prefect_env,
    run_cli,
    shiftwatch_command,
)
from synth import ROOT

SEEDS = ROOT / "data" / "seeds"
WARM_REPEATS = 3
SERVER_START_TIMEOUT_S = 240
EMPTY_FLOW = """
from prefect import flow

@flow
def empty() -> int:
    return 1

empty()
"""


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    """Return the wall seconds of a plain command (it must succeed)."""
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def seeds_run(workdir: Path, env: dict[str, str], db: str) -> tuple[CliRun, float]:
    """Return one measured run over the seeds and the flow's own `elapsed_s`."""
    workdir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{workdir.parent / db}"
    run = run_cli(["run", "--seeds", str(SEEDS), "--db", url, "--no-deliver"], env, workdir).check()
    return run, float(last_run_counts(url).get("elapsed_s", 0.0))


def start_server(home: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """Start `prefect server start` in its own process group and wait until it answers."""
    import httpx

    env = prefect_env(home)
    env["PREFECT_SERVER_API_HOST"] = "127.0.0.1"
    env["PREFECT_SERVER_API_PORT"] = str(port)
    prefect = Path(sys.executable).with_name("prefect")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=home.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop_server(proc)
    raise RuntimeError(f"prefect server did not answer in {SERVER_START_TIMEOUT_S} s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server we started (its process group: uvicorn runs as its child)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _row(label: str, run: CliRun, work: float) -> str:
    return (
        f"| {label} | {run.wall_s:.1f} | {work:.1f} | {run.wall_s - work:.1f} "
        f"| {run.cpu_s:.1f} | {run.peak_rss_mb:,.0f} |"
    )


def _median_row(label: str, runs: list[tuple[CliRun, float]]) -> str:
    run, work = sorted(runs, key=lambda r: r[0].wall_s)[len(runs) // 2]
    spread = f" (of {len(runs)}: {', '.join(f'{r.wall_s:.1f}' for r, _ in runs)})"
    return _row(label + spread, run, work)


def ephemeral(tmp: Path, repeats: int) -> list[str]:
    """Return the rows of runs with Prefect's ephemeral API."""
    env = prefect_env(tmp / "ephemeral-home")
    rows = [_row("ephemeral, cold (new PREFECT_HOME), 5 new", *seeds_run(tmp / "e0", env, "e0.db"))]
    if repeats:
        warm = [seeds_run(tmp / f"e{i}", env, f"e{i}.db") for i in range(1, repeats + 1)]
        rows.append(_median_row("ephemeral, warm, 5 new", warm))
        again = [seeds_run(tmp / f"e1-again{i}", env, "e1.db") for i in range(repeats)]
        rows.append(_median_row("ephemeral, warm, nothing new", again))
    return rows


def server(tmp: Path, repeats: int) -> tuple[list[str], float]:
    """Return the rows of runs against a running Prefect server, and its start-up seconds."""
    port = free_port()
    started = time.perf_counter()
    proc = start_server(tmp / "server-home", port, tmp / "server.log")
    startup = time.perf_counter() - started
    try:
        env = prefect_env(tmp / "client-home", api_url=f"http://127.0.0.1:{port}/api")
        rows = [_row("server, first run, 5 new", *seeds_run(tmp / "s0", env, "s0.db"))]
        warm = [seeds_run(tmp / f"s{i}", env, f"s{i}.db") for i in range(1, repeats + 1)]
        rows.append(_median_row("server, warm, 5 new", warm))
        again = [seeds_run(tmp / f"s1-again{i}", env, "s1.db") for i in range(repeats)]
        rows.append(_median_row("server, warm, nothing new", again))
    finally:
        stop_server(proc)
    return rows, startup


def references(tmp: Path) -> list[str]:
    """Return what every run pays before our code: imports and an empty flow."""
    env = prefect_env(tmp / "ephemeral-home")
    python = sys.executable
    (tmp / "empty_flow.py").write_text(EMPTY_FLOW)
    rows = []
    for label, command in (
        ("`python -c 'import prefect'`", [python, "-c", "import prefect"]),
        (
            "`python -c 'import shiftwatch.flows.monitor'`",
            [python, "-c", "import shiftwatch.flows.monitor"],
        ),
        ("`shiftwatch --help`", [*shiftwatch_command(), "--help"]),
        ("empty Prefect flow, ephemeral API, warm", [python, str(tmp / "empty_flow.py")]),
    ):
        runs = [timed(command, env, tmp) for _ in range(2)]
        rows.append(f"| {label} | {statistics.median(runs):.1f} | | | | |")
    return rows


def run(smoke: bool = False) -> str:
    """Return the benchmark's markdown section."""
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as name:
        tmp = Path(name)
        rows = ephemeral(tmp, 0 if smoke else WARM_REPEATS)
        notes = []
        if not smoke:
            server_rows, startup = server(tmp, WARM_REPEATS)
            rows += server_rows
            notes.append(
                f"- `prefect server start` took {startup:.1f} s to answer /api/health "
                "(paid once, not per run)."
            )
            rows += references(tmp)
        else:
            notes.append("- smoke run: the cold ephemeral run only.")
    return "\n".join(
        [
            "## Latency of `shiftwatch run` over the seeds (e)",
            "",
            "Command: `shiftwatch run --seeds data/seeds --db sqlite:///<tmp> --no-deliver`. "
            "*flow work* is the flow's own `elapsed_s`; *overhead* is the rest: Python and Prefect "
            "imports, the API (ephemeral server start-up, or round trips to the running server), "
            "flow and task run bookkeeping, and the digest printed at the end.",
            "",
            "| run | wall s | flow work s | overhead s | CPU s | peak MB |",
            "| --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            *notes,
            "",
        ]
    )


if __name__ == "__main__":
    print(run(smoke="--smoke" in sys.argv[1:]))
