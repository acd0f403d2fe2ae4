"""One polite, guarded async HTTP fetcher for feeds and article pages (httpx).

Politeness: a global concurrency bound, about two requests at a time per host with
request starts spaced, a User-Agent that names a contact, conditional GET, and
Retry-After honoured (a host that asked us to wait is not asked again until then).

Fairness: a request's deadline (connect, headers, every redirect hop and the body) runs
while it holds its connection slots, not while it queues for them, so a good feed queued
behind slow ones still gets its full time; one slot per request, at most
`per_host_concurrency` per origin (scheme, host, port) and never more than half the
global pool. Within an origin, fresh requests go first: a request unanswered after a
slice (`slice_s`) while a fresh one waits for its origin gives its slot up and queues
again behind the fresh ones for the rest of its deadline, so a healthy feed on a server
that also trickles 32 feeds is asked within a slice per two of them, not after their
deadlines. An origin whose requests were cut at the deadline `slow_host_strikes` times
is not asked again for what was slow there already, and fresh requests get one slice;
an origin whose slow requests cost `host_slow_budget_s` in all is not asked again in the
run (so a thousand trickling feeds on one server cost that budget, not a deadline each).

Memory: every body is capped on the wire and after decoding, and the bodies one fetcher
keeps are counted against a per-run budget (`max_run_bytes`): past it, requests fail with
the budget as their reason and the run goes on with what it has.

Safety: timeouts on every call plus a deadline for the whole call (slow-drip servers),
TLS verification on, redirects followed by hand (at most 5, each hop re-checked),
bodies streamed under a size cap and decompressed here under a second cap (gzip
bombs, stacked encodings), and no connection to private, loopback, link-local,
multicast or reserved addresses unless the policy allows them. Addresses are checked
after DNS resolution before each hop and again by the network backend at connect
time, on the address actually dialled (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import socket
import ssl
import time
import zlib
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urljoin

import httpcore
import httpx

from shiftwatch.errors import ConfigError, PermanentSourceError, TransientSourceError
from shiftwatch.records import RejectReason

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS = frozenset({301, 308})
# A decompressed body this many times larger than its compressed bytes is a bomb,
# not a big feed: ordinary XML compresses 5-20x.
BOMB_RATIO = 200
MAX_RETRY_AFTER_S = 24 * 3600.0
KEEPALIVE_S = 5.0  # an idle connection is kept this long for its host's next request
# An answer without a body we keep (304, a redirect, an error page) is read to its end when
# it declares at most this many bytes: httpcore closes a connection whose response was
# closed unread, and the host's next request would pay a new TCP (and TLS) set-up.
DRAIN_MAX_BYTES = 64 * 1024

Resolver = Callable[[str, int], Awaitable[list[str]]]
_T = TypeVar("_T")


class FetchTimeoutError(TransientSourceError):
    """No complete answer within the deadline, or the origin was too slow earlier in the run."""

    reason = RejectReason.TIMEOUT


class BudgetSpentError(TransientSourceError):
    """The run's budget of fetched bytes is spent: the request is left for the next run."""

    reason = RejectReason.OVERSIZED


class FetchRefusedError(PermanentSourceError):
    """The fetcher refused a URL or a response by policy; `reason` says which rule."""

    def __init__(self, message: str, *, reason: RejectReason, source: str = "") -> None:
        super().__init__(message, source=source)
        self.reason = reason


