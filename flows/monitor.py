"""The `monitor` flow: sources → documents → analysis → storage → positions → alerts.

Orchestration only: each task is one logical step over a whole batch (no task per
document) calling `shiftwatch.pipeline`; I/O tasks retry transient errors only, and every
run leaves a health table and a summary in the Prefect UI. The run context (settings,
secrets, engine, watchlist, channels) is resolved once, here, and passed down. Run it with
`shiftwatch run` or `python flows/monitor.py`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote
from pydantic import SecretStr

from shiftwatch.analysis.analyzer import Analyzer
from shiftwatch.connectors.feedlist import FeedConfig
from shiftwatch.context import RunContext, build_context
from shiftwatch.flows.deliver import deliver_alerts
from shiftwatch.flows.runs import current_flow_run_id, monitor_run_name, rename_flow_run
from shiftwatch.models.db import Engine
from shiftwatch.pipeline import monitor as steps
from shiftwatch.pipeline import progress
from shiftwatch.pipeline.deliver import announcer
from shiftwatch.pipeline.feeds import FeedBatch, poll_feeds
from shiftwatch.pipeline.ingest import (
    BuildAndAnalyze,
    IngestResult,
    ingest_items,
    reanalyze_since,
)
from shiftwatch.pipeline.monitor import RunSummary
from shiftwatch.pipeline.positions import Announce, PositionResult, update_positions
from shiftwatch.pipeline.workers import AnalysisPool
from shiftwatch.records import RawItem, Rejected
from shiftwatch.settings import Settings, parse_since


@task(name="ingest-folder", cache_policy=NO_CACHE, persist_result=False)
def ingest_folder_task(
    engine: Engine,
    analyzer: Analyzer,
    folder: str,
    max_bytes: int,
    run_id: str,
    build: BuildAndAnalyze | None,
) -> IngestResult:
    """Read one folder in chunks, analyse and store each before reading the next."""
    return steps.ingest_folder(engine, analyzer, folder, max_bytes, run_id, build)


@task(name="analyse-and-store", cache_policy=NO_CACHE, persist_result=False)
def ingest_task(
    engine: Engine,
    analyzer: Analyzer,
    items: Sequence[RawItem],
    rejected: Sequence[Rejected],
    run_id: str,
    build: BuildAndAnalyze | None,
) -> IngestResult:
    """Analyse and store one batch of items, in chunks."""
    return ingest_items(engine, analyzer, items, run_id, rejected, build=build)


@task(name="reanalyse-window", cache_policy=NO_CACHE, persist_result=False)
def reanalyze_task(
    engine: Engine, analyzer: Analyzer, since: datetime, run_id: str
) -> IngestResult:
    """Re-analyse the stored documents published since `since`."""
    return reanalyze_since(engine, analyzer, since, run_id)


@task(name="poll-feeds", cache_policy=NO_CACHE, persist_result=False)
def poll_feeds_task(
    engine: Engine, feeds: Sequence[FeedConfig], settings: Settings, force: bool
) -> FeedBatch:
    """Poll the due feeds (per-feed failures are recorded on the feed, not raised)."""
    return poll_feeds(engine, feeds, settings, force=force)


@task(name="positions-and-shifts", cache_policy=NO_CACHE, persist_result=False)
def positions_task(
    engine: Engine, result: IngestResult, run_id: str, announce: Announce | None
) -> PositionResult:
    """Replay the touched timelines, record shifts and queue their alerts."""
    return update_positions(engine, result.pairs, result.new_document_ids, run_id, announce)


@task(name="publish-health", cache_policy=NO_CACHE, persist_result=False)
def publish_health(summary: RunSummary) -> None:
    """Leave the run's per-source health table and summary in the Prefect UI."""
    create_table_artifact(
        key="monitor-sources",
        table=summary.source_rows(),
        description="Per-source health of this monitor run",
    )
    create_markdown_artifact(
        key="monitor-summary",
        markdown=steps.summary_markdown(summary),
        description="What this monitor run did",
    )


def ingest_sources(
    ctx: RunContext,
    analyzer: Analyzer,
    folders: Sequence[str],
    feeds: Sequence[str] | None,
    run_id: str,
) -> tuple[IngestResult, FeedBatch]:
    """Ingest every folder (streamed in chunks) and the polled feeds; return what was stored
    and what the feed poll brought (its health and warnings)."""
    result = IngestResult()
    steps.record_file_sources(ctx.engine, [steps.folder_health(f) for f in folders])
    polled = FeedBatch()
    with AnalysisPool(analyzer, ctx.settings.analysis_workers) as pool:
        for folder in folders:
            done = ingest_folder_task(
                ctx.engine, analyzer, folder, ctx.settings.max_document_bytes, run_id, quote(pool)
            )
            steps.merge_ingest(result, done)
        feed_list, force = steps.feed_configs(ctx.settings, feeds)
        if feed_list:
            polled = poll_feeds_task(ctx.engine, feed_list, ctx.settings, force)
            # a feed with nothing new is shown too (its items are counted as they are ingested)
            progress.advance(progress.Stage.READ, {h.source_id: 0 for h in polled.health})
            # quote(): Prefect would otherwise walk every item looking for futures.
            done = ingest_task(
                ctx.engine, analyzer, quote(polled.items), quote(polled.rejected), run_id,
                quote(pool),
            )  # fmt: skip
            steps.merge_ingest(result, done)
    steps.apply_health(result, polled.health)
    return result, polled


@flow(name="monitor", flow_run_name=monitor_run_name, persist_result=False)
def monitor(
    seeds: list[str] | None = None,
    feeds: list[str] | None = None,
    feeds_file: str | None = None,
    watchlist: str | None = None,
    database_url: str | SecretStr | None = None,
    deliver: bool = True,
    since: str | None = None,
) -> RunSummary:
    """Ingest the configured sources, analyse and store what is new, and alert on shifts.

    Prefect stores a run's parameters: a `database_url` with a password comes wrapped in
    `settings.DatabaseUrl` (stored masked), or stays in SHIFTWATCH_DATABASE_URL."""
    started = time.perf_counter()
    ctx = build_context(database_url=database_url, watchlist=watchlist, feeds_file=feeds_file)
    analyzer = steps.analyzer_for(ctx.watchlist)
    run_id = steps.new_run_id()
    steps.begin_run(ctx.engine, run_id, current_flow_run_id())
    result, collected = ingest_sources(
        ctx, analyzer, steps.seed_folders(seeds, feeds), feeds, run_id
    )
    if since is not None:
        steps.merge_reanalysis(
            result, reanalyze_task(ctx.engine, analyzer, parse_since(since), run_id)
        )
    announce = announcer(ctx.channels, run_id)
    shifts = positions_task(ctx.engine, quote(result), run_id, announce)
    alerts = deliver_alerts(ctx.engine, ctx.settings, ctx.watchlist, run_id, deliver)
    summary = steps.summarize(
        run_id,
        result,
        shifts,
        alerts,
        elapsed_s=time.perf_counter() - started,
        feed_warnings=len(collected.warnings),
    )
    publish_health(summary)
    rename_flow_run(steps.monitor_run_title(summary))
    steps.finish_run(ctx.engine, summary)
    get_run_logger().info(
        "monitor %s: %s new, %s duplicate, %s unchanged, %s rejected",
        run_id, summary.new, summary.duplicate, summary.unchanged, summary.rejected,
    )  # fmt: skip
    ctx.close()
    return summary


if __name__ == "__main__":
    monitor()
