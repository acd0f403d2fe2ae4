"""Network safety: what feeds and pages may reach, TLS, timeouts, proxies.

Feeds and article pages must not reach private, loopback, link-local or otherwise
non-public addresses unless the configuration names them (SHIFTWATCH_ALLOWED_NETWORKS, or
SHIFTWATCH_ALLOW_PRIVATE_ADDRESSES), checked after DNS resolution and again on every
redirect; TLS certificates are verified; every outgoing call has a timeout; proxies from the
environment are not used to reach addresses nobody checked. The servers are real loopback
servers: a refusal is proven by the server never seeing the request.
"""

from __future__ import annotations

import ast
import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from reliability_support import record

from shiftwatch.connectors.feedlist import FeedConfig
from shiftwatch.connectors.http import Fetcher, FetchPolicy, FetchRefusedError, system_resolve
from shiftwatch.connectors.pages import fetch_article
from shiftwatch.connectors.slack import SlackWebhook
from shiftwatch.connectors.smtp import SmtpMailer
from shiftwatch.errors import SourceError, TransientDeliveryError, TransientSourceError
from shiftwatch.models.db import open_database
from shiftwatch.pipeline.feeds import fetch_policy, poll_feeds
from shiftwatch.records import RawItem, RejectReason
from shiftwatch.settings import SlackSettings, SmtpSettings, load_settings

ROOT = Path(__file__).resolve().parents[1]
RSS = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>'
       b"<title>Lavrov rejects NATO expansion</title><link>https://news.example/1</link>"
       b"</item></channel></rss>")  # fmt: skip
PUBLIC = "93.184.215.14"  # what the fake resolver says public names resolve to
LOOPBACK_NAMES = ["http://2130706433:{port}/f", "http://0x7f000001:{port}/f",
                  "http://127.1:{port}/f", "http://[::ffff:127.0.0.1]:{port}/f",
                  "http://localhost:{port}/f", "http://127.0.0.1:{port}/f",
                  "http://0.0.0.0:{port}/f"]  # fmt: skip
REFUSED: list[str] = []  # every refusal proven below, counted for docs/reliability.md


def local(server: HTTPServer, path: str) -> str:
    """Return the server's URL by its address: 'localhost' may also resolve to ::1."""
    return f"{server.url_for(path).split('://')[0]}://127.0.0.1:{server.port}{path}"


def fetch(fetcher: Fetcher, url: str, **kwargs: Any) -> Any:
    async def go() -> Any:
        async with fetcher:
            return await fetcher.fetch(url, **kwargs)

    return asyncio.run(go())


def refused(fetcher: Fetcher, url: str, server: HTTPServer) -> RejectReason:
    """Fetch url, expecting a refusal before the server sees anything; return the reason."""
    before = len(server.log)
    with pytest.raises(FetchRefusedError) as info:
        fetch(fetcher, url)
    assert len(server.log) == before, f"{url} reached the server"
    REFUSED.append(url)
    return info.value.reason


def resolver(table: dict[str, list[str]]) -> Any:
    """Return a resolver answering from `table`, else the system's (numeric forms only here:
    no test resolves a real name, and no public address in a table is ever dialled)."""

    async def resolve(host: str, port: int) -> list[str]:
        return table[host] if host in table else await system_resolve(host, port)

    return resolve


@pytest.fixture(scope="module", autouse=True)
def _count() -> Iterator[None]:
    yield
    record("network", inputs=len(REFUSED), leaks=0)


# --- configuration decides -----------------------------------------------------------------


