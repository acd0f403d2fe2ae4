"""Poll feeds incrementally: fetch the due ones, parse only what changed, keep per-feed state.

Decide and apply are split: `plan_*` functions are pure (state in, state out), and
`fetch_feeds` runs the I/O. Per feed:

- conditional GET with the stored ETag/Last-Modified; a 304, or a 200 whose body hashes
  as before (stale validators), costs no parsing;
- the poll interval adapts to how often entries are published (15 min - 24 h), unless
  the feed list fixes it;
- failures count by kind, weighted (temporary 1, soft 2, hard 4), and back off
  exponentially from 15 min to a day; Retry-After is honoured; a feed whose weighted
  score reaches DEAD_SCORE is probed weekly, never deleted; 410 Gone mutes the feed
  (probed monthly); any success revives it.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from shiftwatch.connectors.feed_parser import (
    MAX_ENTRY_CHARS,
    ParsedFeed,
    entry_dates,
    parse_feed,
    raw_items,
)
from shiftwatch.connectors.feedlist import FeedConfig
from shiftwatch.connectors.http import (
    BudgetSpentError,
    Fetcher,
    FetchRefusedError,
    FetchResult,
    FetchTimeoutError,
)
from shiftwatch.connectors.pages import fetch_articles
from shiftwatch.errors import PermanentSourceError, SourceError, TransientSourceError
from shiftwatch.records import RawItem, Rejected, RejectReason

MIN_INTERVAL_S = 15 * 60
MAX_INTERVAL_S = 24 * 3600
DEFAULT_INTERVAL_S = 3600
UNCHANGED_GROWTH = 1.25  # an unchanged poll stretches an adaptive interval this much
RATE_WINDOW = timedelta(days=7)
BACKOFF_BASE_S = 15 * 60
MAX_BACKOFF_S = 24 * 3600
DEAD_SCORE = 16  # e.g. 4 hard failures in a row, or 16 timeouts
DEAD_PROBE_S = 7 * 24 * 3600
GONE_PROBE_S = 30 * 24 * 3600
STAGE = "feed_fetch"
# Bodies up to this size parse in tens of milliseconds: inline on the event loop, which
# beats a worker thread fighting the loop for the GIL. Larger ones go to a thread so
# the loop keeps serving I/O (and no other fetch times out) while they parse.
INLINE_PARSE_BYTES = 256 * 1024


class FailureKind(StrEnum):
    """How bad a failure is: it sets the weight of the back-off."""

    TEMPORARY = "temporary"  # timeouts, resets, 5xx, 429: the next try may work
    SOFT = "soft"  # not a feed, oversized, malformed, 401/403: someone may fix it
    HARD = "hard"  # 404/410, no such host, refused as unsafe: unlikely to change


FAILURE_WEIGHTS = {FailureKind.TEMPORARY: 1, FailureKind.SOFT: 2, FailureKind.HARD: 4}


class FeedStatus(StrEnum):
    UPDATED = "updated"  # fetched and parsed (it may hold no new entries)
    UNCHANGED = "unchanged"  # 304, or the same body as last time: not parsed
    FAILED = "failed"


class FeedHealth(StrEnum):
    NEW = "new"  # never fetched successfully, no failure yet
    OK = "ok"
    FAILING = "failing"  # failed lately, backing off
    DEAD = "dead"  # failed long enough to be probed weekly only
    GONE = "gone"  # 410: muted, probed monthly


@dataclass(frozen=True, kw_only=True, slots=True)
class FeedState:
    """What we remember about one feed between polls (store it as `to_json()`)."""

    feed_id: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_fetched_at: datetime | None = None
    last_success_at: datetime | None = None
    next_poll_at: datetime | None = None  # None: due now
    poll_interval_s: int = DEFAULT_INTERVAL_S
    last_status: int | None = None
    consecutive_failures: int = 0
    failure_score: int = 0  # weighted sum over the current run of failures
    hard_errors: int = 0  # totals since the feed was added
    soft_errors: int = 0
    temporary_errors: int = 0
    last_error: str | None = None
    last_error_kind: FailureKind | None = None
    last_error_at: datetime | None = None
    muted: bool = False
    gone: bool = False
    moved_to: str | None = None  # a permanent redirect's target: fetched instead of url
    entries_last_seen: int = 0

    @property
    def fetch_url(self) -> str:
        """Return the URL to fetch: where the feed moved to, or its own."""
        return self.moved_to or self.url

    @property
    def health(self) -> FeedHealth:
        """Return the feed's health for `feeds health` and run artifacts."""
        if self.gone:
            return FeedHealth.GONE
        if self.failure_score >= DEAD_SCORE:
            return FeedHealth.DEAD
        if self.consecutive_failures:
            return FeedHealth.FAILING
        return FeedHealth.OK if self.last_success_at else FeedHealth.NEW

    def is_due(self, now: datetime) -> bool:
        """Return whether the feed should be polled at `now`."""
        return self.next_poll_at is None or self.next_poll_at <= now

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (ISO 8601 times) for a database column or a file."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, datetime) else value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeedState:
        """Return the state `to_json` wrote (unknown keys ignored, for older/newer rows)."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        for key, value in values.items():
            if key.endswith("_at") and isinstance(value, str):
                values[key] = datetime.fromisoformat(value)
        if values.get("last_error_kind"):
            values["last_error_kind"] = FailureKind(values["last_error_kind"])
        return cls(**values)


@dataclass(frozen=True, kw_only=True, slots=True)
class FeedOutcome:
    """The result of polling one feed: its new state, its items, and what went wrong."""

    feed_id: str
    url: str
    status: FeedStatus
    state: FeedState
    fetched_at: datetime
    items: tuple[RawItem, ...] = ()
    rejected: tuple[Rejected, ...] = ()
    warnings: tuple[str, ...] = ()
    http_status: int | None = None
    error: str | None = None
    error_kind: FailureKind | None = None
    latency_s: float = 0.0

    @property
    def health(self) -> FeedHealth:
        """Return the feed's health after this poll."""
        return self.state.health


