"""Progress of a run's long work, for whoever watches (the command line's progress display).

The pipeline calls `advance(stage, counts)` as it goes (items read, analysed, stored, per
source); a watcher installed with `watching(listener)` hears it, in the thread that did the
work. With no watcher installed, `advance` does nothing: flows served by a worker pay nothing.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum


class Stage(StrEnum):
    READ = "read"  # items fetched from a folder or feed
    ANALYSED = "analysed"  # documents through the analysis core
    STORED = "stored"  # documents written to the database


Listener = Callable[[Stage, Mapping[str, int]], None]

_listeners: list[Listener] = []
_lock = threading.Lock()


@contextmanager
def watching(listener: Listener) -> Iterator[None]:
    """Call `listener(stage, {source id: count})` on every advance while the block runs."""
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


def advance(stage: Stage, counts: Mapping[str, int]) -> None:
    """Report that `counts` more items per source went through `stage`."""
    if not _listeners or not counts:
        return
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener(stage, counts)


def per_source(source_ids: Iterable[str]) -> Counter[str]:
    """Return how many of the items came from each source."""
    return Counter(source_ids)