def test_settings_refuse_loopback_by_default_and_open_only_what_they_name(
    httpserver: HTTPServer, monkeypatch
) -> None:
    httpserver.expect_request("/f").respond_with_data(RSS)
    url = local(httpserver, "/f")
    monkeypatch.delenv("SHIFTWATCH_ALLOWED_NETWORKS", raising=False)
    monkeypatch.delenv("SHIFTWATCH_ALLOW_PRIVATE_ADDRESSES", raising=False)
    default = fetch_policy(load_settings())
    assert not default.allow_private and default.allowed_networks == ()
    assert refused(Fetcher(default), url, httpserver) == RejectReason.UNSAFE
    monkeypatch.setenv("SHIFTWATCH_ALLOWED_NETWORKS", "127.0.0.2/32")  # a neighbour only
    assert refused(Fetcher(fetch_policy(load_settings())), url, httpserver) == "unsafe"
    monkeypatch.setenv("SHIFTWATCH_ALLOWED_NETWORKS", "127.0.0.0/8")
    assert fetch(Fetcher(fetch_policy(load_settings())), url).body == RSS
    monkeypatch.delenv("SHIFTWATCH_ALLOWED_NETWORKS")
    monkeypatch.setenv("SHIFTWATCH_ALLOW_PRIVATE_ADDRESSES", "true")
    assert fetch(Fetcher(fetch_policy(load_settings())), url).body == RSS


def test_a_feed_on_a_private_address_fails_with_a_recorded_reason(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch
) -> None:
    """Through the feeds flow code: the feed fails as unsafe, the server sees nothing."""
    monkeypatch.delenv("SHIFTWATCH_ALLOWED_NETWORKS", raising=False)
    monkeypatch.delenv("SHIFTWATCH_ALLOW_PRIVATE_ADDRESSES", raising=False)
    httpserver.expect_request("/feed.xml").respond_with_data(RSS)
    engine = open_database(f"sqlite:///{tmp_path / 'n.db'}")
    settings = load_settings()
    feed = FeedConfig(url=local(httpserver, "/feed.xml"))
    batch = poll_feeds(engine, [feed], settings, force=True)
    engine.dispose()
    assert batch.items == [] and len(httpserver.log) == 0
    assert [r.reason for r in batch.rejected] == [RejectReason.UNSAFE]
    assert batch.health[0].status == "failed"
    REFUSED.append(feed.url)


@pytest.mark.parametrize("template", LOOPBACK_NAMES)
def test_every_spelling_of_loopback_is_refused_after_resolution(
    httpserver: HTTPServer, template: str
) -> None:
    """Decimal, hex and short IPv4 forms, IPv4-mapped IPv6, 'localhost', 0.0.0.0: the
    system resolver turns them into loopback, and that address is what gets checked."""
    httpserver.expect_request("/f").respond_with_data(RSS)
    url = template.format(port=httpserver.port)
    fetcher = Fetcher(FetchPolicy(per_host_interval_s=0))
    assert refused(fetcher, url, httpserver) == RejectReason.UNSAFE


def test_a_public_looking_name_resolving_to_loopback_is_refused(httpserver: HTTPServer):
    httpserver.expect_request("/f").respond_with_data(RSS)
    names = resolver({"news.example": ["127.0.0.1"], "mixed.example": [PUBLIC, "10.0.0.7"],
                      "v6.example": ["::1"], "nat64.example": ["64:ff9b::7f00:1"]})  # fmt: skip
    for host in ("news.example", "mixed.example", "v6.example", "nat64.example"):
        fetcher = Fetcher(FetchPolicy(per_host_interval_s=0), resolve=names)
        url = f"http://{host}:{httpserver.port}/f"
        assert refused(fetcher, url, httpserver) == RejectReason.UNSAFE, host
    # The same name is fetched, from the checked address, once its network is allowed.
    allowed = FetchPolicy(per_host_interval_s=0, allowed_networks=("127.0.0.0/8",))
    result = fetch(Fetcher(allowed, resolve=names), f"http://news.example:{httpserver.port}/f")
    assert result.body == RSS and httpserver.log[-1][0].host.startswith("news.example")


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://metadata.example/computeMetadata/v1/",  # resolves to link-local
        "http://intranet.example:8080/admin",  # resolves to 10.0.0.7
        "http://127.0.0.2:{port}/f",  # loopback outside the allow-list
        "http://2130706434:{port}/f",  # decimal 127.0.0.2
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
        "ftp://news.example/feed",
        "http://news.example@127.0.0.2:{port}/f",  # userinfo that looks like a host
    ],
)
def test_every_redirect_hop_is_checked(httpserver: HTTPServer, location: str) -> None:
    """A feed on an allowed host redirects somewhere it must not go: refused before asking."""
    target = location.format(port=httpserver.port)
    httpserver.expect_request("/start").respond_with_data(
        "", status=302, headers={"Location": target})  # fmt: skip
    names = resolver({"metadata.example": ["169.254.169.254"], "intranet.example": ["10.0.0.7"],
                      "news.example": [PUBLIC]})  # fmt: skip
    policy = FetchPolicy(per_host_interval_s=0, allowed_networks=("127.0.0.1/32",))
    with pytest.raises(FetchRefusedError) as info:
        fetch(Fetcher(policy, resolve=names), local(httpserver, "/start"))
    assert info.value.reason in (RejectReason.UNSAFE, RejectReason.UNSUPPORTED)
    assert len(httpserver.log) == 1  # the redirect itself, nothing after it
    REFUSED.append(target)