def new_state(feed: FeedConfig) -> FeedState:
    """Return the state of a feed never polled: due now."""
    return FeedState(
        feed_id=feed.id, url=feed.url, poll_interval_s=feed.poll_interval_s or DEFAULT_INTERVAL_S
    )


def due_feeds(
    feeds: Iterable[FeedConfig], states: Mapping[str, FeedState], now: datetime
) -> list[FeedConfig]:
    """Return the enabled feeds whose next poll time has come (new feeds are due)."""
    return [f for f in feeds if f.enabled and (f.id not in states or states[f.id].is_due(now))]


def adaptive_interval(dates: Iterable[datetime], now: datetime) -> int | None:
    """Return seconds between polls from the recent publication rate, None without dates.

    rate = entries published in the last week / time since the oldest of them, so a
    feed showing its 10 newest entries from the last two hours polls every ~12 min
    (raised to the 15-min floor) and a feed with one entry this week polls daily.
    """
    known = [d for d in dates if d <= now + timedelta(hours=1)]
    if not known:
        return None
    recent = [d for d in known if d >= now - RATE_WINDOW]
    if not recent:
        return MAX_INTERVAL_S
    span = max((now - min(recent)).total_seconds(), 3600.0)
    return _clamp(int(span / len(recent)), MIN_INTERVAL_S, MAX_INTERVAL_S)


def _clamp(value: float, low: float, high: float) -> int:
    """Return value bounded to [low, high], as int seconds."""
    return int(min(max(value, low), high))


def plan_success(
    feed: FeedConfig,
    state: FeedState,
    result: FetchResult,
    now: datetime,
    *,
    body_hash: str | None,
    parsed: ParsedFeed | None,
) -> FeedState:
    """Return the state after a usable response (parsed None: unchanged, not parsed)."""
    interval = _next_interval(feed, state, parsed, now)
    return replace(
        state,
        etag=result.headers.get("etag") or (state.etag if result.not_modified else None),
        last_modified=result.headers.get("last-modified")
        or (state.last_modified if result.not_modified else None),
        body_hash=body_hash or state.body_hash,
        last_fetched_at=now,
        last_success_at=now,
        next_poll_at=now + timedelta(seconds=interval),
        poll_interval_s=interval,
        last_status=result.status,
        consecutive_failures=0,
        failure_score=0,
        muted=False,
        gone=False,
        moved_to=result.permanent_url or state.moved_to,
        entries_last_seen=len(parsed.entries) if parsed else state.entries_last_seen,
    )


