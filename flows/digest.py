"""The `digest` flow (scheduled daily): what changed since the last digest, for people.

Orchestration over `pipeline/digest.py`: resolve the run context once, plan each channel's
window, leave the markdown (with the position timeline as an image) in the Prefect UI as
the artifact `shiftwatch-digest`, and, with `send`, send each channel its digest in a
retried task. Run it with `shiftwatch digest --send` or `python flows/digest.py`.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import SecretStr

from shiftwatch.context import build_context
from shiftwatch.errors import ConfigError, DeliveryError
from shiftwatch.flows.deliver import TASK_RETRIES, TASK_RETRY_DELAYS_S, transient_only
from shiftwatch.models.db import Engine
from shiftwatch.pipeline import digest as steps
from shiftwatch.pipeline.digest import NO_CHANNEL, DigestPlan, DigestSummary
from shiftwatch.render.digest import FORMATS
from shiftwatch.settings import Settings
from shiftwatch.views import DigestData

ARTIFACT_KEY = "shiftwatch-digest"


@task(name="publish-digest", cache_policy=NO_CACHE, persist_result=False)
def publish_digest(data: DigestData) -> None:
    """Leave the digest (with its timeline picture) in the Prefect UI."""
    create_markdown_artifact(
        key=ARTIFACT_KEY,
        markdown=steps.artifact_markdown(data),
        description=f"shiftwatch digest: {data.watchlist}",
    )


@task(
    name="send-digest",
    retries=TASK_RETRIES,
    retry_delay_seconds=TASK_RETRY_DELAYS_S,
    retry_condition_fn=transient_only,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def send_digest(engine: Engine, settings: Settings, channel: str, data: DigestData) -> str:
    """Send the digest to one channel and record it there at once; return the answer."""
    return steps.send_digest(engine, settings, channel, data)


def send_all(engine: Engine, settings: Settings, plan: DigestPlan) -> tuple[list[str], list[str]]:
    """Send each channel its rendering; return the channels that took it and the failures."""
    sent: list[str] = []
    failed: list[str] = []
    for channel, start in plan.starts.items():
        try:
            send_digest(engine, settings, channel, plan.renderings[start])
            sent.append(channel)
        except DeliveryError as exc:
            failed.append(f"{channel}: {exc}")
    return sent, failed


@flow(name="digest", persist_result=False)
def digest(
    send: bool = True,
    since: str | None = None,
    fmt: str = "markdown",
    watchlist: str | None = None,
    database_url: str | SecretStr | None = None,
) -> DigestSummary:
    """Render the digest of what is new since the last one, publish it, and send it.

    Prefect stores a run's parameters: a `database_url` with a password comes wrapped in
    `settings.DatabaseUrl` (stored masked), or stays in SHIFTWATCH_DATABASE_URL."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown digest format {fmt!r}: use one of {', '.join(FORMATS)}")
    ctx = build_context(database_url=database_url, watchlist=watchlist, secret_blocks=send)
    channels = ctx.channels if send else ()
    plan = steps.plan_digest(ctx.engine, ctx.watchlist, channels, steps.parse_since(since))
    publish_digest(plan.shown)
    sent, failed = send_all(ctx.engine, ctx.settings, plan)
    if send and not channels:
        get_run_logger().warning(NO_CHANNEL)
    ctx.close()
    if failed:
        raise DeliveryError("digest not delivered: " + "; ".join(failed))
    return steps.summary(plan, sent, fmt)


if __name__ == "__main__":
    digest()