@dataclass(frozen=True, kw_only=True, slots=True)
class FetchPolicy:
    """Limits and manners for one fetcher; validated at construction, before any I/O."""

    contact: str = "shiftwatch-operator@example.org"
    product: str = "shiftwatch/0.1"
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 20.0
    total_timeout_s: float = 60.0  # one call, once it holds its slots: all hops and the body
    max_body_bytes: int = 16 * 1024 * 1024  # bytes on the wire
    max_decoded_bytes: int = 32 * 1024 * 1024  # after gzip/deflate
    max_run_bytes: int | None = None  # decoded bytes all bodies of one fetcher may keep
    slow_host_strikes: int = 2  # deadline cuts after which an origin is skipped for the run
    # A request still unanswered after this long gives its origin's slot to a fresh request
    # waiting for it and queues again, behind the fresh ones, for the rest of its deadline.
    # None: a sixth of total_timeout_s (5 s of 30), far above a healthy feed's answer.
    slice_s: float | None = None
    # Seconds an origin's requests may spend before being cut or giving way, in one run;
    # past it the origin is not asked again. None: 10 x total_timeout_s. Only slow requests
    # count, so a host serving hundreds of healthy feeds never reaches it.
    host_slow_budget_s: float | None = None
    max_redirects: int = 5
    max_concurrency: int = 100  # requests in flight, all hosts together
    per_host_concurrency: int = 2
    per_host_interval_s: float = 0.5  # between request starts to one host
    allow_private: bool = False
    allowed_networks: tuple[str, ...] = ()  # CIDRs allowed even if private, e.g. 127.0.0.0/8
    ca_bundle: str | None = None  # a CA file for TLS verification; None: certifi's

    def __post_init__(self) -> None:
        _require(bool(self.contact.strip()), "contact must name a mail address or URL")
        for name in ("contact", "product"):
            value = getattr(self, name)
            _require("\r" not in value and "\n" not in value, f"{name} must be one line")
        for name in ("connect_timeout_s", "read_timeout_s", "total_timeout_s"):
            _require(getattr(self, name) > 0, f"{name} must be > 0 seconds")
        for name in ("slice_s", "host_slow_budget_s"):
            value = getattr(self, name)
            _require(value is None or value > 0, f"{name} must be > 0 seconds (or unset)")
        _require(self.per_host_interval_s >= 0, "per_host_interval_s must be >= 0")
        for name in ("max_body_bytes", "max_decoded_bytes", "max_concurrency"):
            _require(getattr(self, name) >= 1, f"{name} must be >= 1")
        _require(self.max_run_bytes is None or self.max_run_bytes >= 1, "max_run_bytes >= 1")
        _require(self.slow_host_strikes >= 1, "slow_host_strikes must be >= 1")
        _require(1 <= self.per_host_concurrency <= 16, "per_host_concurrency must be 1..16")
        _require(0 <= self.max_redirects <= 20, "max_redirects must be 0..20")
        object.__setattr__(self, "allowed_networks", tuple(self.allowed_networks))
        parse_networks(self.allowed_networks)

    @property
    def slice_seconds(self) -> float:
        """Return the slice after which a slow request gives its slot to a fresh one."""
        return self.slice_s or self.total_timeout_s / 6

    @property
    def host_slow_budget_seconds(self) -> float:
        """Return the seconds of slow requests one origin may cost a run."""
        return self.host_slow_budget_s or 10 * self.total_timeout_s

    @property
    def host_limit(self) -> int:
        """Return the slots one origin may hold: `per_host_concurrency`, but never more than
        half the global pool (when it has two or more), so one host cannot fill it."""
        return min(self.per_host_concurrency, max(1, self.max_concurrency // 2))

    @property
    def user_agent(self) -> str:
        """Return the User-Agent header: product plus a way to reach the operator."""
        return f"{self.product} (+{self.contact}; news monitor)"


@dataclass(frozen=True, kw_only=True, slots=True)
class FetchResult:
    """A response the caller can use: 200-ish with its body, or 304 with none."""

    url: str
    final_url: str
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    elapsed_s: float
    not_modified: bool = False
    redirects: tuple[str, ...] = ()  # every URL visited before final_url
    permanent_url: str | None = None  # set when every hop was 301/308: update the source
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def content_type(self) -> str:
        """Return the media type without parameters, lower-case ('' if none)."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


def _require(condition: bool, message: str) -> None:
    """Raise ConfigError with a message that says what to fix."""
    if not condition:
        raise ConfigError(f"fetch policy: {message}")


def parse_networks(
    cidrs: Iterable[str],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Return the allow-list as networks; a bad CIDR is a ConfigError."""
    try:
        return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs)
    except ValueError as exc:
        raise ConfigError(f"fetch policy: allowed_networks: {exc}") from exc


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address hidden in a mapped, 6to4 or NAT64 IPv6 address."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in ipaddress.ip_network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_allowed(address: str, policy: FetchPolicy) -> bool:
    """Return whether an IP may be dialled: global unicast, or allowed by the policy."""
    ip = ipaddress.ip_address(address.split("%")[0])
    networks = parse_networks(policy.allowed_networks)
    if any(ip in net for net in networks):
        return True
    inner = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    if inner is not None:
        return address_allowed(str(inner), policy)
    if policy.allow_private:
        return True
    return ip.is_global and not ip.is_multicast


async def system_resolve(host: str, port: int) -> list[str]:
    """Return the addresses the system resolver gives for host (no I/O for IP literals)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]), None)
    return list(seen)


async def checked_addresses(
    host: str, port: int, policy: FetchPolicy, resolve: Resolver
) -> list[str]:
    """Return host's addresses, refusing the host if any of them is not allowed."""
    try:
        addresses = [_ip_literal(host)] if _is_ip(host) else await resolve(host, port)
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_AGAIN,):
            raise TransientSourceError(f"DNS lookup failed for {host}: {exc}") from exc
        raise PermanentSourceError(f"host not found: {host} ({exc})") from exc
    if not addresses:
        raise PermanentSourceError(f"host not found: {host}")
    refused = [a for a in addresses if not address_allowed(a, policy)]
    if refused:
        raise FetchRefusedError(
            f"{host} resolves to a non-public address ({refused[0]}); "
            "allow it with allow_private or allowed_networks",
            reason=RejectReason.UNSAFE,
        )
    return addresses