def _next_interval(
    feed: FeedConfig, state: FeedState, parsed: ParsedFeed | None, now: datetime
) -> int:
    """Return the poll interval: fixed by the feed list, else from the publication rate."""
    if feed.poll_interval_s:
        return feed.poll_interval_s
    current = _clamp(state.poll_interval_s, MIN_INTERVAL_S, MAX_INTERVAL_S)
    if parsed is None:
        return _clamp(current * UNCHANGED_GROWTH, MIN_INTERVAL_S, MAX_INTERVAL_S)
    return adaptive_interval(entry_dates(parsed), now) or current


def plan_failure(
    state: FeedState,
    now: datetime,
    *,
    kind: FailureKind,
    error: str,
    status: int | None = None,
    retry_after: float | None = None,
) -> FeedState:
    """Return the state after a failure: counted by kind, backed off, dead or gone."""
    score = state.failure_score + FAILURE_WEIGHTS[kind]
    gone = state.gone or status == 410
    delay = _clamp(BACKOFF_BASE_S * 2 ** min(score - 1, 20), BACKOFF_BASE_S, MAX_BACKOFF_S)
    if score >= DEAD_SCORE:
        delay = DEAD_PROBE_S
    if gone:
        delay = GONE_PROBE_S
    delay = max(delay, int(retry_after or 0))
    counts = {f"{kind.value}_errors": getattr(state, f"{kind.value}_errors") + 1}
    return replace(
        state,
        last_fetched_at=now,
        next_poll_at=now + timedelta(seconds=delay),
        last_status=status,
        consecutive_failures=state.consecutive_failures + 1,
        failure_score=score,
        last_error=error[:500],
        last_error_kind=kind,
        last_error_at=now,
        muted=state.muted or gone,
        gone=gone,
        **counts,
    )


def classify_error(exc: SourceError) -> tuple[FailureKind, RejectReason]:
    """Return how bad a fetch error is and the reason to record it under."""
    if isinstance(exc, FetchRefusedError):
        kind = FailureKind.HARD if exc.reason in _HARD_REASONS else FailureKind.SOFT
        return kind, exc.reason
    if isinstance(exc, FetchTimeoutError | BudgetSpentError):
        return FailureKind.TEMPORARY, exc.reason
    if isinstance(exc, TransientSourceError):
        return FailureKind.TEMPORARY, (
            RejectReason.HTTP_ERROR if exc.status else RejectReason.UNREADABLE
        )
    if exc.status in (404, 410):
        return FailureKind.HARD, RejectReason.HTTP_ERROR
    if exc.status is not None:
        return FailureKind.SOFT, RejectReason.HTTP_ERROR
    return FailureKind.HARD, RejectReason.UNREADABLE


_HARD_REASONS = frozenset({RejectReason.UNSAFE, RejectReason.UNSUPPORTED})


def refusal_kind(reason: RejectReason) -> FailureKind:
    """Return how bad a parse refusal is: unsafe content is hard, the rest soft."""
    return FailureKind.HARD if reason in _HARD_REASONS else FailureKind.SOFT


async def fetch_feeds(
    feeds: Sequence[FeedConfig],
    states: Mapping[str, FeedState],
    fetcher: Fetcher,
    now: datetime,
    *,
    force: bool = False,
    is_known: Callable[[RawItem], bool] | None = None,
    max_entry_chars: int = MAX_ENTRY_CHARS,
) -> list[FeedOutcome]:
    """Return one outcome per enabled feed that is due (all enabled ones with force)."""
    chosen = [f for f in feeds if f.enabled] if force else due_feeds(feeds, states, now)
    chosen = fair_order(chosen, states)
    parse_gate = asyncio.Semaphore(1)  # parsing is CPU-bound: one at a time, off the loop
    tasks = [
        fetch_feed(
            f,
            states.get(f.id),
            fetcher,
            now,
            parse_gate=parse_gate,
            is_known=is_known,
            max_entry_chars=max_entry_chars,
        )
        for f in chosen
    ]
    return list(await asyncio.gather(*tasks))


