"""Run names that say what a run did, so the Prefect UI's run list reads as a health board.

A flow run is named when it starts (before anything is known); at the end the flow renames
it with its counts, e.g.
`monitor: 5 new, 0 unchanged, 0 dup, 1 rejected, 2 shifts, 0/2 sources failing`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.runtime import flow_run


def monitor_run_title(summary: Mapping[str, Any], sources: Sequence[Mapping[str, Any]]) -> str:
    """Return a monitor run's name from its counts (what an operator scans the run list for)."""
    failing = sum(1 for s in sources if s.get("status", "ok") != "ok")
    count = summary.get("shifts")
    shifts = "" if count is None else f"{count} shift{'' if count == 1 else 's'}, "
    return (
        f"monitor: {summary.get('new', 0)} new, {summary.get('unchanged', 0)} unchanged, "
        f"{summary.get('duplicate', 0)} dup, "
        f"{summary.get('rejected', 0)} rejected, {shifts}{failing}/{len(sources)} sources failing"
    )


def rename_flow_run(name: str) -> bool:
    """Rename the current flow run; return False (and log) when there is none or the API fails.

    Renaming is cosmetic: a failure here must never fail a run that did its work.
    """
    run_id = flow_run.id
    if not run_id:
        return False
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(UUID(str(run_id)), name=name)
    except Exception as exc:  # cosmetic: any API trouble is logged, not raised
        get_run_logger().warning("could not rename flow run %s: %s", run_id, exc)
        return False
    return True
