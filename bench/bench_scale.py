"""Benchmark: analysis throughput against langdetect, the worker pool, and memory per batch size.

Run: `python bench/bench_scale.py [--smoke] [--sizes 2000,10000,20000]` (issue 17 items 1-2).

- **Marginal rate**: `shiftwatch run` over synthetic folders of two sizes (bench/synth.py, a
  fresh SQLite database each, Prefect's ephemeral API); the difference of their wall times over
  the difference of their sizes is the cost of one more document, start-up excluded. The
  baseline is plain langdetect (seed 0) over the same texts in this process, on one core.
  Ratio = langdetect seconds per document / pipeline seconds per document (above 1: faster).
- **Pool**: building and analysing the same 1,000 items in this process, serially and in the
  worker pool, alternated `POOL_REPEATS` times (the machine is shared: best of each).
- **Memory**: the peak resident memory of each run (`VmHWM` of the command, polled; and of
  the command with its descendants: analysis workers and Prefect's API server).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_pipeline import langdetect_baseline, run_pipeline, warm_up
from synth import build_corpus

SIZES = (1_000, 4_000)
SMOKE_SIZES = (20, 40)
POOL_ITEMS = 400
POOL_REPEATS = 2
SMOKE_POOL_ITEMS = 20  # smoke: the same code paths once, on few items (figures meaningless)
TARGET_RATIO = 2.0
TARGET_POOL = 1.6
TARGET_PEAK_MB = 500


def _cpu_of(pid: int) -> float:
    """Return the CPU seconds (user + system) process `pid` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pool_speedup(folder: Path, limit: int, repeats: int = POOL_REPEATS) -> dict[str, float]:
    """Return the best serial and pooled seconds over the first `limit` items of `folder`
    (wall, and CPU: this process's, and each worker's), and whether both gave the same
    analyses."""
    from synth import WATCHLIST

    from shiftwatch.connectors.files import read_folder
    from shiftwatch.pipeline.monitor import analyzer_for
    from shiftwatch.pipeline.workers import AnalysisPool
    from shiftwatch.watchlist import load_watchlist

    items = read_folder(folder, max_bytes=10_000_000).items[:limit]
    analyzer = analyzer_for(load_watchlist(WATCHLIST))
    analyzer.build_and_analyze(items[:20])  # compile the matcher and lexicons here too
    serial, pooled, same = [], [], True
    with AnalysisPool(analyzer, workers=2, min_items=1) as pool:
        pool(items[:40])  # start the workers
        workers = list(pool._executor._processes)  # type: ignore[union-attr]
        for _ in range(repeats):
            started, cpu = time.perf_counter(), time.process_time()
            one = analyzer.build_and_analyze(items)
            serial.append((time.perf_counter() - started, time.process_time() - cpu))
            before = {pid: _cpu_of(pid) for pid in workers}
            started, cpu = time.perf_counter(), time.process_time()
            two = pool(items)
            wall, parent = time.perf_counter() - started, time.process_time() - cpu
            busiest = max(_cpu_of(pid) - before[pid] for pid in workers)
            pooled.append((wall, parent + busiest))
            same = same and one == two
    return {
        "serial": min(w for w, _ in serial),
        "pooled": min(w for w, _ in pooled),
        "serial_cpu": min(c for _, c in serial),
        "pooled_cpu": min(c for _, c in pooled),
        "same": same,
        "items": len(items),
    }


def run(smoke: bool = False, sizes: tuple[int, ...] | None = None) -> str:
    """Return the benchmark's markdown section."""
    sizes = sizes or (SMOKE_SIZES if smoke else SIZES)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as name:
        tmp = Path(name)
        prefect_home = tmp / "prefect-home"
        # A smoke run skips the warm-up (as bench_pipeline's does): its first run starts cold.
        warm = None if smoke else warm_up(tmp / "warm", prefect_home)
        for n in sizes:
            corpus = build_corpus(n, tmp / f"corpus-{n}")
            base = langdetect_baseline(corpus.texts)
            workdir = tmp / f"run-{n}"
            workdir.mkdir()
            cli, counts = run_pipeline(corpus.folder, workdir, prefect_home)
            rows.append(
                {"n": n, "mb": corpus.text_bytes / 1e6, "base": base, "cli": cli, "counts": counts}
            )
            print(f"   N={n}: {cli.wall_s:.1f}s, peak {cli.peak_rss_mb:.0f} MB", file=sys.stderr)
        folder = tmp / f"corpus-{sizes[-1]}"
        if smoke:
            pool = pool_speedup(folder, SMOKE_POOL_ITEMS, repeats=1)
        else:
            pool = pool_speedup(folder, POOL_ITEMS)
    return "\n".join(_report(rows, pool, warm.wall_s if warm else None, smoke))