def fair_order(feeds: Sequence[FeedConfig], states: Mapping[str, FeedState]) -> list[FeedConfig]:
    """Return feeds with the failing ones last (stable), so they queue behind healthy ones,
    and each host's feeds together, so its next feed finds its connection still alive
    (`http.HostPools`) rather than hundreds of other hosts later.

    Connection slots are handed out first come, first served: a run whose failing (often
    slow) feeds ask first would make every healthy feed wait out their deadlines.
    """
    hosts: dict[str, int] = {}
    for feed in feeds:
        hosts.setdefault(urlsplit(feed.url).netloc.lower(), len(hosts))

    def rank(feed: FeedConfig) -> tuple[bool, int]:
        state = states.get(feed.id)
        failing = state is not None and state.consecutive_failures > 0
        return failing, hosts[urlsplit(feed.url).netloc.lower()]

    return sorted(feeds, key=rank)


async def fetch_feed(
    feed: FeedConfig,
    state: FeedState | None,
    fetcher: Fetcher,
    now: datetime,
    *,
    parse_gate: asyncio.Semaphore | None = None,
    is_known: Callable[[RawItem], bool] | None = None,
    max_entry_chars: int = MAX_ENTRY_CHARS,
) -> FeedOutcome:
    """Return the outcome of polling one feed now; failures come back, never raise."""
    state = state or new_state(feed)
    started = time.monotonic()
    try:
        result = await fetcher.fetch(
            state.fetch_url, etag=state.etag, last_modified=state.last_modified
        )
    except SourceError as exc:
        return _failed_fetch(feed, state, exc, now, time.monotonic() - started)
    latency = time.monotonic() - started
    body_hash = None if result.not_modified else hashlib.sha256(result.body).hexdigest()
    if result.not_modified or body_hash == state.body_hash:
        new = plan_success(feed, state, result, now, body_hash=body_hash, parsed=None)
        return _outcome(feed, new, FeedStatus.UNCHANGED, now, result=result, latency=latency)
    parsed = await _parse(result, feed, now, parse_gate, max_entry_chars)
    if parsed.refusal is not None:
        return _refused(feed, state, parsed, result, now, latency)
    return await _updated(feed, state, result, parsed, fetcher, now, latency, body_hash, is_known)


async def _parse(
    result: FetchResult,
    feed: FeedConfig,
    now: datetime,
    gate: asyncio.Semaphore | None,
    max_entry_chars: int = MAX_ENTRY_CHARS,
) -> ParsedFeed:
    """Return the parsed feed; big bodies parse in a worker thread (see INLINE_PARSE_BYTES)."""
    gate = gate or asyncio.Semaphore(1)
    call = functools.partial(
        parse_feed,
        result.body,
        result.headers,
        url=result.final_url,
        fetched_at=now,
        source_id=feed.id,
        max_entry_chars=max_entry_chars,
    )
    async with gate:
        try:
            if len(result.body) <= INLINE_PARSE_BYTES:
                await asyncio.sleep(0)  # let pending I/O run between parses
                return call()
            return await asyncio.to_thread(call)
        except Exception as exc:  # a parser bug on hostile bytes must not sink the run
            detail = f"parser failed: {type(exc).__name__}: {str(exc)[:200]}"
            refusal = Rejected(
                source_id=feed.id,
                item=result.final_url,
                stage="feed_parse",
                reason=RejectReason.MALFORMED,
                detail=detail,
            )
            return ParsedFeed(url=result.final_url, fetched_at=now, refusal=refusal)


