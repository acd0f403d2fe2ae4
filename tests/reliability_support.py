"""Figures of the reliability campaign: tests record what they tried and what went wrong.

Each reliability test calls `record(area, inputs=..., crashes=..., ...)` with what it
measured, before asserting that the bad figures are zero. When `SHIFTWATCH_RELIABILITY_LOG`
names a file (scripts/reliability sets it), every record is appended to it as one JSON line
and the script adds them up into the table of docs/reliability.md; otherwise recording is a
no-op and the tests are ordinary tests.
"""

from __future__ import annotations

import json
import os
import threading

LOG_VARIABLE = "SHIFTWATCH_RELIABILITY_LOG"
FIGURES = ("inputs", "rejected", "crashes", "losses", "duplicates", "leaks", "kills", "window")
_LOCK = threading.Lock()


def record(area: str, **figures: int) -> None:
    """Append one record of figures for `area` to the campaign log, if one is configured."""
    unknown = set(figures) - set(FIGURES)
    if unknown:
        raise ValueError(f"unknown figures {sorted(unknown)}; use {', '.join(FIGURES)}")
    path = os.environ.get(LOG_VARIABLE)
    if not path:
        return
    line = json.dumps({"area": area, **{k: int(v) for k, v in figures.items()}})
    with _LOCK, open(path, "a", encoding="utf-8") as log:
        log.write(line + "\n")