def _report(
    rows: list[dict[str, Any]], pool: dict[str, float], warm_s: float | None, smoke: bool
) -> list[str]:
    lines = [
        "## Throughput, worker pool and memory per batch (issue 17 items 1-2)",
        "",
        f"Command: `python bench/bench_scale.py{' --smoke' if smoke else ''}`. Machine: "
        f"{os.cpu_count()} cores shared with six other sessions at the time (load average "
        f"{os.getloadavg()[0]:.1f} at the end): ratios measured side by side in one process are "
        "the figures to read, not absolute times. Each run: `shiftwatch run --seeds <folder> "
        "--db sqlite:///<tmp> --no-deliver`, analysis in worker processes (one per core), "
        "documents streamed 1,000 at a time; "
        + (
            f"warm-up over the seeds: {warm_s:.1f} s."
            if warm_s is not None
            else "no warm-up (smoke): the first run's Prefect start-up is a cold one."
        ),
        "",
        "| N | text MB | wall s | CPU s (tree) | langdetect s (1 core) | peak MB (command) "
        "| peak MB (command + workers + API server) | new/dup |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        cli = r["cli"]
        lines.append(
            f"| {r['n']:,} | {r['mb']:.1f} | {cli.wall_s:.1f} | {cli.cpu_s:.1f} "
            f"| {r['base'].wall_s:.1f} | **{cli.peak_rss_mb:,.0f}** | {cli.tree_peak_rss_mb:,.0f} "
            f"| {r['counts'].get('new', '?')}/{r['counts'].get('duplicate', '?')} |"
        )
    lines.append("")
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        extra = b["n"] - a["n"]
        marginal = (b["cli"].wall_s - a["cli"].wall_s) / extra
        base_rate = b["base"].wall_s / b["n"]
        ratio = base_rate / marginal if marginal > 0 else float("inf")
        lines.append(
            f"- marginal cost of a document (N = {a['n']:,} → {b['n']:,}): "
            f"{marginal * 1000:.1f} ms; langdetect alone {base_rate * 1000:.1f} ms: "
            f"ratio **{ratio:.2f}** (target >= {TARGET_RATIO}: "
            f"{'met' if ratio >= TARGET_RATIO else 'NOT met'})"
        )
    speedup = pool["serial"] / pool["pooled"]
    lines.append(
        f"- worker pool, {pool['items']:,} items built and analysed: "
        f"serial {pool['serial']:.1f} s, 2 workers {pool['pooled']:.1f} s: "
        f"**{speedup:.2f}x** (target >= {TARGET_POOL}: "
        f"{'met' if speedup >= TARGET_POOL else 'NOT met'}); identical analyses: {pool['same']}"
    )
    peaks = [r["cli"].peak_rss_mb for r in rows]
    shown = ", ".join(f"{p:,.0f}" for p in peaks)
    sizes = ", ".join(f"{r['n']:,}" for r in rows)
    lines.append(
        f"- the same from CPU time (what two idle cores would give: serial CPU-s / the busiest "
        f"worker's CPU-s + this process's): {pool['serial_cpu']:.1f} / {pool['pooled_cpu']:.1f}"
        f" = **{pool['serial_cpu'] / pool['pooled_cpu']:.2f}x**"
    )
    lines.append(
        f"- peak memory of the command: {shown} MB for N = "
        f"{sizes} (target <= {TARGET_PEAK_MB} MB and flat: "
        f"{'met' if max(peaks) <= TARGET_PEAK_MB else 'NOT met'})"
    )
    lines.append("")
    return lines


if __name__ == "__main__":
    chosen = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--sizes=")), None)
    print(
        run(
            smoke="--smoke" in sys.argv[1:],
            sizes=tuple(int(x) for x in chosen.split(",")) if chosen else None,
        )
    )