async def _updated(
    feed: FeedConfig,
    state: FeedState,
    result: FetchResult,
    parsed: ParsedFeed,
    fetcher: Fetcher,
    now: datetime,
    latency: float,
    body_hash: str | None,
    is_known: Callable[[RawItem], bool] | None,
) -> FeedOutcome:
    """Return the outcome of a changed feed: its items (full articles when asked for)."""
    items = raw_items(parsed, source_id=feed.id, language_hint=feed.language)
    rejected = list(parsed.rejected)
    if feed.fetch_full_article and items:
        items, page_rejects = await fetch_articles(items, fetcher, is_known=is_known)
        rejected += page_rejects
    warnings = list(parsed.warnings)
    if result.permanent_url:
        warnings.append(f"moved permanently to {result.permanent_url}: update the feed list")
    new = plan_success(feed, state, result, now, body_hash=body_hash, parsed=parsed)
    return _outcome(
        feed,
        new,
        FeedStatus.UPDATED,
        now,
        result=result,
        latency=latency,
        items=tuple(items),
        rejected=tuple(rejected),
        warnings=tuple(warnings),
    )


def _failed_fetch(
    feed: FeedConfig, state: FeedState, exc: SourceError, now: datetime, latency: float
) -> FeedOutcome:
    """Return the outcome of a fetch that raised: state backed off, a Rejected recorded."""
    kind, reason = classify_error(exc)
    retry_after = exc.retry_after if isinstance(exc, TransientSourceError) else None
    message = str(exc)
    new = plan_failure(
        state, now, kind=kind, error=message, status=exc.status, retry_after=retry_after
    )
    if isinstance(exc, BudgetSpentError):  # the run's budget, not the feed's fault:
        new = replace(state, last_error=message[:500], last_error_at=now)  # due next run
    rejected = Rejected(
        source_id=feed.id, item=state.fetch_url, stage=STAGE, reason=reason, detail=message
    )
    return FeedOutcome(
        feed_id=feed.id,
        url=state.fetch_url,
        status=FeedStatus.FAILED,
        state=new,
        fetched_at=now,
        rejected=(rejected,),
        http_status=exc.status,
        error=message,
        error_kind=kind,
        latency_s=latency,
    )


def _refused(
    feed: FeedConfig,
    state: FeedState,
    parsed: ParsedFeed,
    result: FetchResult,
    now: datetime,
    latency: float,
) -> FeedOutcome:
    """Return the outcome of a body that is not a usable feed (HTML page, unsafe, empty)."""
    assert parsed.refusal is not None
    kind = refusal_kind(parsed.refusal.reason)
    message = f"{parsed.refusal.reason.value}: {parsed.refusal.detail}"
    new = plan_failure(state, now, kind=kind, error=message, status=result.status)
    # Forget the body hash: the same broken body next time must be judged again.
    new = replace(new, body_hash=None, etag=None, last_modified=None)
    return FeedOutcome(
        feed_id=feed.id,
        url=result.final_url,
        status=FeedStatus.FAILED,
        state=new,
        fetched_at=now,
        rejected=(parsed.refusal,),
        http_status=result.status,
        error=message,
        error_kind=kind,
        latency_s=latency,
    )


def _outcome(
    feed: FeedConfig,
    state: FeedState,
    status: FeedStatus,
    now: datetime,
    *,
    result: FetchResult,
    latency: float,
    items: tuple[RawItem, ...] = (),
    rejected: tuple[Rejected, ...] = (),
    warnings: tuple[str, ...] = (),
) -> FeedOutcome:
    """Return a successful outcome."""
    return FeedOutcome(
        feed_id=feed.id,
        url=result.final_url,
        status=status,
        state=state,
        fetched_at=now,
        items=items,
        rejected=rejected,
        warnings=warnings,
        http_status=result.status,
        latency_s=latency,
    )


def utc_now() -> datetime:
    """Return the current time, aware, in UTC."""
    return datetime.now(UTC)


def is_permanent(exc: BaseException) -> bool:
    """Return whether an error should not be retried by an orchestrator (Prefect)."""
    return isinstance(exc, PermanentSourceError)
