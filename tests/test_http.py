"""The fetcher: policy, redirects, caps and errors on a mock transport, then on loopback servers."""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from shiftwatch.connectors.http import (
    BoundedDecoder,
    DecodedTooLargeError,
    Fetcher,
    FetchPolicy,
    FetchRefusedError,
    address_allowed,
    parse_retry_after,
)
from shiftwatch.errors import ConfigError, PermanentSourceError, TransientSourceError
from shiftwatch.records import RejectReason

PUBLIC_IP = "93.184.215.14"  # never dialled: the mock transport answers
LOOPBACK = FetchPolicy(allowed_networks=("127.0.0.0/8", "::1/128"), per_host_interval_s=0.0)
RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


async def public_resolver(host: str, port: int) -> list[str]:
    return {"internal.example": ["10.1.2.3"], "meta.example": ["169.254.169.254"]}.get(
        host, [PUBLIC_IP]
    )


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def mock_fetcher(handler: Callable[[httpx.Request], httpx.Response], **policy: Any) -> Fetcher:
    settings = {"per_host_interval_s": 0.0, **policy}
    return Fetcher(
        FetchPolicy(**settings), transport=httpx.MockTransport(handler), resolve=public_resolver
    )


async def fetch_with(fetcher: Fetcher, url: str, **kwargs: Any) -> Any:
    async with fetcher:
        return await fetcher.fetch(url, **kwargs)


# --- policy and pure helpers -------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"contact": ""},
        {"contact": "a@b\r\nX-Evil: 1"},
        {"connect_timeout_s": 0},
        {"allowed_networks": ("not-a-cidr",)},
        {"per_host_concurrency": 0},
        {"max_redirects": 50},
    ],
)
def test_bad_policies_fail_before_any_io(changes: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        FetchPolicy(**changes)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.215.14", True),
        ("127.0.0.1", False),
        ("10.0.0.5", False),
        ("172.16.3.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:93.184.215.14", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
    ],
)
def test_only_global_unicast_addresses_are_allowed_by_default(address: str, allowed: bool) -> None:
    assert address_allowed(address, FetchPolicy()) is allowed


def test_allow_lists_open_exactly_what_they_name() -> None:
    policy = FetchPolicy(allowed_networks=("127.0.0.1/32",))
    assert address_allowed("127.0.0.1", policy)
    assert not address_allowed("127.0.0.2", policy)
    assert address_allowed("10.9.9.9", FetchPolicy(allow_private=True))


def test_retry_after_reads_seconds_and_dates() -> None:
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("99999999") == 24 * 3600


def test_user_agent_names_the_contact() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["user-agent"])
        return httpx.Response(200, content=RSS)

    run(fetch_with(mock_fetcher(handler, contact="ops@newsroom.example"), "https://a.example/f"))
    assert "ops@newsroom.example" in seen[0]


# --- mock transport ------------------------------------------------------------------------


def test_conditional_get_sends_validators_and_reads_304() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304, headers={"etag": '"v1"'})
        return httpx.Response(200, content=RSS, headers={"etag": '"v1"'})

    fetcher = mock_fetcher(handler)
    first = run(fetch_with(fetcher, "https://a.example/f"))
    assert first.status == 200 and first.body == RSS and first.headers["etag"] == '"v1"'
    again = run(fetch_with(mock_fetcher(handler), "https://a.example/f", etag='"v1"'))
    assert again.not_modified and again.body == b""


@pytest.mark.parametrize(
    ("status", "error", "retry_after"),
    [
        (404, PermanentSourceError, None),
        (410, PermanentSourceError, None),
        (403, PermanentSourceError, None),
        (500, TransientSourceError, None),
        (502, TransientSourceError, None),
        (503, TransientSourceError, 30.0),
        (429, TransientSourceError, 30.0),
    ],
)
def test_statuses_map_to_the_error_vocabulary(
    status: int, error: type[Exception], retry_after: float | None
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"retry-after": "30"} if status in (429, 503) else {}
        return httpx.Response(status, headers=headers, content=b"no")

    with pytest.raises(error) as info:
        run(fetch_with(mock_fetcher(handler), "https://a.example/f"))
    assert info.value.status == status
    assert getattr(info.value, "retry_after", None) == retry_after


