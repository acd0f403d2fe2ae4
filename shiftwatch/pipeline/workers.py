"""Analysis over processes: a chunk of fetched items built and analysed by one worker per core.

Analysis is pure CPU (bench/PROFILE.md), so threads do not help; a pool of worker processes,
started once per run and only when a chunk is big enough to pay for it, takes slices of a
chunk and returns their analyses in the order given: the same results as one process (each
document's analysis depends on that document and the watchlist only). Workers are started with
`forkserver` (Prefect runs tasks in threads, and forking a threaded process can deadlock);
each receives the watchlist's parts, not compiled patterns, and compiles them on first use.
As with any process pool started this way, a script that runs a pool must guard its entry point
with `if __name__ == "__main__":` (workers import the main module); the `shiftwatch` command,
Prefect's workers and the benchmarks do.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor

from shiftwatch.analysis.analyzer import Analyzer, Built
from shiftwatch.records import RawItem

MIN_POOL_ITEMS = 200  # below this a chunk is analysed here: starting workers costs ~1 s each
SLICE_ITEMS = 25  # items per message to a worker: small enough to balance two busy cores

_analyzer: Analyzer | None = None  # the worker's own, set once by `_start_worker`


def default_workers() -> int:
    """Return how many worker processes to use by default: the cores this process may run on
    (settings' `analysis_workers`, `SHIFTWATCH_ANALYSIS_WORKERS`, overrides it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _start_worker(analyzer: Analyzer) -> None:
    global _analyzer
    _analyzer = analyzer


def _build_slice(items: Sequence[RawItem]) -> list[Built]:
    assert _analyzer is not None, "worker started without an analyzer"
    return _analyzer.build_and_analyze(items)


class AnalysisPool:
    """Build and analyse chunks of items, in worker processes when it pays; close when done."""

    def __init__(
        self,
        analyzer: Analyzer,
        workers: int | None = None,
        *,
        min_items: int = MIN_POOL_ITEMS,
        slice_items: int = SLICE_ITEMS,
    ) -> None:
        self.analyzer = analyzer
        self.workers = default_workers() if workers is None else max(1, workers)
        self.min_items = min_items
        self.slice_items = max(1, slice_items)
        self._executor: Executor | None = None

    def __call__(self, items: Sequence[RawItem]) -> list[Built]:
        """Return what `Analyzer.build_and_analyze(items)` returns, from the workers when
        there are several and the chunk is big enough."""
        if self.workers <= 1 or len(items) < self.min_items:
            return self.analyzer.build_and_analyze(items)
        slices = [items[i : i + self.slice_items] for i in range(0, len(items), self.slice_items)]
        return [built for part in self._pool().map(_build_slice, slices) for built in part]

    def _pool(self) -> Executor:
        if self._executor is None:
            method = (
                "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
            )
            context = multiprocessing.get_context(method)
            if method == "forkserver":  # workers fork from a server that imported the core once
                context.set_forkserver_preload([__name__])
            self._executor = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=_start_worker,
                initargs=(self.analyzer,),
            )
        return self._executor

    def close(self) -> None:
        """Stop the workers (if any were started)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> AnalysisPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
