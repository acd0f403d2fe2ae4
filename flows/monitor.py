"""The `monitor` flow: sources → documents → analysis → storage → positions → alerts.

Orchestration only: each task is one logical step over a whole batch (no task per
document), I/O tasks retry transient errors only, and every run leaves a health table and
a summary in the Prefect UI. Run it with `shiftwatch run` or `python flows/monitor.py`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote

from shiftwatch.analysis.analyzer import Analyzer
from shiftwatch.connectors.feedlist import FeedConfig, load_feedlist
from shiftwatch.connectors.files import FolderBatch, read_folder
from shiftwatch.flows.deliver import deliver_alerts
from shiftwatch.flows.runs import monitor_run_title, rename_flow_run
from shiftwatch.models import outbox, store
from shiftwatch.models.db import Engine, open_database, session_scope
from shiftwatch.pipeline.feeds import FeedBatch, poll_feeds
from shiftwatch.pipeline.ingest import IngestResult, SourceCounts, ingest_items, reanalyze_since
from shiftwatch.pipeline.positions import Announce, PositionResult, update_positions
from shiftwatch.records import RawItem, Rejected
from shiftwatch.settings import DEFAULT_SEEDS, Settings, load_settings, parse_since
from shiftwatch.watchlist import load_watchlist


def _run_name() -> str:
    params = flow_run.parameters or {}
    seeds = len(params.get("seeds") or [])
    feeds = len(params.get("feeds") or [])
    return f"monitor-{seeds}-folders-{feeds}-feeds-{time.strftime('%Y%m%d-%H%M%S')}"


@task(name="read-folder", cache_policy=NO_CACHE, persist_result=False)
def read_folder_task(folder: str, max_bytes: int) -> FolderBatch:
    """Read one seed folder."""
    return read_folder(folder, max_bytes=max_bytes)


@task(name="analyse-and-store", cache_policy=NO_CACHE, persist_result=False)
def ingest_task(
    engine: Engine,
    analyzer: Analyzer,
    items: Sequence[RawItem],
    rejected: Sequence[Rejected],
    run_id: str,
) -> IngestResult:
    """Analyse and store one batch of items."""
    return ingest_items(engine, analyzer, items, run_id, rejected)


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
def publish_health(summary: dict[str, Any], sources: list[dict[str, Any]]) -> None:
    """Leave the run's per-source health table and summary in the Prefect UI."""
    create_table_artifact(
        key="monitor-sources", table=sources, description="Per-source health of this monitor run"
    )
    create_markdown_artifact(
        key="monitor-summary",
        markdown=summary_markdown(summary, sources),
        description="What this monitor run did",
    )


def summary_markdown(summary: dict[str, Any], sources: list[dict[str, Any]]) -> str:
    """Return the run summary as markdown."""
    lines = [
        f"# Monitor run {summary['run_id']}",
        "",
        f"- documents: **{summary['new']} new**, {summary['duplicate']} duplicate, "
        f"{summary['unchanged']} unchanged, {summary['rejected']} rejected",
        f"- languages: {summary['languages'] or 'none'}",
        f"- machine-translated: {summary['machine_translated']}",
        f"- shifts: {summary.get('shifts', 0)} recorded, {summary.get('announced', 0)} announced, "
        f"{summary.get('held', 0)} held, {summary.get('retroactive', 0)} retroactive",
        f"- sources: {len(sources)} ({sum(s['status'] == 'failed' for s in sources)} failing)",
    ]
    return "\n".join(lines)


def _summarize(run_id: str, result: IngestResult, elapsed_s: float) -> dict[str, Any]:
    totals = {
        k: sum(getattr(c, k) for c in result.counts.values())
        for k in ("new", "duplicate", "unchanged", "rejected", "reanalysed")
    }
    return {
        "run_id": run_id,
        **totals,
        "elapsed_s": round(elapsed_s, 3),
        "languages": dict(result.languages),
        "machine_translated": result.machine_translated,
        "new_document_ids": result.new_document_ids,
    }


