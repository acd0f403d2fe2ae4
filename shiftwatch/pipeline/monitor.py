"""The monitor's application steps (no Prefect): start and finish a run, gather sources,
merge results, and the typed `RunSummary` the CLI, the artifacts and the run name render.

`flows/monitor.py` strings these together as tasks; everything here is plain functions over
plain data, tested without Prefect.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shiftwatch.analysis.analyzer import Analyzer
from shiftwatch.connectors.feedlist import FeedConfig, load_feedlist
from shiftwatch.connectors.files import FolderBatch, folder_source_id, iter_folder
from shiftwatch.models import sources as source_store
from shiftwatch.models.db import Engine, session_scope
from shiftwatch.pipeline.deliver import DeliveryReport
from shiftwatch.pipeline.feeds import FeedBatch
from shiftwatch.pipeline.ingest import (
    CHUNK_ITEMS,
    BuildAndAnalyze,
    IngestResult,
    SourceCounts,
    ingest_chunks,
    store_rejections,
)
from shiftwatch.pipeline.positions import PositionResult
from shiftwatch.records import RawItem, RunStatus, SourceRef
from shiftwatch.settings import DEFAULT_SEEDS, Settings
from shiftwatch.watchlist import Watchlist

FLOW = "monitor"
COUNTS = ("new", "duplicate", "unchanged", "rejected", "reanalysed")


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    """What one monitor run did: counts, languages, shifts, alerts and per-source health."""

    run_id: str
    new: int = 0
    duplicate: int = 0
    unchanged: int = 0
    rejected: int = 0
    reanalysed: int = 0
    elapsed_s: float = 0.0
    languages: Mapping[str, int] = field(default_factory=dict)
    machine_translated: int = 0
    new_document_ids: tuple[str, ...] = ()
    shifts: int = 0
    announced: int = 0
    held: int = 0
    retroactive: int = 0
    feed_warnings: int = 0
    alerts: DeliveryReport = field(default_factory=DeliveryReport)
    sources: tuple[SourceCounts, ...] = ()

    def __getitem__(self, key: str) -> Any:
        """Read a field by name (`summary["new"]`), as from the dict runs record."""
        return getattr(self, key)

    def counts(self) -> dict[str, Any]:
        """Return the summary as the plain data a run row records (sources apart)."""
        out = {
            "run_id": self.run_id,
            **{name: getattr(self, name) for name in COUNTS},
            "elapsed_s": self.elapsed_s,
            "languages": dict(self.languages),
            "machine_translated": self.machine_translated,
            "new_document_ids": list(self.new_document_ids),
            "shifts": self.shifts,
            "announced": self.announced,
            "held": self.held,
            "retroactive": self.retroactive,
            "feed_warnings": self.feed_warnings,
            "alerts": self.alerts.as_dict(),
        }
        return out

    def source_rows(self) -> list[dict[str, Any]]:
        """Return the per-source health rows (the Prefect table artifact, the run row)."""
        return [asdict(s) for s in self.sources]

    @property
    def failed_sources(self) -> int:
        """Return how many sources failed outright."""
        return sum(1 for s in self.sources if s.status == "failed")


def new_run_id() -> str:
    """Return a fresh run id."""
    return f"run-{uuid.uuid4().hex[:12]}"


def analyzer_for(watchlist: Watchlist) -> Analyzer:
    """Return the analysis core configured by the watchlist."""
    return Analyzer(watchlist.entities(), watchlist.stop_phrases(), watchlist.demand_terms())


def begin_run(engine: Engine, run_id: str, flow_run_id: str | None) -> None:
    """Record that a monitor run began."""
    with session_scope(engine) as session:
        source_store.start_run(session, run_id, FLOW, flow_run_id)


def seed_folders(seeds: Sequence[str] | None, feeds: Sequence[str] | None) -> list[str]:
    """Return the folders to read: those given, else the bundled seeds unless feeds were."""
    if seeds is not None:
        return list(seeds)
    return [] if feeds else [str(DEFAULT_SEEDS)]


def feed_configs(settings: Settings, feeds: Sequence[str] | None) -> tuple[list[FeedConfig], bool]:
    """Return the feeds to poll and whether to force them (one-off --feed URLs always run)."""
    if feeds:
        return [FeedConfig(url=url) for url in feeds], True
    return load_feedlist(settings.feed_list_path(), missing_ok=True), False


def folder_health(folder: str) -> SourceCounts:
    """Return the health row of a seed folder before it is read."""
    return SourceCounts(source_id=folder_source_id(Path(folder)), kind="file")


def ingest_folder(
    engine: Engine,
    analyzer: Analyzer,
    folder: str,
    max_bytes: int,
    run_id: str,
    build: BuildAndAnalyze | None = None,
    chunk_items: int = CHUNK_ITEMS,
) -> IngestResult:
    """Read `folder` `chunk_items` files at a time, analysing and storing each chunk before
    the next is read; return what was stored, with the time spent reading as its latency."""
    reading = 0.0
    source_id = folder_source_id(Path(folder))

    def chunks() -> Iterator[list[RawItem]]:
        nonlocal reading
        started = time.perf_counter()
        for chunk in iter_folder(folder, max_bytes=max_bytes, chunk_items=chunk_items):
            reading += time.perf_counter() - started
            if chunk.rejected:
                store_rejections(engine, chunk.rejected, run_id, result)
            yield chunk.items
            started = time.perf_counter()

    result = IngestResult()
    result.source(source_id)
    ingest_chunks(engine, analyzer, chunks(), run_id, build=build, result=result)
    result.source(source_id).latency_s = round(reading, 3)
    return result


def merge_ingest(result: IngestResult, other: IngestResult) -> None:
    """Fold one source's ingest result into the run's."""
    result.pairs |= other.pairs
    result.new_document_ids.extend(other.new_document_ids)
    result.languages.update(other.languages)
    result.machine_translated += other.machine_translated
    for source_id, counts in other.counts.items():
        mine = result.source(source_id)
        for name in ("new", "unchanged", "duplicate", "rejected", "reanalysed"):
            setattr(mine, name, getattr(mine, name) + getattr(counts, name))
        mine.kind, mine.status, mine.detail = counts.kind, counts.status, counts.detail
        mine.latency_s = max(mine.latency_s, counts.latency_s)


def add_folder(batch: FeedBatch, folder: FolderBatch, latency_s: float) -> None:
    """Add one read folder's items, rejections and health to the run's batch."""
    batch.items.extend(folder.items)
    batch.rejected.extend(folder.rejected)
    batch.health.append(SourceCounts(source_id=folder.source_id, kind="file", latency_s=latency_s))


def add_feeds(batch: FeedBatch, polled: FeedBatch) -> None:
    """Add what the feed poll brought to the run's batch."""
    batch.items.extend(polled.items)
    batch.rejected.extend(polled.rejected)
    batch.health.extend(polled.health)