def _is_ip(host: str) -> bool:
    """Return whether host is an IP literal (no resolver is asked about those)."""
    try:
        ipaddress.ip_address(_ip_literal(host))
    except ValueError:
        return False
    return True


def _ip_literal(host: str) -> str:
    """Return host without IPv6 brackets."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolve, check and dial each address itself, so the address dialled is the one checked."""

    def __init__(self, policy: FetchPolicy, resolve: Resolver) -> None:
        self._policy = policy
        self._resolve = resolve
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Return a stream to the first allowed address of host that accepts."""
        addresses = await checked_addresses(host, port, self._policy, self._resolve)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        """Refuse: feeds are never read from local sockets."""
        raise FetchRefusedError("unix sockets are not allowed", reason=RejectReason.UNSAFE)

    async def sleep(self, seconds: float) -> None:
        """Sleep on the inner backend."""
        await self._inner.sleep(seconds)


def guarded_transport(policy: FetchPolicy, resolve: Resolver) -> httpx.AsyncHTTPTransport:
    """Return an httpx transport whose connections go through GuardedBackend, TLS verified."""
    ctx = ssl.create_default_context(cafile=policy.ca_bundle) if policy.ca_bundle else None
    ctx = ctx or httpx.create_ssl_context(verify=True, trust_env=False)
    transport = httpx.AsyncHTTPTransport(verify=ctx, trust_env=False)
    if not hasattr(transport, "_pool"):  # httpx is pinned <0.29; fail loudly if that changes
        raise ConfigError("httpx changed: AsyncHTTPTransport has no _pool to guard")
    transport._pool = HostPools(policy, ctx, GuardedBackend(policy, resolve))
    return transport


class HostPools:
    """One small httpcore pool per origin, kept alive: a host's next request reuses its
    connection (no new TCP and TLS set-up), and no request scans other hosts' connections.

    One shared httpcore pool cannot do both: it checks every pooled connection on every
    request (a syscall for each idle one), and httpcore 1.0 closes an idle connection
    whenever the pool holds more than `max_keepalive_connections` in all, busy ones
    counted, so a busy run kept none. Here each origin's pool holds `per_host_concurrency`
    connections; at most `max_pools` pools stay open, the least recently asked idle ones
    closed first (sockets stay bounded however many hosts a run reads).
    """

    def __init__(
        self, policy: FetchPolicy, ssl_context: ssl.SSLContext, backend: GuardedBackend
    ) -> None:
        self._policy, self._ssl_context, self._backend = policy, ssl_context, backend
        self.max_pools = 2 * policy.max_concurrency
        self._pools: dict[tuple[bytes, bytes, int | None], httpcore.AsyncConnectionPool] = {}

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        """Send `request` through its origin's pool (made on first use; now the most recent)."""
        url = request.url
        key = (url.scheme, url.host, url.port)
        pool = self._pools.pop(key, None) or httpcore.AsyncConnectionPool(
            ssl_context=self._ssl_context,
            max_connections=self._policy.per_host_concurrency,
            keepalive_expiry=KEEPALIVE_S,
            network_backend=self._backend,
        )
        self._pools[key] = pool
        if len(self._pools) > self.max_pools:
            await self._close_idle_pools(keep=key)
        return await pool.handle_async_request(request)

    async def _close_idle_pools(self, keep: tuple[bytes, bytes, int | None]) -> None:
        """Close the least recently asked pools with no request in flight, past `max_pools`."""
        excess = len(self._pools) - self.max_pools
        idle = [
            k
            for k, p in self._pools.items()
            if k != keep and all(c.is_idle() for c in p.connections)
        ]
        for key in idle[:excess]:
            await self._pools.pop(key).aclose()

    async def aclose(self) -> None:
        """Close every pool."""
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()

    async def __aenter__(self) -> HostPools:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class FairSlots:
    """`limit` slots handed out first come, first served, except that requests that were
    slow once wait behind fresh ones: a slow origin's retries never stand in front of a
    feed that has not had its turn yet."""

    def __init__(self, limit: int) -> None:
        self._free = limit
        self._fresh: deque[asyncio.Future[None]] = deque()
        self._slow: deque[asyncio.Future[None]] = deque()

    def fresh_waiting(self) -> bool:
        """Return whether a fresh request waits for a slot (a slow holder should yield)."""
        return any(not waiter.done() for waiter in self._fresh)

    async def acquire(self, *, slow: bool) -> None:
        """Take a slot, queueing (fresh before slow) while none is free."""
        if self._free and not self.fresh_waiting():
            self._free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        (self._slow if slow else self._fresh).append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed over as we were cancelled: pass it on
            raise

    def release(self) -> None:
        """Hand the slot to the first fresh waiter, else the first slow one, else free it."""
        for queue in (self._fresh, self._slow):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._free += 1


