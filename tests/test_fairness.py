"""Issue 19 item 4: slow feeds must not starve good ones.

Real loopback servers started here (threaded, one thread per connection): trickling ones
send their headers and then one byte a second for ever; a good one answers at once. The
run polls them all with the monitor's own step (`poll_feeds`, then `ingest_items`), with
test-sized deadlines set through the settings.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from reliability_support import record
from sqlalchemy import select

from shiftwatch.connectors.feedlist import FeedConfig
from shiftwatch.connectors.http import FairSlots, Fetcher, FetchPolicy, FetchTimeoutError
from shiftwatch.models import tables as t
from shiftwatch.models.db import open_database, session_scope
from shiftwatch.pipeline.feeds import poll_feeds
from shiftwatch.pipeline.ingest import ingest_items
from shiftwatch.settings import Settings

DEADLINE_S = 3.0
SPACING_S = 0.5  # the fetcher's default time between two request starts to one origin
GOOD_FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Good</title>'
    + b"".join(
        b"<item><title>Ryabkov on talks %d</title><link>https://good.example/a/%d</link>"
        b"<description>Russia rejects NATO expansion, Ryabkov said in Geneva (%d).</description>"
        b"<pubDate>Mon, 10 Jan 2022 10:00:00 GMT</pubDate></item>" % (i, i, i)
        for i in range(3)
    )
    + b"</channel></rss>"
)


class _Handler(BaseHTTPRequestHandler):
    """GET: the good feed at once (from a trickling server too, at /good.xml), or (trickle)
    headers and then a byte a second."""

    server: _Server

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        if not self.server.trickle or self.path == "/good.xml":
            self.send_header("Content-Length", str(len(GOOD_FEED)))
            self.end_headers()
            self.wfile.write(GOOD_FEED)
            return
        self.end_headers()
        self.wfile.write(b'<?xml version="1.0"?>')
        self.wfile.flush()
        while not self.server.stop.wait(1.0):
            try:
                self.wfile.write(b" ")
                self.wfile.flush()
            except OSError:
                return

    def log_message(self, *args: Any) -> None:
        """Quiet."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, trickle: bool, stop: threading.Event) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.trickle = trickle
        self.stop = stop


@pytest.fixture
def servers() -> Iterator[Any]:
    """Yield a function starting a loopback server (trickling or good); all stopped after."""
    stop = threading.Event()
    started: list[_Server] = []

    def start(*, trickle: bool) -> str:
        server = _Server(trickle, stop)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    stop.set()
    for server in started:
        server.shutdown()
        server.server_close()


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'fair.db'}",
        allowed_networks="127.0.0.0/8",
        feed_deadline_s=DEADLINE_S,
        http_timeout_s=2 * DEADLINE_S,  # the per-read timeout alone never cuts a trickle
    )


def _run(tmp_path: Path, urls: list[str], analyzer: Any) -> tuple[float, Any, Any]:
    """Poll and ingest the feeds once; return (seconds, outcomes by feed id, stored URLs)."""
    settings = _settings(tmp_path)
    engine = open_database(settings.database_url)
    feeds = [FeedConfig(url=u) for u in urls]
    started = time.monotonic()
    batch = poll_feeds(engine, feeds, settings)
    ingest_items(engine, analyzer, batch.items, "run-fair", batch.rejected)
    elapsed = time.monotonic() - started
    with session_scope(engine) as session:
        docs = {d.url for d in session.execute(select(t.Document)).scalars()}
        rejections = {r.item: r for r in session.execute(select(t.Rejection)).scalars()}
    engine.dispose()
    health = {h.source_id: h for h in batch.health}
    by_url = {f.url: health[f.id] for f in feeds}
    return elapsed, (by_url, rejections), docs


def _lost_good(docs: set[str]) -> int:
    """Return how many of the good feed's entries were not stored."""
    return sum(f"https://good.example/a/{i}" not in docs for i in range(3))


def _check(urls: list[str], good: str, outcome: Any, docs: set[str]) -> None:
    """The good feed's entries are stored; every trickling feed failed with its reason."""
    by_url, rejections = outcome
    assert {f"https://good.example/a/{i}" for i in range(3)} <= docs
    assert by_url[good].status == "updated"
    for url in urls:
        if url == good:
            continue
        assert by_url[url].status == "failed", url
        assert rejections[url].reason == "timeout", rejections[url]
        assert "deadline" in rejections[url].detail