def test_a_host_that_asked_to_wait_is_not_asked_again_until_then() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(429, headers={"retry-after": "600"})

    async def twice() -> Exception:
        async with mock_fetcher(handler) as fetcher:
            with pytest.raises(TransientSourceError):
                await fetcher.fetch("https://a.example/one")
            with pytest.raises(TransientSourceError) as info:
                await fetcher.fetch("https://a.example/two")
            return info.value

    second = run(twice())
    assert calls == ["https://a.example/one"]
    assert second.retry_after is not None and 590 < second.retry_after <= 600


def test_redirects_are_followed_and_a_permanent_move_reported() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/old":
            return httpx.Response(301, headers={"location": "/newer"})
        if request.url.path == "/newer":
            return httpx.Response(308, headers={"location": "https://b.example/feed"})
        return httpx.Response(200, content=RSS)

    result = run(fetch_with(mock_fetcher(handler), "https://a.example/old"))
    assert result.final_url == "https://b.example/feed"
    assert result.redirects == ("https://a.example/old", "https://a.example/newer")
    assert result.permanent_url == "https://b.example/feed"


@pytest.mark.parametrize("target", ["http://internal.example/x", "http://169.254.169.254/latest"])
def test_a_redirect_to_a_private_address_is_refused_before_it_is_requested(target: str) -> None:
    requested: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        return httpx.Response(302, headers={"location": target})

    with pytest.raises(FetchRefusedError) as info:
        run(fetch_with(mock_fetcher(handler), "https://a.example/f"))
    assert info.value.reason == RejectReason.UNSAFE
    assert requested == ["https://a.example/f"]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://a.example/f", "gopher://a.example/"])
def test_only_http_urls_are_fetched(url: str) -> None:
    with pytest.raises(FetchRefusedError) as info:
        run(fetch_with(mock_fetcher(lambda r: httpx.Response(200)), url))
    assert info.value.reason == RejectReason.UNSUPPORTED


