"""Issue 19 items 3 and 4 through the real command line: `shiftwatch run` over a hostile mix
of feeds and files (peak memory), and over 32 trickling feeds plus a good one (time).

    .venv/bin/python bench/bench_hostile.py [--smoke]

The feeds are served on loopback by the builders of `tests/test_hostile_limits.py` and
`tests/test_fairness.py`; the run uses Prefect's ephemeral API, as an operator's would.
Peak RSS is the `shiftwatch` process's own high-water mark (VmHWM), polled by `measure.py`.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path

from pytest_httpserver import HTTPServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import prefect_env, run_cli
from test_fairness import _Server
from test_hostile_limits import _hostile_folder, _serve_hostile_mix


def _hostile_mix(work: Path) -> str:
    """Return the markdown row of one run over the hostile mix."""
    server = HTTPServer(host="127.0.0.1")
    server.start()
    try:
        hostile, normal = _serve_hostile_mix(server)
        _hostile_folder(work / "seeds")
        feeds = [a for u in [*hostile, *normal] for a in ("--feed", u)]
        args = ["run", "--seeds", str(work / "seeds"), "--db", f"sqlite:///{work / 'mix.db'}",
                "--no-deliver", *feeds]  # fmt: skip
        result = run_cli(args, _env(work), work, timeout_s=900).check()
    finally:
        server.clear()
        server.stop()
    return (f"| hostile mix ({len(hostile)} hostile + {len(normal)} normal feeds, 6 files) "
            f"| {result.wall_s:.0f} | {result.peak_rss_mb:.0f} | {result.tree_peak_rss_mb:.0f} "
            f"| {result.counts()} |")  # fmt: skip


def _trickle(work: Path, count: int) -> str:
    """Return the markdown row of one run over `count` trickling feeds and a good one."""
    stop = threading.Event()
    servers = [_Server(True, stop) for _ in range(count)] + [_Server(False, stop)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    urls = [f"http://127.0.0.1:{s.server_address[1]}/feed.xml" for s in servers]
    env = {**_env(work), "SHIFTWATCH_FEED_DEADLINE_S": "10", "SHIFTWATCH_HTTP_TIMEOUT_S": "20"}
    args = ["run", "--seeds", str(_empty(work)), "--db", f"sqlite:///{work / 'slow.db'}",
            "--no-deliver", *(a for u in urls for a in ("--feed", u))]  # fmt: skip
    try:
        result = run_cli(args, env, work, timeout_s=900).check()
    finally:
        stop.set()
        for server in servers:
            server.shutdown()
            server.server_close()
    return (
        f"| {count} trickling feeds + 1 good, deadline 10 s | {result.wall_s:.0f} "
        f"| {result.peak_rss_mb:.0f} | {result.tree_peak_rss_mb:.0f} | {result.counts()} |"
    )


def _env(work: Path) -> dict[str, str]:
    env = prefect_env(work / "prefect")
    env["SHIFTWATCH_ALLOWED_NETWORKS"] = "127.0.0.0/8"
    env["SHIFTWATCH_OUTBOX_DIR"] = str(work / "outbox")
    return env


def _empty(work: Path) -> Path:
    folder = work / "empty"
    folder.mkdir(exist_ok=True)
    return folder


def run(smoke: bool = False) -> str:
    """Return this benchmark's markdown section."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "a").mkdir()
        (work / "b").mkdir()
        rows = [_hostile_mix(work / "a"), _trickle(work / "b", 4 if smoke else 32)]
    return "\n".join([
        "## Hostile input and slow feeds through `shiftwatch run` (issue 19 items 3, 4)", "",
        "Command: `.venv/bin/python bench/bench_hostile.py`", "",
        "| run | wall s | peak RSS MB (shiftwatch) | process tree MB | counts |",
        "|---|---:|---:|---:|---|", *rows, "",
    ])  # fmt: skip


if __name__ == "__main__":
    print(run(smoke="--smoke" in sys.argv))
