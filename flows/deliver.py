"""The `deliver-alerts` task: the monitor's last step, over `pipeline/deliver.py`.

Prefect re-runs the task only while alerts wait for a retry (`retry_condition_fn` accepts
`TransientDeliveryError` and nothing else), with delays as long as the outbox's first
backoffs so the retried pass finds them due; its last run returns normally, leaving what is
still pending to the next run, so a Slack outage never fails the monitor.
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run

from shiftwatch.errors import TransientDeliveryError
from shiftwatch.models import outbox
from shiftwatch.models.db import Engine
from shiftwatch.pipeline.deliver import DeliveryReport, deliver_outbox
from shiftwatch.settings import Settings
from shiftwatch.watchlist import Watchlist

TASK_RETRIES = 2
# Prefect's waits before re-running the task: the longest first and second outbox backoffs.
TASK_RETRY_DELAYS_S = [outbox.BACKOFF_BASE_S, 2 * outbox.BACKOFF_BASE_S]


def transient_only(task: Any, task_run: Any, state: Any) -> bool:
    """Return True when the task failed with a transient delivery error (retry), else False."""
    try:
        state.result()
    except TransientDeliveryError:
        return True
    except BaseException:
        return False
    return False


@task(
    name="deliver-alerts",
    retries=TASK_RETRIES,
    retry_delay_seconds=TASK_RETRY_DELAYS_S,
    retry_condition_fn=transient_only,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def deliver_alerts(
    engine: Engine, settings: Settings, watchlist: Watchlist, run_id: str, deliver: bool = True
) -> DeliveryReport:
    """Deliver (or, with deliver=False, write to files) every due alert; return the report.

    `settings` are the run context's: secrets already resolved, Secret blocks included."""
    logger = get_run_logger()
    report = deliver_outbox(engine, settings, watchlist, run_id, deliver=deliver, log=logger)
    if report.retrying and task_run.run_count <= TASK_RETRIES:
        raise TransientDeliveryError(f"{report.retrying} alerts wait for a retry")
    logger.info("alerts: %s", report.as_dict())
    return report
