"""Benchmark: polling 1,000 feeds from loopback, first pass and unchanged second pass.

A threaded HTTP server runs in a child process on 127.0.0.1 and serves N generated
feeds (10-40 entries each, ETag and Last-Modified, 304 on a matching If-None-Match).
Each response waits `latency_ms` (default 200) before answering: the time a remote
feed server takes to answer over the internet (DNS, TCP and TLS set-up, server time),
which loopback does not have. Concurrency hides that wait and nothing else: without it
(--latency-ms 0) both sides only measure the CPU cost of feedparser, and the ratio is
about 1x. The CPU seconds per feed of each side are reported for that reason.

Compared in the same run:
- baseline: a naive reader, sequential `urllib` fetch + `feedparser.parse` per feed;
- first pass: `fetch_feeds` with the default FetchPolicy (100 at a time, 2 per host
  spaced 0.5 s, feeds spread over N/2 host names that a test resolver maps to 127.0.0.1);
- second pass: the same feeds again with the stored validators (all 304, no parsing).

Targets: first pass >= 10x faster than the baseline; second pass < 1/5 of the first.
Run: python bench/bench_feeds.py [--smoke] [--feeds N] [--latency-ms MS]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import multiprocessing
import random
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import feedparser

from shiftwatch.connectors.feedlist import FeedConfig
from shiftwatch.connectors.feeds import FeedStatus, fetch_feeds
from shiftwatch.connectors.http import Fetcher, FetchPolicy

NOW = datetime(2022, 1, 20, 12, 0, tzinfo=UTC)
WORDS = [
    "talks",
    "envoy",
    "delegation",
    "security",
    "guarantees",
    "alliance",
    "enlargement",
    "treaty",
    "border",
    "troops",
    "missile",
    "ministry",
    "statement",
    "spokesman",
    "negotiations",
    "round",
    "capital",
    "proposal",
    "response",
    "written",
    "demands",
    "meeting",
    "council",
    "summit",
    "officials",
]


def feed_body(index: int) -> bytes:
    """Return the generated RSS for feed `index` (deterministic)."""
    rng = random.Random(index)
    items = []
    for i in range(rng.randint(10, 40)):
        when = NOW - timedelta(hours=i * rng.randint(1, 6), minutes=rng.randint(0, 59))
        paragraphs = "".join(
            f"<p>{' '.join(rng.choices(WORDS, k=rng.randint(20, 45)))}.</p>"
            for _ in range(rng.randint(1, 2))
        )
        items.append(
            f"<item><title>{' '.join(rng.choices(WORDS, k=7))}</title>"
            f"<link>https://site{index}.example/news/{i}.html</link>"
            f"<guid>https://site{index}.example/news/{i}.html</guid>"
            f"<pubDate>{format_datetime(when)}</pubDate>"
            f"<description><![CDATA[{paragraphs}]]></description></item>"
        )
    head = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0">'
    head += f"<channel><title>Feed {index}</title>"
    return (head + "".join(items) + "</channel></rss>").encode()


def serve(
    count: int,
    latency_s: float,
    port_out: multiprocessing.Queue,  # type: ignore[type-arg]
    stop: multiprocessing.Event,  # type: ignore[valid-type]
    connections: Any,
) -> None:
    """Serve the generated feeds until `stop` is set, counting the connections accepted in
    `connections` (a shared integer); runs in a child process."""
    bodies = [feed_body(i) for i in range(count)]
    etags = [f'"{hashlib.sha1(b).hexdigest()[:16]}"' for b in bodies]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            with connections.get_lock():
                connections.value += 1

        def do_GET(self) -> None:
            time.sleep(latency_s)
            index = int(self.path.rsplit("/", 1)[-1].split(".")[0])
            if self.headers.get("If-None-Match") == etags[index]:
                self.send_response(304)
                self.send_header("ETag", etags[index])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("ETag", etags[index])
            self.send_header("Last-Modified", format_datetime(NOW, usegmt=True))
            self.send_header("Content-Length", str(len(bodies[index])))
            self.end_headers()
            self.wfile.write(bodies[index])

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 1024
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port_out.put(server.server_address[1])
    stop.wait()
    server.shutdown()


def baseline(port: int, count: int) -> tuple[float, float, int]:
    """Return (seconds, CPU seconds, entries) for a naive sequential urllib + feedparser reader."""
    started, cpu = time.perf_counter(), time.process_time()
    entries = 0
    for i in range(count):
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/feed/{i}.xml", timeout=30
        ) as response:
            body = response.read()
            headers = dict(response.headers)
        entries += len(feedparser.parse(io.BytesIO(body), response_headers=headers).entries)
    return time.perf_counter() - started, time.process_time() - cpu, entries


async def two_passes(port: int, count: int, connections: Any, per_host: int = 2) -> dict[str, Any]:
    """Return the seconds, CPU seconds and connections opened of two passes, the entries
    read and how many feeds the second pass found unchanged (`per_host` feeds a host)."""
    hosts = max(count // per_host, 1)
    feeds = [
        FeedConfig(url=f"http://feeds{i % hosts}.bench.test:{port}/feed/{i}.xml")
        for i in range(count)
    ]

    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    policy = FetchPolicy(allowed_networks=("127.0.0.0/8",))
    async with Fetcher(policy, resolve=resolve) as fetcher:
        started, cpu = time.perf_counter(), time.process_time()
        first = await fetch_feeds(feeds, {}, fetcher, NOW)
        first_s, first_cpu = time.perf_counter() - started, time.process_time() - cpu
        first_connections = connections.value
        states = {o.feed_id: o.state for o in first}
        started, cpu = time.perf_counter(), time.process_time()
        second = await fetch_feeds(feeds, states, fetcher, NOW, force=True)
        second_s, second_cpu = time.perf_counter() - started, time.process_time() - cpu
    failed = [o.error for o in first if o.status == FeedStatus.FAILED]
    if failed:
        raise RuntimeError(f"{len(failed)} feeds failed, e.g. {failed[0]}")
    return {
        "first": first_s,
        "second": second_s,
        "first_cpu": first_cpu,
        "second_cpu": second_cpu,
        "first_connections": first_connections,
        "second_connections": connections.value - first_connections,
        "entries": sum(len(o.items) for o in first),
        "unchanged": sum(o.status == FeedStatus.UNCHANGED for o in second),
    }


def run(smoke: bool = False, feeds: int | None = None, latency_ms: float = 200.0) -> str:
    """Return the markdown section with the figures of one benchmark run."""
    count = feeds or (50 if smoke else 1000)
    ctx = multiprocessing.get_context("spawn")
    port_q, stop, connections = ctx.Queue(), ctx.Event(), ctx.Value("i", 0)
    args = (count, latency_ms / 1000, port_q, stop, connections)
    server = ctx.Process(target=serve, args=args, daemon=True)
    server.start()
    try:
        port = port_q.get(timeout=60)
        t = asyncio.run(two_passes(port, count, connections))
        t["base"], t["base_cpu"], theirs = baseline(port, count)
    finally:
        stop.set()
        server.join(timeout=10)
    return _report(count, latency_ms, t, theirs)


def _report(count: int, latency_ms: float, t: dict[str, Any], theirs: int) -> str:
    """Return the markdown table and verdicts."""
    ours, unchanged = t["entries"], t["unchanged"]
    base_s, first_s, second_s = t["base"], t["first"], t["second"]
    cpu_note = (
        f"- CPU per feed: {1000 * t['first_cpu'] / count:.1f} ms in fetch_feeds, "
        f"{1000 * t['base_cpu'] / count:.1f} ms in the baseline (parsing dominates both; "
        "the first pass is CPU-bound, so a busy machine slows it and not the baseline)"
    )
    speedup = base_s / first_s
    ratio = second_s / first_s
    rows = [
        ("baseline: sequential urllib + feedparser.parse", base_s, theirs),
        ("first pass: fetch_feeds", first_s, ours),
        (f"second pass, unchanged ({unchanged} x 304)", second_s, 0),
    ]
    met_first = "met" if speedup >= 10 else "NOT met"
    met_second = "met" if ratio < 0.2 else "NOT met"
    return "\n".join(
        [
            f"## Feeds: {count} feeds from loopback, {latency_ms:g} ms server latency",
            "",
            "| pass | seconds | feeds/s | entries |",
            "| --- | ---: | ---: | ---: |",
            *(f"| {name} | {secs:.2f} | {count / secs:.1f} | {n} |" for name, secs, n in rows),
            "",
            f"- first pass vs baseline: **{speedup:.1f}x** faster (target >= 10x: {met_first})",
            f"- second pass / first pass: **{ratio:.3f}** (target < 0.2: {met_second})",
            f"- entries: {ours} read by fetch_feeds, {theirs} by the baseline",
            cpu_note,
            f"- second pass: {t['second_cpu']:.2f} CPU-s; its floor is feeds x latency / "
            f"concurrency = {count * latency_ms / 1000 / 100:.2f} s (every feed is asked)",
            f"- connections opened: {t['first_connections']} in the first pass, "
            f"{t['second_connections']} in the second, for {max(count // 2, 1)} hosts "
            "(a host's next request reuses its kept-alive connection when it starts after "
            "the previous answer)",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="50 feeds")
    parser.add_argument("--feeds", type=int, default=None)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    args = parser.parse_args()
    print(run(smoke=args.smoke, feeds=args.feeds, latency_ms=args.latency_ms))


if __name__ == "__main__":
    main()