def test_stacked_and_raw_deflate_encodings_are_decoded() -> None:
    raw = zlib.compressobj(wbits=-15)
    raw_deflate = raw.compress(RSS) + raw.flush()
    bodies = {
        "/gz2": (gzip.compress(gzip.compress(RSS)), "gzip, gzip"),
        "/zlib": (zlib.compress(RSS), "deflate"),
        "/raw": (raw_deflate, "deflate"),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        body, coding = bodies[request.url.path]
        return httpx.Response(200, content=body, headers={"content-encoding": coding})

    for path in bodies:
        assert run(fetch_with(mock_fetcher(handler), f"https://a.example{path}")).body == RSS


def test_the_decoder_never_produces_more_than_its_limit() -> None:
    bomb = gzip.compress(b"\0" * 50_000_000)
    decoder = BoundedDecoder(["gzip"], limit=1_000_000)
    with pytest.raises(DecodedTooLargeError):
        decoder.feed(bomb)
    assert decoder.total <= 1_000_000


def test_per_host_and_global_concurrency_are_bounded() -> None:
    in_flight: dict[str, int] = {}
    peak: dict[str, int] = {}
    total = {"now": 0, "peak": 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        in_flight[host] = in_flight.get(host, 0) + 1
        total["now"] += 1
        peak[host] = max(peak.get(host, 0), in_flight[host])
        total["peak"] = max(total["peak"], total["now"])
        await asyncio.sleep(0.01)
        in_flight[host] -= 1
        total["now"] -= 1
        return httpx.Response(200, content=RSS)

    async def many() -> None:
        policy = FetchPolicy(per_host_interval_s=0.0, max_concurrency=5)
        transport = httpx.MockTransport(handler)
        async with Fetcher(policy, transport=transport, resolve=public_resolver) as fetcher:
            urls = [f"https://h{i % 4}.example/{i}" for i in range(40)]
            await asyncio.gather(*(fetcher.fetch(u) for u in urls))

    run(many())
    assert max(peak.values()) <= 2
    assert total["peak"] <= 5


# --- real loopback servers ---------------------------------------------------------------


def loopback_fetcher(**changes: Any) -> Fetcher:
    settings = {
        "allowed_networks": ("127.0.0.0/8", "::1/128"),
        "per_host_interval_s": 0.0,
        **changes,
    }
    return Fetcher(FetchPolicy(**settings))


def test_loopback_is_refused_unless_allowed(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/f").respond_with_data(RSS)
    with pytest.raises(FetchRefusedError) as info:
        run(fetch_with(Fetcher(FetchPolicy()), httpserver.url_for("/f")))
    assert info.value.reason == RejectReason.UNSAFE
    assert len(httpserver.log) == 0
    result = run(fetch_with(loopback_fetcher(), httpserver.url_for("/f")))
    assert result.body == RSS


def test_the_connect_time_check_catches_dns_rebinding(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/f").respond_with_data(RSS)
    answers = iter([[PUBLIC_IP], ["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)  # public for the pre-flight check, loopback when dialling

    fetcher = Fetcher(FetchPolicy(), resolve=rebinding)
    with pytest.raises(FetchRefusedError):
        run(fetch_with(fetcher, f"http://rebind.example:{httpserver.port}/f"))
    assert len(httpserver.log) == 0


def test_a_redirect_out_of_the_allow_list_is_refused(httpserver: HTTPServer) -> None:
    other = f"http://127.0.0.2:{httpserver.port}/f"
    httpserver.expect_request("/start").respond_with_data("", 302, headers={"Location": other})
    fetcher = loopback_fetcher(allowed_networks=("127.0.0.1/32",))
    with pytest.raises(FetchRefusedError) as info:
        run(fetch_with(fetcher, f"http://127.0.0.1:{httpserver.port}/start"))
    assert info.value.reason == RejectReason.UNSAFE


def test_conditional_get_against_a_real_server(httpserver: HTTPServer) -> None:
    def handler(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"abc"':
            return Response(status=304, headers={"ETag": '"abc"'})
        return Response(
            RSS, headers={"ETag": '"abc"', "Last-Modified": "Mon, 10 Jan 2022 10:00:00 GMT"}
        )

    httpserver.expect_request("/f").respond_with_handler(handler)
    url = httpserver.url_for("/f")
    first = run(fetch_with(loopback_fetcher(), url))
    second = run(fetch_with(loopback_fetcher(), url, etag=first.headers["etag"]))
    assert first.status == 200 and second.not_modified


def test_a_slow_server_times_out_as_transient(httpserver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(1.5)
        return Response(RSS)

    httpserver.expect_request("/slow").respond_with_handler(slow)
    with pytest.raises(TransientSourceError):
        run(fetch_with(loopback_fetcher(read_timeout_s=0.3), httpserver.url_for("/slow")))


def test_a_slow_drip_body_hits_the_total_deadline(httpserver: HTTPServer) -> None:
    stop = threading.Event()

    def drip(request: Request) -> Response:
        def chunks() -> Any:
            for _ in range(20):
                if stop.wait(0.2):
                    return
                yield b" "

        return Response(chunks(), content_type="application/rss+xml")

    httpserver.expect_request("/drip").respond_with_handler(drip)
    policy = {"read_timeout_s": 1.0, "total_timeout_s": 1.0}
    try:
        with pytest.raises(TransientSourceError, match="within"):
            run(fetch_with(loopback_fetcher(**policy), httpserver.url_for("/drip")))
    finally:
        stop.set()


def test_500_and_429_with_retry_after(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/boom").respond_with_data("oops", 500)
    httpserver.expect_request("/busy").respond_with_data(
        "slow down", 429, headers={"Retry-After": "7"}
    )
    with pytest.raises(TransientSourceError) as boom:
        run(fetch_with(loopback_fetcher(), httpserver.url_for("/boom")))
    with pytest.raises(TransientSourceError) as busy:
        run(fetch_with(loopback_fetcher(), httpserver.url_for("/busy")))
    assert boom.value.status == 500
    assert busy.value.status == 429 and busy.value.retry_after == 7


def test_redirect_loops_and_chains(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/a").respond_with_data("", 302, headers={"Location": "/b"})
    httpserver.expect_request("/b").respond_with_data("", 302, headers={"Location": "/a"})
    for i in range(7):
        httpserver.expect_request(f"/r{i}").respond_with_data(
            "", 307, headers={"Location": f"/r{i + 1}"}
        )
    httpserver.expect_request("/r7").respond_with_data(RSS)
    with pytest.raises(FetchRefusedError, match="loop"):
        run(fetch_with(loopback_fetcher(), httpserver.url_for("/a")))
    with pytest.raises(FetchRefusedError, match="redirects"):
        run(fetch_with(loopback_fetcher(), httpserver.url_for("/r0")))
    result = run(fetch_with(loopback_fetcher(), httpserver.url_for("/r2")))
    assert result.body == RSS and len(result.redirects) == 5 and result.permanent_url is None


def test_gzip_bodies_are_decoded(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/gz").respond_with_data(
        gzip.compress(RSS), headers={"Content-Encoding": "gzip"}
    )
    assert run(fetch_with(loopback_fetcher(), httpserver.url_for("/gz"))).body == RSS


def test_a_gzip_bomb_is_refused_as_unsafe(httpserver: HTTPServer) -> None:
    bomb = gzip.compress(b"<" * 200_000_000, compresslevel=9)  # ~200 KB on the wire
    httpserver.expect_request("/bomb").respond_with_data(bomb, headers={"Content-Encoding": "gzip"})
    with pytest.raises(FetchRefusedError) as info:
        run(fetch_with(loopback_fetcher(), httpserver.url_for("/bomb")))
    assert info.value.reason == RejectReason.UNSAFE


def test_huge_bodies_are_refused_with_or_without_a_length(httpserver: HTTPServer) -> None:
    big = b"x" * (3 * 1024 * 1024)
    httpserver.expect_request("/sized").respond_with_data(big)

    def streamed(request: Request) -> Response:
        return Response(big[i : i + 65536] for i in range(0, len(big), 65536))

    httpserver.expect_request("/chunked").respond_with_handler(streamed)
    for path in ("/sized", "/chunked"):
        with pytest.raises(FetchRefusedError) as info:
            run(fetch_with(loopback_fetcher(max_body_bytes=1024 * 1024), httpserver.url_for(path)))
        assert info.value.reason == RejectReason.OVERSIZED


def test_wrong_content_types_are_still_fetched(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/f").respond_with_data(RSS, content_type="application/octet-stream")
    result = run(fetch_with(loopback_fetcher(), httpserver.url_for("/f")))
    assert result.body == RSS and result.content_type == "application/octet-stream"


def test_404_and_410_are_permanent(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/missing").respond_with_data("no", 404)
    httpserver.expect_request("/gone").respond_with_data("gone", 410)
    for path, status in (("/missing", 404), ("/gone", 410)):
        with pytest.raises(PermanentSourceError) as info:
            run(fetch_with(loopback_fetcher(), httpserver.url_for(path)))
        assert info.value.status == status


class _CountingServer(ThreadingHTTPServer):
    """A keep-alive HTTP/1.1 server that counts the connections it accepted."""

    daemon_threads = True
    connections = 0


class _KeepAliveHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        status, body = {"/new": (200, RSS), "/same": (304, b""), "/gone": (404, b"no")}[self.path]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_hosts_requests_share_one_kept_alive_connection() -> None:
    """A 304 and a small error page are read to their end, so the connection stays up."""
    server = _CountingServer(("127.0.0.1", 0), _KeepAliveHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    async def poll() -> list[int]:
        statuses = []
        async with loopback_fetcher() as fetcher:
            for path in ("/new", "/same", "/new", "/same"):
                statuses.append((await fetcher.fetch(base + path)).status)
            with pytest.raises(PermanentSourceError):
                await fetcher.fetch(base + "/gone")
            statuses.append((await fetcher.fetch(base + "/same")).status)
        return statuses

    try:
        assert run(poll()) == [200, 304, 200, 304, 304]
        assert server.connections == 1
    finally:
        server.shutdown()
        server.server_close()
