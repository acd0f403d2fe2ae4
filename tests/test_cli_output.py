"""The run's progress display: one row per source on a terminal, nothing when quiet."""

from __future__ import annotations

from io import StringIO

import pytest
from rich.console import Console

from shiftwatch.cli.output import run_progress, set_verbosity
from shiftwatch.pipeline import progress


@pytest.fixture(autouse=True)
def _normal_verbosity():
    set_verbosity(quiet=False, verbose=False)
    yield
    set_verbosity(quiet=False, verbose=False)


def _draw(labels: dict[str, str], terminal: bool = True) -> str:
    out = StringIO()
    console = Console(file=out, force_terminal=terminal, width=120)
    with run_progress(labels, console):
        progress.advance(progress.Stage.READ, {"feed-1": 3, "/data/seeds": 2})
        progress.advance(progress.Stage.ANALYSED, {"feed-1": 2})
        progress.advance(progress.Stage.STORED, {"feed-1": 2})
    assert not progress._listeners  # the listener goes with the block
    return " ".join(out.getvalue().split())  # columns are padded to the longest label


def test_a_row_per_source_with_read_analysed_stored():
    text = _draw({"feed-1": "Agency A"})
    assert "Agency A read 3 · analysed 2 · stored 2" in text
    assert "seeds read 2 · analysed 0 · stored 0" in text


def test_nothing_is_drawn_when_quiet_or_not_a_terminal():
    assert _draw({}, terminal=False) == ""
    set_verbosity(quiet=True, verbose=False)
    assert _draw({}) == ""


def test_advance_without_a_watcher_does_nothing():
    progress.advance(progress.Stage.READ, {"x": 1})  # no listener: no error, no effect