class HostGate:
    """One origin's slots and record for a run: at most `limit` requests at a time, fresh
    ones first (`FairSlots`), starts at least `interval` apart. It counts the requests cut
    at the deadline (`strikes`) and the seconds its requests spent before being cut or
    giving their slot up (`slow_s`); the fetcher uses both to stop asking a slow origin."""

    def __init__(
        self, limit: int, interval: float, clock: Callable[[], float], max_strikes: int = 2
    ) -> None:
        self.slots = FairSlots(limit)
        self._interval = interval
        self._clock = clock
        self._next_start = 0.0
        self.paused_until = 0.0
        self.strikes = 0  # requests cut at the deadline in this run
        self.max_strikes = max_strikes
        self.slow_s = 0.0  # seconds spent by requests that were then cut or gave way

    @property
    def struck_out(self) -> bool:
        """Return whether this origin was too slow often enough to be skipped for the run."""
        return self.strikes >= self.max_strikes

    @asynccontextmanager
    async def hold(self, *, slow: bool) -> AsyncIterator[HostGate]:
        """Hold one of the origin's slots (queued behind fresh requests when `slow`)."""
        await self.slots.acquire(slow=slow)
        try:
            if not self.struck_out:
                await self._space()
            yield self
        finally:
            self.slots.release()

    async def _space(self) -> None:
        """Wait until `interval` has passed since the previous start to this origin."""
        now = self._clock()
        start = max(now, self._next_start)
        self._next_start = start + self._interval
        if start > now:
            await asyncio.sleep(start - now)


class BoundedDecoder:
    """Undo gzip/deflate layers incrementally, never producing more than `limit` bytes."""

    def __init__(self, encodings: list[str], limit: int) -> None:
        self._layers = [self._decompressor(e) for e in reversed(encodings)]
        self._limit = limit
        self.total = 0

    @staticmethod
    def _decompressor(encoding: str) -> Any:
        """Return a zlib decompressor for one content-coding, or refuse the coding."""
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        if encoding == "deflate":
            return _DeflateDecoder()
        raise FetchRefusedError(
            f"unsupported content-encoding {encoding!r}", reason=RejectReason.UNSUPPORTED
        )

    def feed(self, data: bytes, *, final: bool = False) -> bytes:
        """Return the decoded bytes for one raw chunk; raise once over the limit."""
        for layer in self._layers:
            data = self._run(layer, data, final)
        self.total += len(data)
        if self.total > self._limit:
            raise DecodedTooLargeError()
        return data

    def _run(self, layer: Any, data: bytes, final: bool) -> bytes:
        """Return one layer's output, stopping as soon as it passes the limit."""
        out = bytearray()
        budget = self._limit - self.total + 1
        try:
            while True:
                out += layer.decompress(data, max(budget - len(out), 1))
                if len(out) >= budget:
                    raise DecodedTooLargeError()
                data = layer.unconsumed_tail
                if not data:
                    break
            if final:
                out += layer.flush()
        except zlib.error as exc:
            raise FetchRefusedError(
                f"corrupt compressed body: {exc}", reason=RejectReason.UNREADABLE
            ) from exc
        return bytes(out)