def test_dns_rebinding_between_check_and_connect_is_caught(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/f").respond_with_data(RSS)
    answers = iter([[PUBLIC], ["127.0.0.1"], ["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    fetcher = Fetcher(FetchPolicy(per_host_interval_s=0), resolve=rebinding)
    assert refused(fetcher, f"http://rebind.example:{httpserver.port}/f", httpserver) == "unsafe"


def test_an_article_page_on_a_private_address_is_refused_and_the_entry_kept(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request("/article").respond_with_data(
        "<html>secret admin page</html>", content_type="text/html"
    )
    item = RawItem(
        source_id="feed",
        url=f"http://news.example:{httpserver.port}/article",
        body=b"<p>summary</p>",
        fetched_at=dt.datetime.now(dt.UTC),
        content_type="text/html",
        meta={"feed_url": "https://news.example/f"},
    )
    fetcher = Fetcher(FetchPolicy(per_host_interval_s=0),
                      resolve=resolver({"news.example": ["127.0.0.1"]}))  # fmt: skip

    async def go() -> Any:
        async with fetcher:
            return await fetch_article(item, fetcher)

    kept, rejection = asyncio.run(go())
    assert kept.body == item.body and kept.meta["full_article"] == "failed"
    assert rejection is not None and rejection.reason == RejectReason.UNSAFE
    assert len(httpserver.log) == 0
    REFUSED.append(item.url)


# --- TLS ----------------------------------------------------------------------------------


def self_signed(folder: Path) -> tuple[Path, Path]:
    """Return (cert, key) of a self-signed certificate for 127.0.0.1 and localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1)).add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))  # fmt: skip
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[HTTPServer, Path]]:
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    yield server, cert
    server.clear()
    if server.is_running():
        server.stop()


def test_tls_certificates_are_verified_for_feeds(tls_server) -> None:
    server, cert = tls_server
    server.expect_request("/f").respond_with_data(RSS)
    url = local(server, "/f")
    assert url.startswith("https://")
    loopback = {"allowed_networks": ("127.0.0.0/8",), "per_host_interval_s": 0}
    with pytest.raises(SourceError) as info:
        fetch(Fetcher(FetchPolicy(**loopback)), url)
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value) and len(server.log) == 0
    REFUSED.append(url)
    trusted = FetchPolicy(**loopback, ca_bundle=str(cert))  # the operator's own CA
    assert fetch(Fetcher(trusted), url).body == RSS


def test_tls_certificates_are_verified_for_slack(tls_server) -> None:
    server, _ = tls_server
    server.expect_request("/services/T/B/x").respond_with_data("ok")
    settings = SlackSettings(webhook_url=SecretStr(local(server, "/services/T/B/x")),
                             min_interval_s=0, timeout_s=5)  # fmt: skip
    with SlackWebhook(settings) as hook, pytest.raises(TransientDeliveryError) as info:
        hook.post(b'{"text": "x"}')
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value) and len(server.log) == 0
    assert "/services/T/B/x" not in str(info.value)
    REFUSED.append("slack over unverified TLS")


# --- timeouts and proxies -------------------------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Yield the port of a server that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


@pytest.mark.timeout(60)
def test_a_silent_server_times_out_every_client(silent_server: int) -> None:
    """Feeds, pages, Slack and SMTP each give up on a server that never answers."""
    policy = FetchPolicy(read_timeout_s=0.5, total_timeout_s=2, per_host_interval_s=0,
                         allowed_networks=("127.0.0.0/8",))  # fmt: skip
    with pytest.raises(TransientSourceError):
        fetch(Fetcher(policy), f"http://127.0.0.1:{silent_server}/feed")
    slack = SlackSettings(webhook_url=SecretStr(f"http://127.0.0.1:{silent_server}/hook"),
                          min_interval_s=0, timeout_s=0.5)  # fmt: skip
    with SlackWebhook(slack) as hook, pytest.raises(TransientDeliveryError, match="timed out"):
        hook.post(b"{}")
    smtp = SmtpSettings(host="127.0.0.1", port=silent_server, security="starttls", user=None,
                        password=None, sender="a@example.org", recipients=("b@example.org",),
                        timeout_s=0.5)  # fmt: skip
    with pytest.raises(TransientDeliveryError, match="timed out"):
        SmtpMailer(smtp).send(b"Subject: x\r\n\r\nx")
    REFUSED.extend(["silent feed", "silent slack", "silent smtp"])


def test_proxies_from_the_environment_are_not_used_by_the_fetcher(
    httpserver: HTTPServer, monkeypatch
) -> None:
    """A proxy would dial addresses nobody checked: the fetcher ignores HTTP(S)_PROXY."""
    proxy = HTTPServer(host="127.0.0.1", port=0)
    proxy.start()
    try:
        proxy.expect_request("").respond_with_data("proxied")
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
            monkeypatch.setenv(name, proxy.url_for("/"))
        httpserver.expect_request("/f").respond_with_data(RSS)
        policy = FetchPolicy(per_host_interval_s=0, allowed_networks=("127.0.0.1/32",))
        assert fetch(Fetcher(policy), local(httpserver, "/f")).body == RSS
        assert len(proxy.log) == 0
    finally:
        proxy.clear()
        proxy.stop()


# --- every outgoing call has a timeout and verifies TLS (a scan of the code) ---------------

CLIENT_CALLS = {  # call name -> the keyword that must be given
    "AsyncClient": "timeout", "Client": "timeout", "SMTP": "timeout", "SMTP_SSL": "timeout",
    "urlopen": "timeout", "create_connection": "timeout",
}  # fmt: skip
HTTPX_SHORTCUTS = {"get", "post", "put", "patch", "delete", "head", "request", "stream"}


def _calls(path: Path) -> Iterator[tuple[str, ast.Call]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(
                func.value, ast.Name) else ""  # fmt: skip
            yield (f"{owner}.{name}" if owner else name), node


def test_every_outgoing_client_has_a_timeout_and_never_disables_tls() -> None:
    problems, clients = [], []
    files = [p for d in ("connectors", "flows", "shiftwatch", "models") for p in
             (ROOT / d).rglob("*.py")]  # fmt: skip
    for path in files:
        for name, call in _calls(path):
            keywords = {k.arg: k.value for k in call.keywords}
            short = name.rsplit(".", 1)[-1]
            where = f"{path.relative_to(ROOT)}:{call.lineno} {name}"
            needed = CLIENT_CALLS.get(short)
            if name.startswith(("httpx.", "smtplib.", "socket.", "urllib")) or short in (
                "AsyncClient",
                "SMTP",
                "SMTP_SSL",
            ):
                if needed and needed not in keywords and not _splat(call):
                    problems.append(f"{where}: no {needed}=")
                clients += [where] if needed else []
            if name.startswith("httpx.") and short in HTTPX_SHORTCUTS and "timeout" not in keywords:
                problems.append(f"{where}: no timeout=")
            verify = keywords.get("verify")
            if isinstance(verify, ast.Constant) and verify.value is False:
                problems.append(f"{where}: verify=False")
            if short == "_create_unverified_context":
                problems.append(f"{where}: unverified TLS context")
    assert problems == []
    assert len(clients) >= 4, clients  # the fetcher, Slack, SMTP and SMTP over TLS at least


def _splat(call: ast.Call) -> bool:
    """Return whether keywords come from **kwargs (checked where they are built)."""
    return any(k.arg is None for k in call.keywords)
