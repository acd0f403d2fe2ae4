"""A/B in one process: the feed fetcher before and after per-host keep-alive (issue 17 item 6).

`before` puts back what the fetcher did until 2026-12-03: one shared httpcore pool (100
connections, 16 keep-alives), unwanted bodies (304s) closed unread, feeds in list order.
`after` is the code as it is. Both run the two passes of `bench_feeds.py` (same server,
same feeds), alternated, so the machine's load falls on both alike.

Run: python bench/ab_feeds_keepalive.py [--feeds N] [--rounds R] [--per-host K]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpcore
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_feeds

from shiftwatch.connectors import feeds, http


def _shared_pool_transport(policy: http.FetchPolicy, resolve: Any) -> httpx.AsyncHTTPTransport:
    """Return the transport as it was: one pool for every host."""
    ctx = httpx.create_ssl_context(verify=True, trust_env=False)
    transport = httpx.AsyncHTTPTransport(verify=ctx, trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ctx,
        max_connections=policy.max_concurrency,
        max_keepalive_connections=min(policy.max_concurrency, 16),
        keepalive_expiry=5.0,
        network_backend=http.GuardedBackend(policy, resolve),
    )
    return transport


async def _leave_unread(response: httpx.Response) -> None:
    return None


@contextlib.contextmanager
def before() -> Iterator[None]:
    """Put the fetcher back as it was for the duration."""
    saved = (http.guarded_transport, http._drain, feeds.fair_order)
    http.guarded_transport = _shared_pool_transport
    http._drain = _leave_unread
    feeds.fair_order = lambda chosen, states: sorted(
        chosen, key=lambda f: f.id in states and states[f.id].consecutive_failures > 0
    )
    try:
        yield
    finally:
        http.guarded_transport, http._drain, feeds.fair_order = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--per-host", type=int, default=2, help="feeds a host name serves")
    args = parser.parse_args()
    ctx = multiprocessing.get_context("spawn")
    port_q, stop, connections = ctx.Queue(), ctx.Event(), ctx.Value("i", 0)
    server = ctx.Process(
        target=bench_feeds.serve,
        args=(args.feeds, 0.2, port_q, stop, connections),
        daemon=True,
    )
    server.start()
    rows = []
    try:
        port = port_q.get(timeout=60)
        for round_ in range(args.rounds):
            for name in ("before", "after"):
                with before() if name == "before" else contextlib.nullcontext():
                    start = connections.value
                    t = asyncio.run(
                        bench_feeds.two_passes(port, args.feeds, connections, args.per_host)
                    )
                    t["first_connections"] -= start
                rows.append((round_, name, t))
    finally:
        stop.set()
        server.join(timeout=10)
    print(
        "| round | code | first s | second s | second / first | second CPU s "
        "| connections (first, second) |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    for round_, name, t in rows:
        print(
            f"| {round_ + 1} | {name} | {t['first']:.2f} | {t['second']:.2f} "
            f"| {t['second'] / t['first']:.3f} | {t['second_cpu']:.2f} "
            f"| {t['first_connections']}, {t['second_connections']} |"
        )


if __name__ == "__main__":
    main()
