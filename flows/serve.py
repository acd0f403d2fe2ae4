"""Single box: serve the `monitor` and `digest` deployments from one process (`shiftwatch serve`).

Prefect's own `serve` polls the API for scheduled runs and starts each in a subprocess, so
the schedules below are Prefect schedules, visible (and pausable) in the UI. They mirror
`deploy/prefect.yaml`, which declares the same two deployments for a work pool in team mode;
`tests/test_deploy.py` keeps the two in step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import EntrypointType
from prefect.schedules import Cron

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

MONITOR_CRON = "*/15 * * * *"  # every 15 minutes, on the quarter hour
DIGEST_CRON = "0 7 * * *"  # daily at 07:00 in the digest's timezone
# One monitor run at a time; a run due while one is still going is cancelled, not queued,
# so a slow run never stacks up a backlog.
MONITOR_CONCURRENCY = ConcurrencyLimitConfig(
    limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
)


def build_deployments(digest_timezone: str) -> list[RunnerDeployment]:
    """Return the monitor and digest deployments as `serve` runs them (module entrypoints).

    Module-path entrypoints (`shiftwatch.flows.monitor.monitor`) load from the installed
    package, so runs do not depend on the directory `shiftwatch serve` was started in.
    """
    from shiftwatch.flows.digest import digest
    from shiftwatch.flows.monitor import monitor

    return [
        monitor.to_deployment(
            name="monitor",
            schedules=[Cron(MONITOR_CRON, timezone="UTC")],
            concurrency_limit=MONITOR_CONCURRENCY,
            description="Ingest the configured sources, analyse, store and alert on shifts.",
            tags=["shiftwatch"],
            entrypoint_type=EntrypointType.MODULE_PATH,
        ),
        digest.to_deployment(
            name="digest",
            schedules=[Cron(DIGEST_CRON, timezone=digest_timezone)],
            description="Send the daily digest.",
            tags=["shiftwatch"],
            entrypoint_type=EntrypointType.MODULE_PATH,
        ),
    ]


def serve_deployments(deployments: list[RunnerDeployment]) -> None:
    """Serve `deployments` until interrupted, leaving their schedules active on shutdown.

    `pause_on_shutdown=False`: stopping the process (a restart, an upgrade) must not pause
    the schedules in the API, or the next start would serve paused deployments.
    """
    from prefect import serve

    serve(*deployments, pause_on_shutdown=False)
