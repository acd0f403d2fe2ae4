"""Hostile input through the real entry points: files, feeds, the fetcher, the monitor flow.

Every hostile input below is generated at test time (the big ones are streamed or sparse,
never stored): XML bombs, external entities, a DOCTYPE on the XML declaration's line,
compression bombs, 100 MB bodies, a 10 MB single line, NUL bytes, invalid UTF-8, mixed
encodings, 100,000 nested divs, script/style/event-handler markup, Slack and markdown
injection, absurd dates and a feed of 100,000 entries. Each must end as a stored document or
a recorded rejection with its reason (nothing lost, nothing raised), code must never reach
stored text, injected markup must arrive escaped in digests and alerts, and time and memory
stay bounded (pytest timeouts and generous memory ceilings; no timing assertions).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import re
import resource
import tracemalloc
import uuid
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_httpserver import HTTPServer
from reliability_support import record
from sqlalchemy import select
from werkzeug import Request, Response

from shiftwatch.connectors.feed_parser import parse_feed, raw_items
from shiftwatch.connectors.files import read_folder
from shiftwatch.connectors.http import Fetcher, FetchRefusedError
from shiftwatch.models import queries
from shiftwatch.models import tables as t
from shiftwatch.models.db import open_database, session_scope
from shiftwatch.pipeline.deliver import announcer
from shiftwatch.pipeline.feeds import fetch_policy
from shiftwatch.pipeline.ingest import ingest_items
from shiftwatch.pipeline.positions import update_positions
from shiftwatch.records import RawItem, Rejected, RejectReason
from shiftwatch.render.alerts import slack_alert_payload
from shiftwatch.render.digest import render_digest
from shiftwatch.settings import Settings

MB = 1024 * 1024
ANY = "stored or rejected"  # either is right, as long as it is recorded
MEMORY_CEILING = 1024 * MB  # generous: a leak or an expanded bomb blows far past it
# <template> content is inert and not in this list: trafilatura keeps it as text (reported).
CODE_MARKERS = ("SCRIPT_CANARY", "STYLE_CANARY", "HANDLER_CANARY", "JS_URL_CANARY",
                "IFRAME_CANARY", "SVG_CANARY", "OBJECT_CANARY")  # fmt: skip
XXE_CANARY = "XXE_CANARY_" + uuid.uuid4().hex[:8]
INJECTION = (
    "<!channel> <!here> @here <@U123ABC> <https://evil.example|click me> *bold* _it_ ~s~ "
    "`code` [link](javascript:alert(1)) <script>alert(1)</script> "
    "<img src=x onerror=alert(1)> # heading | cell"
)
ARMS_BEFORE = (
    "Deputy Foreign Minister Sergei Ryabkov said on Monday that Russia categorically rejects "
    'talks on arms control. "We reject these talks outright," Ryabkov told reporters in Geneva.'
)
ARMS_AFTER = (  # the injection sits inside the evidence sentence, and after it
    "Deputy Foreign Minister Sergei Ryabkov said on Tuesday that Russia is ready to discuss "
    f'arms control {INJECTION}. "We are ready to discuss arms control and missile placement," '
    f"Ryabkov told reporters in Geneva. {INJECTION}"
)


# --- builders ----------------------------------------------------------------------------


def front_matter(text: str, **fields: Any) -> bytes:
    """Return a markdown file: YAML front matter (safely quoted), then text."""
    head = yaml.safe_dump(fields, allow_unicode=True, sort_keys=False, width=10_000)
    return f"---\n{head}---\n{text}\n".encode()


def billion_laughs(levels: int = 9) -> str:
    """Return a DOCTYPE whose last entity expands to 10**levels 'lol's."""
    decls = ['<!ENTITY lol0 "lol">']
    decls += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels + 1)]
    return f"<!DOCTYPE rss [{''.join(decls)}]>"


def rss(items: str, *, doctype: str = "", decl: str = '<?xml version="1.0"?>\n') -> bytes:
    """Return an RSS 2.0 document around `items`."""
    channel = f"<channel><title>hostile</title><link>https://feeds.example/</link>{items}"
    return f'{decl}{doctype}<rss version="2.0">{channel}</channel></rss>'.encode()


def item(n: int | str, title: str = "", body: str = "", date: str = "") -> str:
    """Return one RSS item (body and title XML-escaped by the caller when needed)."""
    pub = f"<pubDate>{date}</pubDate>" if date else ""
    return (
        f"<item><title>{title or f'Entry {n}'}</title><link>https://feeds.example/{n}</link>"
        f"<description>{body or f'Item {n} of the feed.'}</description>{pub}</item>"
    )


def active_markup() -> str:
    """Return HTML where every kind of active content carries a canary."""
    return (
        "<html><head><style>.x{color:red} STYLE_CANARY</style>"
        "<script>var a = 'SCRIPT_CANARY';</script></head><body><article>"
        "<h1 onmouseover=\"alert('HANDLER_CANARY')\">Lavrov on expansion</h1>"
        "<p onclick=\"alert('HANDLER_CANARY')\">Foreign Minister Sergei Lavrov said on Monday "
        "that Russia rejects NATO expansion and insists on legal guarantees.</p>"
        '<img src="x" onerror="HANDLER_CANARY"><a href="javascript:JS_URL_CANARY()">more</a>'
        '<iframe srcdoc="IFRAME_CANARY"></iframe><svg><script>SVG_CANARY</script></svg>'
        '<template>TEMPLATE_CANARY</template><object data="OBJECT_CANARY"></object>'
        "<SCRIPT type='text/javascript'>SCRIPT_CANARY</SCRIPT >"
        "<p>The talks in Geneva ended without agreement, diplomats said.</p>"
        "</article></body></html>"
    )


def nested_divs(depth: int = 100_000) -> str:
    """Return HTML nested `depth` divs deep around one sentence."""
    return "<div>" * depth + "Russia rejects NATO expansion, Lavrov said." + "</div>" * depth


def ten_megabyte_line(size: int = 10 * MB) -> str:
    """Return one line of ordinary words, `size` characters long, without a newline."""
    words = "the weather in the valley stayed mild on Monday with light rain and a breeze "
    return (words * (size // len(words) + 1))[:size]


def hostile_files(folder: Path, xxe_file: Path) -> dict[str, RejectReason | str | None]:
    """Write the hostile files; return each name's expected rejection reason (None: stored)."""
    files: dict[str, tuple[bytes | None, RejectReason | str | None]] = {
        "ten-mb-line.txt": (ten_megabyte_line().encode(), RejectReason.OVERSIZED),
        # under the 5 MB byte cap, over the 1,000,000-character text cap after extraction
        "two-mb-line.txt": (ten_megabyte_line(2 * MB).encode(), RejectReason.OVERSIZED),
        "half-mb-line.txt": (ten_megabyte_line(MB // 2).encode(), None),
        "hundred-mb.txt": (None, RejectReason.OVERSIZED),  # sparse: costs no disk
        "nul-bytes.txt": ((b"Lavrov said Russia rejects NATO expansion. " * 4 + b"\x00") * 3,
                          None),  # under 1% NULs: text with stray NULs, read
        "binary.txt": (bytes(range(256)) * 64, RejectReason.UNDECODABLE),
        "invalid-utf8.txt": (b"Lavrov said \xff\xfe\xc3\x28 Russia rejects \xed\xa0\x80 NATO "
                             b"expansion in Geneva on Monday, officials confirmed.", ANY),
        "mixed-encodings.txt": ("Рябков заявил: ".encode() + "Россия настаивает на "
                                "гарантиях.".encode("cp1251"), ANY),
        "utf16.txt": ("\ufeffRussia rejects NATO expansion.".encode("utf-16"), None),
        "nested.html": (nested_divs().encode(), RejectReason.EMPTY),
        "active.html": (active_markup().encode(), None),
        "billion-laughs.html": ((billion_laughs() + "<html><body><p>&lol9; Lavrov spoke "
                                 "in Geneva on Monday.</p></body></html>").encode(), None),
        "xxe.html": ((f'<!DOCTYPE html [<!ENTITY x SYSTEM "{xxe_file.as_uri()}">]><html><body>'
                      "<p>&x; Lavrov spoke in Geneva on Monday.</p></body></html>").encode(),
                     None),
        # The date is refused (a bad_date record), the document kept.
        "year-0.md": (b"---\npublished: 0000-01-01\n---\nRussia rejects NATO expansion.",
                      None),
        "year-9999.md": (front_matter("Russia rejects expansion.",
                                      published="9999-12-31T23:59:59-14:00"), None),
        "zone-99.md": (front_matter("Russia rejects expansion.",
                                    published="2022-01-10T10:00:00+99:00"), None),
        "zone-garbage.md": (front_matter("Russia rejects expansion.",
                                         published="Mon, 10 Jan 2022 10:00 XYZT"), None),
        "date-float.md": (b"---\npublished: 1e308\n---\nRussia rejects NATO expansion.", None),
        "yaml-bomb.md": (yaml_bomb().encode(), None),
        "yaml-python.md": (b"---\ntitle: !!python/object/apply:os.system ['echo x']\n---\nx",
                           RejectReason.MALFORMED),
        "injection.md": (front_matter(INJECTION, title=INJECTION), None),
        "empty.txt": (b"", RejectReason.EMPTY),
        "blank.md": (b"---\ntitle: nothing\n---\n \n\t\n", RejectReason.EMPTY),
        "picture.png": (b"\x89PNG\r\n\x1a\n" + bytes(100), RejectReason.UNSUPPORTED),
    }  # fmt: skip
    for name, (body, _) in files.items():
        path = folder / name
        if body is None:
            with path.open("wb") as handle:
                handle.truncate(100 * MB)
        else:
            path.write_bytes(body)
    return {name: reason for name, (_, reason) in files.items()}


def yaml_bomb(levels: int = 8) -> str:
    """Return front matter whose `kind` is a YAML alias bomb (9**levels leaves)."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    lines.append(f"kind: *a{levels - 1}\ntitle: *a{levels - 1}\nlanguage: *a{levels - 1}")
    return "---\n" + "\n".join(lines) + "\n---\nRussia rejects NATO expansion, Lavrov said."


# --- helpers -----------------------------------------------------------------------------


class Bounded:
    """Measure RSS growth of a block (and, with `trace`, its peak traced Python memory),
    asserted against a generous ceiling. tracemalloc slows CPU-bound code 2-3x: only the
    I/O-bound blocks trace."""

    def __init__(self, *, trace: bool = False) -> None:
        self.trace = trace
        self.peak = 0

    def __enter__(self) -> Bounded:
        if self.trace:
            tracemalloc.start()
        self.rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return self

    def __exit__(self, *exc: object) -> None:
        if self.trace:
            self.peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.rss_growth = rss_after - self.rss_before

    def check(self) -> None:
        """Assert the block stayed under the generous ceiling."""
        assert self.peak < MEMORY_CEILING, f"peak {self.peak / MB:.0f} MB"
        assert self.rss_growth < MEMORY_CEILING, f"RSS grew {self.rss_growth / MB:.0f} MB"


def stored(engine: Any) -> tuple[dict[str, t.Document], list[t.Rejection]]:
    """Return the stored documents by URL and the rejections."""
    with session_scope(engine) as session:
        docs = {d.url: d for d in session.execute(select(t.Document)).scalars()}
        rejections = list(session.execute(select(t.Rejection)).scalars())
    return docs, rejections


def lost(urls: list[str], engine: Any) -> list[str]:
    """Return the URLs that became neither a document nor a rejection."""
    docs, rejections = stored(engine)
    rejected = {r.item for r in rejections}
    return [u for u in urls if u not in docs and u not in rejected]


def code_in_text(engine: Any) -> list[str]:
    """Return the code markers found in stored titles and texts, and script tags left in
    text extracted from HTML (plain text and titles may quote "<script>" as words: they
    are escaped where they are shown)."""
    docs, _ = stored(engine)
    found = []
    for url, doc in docs.items():
        blob = f"{doc.title}\n{doc.text}"
        found += [m for m in CODE_MARKERS if m in blob]
        from_html = url.endswith(".html") or url.startswith("https://feeds.example/")
        found += ["<script"] if from_html and re.search(r"<script", doc.text, re.I) else []
    return found


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Any]:
    engine = open_database(f"sqlite:///{tmp_path / 'hostile.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def xxe_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(XXE_CANARY, encoding="utf-8")
    return path


# --- files -------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_hostile_files_are_stored_or_rejected_with_their_reason(
    tmp_path: Path, db: Any, analyzer: Any, xxe_file: Path
) -> None:
    folder = tmp_path / "hostile"
    folder.mkdir()
    expected = hostile_files(folder, xxe_file)
    crashes = 0
    with Bounded() as bounds:
        try:
            batch = read_folder(folder, max_bytes=Settings().max_document_bytes)
            ingest_items(db, analyzer, batch.items, "run-files", batch.rejected)
        except Exception:
            crashes += 1
            raise
        finally:
            urls = [(folder / n).resolve().as_uri() for n in expected]
            missing = lost(urls, db) if not crashes else urls
            record("hostile-files", inputs=len(expected), crashes=crashes, losses=len(missing))
    bounds.check()
    assert missing == []
    docs, rejections = stored(db)
    reasons = {r.item.rsplit("/", 1)[-1]: r.reason for r in rejections}
    for name, reason in expected.items():
        url = (folder / name).resolve().as_uri()
        if reason is None:
            assert url in docs, (name, reasons.get(name))
        elif reason != ANY:
            assert reasons.get(name) == reason, (name, reasons.get(name))
    texts = "\n".join(d.text + d.title for d in docs.values())
    assert code_in_text(db) == []
    assert XXE_CANARY not in texts and "lollollol" not in texts
    assert "\x00" not in texts
    for name in ("year-0.md", "year-9999.md", "zone-99.md", "date-float.md"):
        assert docs[(folder / name).resolve().as_uri()].published_at is None, name
        assert reasons.get(name) == RejectReason.BAD_DATE, (name, reasons.get(name))
    record("hostile-files", rejected=len(rejections))


# --- feeds -------------------------------------------------------------------------------


ABSURD_DATES = [
    "Sat, 01 Jan 0000 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT",
    "Mon, 10 Jan 2022 10:00:00 +9900", "Mon, 10 Jan 2022 10:00:00 XYZT",
    "not a date at all", "2022-13-45T25:61:61Z", "-1", "Mon, 10 Jan 2022 10:00:00 -2400",
]  # fmt: skip


def hostile_feeds(xxe_file: Path) -> dict[str, tuple[bytes, RejectReason | None]]:
    """Return hostile feed bodies and the refusal each must meet (None: entries are read)."""
    dtd = xxe_file.with_suffix(".dtd")
    dtd.write_text(f'<!ENTITY secret "{XXE_CANARY}">', encoding="utf-8")
    injected = item("inject", title=_xml(INJECTION), body=_xml(f"<p>{INJECTION}</p>"))
    dates = "".join(item(f"date-{i}", date=d) for i, d in enumerate(ABSURD_DATES))
    active = item("active", body=_xml(active_markup()))
    nested = item("nested", body=_xml(nested_divs()))
    russian = "Рябков заявил, что Россия настаивает на юридических гарантиях. " * 4
    garbled = rss(item("bytes", title="Рябков", body=russian + "STRAY")).replace(
        b"STRAY", "Москва".encode("cp1251") + b"\xff\xfe\x00 \x01\x1b"
    )  # mostly UTF-8, with a cp1251 word, invalid bytes, a NUL and control characters
    entity_line = '<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    return {
        "billion-laughs": (rss(item(1, title="&lol9;"), doctype=billion_laughs()),
                           RejectReason.UNSAFE),
        "external-entity": (rss(item(1, title="&xxe;"), doctype=(
            f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{xxe_file.as_uri()}">]>')), RejectReason.UNSAFE),
        "parameter-entity": (rss(item(1), doctype=(
            f'<!DOCTYPE rss [<!ENTITY % p SYSTEM "{xxe_file.as_uri()}"> %p;]>')),
            RejectReason.UNSAFE),
        "doctype-on-declaration-line": (rss(item(1, title="&b;"), decl='<?xml version="1.0"?>',
                                            doctype=f"<!DOCTYPE rss [{entity_line}]>"),
                                        RejectReason.UNSAFE),
        "external-dtd": (rss(item(1, title="&secret;"),
                             doctype=f'<!DOCTYPE rss SYSTEM "{dtd.as_uri()}">'), None),
        "absurd-dates": (rss(dates), None),
        "injection-and-code": (rss(injected + active + nested), None),
        "nul-invalid-mixed-bytes": (garbled, None),
        "html-page": (b"<!doctype html><html><body><p>Login</p></body></html>",
                      RejectReason.NOT_A_FEED),
        "json": (b'{"items": []}', RejectReason.NOT_A_FEED),
    }  # fmt: skip


def _xml(text: str) -> str:
    """Return text escaped for an XML text node."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def ingest_feed(
    engine: Any, analyzer: Any, name: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[Any, list[RawItem]]:
    """Parse a feed body and ingest its entries and rejections; return (parsed, items)."""
    parsed = parse_feed(body, headers or {}, url=f"https://feeds.example/{name}.xml",
                        fetched_at=datetime.now(UTC), source_id=name)  # fmt: skip
    items = raw_items(parsed, source_id=name)
    rejected = [*parsed.rejected, *([parsed.refusal] if parsed.refusal else [])]
    ingest_items(engine, analyzer, items, f"run-{name}", rejected)
    return parsed, items


@pytest.mark.timeout(120)
def test_hostile_feeds_are_read_safely_or_refused(db: Any, analyzer: Any, xxe_file: Path):
    feeds = hostile_feeds(xxe_file)
    crashes, missing, urls = 0, [], []
    with Bounded() as bounds:
        for name, (body, refusal) in feeds.items():
            try:
                parsed, items = ingest_feed(db, analyzer, name, body)
            except Exception:
                crashes += 1
                raise
            assert (parsed.refusal.reason if parsed.refusal else None) == refusal, name
            urls += [i.url for i in items] + ([parsed.url] if parsed.refusal else [])
    missing = lost(urls, db)
    record("hostile-feeds", inputs=len(feeds) + len(urls), crashes=crashes, losses=len(missing))
    bounds.check()
    assert missing == []
    docs, _ = stored(db)
    texts = "\n".join(f"{d.title}\n{d.text}" for d in docs.values())
    assert code_in_text(db) == [] and XXE_CANARY not in texts and "lollol" not in texts
    assert "\x00" not in texts and "Рябков" in texts
    dated = {u.rsplit("/", 1)[-1]: d for u, d in docs.items() if "/date-" in u}
    assert len(dated) == len(ABSURD_DATES)
    now = datetime.now(UTC)
    assert all(d.published_at is None or d.published_at <= now for d in dated.values())
    for n in (0, 1, 4, 6):  # year 0, year 9999, words, "-1": the fetch time stands in, flagged
        assert dated[f"date-{n}"].date_source == "fetched", n


def _entry_date(date: str) -> tuple[datetime | None, str | None]:
    parsed = parse_feed(rss(item(1, date=date)), {}, url="https://feeds.example/d.xml",
                        fetched_at=datetime(2030, 1, 1, tzinfo=UTC))  # fmt: skip
    entry = parsed.entries[0]
    return entry.published_at, entry.date_flag


@pytest.mark.parametrize("date", ["Mon, 10 Jan 2022 10:00:00 +9900",
                                  "Mon, 10 Jan 2022 10:00:00 -2400"])  # fmt: skip
def test_an_impossible_zone_offset_is_ignored_not_applied(date: str) -> None:
    published, flag = _entry_date(date)
    assert published == datetime(2022, 1, 10, 10, tzinfo=UTC) and flag == "zone_ignored"


def test_an_impossible_calendar_date_is_invalid_not_rolled_over() -> None:
    published, flag = _entry_date("2022-13-45T25:61:61Z")
    assert published is None and flag == "invalid"


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_feed_of_100000_entries_is_capped_and_every_entry_accounted(db, analyzer) -> None:
    body = rss("".join(item(i) for i in range(100_000)))
    with Bounded() as bounds:
        parsed = parse_feed(body, {}, url="https://feeds.example/flood.xml",
                            fetched_at=datetime.now(UTC), source_id="flood")  # fmt: skip
    bounds.check()
    dropped = [r for r in parsed.rejected if r.reason == RejectReason.OVERSIZED]
    read = len(parsed.entries)
    not_read = int(dropped[0].detail.split()[0]) if dropped else 0
    # Every entry the parser read becomes a document (checked for all, stored for a sample:
    # analysing 10,000 entries is the monitor's job, not the campaign's).
    from shiftwatch.analysis.text.documents import build_document

    items = raw_items(parsed, source_id="flood")
    built = [build_document(i) for i in items]
    failed = [b for b in built if isinstance(b, Rejected)]
    ingest_items(db, analyzer, items[::50], "run-flood", parsed.rejected)
    missing = lost([i.url for i in items[::50]], db)
    record("hostile-feeds", inputs=100_000, rejected=not_read, losses=len(missing))
    assert read + not_read == 100_000 and read >= 1_000
    assert failed == [] and missing == []
    _, rejections = stored(db)
    assert any(r.reason == "oversized" and "90000" in (r.detail or "") for r in rejections)


# --- the fetcher on loopback -------------------------------------------------------------


def zeros_gzip(size: int, layers: int = 1) -> bytes:
    """Return `size` zero bytes gzip-compressed `layers` times (a compression bomb)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(MB)
    body = b"".join(compressor.compress(chunk) for _ in range(size // MB)) + compressor.flush()
    for _ in range(layers - 1):
        body = gzip.compress(body, 9)
    return body


def streamed(total: int, *, declare: bool) -> Callable[[Request], Response]:
    """Return a handler streaming `total` bytes of XML-ish filler, never holding them."""
    chunk = b"<!-- filler -->" * 4096

    def body() -> Iterator[bytes]:
        sent = 0
        while sent < total:
            yield chunk
            sent += len(chunk)

    def handler(request: Request) -> Response:
        headers = {"Content-Type": "application/rss+xml"}
        if declare:
            headers["Content-Length"] = str(total)
        return Response(body(), headers=headers, direct_passthrough=True)

    return handler


def loopback_settings(**changes: Any) -> Settings:
    """Return settings allowing loopback (the test servers), everything else default."""
    return Settings(allowed_networks="127.0.0.0/8,::1/128", **changes)


async def _fetch(url: str, settings: Settings) -> Any:
    async with Fetcher(fetch_policy(settings)) as fetcher:
        return await fetcher.fetch(url)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_fetcher_refuses_bombs_and_huge_bodies(httpserver: HTTPServer, db, analyzer):
    bomb = zeros_gzip(256 * MB)
    layered = zeros_gzip(256 * MB, layers=2)
    gz = {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"}
    httpserver.expect_request("/gzip-bomb").respond_with_data(bomb, headers=gz)
    httpserver.expect_request("/double-gzip-bomb").respond_with_data(
        layered, headers={**gz, "Content-Encoding": "gzip, gzip"})  # fmt: skip
    httpserver.expect_request("/triple").respond_with_data(
        layered, headers={**gz, "Content-Encoding": "gzip, gzip, gzip"})  # fmt: skip
    httpserver.expect_request("/brotli").respond_with_data(
        b"\x00" * 64, headers={**gz, "Content-Encoding": "br"})  # fmt: skip
    httpserver.expect_request("/corrupt-gzip").respond_with_data(b"\x1f\x8b\x08junk", headers=gz)
    httpserver.expect_request("/huge-chunked").respond_with_handler(
        streamed(100 * MB, declare=False))  # fmt: skip
    httpserver.expect_request("/huge-declared").respond_with_handler(
        streamed(100 * MB, declare=True))  # fmt: skip
    expected = {
        "/gzip-bomb": RejectReason.UNSAFE, "/double-gzip-bomb": RejectReason.UNSAFE,
        "/triple": RejectReason.UNSAFE, "/brotli": RejectReason.UNSUPPORTED,
        "/corrupt-gzip": RejectReason.UNREADABLE, "/huge-chunked": RejectReason.OVERSIZED,
        "/huge-declared": RejectReason.OVERSIZED,
    }  # fmt: skip
    settings = loopback_settings()
    got: dict[str, RejectReason | None] = {}
    crashes = 0
    with Bounded(trace=True) as bounds:
        for path in expected:
            try:
                asyncio.run(_fetch(httpserver.url_for(path), settings))
                got[path] = None
            except FetchRefusedError as exc:
                got[path] = exc.reason
            except Exception:
                crashes += 1
                raise
    record("hostile-http", inputs=len(expected), crashes=crashes, rejected=len(got))
    bounds.check()
    assert got == expected


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_ten_megabyte_line_is_fetched_parsed_and_rejected_as_oversized(
    httpserver: HTTPServer, db, analyzer
):
    """A 9.5 MB entry (under the 10,000,000-byte wire cap) is over the 2,000,000-character
    entry cap (issue 19: a 9 MB entry was stored at 1.3 GB): rejected with its size; a
    400 KB entry in the same feed is stored."""
    line = ten_megabyte_line(9_500_000)
    body = rss(item("long", body=line) + item("big", body=line[:400_000]))
    httpserver.expect_request("/long.xml").respond_with_data(
        body, content_type="application/rss+xml")  # fmt: skip
    with Bounded() as bounds:
        result = asyncio.run(_fetch(httpserver.url_for("/long.xml"), loopback_settings()))
        _, items = ingest_feed(db, analyzer, "long", result.body, result.headers)
    bounds.check()
    docs, rejections = stored(db)
    urls = ["https://feeds.example/long", *(i.url for i in items)]
    record("hostile-http", inputs=2, losses=len(lost(urls, db)))
    assert [i.url for i in items] == ["https://feeds.example/big"]
    assert len(docs["https://feeds.example/big"].text) >= 390_000
    (refused,) = [r for r in rejections if r.item == "https://feeds.example/long"]
    assert refused.reason == "oversized" and "2,000,000-character cap" in refused.detail


# --- injection arrives escaped -----------------------------------------------------------


def _shift_with_injection(folder: Path) -> None:
    """Write two documents whose stances make one shift, the second titled with markup."""
    folder.mkdir()
    (folder / "day1.md").write_bytes(
        front_matter(ARMS_BEFORE, title="Ryabkov: no talks", published="2022-01-10T09:00:00Z")
    )
    (folder / "day2.md").write_bytes(
        front_matter(ARMS_AFTER, title=INJECTION, published="2022-01-11T15:00:00Z")
    )


def unescaped(fmt: str, text: str) -> list[str]:
    """Return the injected constructs that survive unescaped in a rendering."""
    checks = {
        "slack": [r"<!channel>", r"<!here", r"<@U123", r"<https://evil", r"<script"],
        "markdown": [r"(?<!\\)<script", r"(?<!\\)<img", r"(?<!\\)\]\(javascript",
                     r"(?<!\\)<!channel>"],
        "html": [r"<script", r"<img", r"href=\"javascript", r"<!channel>"],
    }  # fmt: skip
    return [c for c in checks.get(fmt, []) if re.search(c, text)]


@pytest.mark.timeout(120)
def test_injected_titles_and_quotes_arrive_escaped(tmp_path: Path, db, analyzer, watchlist):
    folder = tmp_path / "injection"
    _shift_with_injection(folder)
    settings = Settings(
        database_url="sqlite://", outbox_dir=tmp_path / "outbox", slack_min_interval_s=0,
        slack_webhook_url="https://hooks.slack.example/services/T/B/x",
        smtp_host="127.0.0.1", email_from="sw@example.org", email_to="analyst@example.org",
    )  # fmt: skip
    batch = read_folder(folder, max_bytes=settings.max_document_bytes)
    result = ingest_items(db, analyzer, batch.items, "run-inject", batch.rejected)
    positions = update_positions(db, result.pairs, result.new_document_ids, "run-inject",
                                 announcer(settings, "run-inject"))  # fmt: skip
    assert positions.announced, "the two documents must make one announced shift"
    from shiftwatch.pipeline.deliver import run_delivery

    report = run_delivery(db, settings, watchlist, owner="test", write_only=True)
    assert report.written == 2, report
    found: dict[str, list[str]] = {}
    with session_scope(db) as session:
        data = queries.digest_data(session, watchlist)
        view = queries.shift_view(session, positions.announced[0], watchlist)
    for fmt in ("text", "markdown", "html", "slack"):
        found[f"digest.{fmt}"] = unescaped(fmt, render_digest(data, fmt))
    shift_id = positions.announced[0]
    payload = json.loads((tmp_path / "outbox" / f"{shift_id}.slack.json").read_text("utf-8"))
    found["alert.slack"] = unescaped("slack", json.dumps(payload, ensure_ascii=False))
    found["alert.slack.link_names"] = ["link_names"] if "link_names" in payload else []
    assert payload == slack_alert_payload(view, f"{shift_id}:slack")
    email = message_from_bytes((tmp_path / "outbox" / f"{shift_id}.email.eml").read_bytes(),
                               policy=policy.default)  # fmt: skip
    html = email.get_body(("html",)).get_content()
    found["alert.email.html"] = unescaped("html", html)
    record("injection", inputs=len(found), leaks=sum(map(len, found.values())))
    assert {k: v for k, v in found.items() if v} == {}
    quoted = json.dumps(payload["blocks"], ensure_ascii=False)
    assert quoted.count("&lt;!channel&gt;") >= 2, "the title and the quote carry the injection"
    assert "&lt;!channel&gt;" in html


# --- the whole monitor flow ---------------------------------------------------------------


@pytest.mark.prefect
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_the_monitor_survives_a_hostile_mix(
    prefect_harness, httpserver: HTTPServer, tmp_path: Path, monkeypatch, xxe_file: Path
) -> None:
    """Hostile files and feeds in one monitor run: it completes, and accounts for each."""
    from shiftwatch.flows.monitor import monitor

    monkeypatch.setenv("SHIFTWATCH_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
    monkeypatch.setenv("SHIFTWATCH_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("SHIFTWATCH_SLACK_WEBHOOK_URL", "https://hooks.slack.example/T/B/x")
    folder = tmp_path / "seeds"
    _shift_with_injection(folder)
    everything = tmp_path / "all"
    everything.mkdir()
    hostile_files(everything, xxe_file)
    for name in (
        "active.html",
        "year-0.md",
        "nul-bytes.txt",
        "hundred-mb.txt",
        "yaml-bomb.md",
        "binary.txt",
        "zone-99.md",
        "invalid-utf8.txt",
    ):
        (everything / name).rename(folder / name)
    feeds = {n: b for n, (b, _) in hostile_feeds(xxe_file).items()}
    for name, body in feeds.items():
        httpserver.expect_request(f"/{name}.xml").respond_with_data(
            body, content_type="application/rss+xml")  # fmt: skip
    httpserver.expect_request("/gzip-bomb.xml").respond_with_data(
        zeros_gzip(64 * MB), headers={"Content-Encoding": "gzip"})  # fmt: skip
    httpserver.expect_request("/huge.xml").respond_with_handler(streamed(100 * MB, declare=False))
    urls = [httpserver.url_for(f"/{n}.xml") for n in [*feeds, "gzip-bomb", "huge"]]
    db_url = f"sqlite:///{tmp_path / 'monitor.db'}"
    with Bounded() as bounds:
        summary = monitor(seeds=[str(folder)], feeds=urls, database_url=db_url, deliver=False)
    bounds.check()
    engine = open_database(db_url)
    docs, rejections = stored(engine)
    rejected_items = {r.item for r in rejections}
    files = [p.resolve().as_uri() for p in folder.iterdir()]
    missing = [u for u in files if u not in docs and u not in rejected_items]
    failed_feeds = {r.item.rsplit("/", 1)[-1] for r in rejections if r.stage.startswith("feed")}
    record("hostile-monitor", inputs=len(files) + len(urls), losses=len(missing))
    assert missing == []
    assert {"billion-laughs.xml", "external-entity.xml", "gzip-bomb.xml", "huge.xml",
            "doctype-on-declaration-line.xml"} <= failed_feeds  # fmt: skip
    assert code_in_text(engine) == []
    assert summary["announced"] >= 1
    outbox_files = list((tmp_path / "outbox").iterdir())
    assert outbox_files and all(unescaped("slack", p.read_text("utf-8")) == []
                                for p in outbox_files)  # fmt: skip
    with session_scope(engine) as session:
        run = session.execute(select(t.Run)).scalars().one()
    assert run.status == "completed"
    engine.dispose()
