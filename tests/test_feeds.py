"""Feed polling: due feeds, unchanged bodies, adaptive intervals, back-off, pages, loopback."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from shiftwatch.connectors import feeds as feeds_module
from shiftwatch.connectors.feedlist import FeedConfig
from shiftwatch.connectors.feeds import (
    DEAD_PROBE_S,
    DEAD_SCORE,
    GONE_PROBE_S,
    MAX_INTERVAL_S,
    MIN_INTERVAL_S,
    FailureKind,
    FeedHealth,
    FeedState,
    FeedStatus,
    adaptive_interval,
    fetch_feeds,
    new_state,
    plan_failure,
)
from shiftwatch.connectors.http import Fetcher, FetchPolicy
from shiftwatch.records import RejectReason

NOW = datetime(2022, 1, 20, 12, 0, tzinfo=UTC)
FIXTURES = Path(__file__).parent / "fixtures" / "feeds"


def rss(dates: list[datetime], *, prefix: str = "https://news.example.org/a/") -> bytes:
    items = "".join(
        f"<item><title>Story {i}</title><link>{prefix}{i}</link><guid>urn:s:{i}</guid>"
        f"<pubDate>{format_datetime(d)}</pubDate><description>Text {i}</description></item>"
        for i, d in enumerate(dates)
    )
    head = '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
    return f"{head}{items}</channel></rss>".encode()


async def fake_resolver(host: str, port: int) -> list[str]:
    return ["93.184.215.14"]


def mock_fetcher(handler: Any) -> Fetcher:
    policy = FetchPolicy(per_host_interval_s=0.0)
    return Fetcher(policy, transport=httpx.MockTransport(handler), resolve=fake_resolver)


def poll(
    feeds: list[FeedConfig], states: dict[str, FeedState], handler: Any, **kw: Any
) -> list[Any]:
    async def go() -> list[Any]:
        async with mock_fetcher(handler) as fetcher:
            return await fetch_feeds(feeds, states, fetcher, kw.pop("now", NOW), **kw)

    return asyncio.run(go())


FEED = FeedConfig(url="https://news.example.org/rss.xml", name="News", language="ru")


def test_items_carry_the_feed_id_the_hint_and_flags() -> None:
    body = (FIXTURES / "dates_missing_and_absurd.xml").read_bytes()
    [outcome] = poll([FEED], {}, lambda r: httpx.Response(200, content=body))
    assert outcome.status == FeedStatus.UPDATED and outcome.http_status == 200
    assert {i.source_id for i in outcome.items} == {FEED.id}
    assert {i.language_hint for i in outcome.items} == {"ru"}
    assert outcome.items[0].meta["date_missing"] == "1" and outcome.items[0].published_at is None
    assert outcome.state.health == FeedHealth.OK and outcome.state.body_hash


def test_only_due_and_enabled_feeds_are_fetched() -> None:
    later = FeedConfig(url="https://later.example/rss")
    off = FeedConfig(url="https://off.example/rss", enabled=False)
    states = {
        later.id: FeedState(feed_id=later.id, url=later.url, next_poll_at=NOW + timedelta(hours=1))
    }
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        return httpx.Response(200, content=rss([NOW]))

    outcomes = poll([FEED, later, off], states, handler)
    assert [o.feed_id for o in outcomes] == [FEED.id] and seen == ["news.example.org"]
    forced = poll([FEED, later, off], states, handler, force=True)
    assert {o.feed_id for o in forced} == {FEED.id, later.id}


def test_unchanged_bodies_cost_no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    body = rss([NOW - timedelta(hours=1)])
    parses: list[str] = []
    real = feeds_module.parse_feed

    def counting(*args: Any, **kwargs: Any) -> Any:
        parses.append(kwargs["url"])
        return real(*args, **kwargs)

    monkeypatch.setattr(feeds_module, "parse_feed", counting)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("if-none-match") == '"e1"':
            return httpx.Response(304)
        return httpx.Response(200, content=body, headers={"etag": '"e1"'})

    [first] = poll([FEED], {}, handler)
    [second] = poll([FEED], {FEED.id: first.state}, handler, force=True)
    stale = {
        FEED.id: FeedState(
            **{
                **first.state.to_json(),
                "etag": '"old"',
                "next_poll_at": None,
                "last_fetched_at": None,
                "last_success_at": None,
            }
        )
    }
    [third] = poll([FEED], stale, handler, force=True)
    assert [first.status, second.status, third.status] == [
        FeedStatus.UPDATED,
        FeedStatus.UNCHANGED,
        FeedStatus.UNCHANGED,
    ]
    assert second.http_status == 304 and third.http_status == 200
    assert len(parses) == 1 and second.items == () and third.items == ()
    assert second.state.etag == '"e1"'


def test_the_poll_interval_follows_the_publication_rate() -> None:
    busy = [NOW - timedelta(minutes=5 * i) for i in range(12)]
    weekly = [NOW - timedelta(days=6)]
    assert adaptive_interval(busy, NOW) == MIN_INTERVAL_S
    assert adaptive_interval(weekly, NOW) == MAX_INTERVAL_S
    assert adaptive_interval([NOW - timedelta(days=30)], NOW) == MAX_INTERVAL_S
    assert adaptive_interval([], NOW) is None
    hourly = [NOW - timedelta(hours=i + 1) for i in range(12)]
    assert adaptive_interval(hourly, NOW) == 3600
    [outcome] = poll([FEED], {}, lambda r: httpx.Response(200, content=rss(hourly)))
    assert outcome.state.poll_interval_s == 3600
    assert outcome.state.next_poll_at == NOW + timedelta(hours=1)


def test_a_fixed_interval_from_the_feed_list_wins() -> None:
    fixed = FeedConfig(url="https://fixed.example/rss", poll_interval_s=1800)
    [outcome] = poll([fixed], {}, lambda r: httpx.Response(200, content=rss([NOW])))
    assert outcome.state.next_poll_at == NOW + timedelta(minutes=30)


def test_failures_back_off_by_weight_and_dead_feeds_are_probed_weekly() -> None:
    state = new_state(FEED)
    temporary = plan_failure(state, NOW, kind=FailureKind.TEMPORARY, error="timeout")
    hard = plan_failure(state, NOW, kind=FailureKind.HARD, error="404", status=404)
    assert temporary.next_poll_at - NOW < hard.next_poll_at - NOW
    assert temporary.temporary_errors == 1 and hard.hard_errors == 1
    for _ in range(DEAD_SCORE // 4):
        state = plan_failure(state, NOW, kind=FailureKind.HARD, error="404", status=404)
    assert state.health == FeedHealth.DEAD
    assert state.next_poll_at == NOW + timedelta(seconds=DEAD_PROBE_S)
    assert state.consecutive_failures == DEAD_SCORE // 4


def test_retry_after_is_honoured() -> None:
    handler = lambda r: httpx.Response(429, headers={"retry-after": "7200"})  # noqa: E731
    [outcome] = poll([FEED], {}, handler)
    assert outcome.status == FeedStatus.FAILED and outcome.error_kind == FailureKind.TEMPORARY
    assert outcome.state.next_poll_at >= NOW + timedelta(seconds=7200)
    assert outcome.rejected[0].reason == RejectReason.HTTP_ERROR


def test_410_mutes_and_a_later_success_revives() -> None:
    [gone] = poll([FEED], {}, lambda r: httpx.Response(410))
    assert gone.state.gone and gone.state.muted and gone.health == FeedHealth.GONE
    assert gone.state.next_poll_at == NOW + timedelta(seconds=GONE_PROBE_S)
    later = NOW + timedelta(days=31)
    [back] = poll(
        [FEED],
        {FEED.id: gone.state},
        lambda r: httpx.Response(200, content=rss([later])),
        now=later,
    )
    assert back.health == FeedHealth.OK and not back.state.muted
    assert back.state.hard_errors == 1  # history kept


def test_an_html_page_is_a_soft_failure_not_news() -> None:
    page = (FIXTURES / "html_error_page.xml").read_bytes()
    [outcome] = poll([FEED], {}, lambda r: httpx.Response(200, content=page))
    assert outcome.status == FeedStatus.FAILED and outcome.items == ()
    assert outcome.error_kind == FailureKind.SOFT
    assert outcome.rejected[0].reason == RejectReason.NOT_A_FEED
    assert outcome.state.body_hash is None


def test_an_entity_bomb_is_a_hard_failure() -> None:
    bomb = (FIXTURES / "doctype_on_decl_line.xml").read_bytes()
    [outcome] = poll([FEED], {}, lambda r: httpx.Response(200, content=bomb))
    assert outcome.error_kind == FailureKind.HARD
    assert outcome.rejected[0].reason == RejectReason.UNSAFE


def test_a_permanent_redirect_is_followed_next_time() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/rss.xml":
            return httpx.Response(301, headers={"location": "https://news.example.org/new.xml"})
        return httpx.Response(200, content=rss([NOW]))

    [first] = poll([FEED], {}, handler)
    assert first.state.moved_to == "https://news.example.org/new.xml"
    assert any("moved permanently" in w for w in first.warnings)
    assert first.state.fetch_url == "https://news.example.org/new.xml"


def test_state_round_trips_through_json() -> None:
    state = plan_failure(new_state(FEED), NOW, kind=FailureKind.SOFT, error="x", status=403)
    again = FeedState.from_json(json.loads(json.dumps(state.to_json())))
    assert again == state


ARTICLE = b"""<!DOCTYPE html><html><head><title>Full story</title></head><body>
<nav>Home | World | Sport</nav><article><h1>Full story</h1>
<p>The envoys met for eight hours in Geneva on Monday and agreed to meet again next week.</p>
<p>Neither side moved on the core demands, according to two officials who spoke afterwards.</p>
<p>A third paragraph explains what the next round of talks in Vienna will have to settle.</p>
</article><footer>Copyright</footer></body></html>"""


def test_summary_only_feeds_get_the_article_text() -> None:
    full = FeedConfig(url="https://news.example.org/rss.xml", fetch_full_article=True)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/rss.xml":
            return httpx.Response(200, content=rss([NOW, NOW]))
        if request.url.path == "/a/0":
            return httpx.Response(200, content=ARTICLE, headers={"content-type": "text/html"})
        return httpx.Response(404)

    [outcome] = poll([full], {}, handler)
    first, second = outcome.items
    assert first.content_type == "text/plain" and first.meta["extracted_by"] == "trafilatura"
    assert "eight hours in Geneva" in first.body.decode() and "Copyright" not in first.body.decode()
    assert second.content_type == "text/html" and second.meta["full_article"] == "failed"
    assert [r.stage for r in outcome.rejected] == ["article_fetch"]


def test_feeds_over_a_real_loopback_server(httpserver: HTTPServer) -> None:
    body = (FIXTURES / "cp1251_undeclared.xml").read_bytes()

    def handler(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"v7"':
            return Response(status=304)
        return Response(body, content_type="text/xml", headers={"ETag": '"v7"'})

    httpserver.expect_request("/ru.xml").respond_with_handler(handler)
    httpserver.expect_request("/broken").respond_with_data("oops", 500)
    good = FeedConfig(url=httpserver.url_for("/ru.xml"))
    bad = FeedConfig(url=httpserver.url_for("/broken"))
    policy = FetchPolicy(allowed_networks=("127.0.0.0/8", "::1/128"), per_host_interval_s=0.0)

    async def twice() -> tuple[list[Any], list[Any]]:
        async with Fetcher(policy) as fetcher:
            first = await fetch_feeds([good, bad], {}, fetcher, NOW)
            states = {o.feed_id: o.state for o in first}
            return first, await fetch_feeds([good, bad], states, fetcher, NOW, force=True)

    first, second = asyncio.run(twice())
    assert [o.status for o in first] == [FeedStatus.UPDATED, FeedStatus.FAILED]
    assert first[0].items[0].title == "Рябков: переговоры в Женеве были трудными"
    assert (
        first[1].error_kind == FailureKind.TEMPORARY and first[1].state.health == FeedHealth.FAILING
    )
    assert second[0].status == FeedStatus.UNCHANGED and second[0].http_status == 304
    assert second[1].state.consecutive_failures == 2
