"""Feeds: poll the due feeds politely, keep each feed's state, hand entries to ingest.

The connectors fetch and parse; this module loads and saves the per-feed state (validators,
back-off, health) in the `sources` table and turns outcomes into RawItems, rejections and
the per-source health rows operators see.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from shiftwatch.connectors.feedlist import FeedConfig
from shiftwatch.connectors.feeds import FeedOutcome, FeedState, fetch_feeds
from shiftwatch.connectors.http import Fetcher, FetchPolicy
from shiftwatch.models import documents as document_store
from shiftwatch.models import sources as source_store
from shiftwatch.models.db import Engine, session_scope
from shiftwatch.pipeline.ingest import SourceCounts
from shiftwatch.records import RawItem, Rejected, SourceRef
from shiftwatch.settings import Settings


@dataclass
class FeedBatch:
    items: list[RawItem] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    health: list[SourceCounts] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def fetch_policy(settings: Settings) -> FetchPolicy:
    """Return the fetcher's policy from the settings (validated before any I/O)."""
    http = settings.http()
    return FetchPolicy(
        contact=settings.contact,
        read_timeout_s=http.timeout_s,
        max_body_bytes=http.max_body_bytes,
        max_decoded_bytes=http.max_decoded_bytes,
        total_timeout_s=http.deadline_s,
        max_run_bytes=http.run_max_bytes,
        slow_host_strikes=http.slow_host_strikes,
        per_host_concurrency=http.per_host_concurrency,
        max_concurrency=http.global_concurrency,
        allow_private=http.allow_private_addresses,
        allowed_networks=settings.allowed_network_list(),
    )


def poll_feeds(
    engine: Engine,
    feeds: Sequence[FeedConfig],
    settings: Settings,
    *,
    force: bool = False,
    now: datetime | None = None,
) -> FeedBatch:
    """Poll the feeds that are due (all with `force`) and record their new state."""
    now = now or datetime.now(UTC)
    with session_scope(engine) as session:
        source_store.ensure_sources(session, [_source_row(f) for f in feeds])
        stored = source_store.load_source_states(session, [f.id for f in feeds])
        unconfirmed = source_store.feeds_fetched_by_unfinished_runs(session, stored)
    states = {k: FeedState.from_json(v) for k, v in stored.items()}
    for feed_id in unconfirmed:
        states[feed_id] = _refetch(states[feed_id])
    outcomes = asyncio.run(_poll(feeds, states, settings, now, force, engine))
    with session_scope(engine) as session:
        for outcome in outcomes:
            source_store.save_source_state(session, outcome.feed_id, _state_columns(outcome))
    return _batch(outcomes)


def _refetch(state: FeedState) -> FeedState:
    """Return the state of a feed whose last fetch died before its entries were stored
    (kill -9 between the poll and the ingest commit): due now, validators forgotten, so
    the body is fetched and parsed again (entries already stored are skipped by hash)."""
    return replace(state, etag=None, last_modified=None, body_hash=None, next_poll_at=None)


async def _poll(
    feeds: Sequence[FeedConfig],
    states: dict[str, FeedState],
    settings: Settings,
    now: datetime,
    force: bool,
    engine: Engine,
) -> list[FeedOutcome]:
    def is_known(item: RawItem) -> bool:
        with session_scope(engine) as session:
            return bool(document_store.known_urls(session, [item.url]))

    async with Fetcher(fetch_policy(settings)) as fetcher:
        return await fetch_feeds(
            feeds,
            states,
            fetcher,
            now,
            force=force,
            is_known=is_known,
            max_entry_chars=settings.max_entry_chars,
        )


def _source_row(feed: FeedConfig) -> SourceRef:
    return SourceRef(
        id=feed.id,
        kind="feed",
        url=feed.url,
        name=feed.name,
        language_hint=feed.language,
        fetch_full_article=feed.fetch_full_article,
        poll_interval_s=feed.poll_interval_s,
    )


def _state_columns(outcome: FeedOutcome) -> dict[str, object]:
    state = outcome.state
    return {
        "state": state.to_json(),
        "etag": state.etag,
        "last_modified": state.last_modified,
        "body_hash": state.body_hash,
        "last_fetched_at": state.last_fetched_at,
        "next_poll_at": state.next_poll_at,
        "poll_interval_s": state.poll_interval_s,
        "status": str(state.health),
        "failures": state.consecutive_failures,
        "error_score": state.failure_score,
        "last_error": state.last_error,
        "last_error_kind": str(state.last_error_kind) if state.last_error_kind else None,
        "muted": state.muted,
    }


def _batch(outcomes: Sequence[FeedOutcome]) -> FeedBatch:
    batch = FeedBatch()
    for outcome in outcomes:
        batch.items.extend(outcome.items)
        batch.rejected.extend(outcome.rejected)
        batch.warnings.extend(f"{outcome.url}: {w}" for w in outcome.warnings)
        batch.health.append(
            SourceCounts(
                source_id=outcome.feed_id,
                kind="feed",
                status=str(outcome.status),
                latency_s=round(outcome.latency_s, 3),
                detail=outcome.error
                or (f"HTTP {outcome.http_status}" if outcome.http_status else ""),
            )
        )
    return batch