class _DeflateDecoder:
    """'deflate' as servers send it: zlib-wrapped, or raw when the wrapper is missing."""

    def __init__(self) -> None:
        self._obj: Any = None

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if self._obj is None:
            wrapped = len(data) >= 2 and data[0] & 0x0F == 8 and int.from_bytes(data[:2]) % 31 == 0
            self._obj = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        return self._obj.decompress(data, max_length)

    @property
    def unconsumed_tail(self) -> bytes:
        return self._obj.unconsumed_tail if self._obj is not None else b""

    def flush(self) -> bytes:
        return self._obj.flush() if self._obj is not None else b""


class DecodedTooLargeError(Exception):
    """The decoded body passed its cap (the fetcher turns it into a FetchRefusedError)."""


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Return Retry-After as seconds from now (capped at a day), None if absent or garbage."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(delta, 0.0), MAX_RETRY_AFTER_S)


def status_error(
    status: int, url: str, headers: Mapping[str, str]
) -> PermanentSourceError | TransientSourceError:
    """Return the exception a non-usable status means: retry later, or don't."""
    retry_after = parse_retry_after(headers.get("retry-after"))
    if status in (408, 425, 429) or status >= 500:
        return TransientSourceError(
            f"HTTP {status} from {url}", source=url, status=status, retry_after=retry_after
        )
    if status == 410:
        return PermanentSourceError(f"HTTP 410 Gone: {url}", source=url, status=status)
    return PermanentSourceError(f"HTTP {status} from {url}", source=url, status=status)


