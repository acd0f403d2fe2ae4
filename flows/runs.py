"""Run names that say what a run did, so the Prefect UI's run list reads as a health board.

A flow run is named when it starts (before anything is known); at the end the flow renames
it with its counts (`pipeline.monitor.monitor_run_title`), e.g.
`monitor: 5 new, 0 unchanged, 0 dup, 1 rejected, 2 shifts, 0/2 sources failing`.
"""

from __future__ import annotations

import time
from uuid import UUID

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.runtime import flow_run


def monitor_run_name() -> str:
    """Return the name a monitor run starts with (its sources, the time)."""
    params = flow_run.parameters or {}
    seeds = len(params.get("seeds") or [])
    feeds = len(params.get("feeds") or [])
    return f"monitor-{seeds}-folders-{feeds}-feeds-{time.strftime('%Y%m%d-%H%M%S')}"


def current_flow_run_id() -> str | None:
    """Return the Prefect id of the flow run we are in, if any."""
    return str(flow_run.id) if flow_run.id else None


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