@pytest.mark.timeout(60)
def test_32_trickling_servers_do_not_starve_a_good_feed(servers, tmp_path, analyzer) -> None:
    """32 origins trickling a byte a second take every slot of the default pool (32); the
    good feed, asked last, waits for one deadline at most, then is stored."""
    slow = [f"{servers(trickle=True)}/feed.xml" for _ in range(32)]
    good = f"{servers(trickle=False)}/feed.xml"
    urls = [*slow, good]
    elapsed, outcome, docs = _run(tmp_path, urls, analyzer)
    print(f"fairness: {len(urls)} feeds polled and ingested in {elapsed:.1f}s")
    record("fairness", inputs=len(urls), rejected=len(slow), losses=_lost_good(docs))
    _check(urls, good, outcome, docs)
    assert elapsed < 3 * DEADLINE_S + 10, elapsed


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_32_trickling_feeds_on_one_server_starve_no_good_feed_there_or_elsewhere(
    servers, tmp_path, analyzer
):
    """32 trickling feeds on one origin, a good feed on the same origin (asked last) and one
    on another origin. Each trickling feed has its turn (a slice, at the polite rate of one
    start per SPACING_S) and gives its slot up to a waiting fresh request, so the good feed of
    the same origin is asked after 32 polite starts, not after 16 deadlines (or never: the
    origin struck out); two (or three) trickling feeds cut at the deadline strike the origin
    out and the others fail at once; both good feeds are stored."""
    base = servers(trickle=True)
    slow = [f"{base}/feed-{i}.xml" for i in range(32)]
    same = f"{base}/good.xml"
    other = f"{servers(trickle=False)}/feed.xml"
    urls = [*slow, same, other]
    elapsed, outcome, docs = _run(tmp_path, urls, analyzer)
    print(f"fairness (one origin): {len(urls)} feeds polled and ingested in {elapsed:.1f}s")
    record("fairness", inputs=len(urls), rejected=len(slow), losses=_lost_good(docs))
    by_url, rejections = outcome
    assert by_url[same].status == "updated"
    _check([u for u in urls if u != same], other, outcome, docs)
    struck = [u for u in slow if "not asked again" in rejections[u].detail]
    assert len(struck) >= 29
    assert elapsed < len(slow) * SPACING_S + 2 * DEADLINE_S + 15, elapsed


# --- the fetcher's rules, against an in-memory transport (fast) ---------------------------


def _policy(**changes: Any) -> FetchPolicy:
    """Return a loopback policy with test-sized times and no spacing between starts."""
    base = {"allowed_networks": ("127.0.0.0/8",), "per_host_interval_s": 0.0,
            "total_timeout_s": 0.6, "slice_s": 0.1}  # fmt: skip
    return FetchPolicy(**{**base, **changes})


def _transport() -> httpx.MockTransport:
    """Return a transport whose /slow-* paths never answer and whose other paths answer."""

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/slow"):
            await asyncio.sleep(3600)
        return httpx.Response(200, content=GOOD_FEED)

    return httpx.MockTransport(handler)


async def _fetch_all(fetcher: Fetcher, urls: list[str]) -> list[object]:
    return await asyncio.gather(*(fetcher.fetch(u) for u in urls), return_exceptions=True)


def test_fresh_requests_take_freed_slots_before_slow_ones() -> None:
    async def order() -> list[str]:
        slots, got = FairSlots(1), []
        await slots.acquire(slow=False)

        async def take(name: str, slow: bool) -> None:
            await slots.acquire(slow=slow)
            got.append(name)
            slots.release()

        waiting = [asyncio.create_task(take(n, n.startswith("slow"))) for n in
                   ("slow-1", "fresh-1", "slow-2", "fresh-2")]  # fmt: skip
        await asyncio.sleep(0)
        assert slots.fresh_waiting()
        slots.release()
        await asyncio.gather(*waiting)
        return got

    assert asyncio.run(order()) == ["fresh-1", "fresh-2", "slow-1", "slow-2"]


def test_one_origin_never_holds_more_than_half_the_global_pool() -> None:
    assert FetchPolicy(per_host_concurrency=8, max_concurrency=6).host_limit == 3
    assert FetchPolicy(per_host_concurrency=2, max_concurrency=32).host_limit == 2
    assert FetchPolicy(per_host_concurrency=4, max_concurrency=1).host_limit == 1


@pytest.mark.timeout(30)
def test_a_struck_out_origin_still_answers_a_fresh_request_within_a_slice() -> None:
    """After two deadline cuts, a fresh request gets one slice: a healthy feed asked late
    (an article page, a redirect) is fetched; a slow one fails at the slice's end."""

    async def scenario() -> tuple[list[object], list[object]]:
        base = "http://127.0.0.1:8080"
        async with Fetcher(_policy(), transport=_transport()) as fetcher:
            first = await _fetch_all(fetcher, [f"{base}/slow-1", f"{base}/slow-2"])
            later = await _fetch_all(fetcher, [f"{base}/good.xml", f"{base}/slow-3"])
        return first, later

    started = time.monotonic()
    first, (good, slow) = asyncio.run(scenario())
    assert all(isinstance(e, FetchTimeoutError) and "deadline" in str(e) for e in first)
    assert getattr(good, "body", None) == GOOD_FEED
    assert isinstance(slow, FetchTimeoutError) and "0.1s slice" in str(slow), slow
    assert time.monotonic() - started < 20


@pytest.mark.timeout(30)
def test_an_origin_spends_at_most_its_slow_budget_in_a_run() -> None:
    """40 requests that never answer, strikes out of reach: the origin's slow seconds are
    capped by its budget (1 s), after which the rest fail at once, not a deadline each."""

    async def scenario() -> list[object]:
        policy = _policy(host_slow_budget_s=1.0, slow_host_strikes=1000)
        async with Fetcher(policy, transport=_transport()) as fetcher:
            return await _fetch_all(fetcher, [f"http://127.0.0.1:8080/slow-{i}" for i in range(40)])

    started = time.monotonic()
    errors = asyncio.run(scenario())
    elapsed = time.monotonic() - started
    assert all(isinstance(e, FetchTimeoutError) for e in errors)
    spent = [e for e in errors if "spent its 1s of slow requests" in str(e)]
    assert len(spent) >= 20, [str(e) for e in errors]
    record("fairness", inputs=len(errors), rejected=len(errors))
    assert elapsed < 20, elapsed  # 40 deadlines two at a time would be 12 s, unbounded in N