class Fetcher:
    """Fetch URLs politely and safely; one per run, used as an async context manager."""

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        resolve: Resolver | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or FetchPolicy()
        self._resolve = resolve or system_resolve
        self._clock = clock
        self._global = asyncio.Semaphore(self.policy.max_concurrency)
        self._gates: dict[str, HostGate] = {}
        self.kept_bytes = 0  # decoded body bytes handed out (or being read) in this run
        timeout = httpx.Timeout(
            connect=self.policy.connect_timeout_s,
            read=self.policy.read_timeout_s,
            write=self.policy.read_timeout_s,
            pool=self.policy.total_timeout_s,
        )
        self._client = httpx.AsyncClient(
            transport=transport or guarded_transport(self.policy, self._resolve),
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,  # an env proxy would dial addresses we never checked
            headers={"User-Agent": self.policy.user_agent, "Accept-Encoding": "gzip, deflate"},
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._client.aclose()

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = FEED_ACCEPT,
        max_bytes: int | None = None,
    ) -> FetchResult:
        """Return the response for url after redirects; raise a SourceError when unusable."""
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        started = self._clock()
        return await self._follow(url, headers, max_bytes, started)

    async def _follow(
        self, url: str, headers: dict[str, str], max_bytes: int | None, started: float
    ) -> FetchResult:
        """Return the final response, following and re-checking each redirect hop."""
        visited: list[str] = []
        permanent = True
        current = url
        left = _Deadline(self.policy.total_timeout_s)
        while True:
            target = self._check_url(current, source=url)
            self._check_budget(source=url)
            await checked_addresses(target.host, _port(target), self.policy, self._resolve)
            response, body = await self._request(target, headers, max_bytes, left, source=url)
            if response.status_code not in REDIRECT_STATUSES:
                return self._result(url, current, response, body, visited, permanent, started)
            location = response.headers.get("location", "").strip()
            if not location:
                raise PermanentSourceError(f"redirect without Location from {current}", source=url)
            permanent = permanent and response.status_code in PERMANENT_REDIRECTS
            visited.append(current)
            current = urljoin(current, location)
            self._check_hops(current, visited, source=url)

    def _check_hops(self, nxt: str, visited: list[str], *, source: str) -> None:
        """Raise when redirects loop or exceed the policy's count."""
        if nxt in visited:
            raise FetchRefusedError(
                f"redirect loop back to {nxt}", reason=RejectReason.HTTP_ERROR, source=source
            )
        if len(visited) > self.policy.max_redirects:
            raise FetchRefusedError(
                f"more than {self.policy.max_redirects} redirects",
                reason=RejectReason.HTTP_ERROR,
                source=source,
            )

    @staticmethod
    def _check_url(url: str, *, source: str) -> httpx.URL:
        """Return url parsed; refuse anything but absolute http(s)."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise FetchRefusedError(
                f"invalid URL {url!r}", reason=RejectReason.UNSUPPORTED, source=source
            ) from exc
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise FetchRefusedError(
                f"only http(s) URLs are fetched, not {url!r}",
                reason=RejectReason.UNSUPPORTED,
                source=source,
            )
        return parsed

    def _gate(self, target: httpx.URL) -> HostGate:
        """Return the politeness gate for one origin (scheme, host, port)."""
        origin = f"{target.scheme}://{target.host}:{_port(target)}"
        gate = self._gates.get(origin)
        if gate is None:
            policy = self.policy
            gate = HostGate(
                policy.host_limit,
                policy.per_host_interval_s,
                self._clock,
                policy.slow_host_strikes,
            )
            self._gates[origin] = gate
        return gate

    def _check_host(
        self, gate: HostGate, target: httpx.URL, left: _Deadline, *, source: str
    ) -> None:
        """Fail at once for an origin that spent its slow budget, or that was cut at the
        deadline often enough when this request was slow there already (a fresh request
        still gets one slice: a healthy feed on a slow host answers within it)."""
        where = f"{target.host}:{_port(target)}"
        budget = self.policy.host_slow_budget_seconds
        if gate.slow_s >= budget:
            raise FetchTimeoutError(
                f"{where} spent its {budget:g}s of slow requests in this run "
                f"(deadline {self.policy.total_timeout_s:g}s); not asked again until the next run",
                source=source,
            )
        if gate.struck_out and left.slowed:
            raise FetchTimeoutError(
                f"{where} timed out {gate.strikes} times in this run "
                f"(deadline {self.policy.total_timeout_s:g}s); not asked again until the next run",
                source=source,
            )

    def _check_budget(self, *, source: str, extra: int = 0) -> None:
        """Raise BudgetSpentError when the run's kept bytes (plus `extra`) pass its budget."""
        budget = self.policy.max_run_bytes
        if budget is not None and self.kept_bytes + extra > budget:
            raise BudgetSpentError(
                f"the run's budget of {budget:,} fetched bytes is spent "
                f"({self.kept_bytes:,} kept); {source} is fetched again next run",
                source=source,
            )

    async def _request(
        self,
        target: httpx.URL,
        headers: dict[str, str],
        max_bytes: int | None,
        left: _Deadline,
        *,
        source: str,
    ) -> tuple[httpx.Response, bytes]:
        """Return one hop's response and (for non-redirects) its capped, decoded body; a
        request that gave its slot to a fresh one queues again for the rest of its deadline."""
        gate = self._gate(target)
        while True:
            wait = gate.paused_until - self._clock()
            if wait > 0:
                raise TransientSourceError(
                    f"{target.host} asked us to wait {wait:.0f}s more",
                    source=source,
                    retry_after=wait,
                )
            self._check_host(gate, target, left, source=source)
            async with gate.hold(slow=left.slowed):
                self._check_host(gate, target, left, source=source)  # cut while we queued
                async with self._global:
                    try:
                        exchange = await self._timed(gate, target, headers, max_bytes, left, source)
                    except _GaveWay:
                        continue
            response, body = exchange
            self._note_backoff(gate, response)
            return response, body

    async def _timed(
        self,
        gate: HostGate,
        target: httpx.URL,
        headers: dict[str, str],
        max_bytes: int | None,
        left: _Deadline,
        source: str,
    ) -> tuple[httpx.Response, bytes]:
        """Return one exchange, cut when the call's deadline is spent (a strike for the host),
        or give way (`_GaveWay`) to a fresh request once a slice has passed."""
        started = time.monotonic()
        probe = gate.struck_out  # a fresh request at a struck-out origin: one slice, no more
        try:
            exchange = self._exchange(target, headers, max_bytes, source)
            return await self._sliced(exchange, gate, left, probe=probe)
        except _GaveWay:
            gate.slow_s += time.monotonic() - started
            left.slowed = True
            raise
        except TimeoutError as exc:
            gate.slow_s += time.monotonic() - started
            raise self._cut(gate, target, left, probe, source) from exc
        except httpx.TimeoutException as exc:  # connect, or one read: a silent server
            gate.strikes += 1
            gate.slow_s += time.monotonic() - started
            raise FetchTimeoutError(f"timeout: {target}: {exc!r}", source=source) from exc
        except (httpx.TransportError, httpcore.NetworkError) as exc:
            raise TransientSourceError(f"network error: {target}: {exc!r}", source=source) from exc
        finally:
            left.spent += time.monotonic() - started

    async def _sliced(
        self, exchange: Awaitable[_T], gate: HostGate, left: _Deadline, *, probe: bool
    ) -> _T:
        """Return the exchange's result within the deadline (a slice for a probe); every
        slice, a request that was never slow gives way if a fresh one waits for its slot."""
        task = asyncio.ensure_future(exchange)
        step = self.policy.slice_seconds
        limit = min(left.remaining(), step) if probe else left.remaining()
        try:
            async with asyncio.timeout(limit):
                while True:
                    done, _ = await asyncio.wait({task}, timeout=step)
                    if done:
                        return task.result()
                    if not (probe or left.slowed) and gate.slots.fresh_waiting():
                        raise _GaveWay()
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait({task})

    def _cut(
        self, gate: HostGate, target: httpx.URL, left: _Deadline, probe: bool, source: str
    ) -> FetchTimeoutError:
        """Return the error of a request cut at its deadline (a strike) or its probe's end."""
        if probe:
            return FetchTimeoutError(
                f"no complete answer from {target} within the {self.policy.slice_seconds:g}s "
                f"slice that {target.host}:{_port(target)} gets after timing out "
                f"{gate.strikes} times in this run (deadline {self.policy.total_timeout_s:g}s); "
                "not asked again until the next run",
                source=source,
            )
        gate.strikes += 1
        return FetchTimeoutError(
            f"no complete answer from {target} within {left.describe()}: slow or trickling server",
            source=source,
        )

    async def _exchange(
        self, target: httpx.URL, headers: dict[str, str], max_bytes: int | None, source: str
    ) -> tuple[httpx.Response, bytes]:
        """Return one request's response and (for 2xx but 204) its body; the caller times it."""
        request = self._client.build_request("GET", target, headers=headers)
        response = await self._client.send(request, stream=True)
        try:
            body = b""
            if 200 <= response.status_code < 300 and response.status_code != 204:
                body = await self._read_body(response, max_bytes, source=source)
            else:
                await _drain(response)
        finally:
            await response.aclose()
        return response, body

    def _note_backoff(self, gate: HostGate, response: httpx.Response) -> None:
        """Pause a host that answered 429/503 with Retry-After, for that long."""
        if response.status_code in (429, 503):
            delay = parse_retry_after(response.headers.get("retry-after"))
            if delay:
                gate.paused_until = max(gate.paused_until, self._clock() + delay)

    async def _read_body(
        self, response: httpx.Response, max_bytes: int | None, *, source: str
    ) -> bytes:
        """Return the decoded body, refusing it past the wire or decoded cap."""
        cap = max_bytes or self.policy.max_body_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise FetchRefusedError(
                f"body of {declared} bytes is over the {cap}-byte cap",
                reason=RejectReason.OVERSIZED,
                source=source,
            )
        if declared.isdigit():
            self._check_budget(source=source, extra=int(declared))
        encodings = _content_codings(response.headers.get("content-encoding", ""))
        decoder = BoundedDecoder(encodings, self.policy.max_decoded_bytes) if encodings else None
        chunks: list[bytes] = []
        raw_total = 0
        try:
            async for raw in _raw_chunks(response):
                raw_total += len(raw)
                if raw_total > cap:
                    raise FetchRefusedError(
                        f"body is over the {cap}-byte cap",
                        reason=RejectReason.OVERSIZED,
                        source=source,
                    )
                chunks.append(decoder.feed(raw) if decoder else raw)
                self._keep(len(chunks[-1]), source)
            if decoder:
                chunks.append(decoder.feed(b"", final=True))
                self._keep(len(chunks[-1]), source)
        except BaseException as exc:
            self.kept_bytes -= sum(map(len, chunks))  # a refused body is dropped: give it back
            if isinstance(exc, DecodedTooLargeError):
                raise self._bomb(raw_total, source) from exc
            raise
        return b"".join(chunks)

    def _keep(self, size: int, source: str) -> None:
        """Count `size` more kept bytes against the run's budget; raise once it is spent."""
        self.kept_bytes += size
        self._check_budget(source=source)

    def _bomb(self, raw_total: int, source: str) -> FetchRefusedError:
        """Return the refusal of a body that decoded past its cap (a bomb if the ratio says)."""
        bomb = raw_total * BOMB_RATIO < self.policy.max_decoded_bytes
        return FetchRefusedError(
            f"decompressed body is over the {self.policy.max_decoded_bytes}-byte cap"
            + (f" from {raw_total} compressed bytes (compression bomb)" if bomb else ""),
            reason=RejectReason.UNSAFE if bomb else RejectReason.OVERSIZED,
            source=source,
        )

    def _result(
        self,
        url: str,
        final_url: str,
        response: httpx.Response,
        body: bytes,
        visited: list[str],
        permanent: bool,
        started: float,
    ) -> FetchResult:
        """Return the FetchResult for a final response, or raise for an unusable status."""
        status = response.status_code
        headers = {k.lower(): v for k, v in response.headers.items()}
        if status != 304 and not 200 <= status < 300:
            raise status_error(status, url, headers)
        return FetchResult(
            url=url,
            final_url=final_url,
            status=status,
            headers=headers,
            body=body,
            elapsed_s=self._clock() - started,
            not_modified=status == 304,
            redirects=tuple(visited),
            permanent_url=final_url if visited and permanent else None,
        )