def record_file_sources(engine: Engine, health: Sequence[SourceCounts]) -> None:
    """Make sure every folder read is a stored source."""
    files = [h.source_id for h in health if h.kind == "file"]
    with session_scope(engine) as session:
        source_store.ensure_sources(session, [SourceRef(id=f, kind="file", url=f) for f in files])


def merge_reanalysis(result: IngestResult, redone: IngestResult) -> None:
    """Fold a re-analysis of stored documents into the run's ingest result."""
    result.pairs |= redone.pairs
    result.new_document_ids.extend(redone.new_document_ids)
    for source_id, counts in redone.counts.items():
        result.source(source_id).reanalysed += counts.reanalysed


def apply_health(result: IngestResult, health: Sequence[SourceCounts]) -> None:
    """Copy each source's fetch health (kind, latency, status) onto its ingest counts."""
    for h in health:
        counts = result.source(h.source_id)
        counts.kind, counts.latency_s, counts.detail = h.kind, h.latency_s, h.detail
        counts.status = h.status


def summarize(
    run_id: str,
    result: IngestResult,
    positions: PositionResult,
    alerts: DeliveryReport,
    *,
    elapsed_s: float,
    feed_warnings: int = 0,
) -> RunSummary:
    """Return the run's summary."""
    totals = {k: sum(getattr(c, k) for c in result.counts.values()) for k in COUNTS}
    return RunSummary(
        run_id=run_id,
        **totals,
        elapsed_s=round(elapsed_s, 3),
        languages=dict(result.languages),
        machine_translated=result.machine_translated,
        new_document_ids=tuple(result.new_document_ids),
        shifts=len(positions.shifts),
        announced=len(positions.announced),
        held=len(positions.held),
        retroactive=len(positions.retroactive),
        feed_warnings=feed_warnings,
        alerts=alerts,
        sources=tuple(result.counts.values()),
    )


def finish_run(engine: Engine, summary: RunSummary) -> None:
    """Record that the run completed, with its counts and per-source health."""
    with session_scope(engine) as session:
        source_store.finish_run(
            session, summary.run_id, RunStatus.COMPLETED, summary.counts(), summary.source_rows()
        )


def summary_markdown(summary: RunSummary) -> str:
    """Return the run summary as markdown (the `monitor-summary` artifact)."""
    lines = [
        f"# Monitor run {summary.run_id}",
        "",
        f"- documents: **{summary.new} new**, {summary.duplicate} duplicate, "
        f"{summary.unchanged} unchanged, {summary.rejected} rejected",
        f"- languages: {dict(summary.languages) or 'none'}",
        f"- machine-translated: {summary.machine_translated}",
        f"- shifts: {summary.shifts} recorded, {summary.announced} announced, "
        f"{summary.held} held, {summary.retroactive} retroactive",
        f"- sources: {len(summary.sources)} ({summary.failed_sources} failing)",
    ]
    return "\n".join(lines)


def monitor_run_title(
    summary: RunSummary | Mapping[str, Any], sources: Sequence[Mapping[str, Any]] | None = None
) -> str:
    """Return a monitor run's name from its counts (what an operator scans the run list for)."""
    if isinstance(summary, RunSummary):
        counts: Mapping[str, Any] = summary.counts()
        sources = summary.source_rows()
    else:
        counts = summary
    sources = sources or []
    failing = sum(1 for s in sources if s.get("status", "ok") != "ok")
    count = counts.get("shifts")
    shifts = "" if count is None else f"{count} shift{'' if count == 1 else 's'}, "
    return (
        f"monitor: {counts.get('new', 0)} new, {counts.get('unchanged', 0)} unchanged, "
        f"{counts.get('duplicate', 0)} dup, "
        f"{counts.get('rejected', 0)} rejected, {shifts}{failing}/{len(sources)} sources failing"
    )