def _collect_folders(settings: Settings, folders: Sequence[str]) -> FeedBatch:
    batch = FeedBatch()
    futures = [read_folder_task.submit(folder, settings.max_document_bytes) for folder in folders]
    for future in futures:
        started = time.perf_counter()
        folder = future.result()
        batch.items.extend(folder.items)
        batch.rejected.extend(folder.rejected)
        batch.health.append(
            SourceCounts(
                source_id=folder.source_id,
                kind="file",
                latency_s=round(time.perf_counter() - started, 3),
            )
        )
    return batch


def _feed_configs(settings: Settings, feeds: Sequence[str] | None) -> tuple[list[FeedConfig], bool]:
    """Return the feeds to poll and whether to force them (one-off --feed URLs always run)."""
    if feeds:
        return [FeedConfig(url=url) for url in feeds], True
    return load_feedlist(settings.feed_list_path(), missing_ok=True), False


@flow(name="monitor", flow_run_name=_run_name, persist_result=False)
def monitor(
    seeds: list[str] | None = None,
    feeds: list[str] | None = None,
    feeds_file: str | None = None,
    watchlist: str | None = None,
    database_url: str | None = None,
    deliver: bool = True,
    since: str | None = None,
) -> dict[str, Any]:
    """Ingest the configured sources, analyse and store what is new, and alert on shifts."""
    started = time.perf_counter()
    settings = load_settings(database_url=database_url, watchlist=watchlist, feeds_file=feeds_file)
    wl = load_watchlist(settings.watchlist)
    analyzer = Analyzer(wl.entities(), wl.stop_phrases(), wl.demand_terms())
    engine = open_database(settings.database_url)
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    with session_scope(engine) as session:
        store.start_run(session, run_id, "monitor", str(flow_run.id) if flow_run.id else None)
    folders = seeds if seeds is not None else ([] if feeds else [str(DEFAULT_SEEDS)])
    collected = _collect_folders(settings, folders)
    feed_list, force = _feed_configs(settings, feeds)
    if feed_list:
        polled = poll_feeds_task(engine, feed_list, settings, force)
        collected.items.extend(polled.items)
        collected.rejected.extend(polled.rejected)
        collected.health.extend(polled.health)
    with session_scope(engine) as session:
        store.ensure_sources(
            session,
            [
                {"id": h.source_id, "kind": h.kind, "url": h.source_id}
                for h in collected.health
                if h.kind == "file"
            ],
        )
    # quote(): Prefect would otherwise walk every item looking for futures (~0.1 ms each).
    result = ingest_task(
        engine, analyzer, quote(collected.items), quote(collected.rejected), run_id
    )
    if since is not None:
        redone = reanalyze_task(engine, analyzer, parse_since(since), run_id)
        result.pairs |= redone.pairs
        result.new_document_ids.extend(redone.new_document_ids)
        for source_id, counts in redone.counts.items():
            result.source(source_id).reanalysed += counts.reanalysed
    for h in collected.health:
        counts = result.source(h.source_id)
        counts.kind, counts.latency_s, counts.detail = h.kind, h.latency_s, h.detail
        counts.status = h.status
    shifts = positions_task(engine, quote(result), run_id, outbox.announcer(settings, run_id))
    alerts = deliver_alerts(engine, settings, wl, run_id, deliver)  # deliver=False: to files
    summary = _summarize(run_id, result, time.perf_counter() - started)
    summary.update(
        shifts=len(shifts.shifts),
        announced=len(shifts.announced),
        held=len(shifts.held),
        retroactive=len(shifts.retroactive),
        feed_warnings=len(collected.warnings) if feed_list else 0,
    )
    summary["alerts"] = alerts
    sources = [asdict(c) for c in result.counts.values()]
    publish_health(summary, sources)
    rename_flow_run(monitor_run_title(summary, sources))
    with session_scope(engine) as session:
        store.finish_run(session, run_id, "completed", summary, sources)
    get_run_logger().info(
        "monitor %s: %s new, %s duplicate, %s unchanged, %s rejected",
        run_id,
        summary["new"],
        summary["duplicate"],
        summary["unchanged"],
        summary["rejected"],
    )
    engine.dispose()
    return summary


if __name__ == "__main__":
    monitor()