class _GaveWay(Exception):
    """A slow request gave its slot to a fresh one; it queues again (never leaves Fetcher)."""


class _Deadline:
    """One call's time allowance, spent only while it holds its slots (all hops together);
    `slowed` once it gave its slot up: it then waits behind fresh requests and runs on."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.spent = 0.0
        self.slowed = False

    def describe(self) -> str:
        """Return the deadline in words for error messages."""
        return f"the {self.seconds:g}s deadline"

    def remaining(self) -> float:
        """Return the seconds left (a hair above zero once spent, so the next hop times out)."""
        return max(self.seconds - self.spent, 0.001)


async def _drain(response: httpx.Response) -> None:
    """Read a small unwanted body to its end, so the connection stays alive for the host's
    next request (`DRAIN_MAX_BYTES`); a bigger or undeclared one is left: the connection
    closes."""
    declared = response.headers.get("content-length", "")
    bodiless = response.status_code in (204, 304)
    if bodiless or (declared.isdigit() and int(declared) <= DRAIN_MAX_BYTES):
        async for _ in _raw_chunks(response):
            pass


def _raw_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    """Return the body's raw (still encoded) chunks, also for in-memory test transports."""
    if response.is_stream_consumed and isinstance(response.stream, AsyncIterable):
        return aiter(response.stream)  # MockTransport bodies are pre-read; replay the bytes
    return response.aiter_raw()


def _content_codings(value: str) -> list[str]:
    """Return the content-codings applied, in order, without 'identity'."""
    codings = [c.strip().lower() for c in value.split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if len(codings) > 2:
        raise FetchRefusedError(
            f"{len(codings)} stacked content-encodings", reason=RejectReason.UNSAFE
        )
    return codings


def _port(url: httpx.URL) -> int:
    """Return the URL's port, defaulting by scheme."""
    return url.port or (443 if url.scheme == "https" else 80)
