"""Issue 19 item 3: bounded memory and time under hostile input.

Entity amplification with plain entities, feed lists and OPML read like every other local
file, the per-run byte budget, and the peak RSS of a whole poll-and-ingest over a hostile
mix of feeds (measured in a child process, which reports its own `ru_maxrss`).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from reliability_support import record
from sqlalchemy import select
from werkzeug import Request, Response

from shiftwatch.connectors.feed_parser import MAX_ENTITY_GROWTH, parse_feed
from shiftwatch.connectors.feedlist import MAX_LIST_BYTES, FeedConfig, load_feedlist, read_opml
from shiftwatch.connectors.feeds import fair_order, new_state
from shiftwatch.errors import ConfigError
from shiftwatch.models import sources as source_store
from shiftwatch.models import tables as t
from shiftwatch.models.db import open_database, session_scope
from shiftwatch.pipeline.feeds import poll_feeds
from shiftwatch.records import RejectReason
from shiftwatch.settings import Settings

YAML_BOMB = "\n".join(
    ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    + ["feeds: *a8"]
)

ENTITIES = "".join(f'<!ENTITY e{i} "{"x" * 60}">' for i in range(60))


def amplifying_feed(references: int) -> bytes:
    """Return an RSS feed with 60 plain 60-character entities, referenced `references` times."""
    refs = "".join(f"&e{i % 60};" for i in range(references))
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [{ENTITIES}]><rss version="2.0"><channel>'
        f"<title>t</title><item><title>a</title><link>https://x.example/a</link>"
        f"<description>{refs}</description></item></channel></rss>"
    ).encode()


def _parse(body: bytes):
    return parse_feed(body, {}, url="https://x.example/f.xml", fetched_at=datetime.now(UTC))


def test_plain_entities_that_amplify_are_refused_before_feedparser() -> None:
    body = amplifying_feed(2_000_000)  # 9.7 MB, 43 KB gzipped, 120 MB once expanded
    assert len(gzip.compress(body)) < 64 * 1024
    parsed = _parse(body)
    assert parsed.refusal is not None and parsed.refusal.reason == RejectReason.UNSAFE
    assert "entity amplification" in parsed.refusal.detail


def test_a_few_declared_entities_still_read() -> None:
    parsed = _parse(amplifying_feed(1_000))
    assert parsed.refusal is None and len(parsed.entries) == 1
    assert len(parsed.entries[0].html) == 60_000 < MAX_ENTITY_GROWTH


LIST_ATTACKS: dict[str, Callable[[Path], object]] = {
    "fifo": lambda p: os.mkfifo(p),
    "dev-zero": lambda p: p.symlink_to("/dev/zero"),
    "oversized": lambda p: p.write_bytes(b"feeds: []\n" + b"#" * (MAX_LIST_BYTES + 1)),
    "alias-bomb": lambda p: p.write_text(YAML_BOMB),
}


@pytest.mark.timeout(20)
@pytest.mark.parametrize("attack", sorted(LIST_ATTACKS))
def test_a_hostile_feed_list_or_opml_is_one_config_error(tmp_path: Path, attack: str) -> None:
    for name, load in (("feeds.yaml", load_feedlist), ("feeds.opml", read_opml)):
        path = tmp_path / name
        LIST_ATTACKS[attack](path)
        if attack == "alias-bomb" and name.endswith(".opml"):
            continue  # OPML is XML: its DTDs are refused by defusedxml (test_feedlist)
        with pytest.raises(ConfigError, match=name.replace(".", r"\.")) as caught:
            load(path)
        detail = {"fifo": "FIFO", "dev-zero": "pseudo-file", "oversized": "bytes",
                  "alias-bomb": "aliases"}[attack]  # fmt: skip
        assert detail in str(caught.value)


def _rss_feed(n: int, size: int) -> bytes:
    """Return a one-entry RSS feed of about `size` bytes."""
    words = "Russia rejects NATO expansion, Ryabkov said. " * (size // 46)
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t{n}</title><item>'
        f"<title>Entry {n}</title><link>https://big.example/{n}</link>"
        f"<description>{words}</description></item></channel></rss>"
    ).encode()


@pytest.mark.timeout(60)
def test_the_run_byte_budget_rejects_what_is_past_it_and_the_run_goes_on(httpserver, tmp_path):
    for n in range(3):
        httpserver.expect_request(f"/f{n}.xml").respond_with_data(
            _rss_feed(n, 600_000), content_type="application/rss+xml"
        )
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'budget.db'}",
        allowed_networks="127.0.0.0/8",
        run_max_fetch_bytes=1_500_000,
    )
    engine = open_database(settings.database_url)
    feeds = [FeedConfig(url=httpserver.url_for(f"/f{n}.xml")) for n in range(3)]
    batch = poll_feeds(engine, feeds, settings)
    statuses = sorted(h.status for h in batch.health)
    assert statuses == ["failed", "updated", "updated"]
    (refused,) = [r for r in batch.rejected if r.stage == "feed_fetch"]
    assert refused.reason == RejectReason.OVERSIZED and "budget" in refused.detail
    assert len(batch.items) == 2
    with session_scope(engine) as session:
        states = source_store.load_source_states(session, [f.id for f in feeds])
    failed = next(s for s in states.values() if s["last_error"])
    assert failed["consecutive_failures"] == 0 and failed["next_poll_at"] is None  # due next run
    engine.dispose()


def test_failing_feeds_queue_behind_healthy_ones() -> None:
    feeds = [FeedConfig(url=f"https://f.example/{n}.xml") for n in range(4)]
    states = {
        feeds[0].id: replace(new_state(feeds[0]), consecutive_failures=3),
        feeds[2].id: replace(new_state(feeds[2]), consecutive_failures=1),
        feeds[3].id: new_state(feeds[3]),
    }
    assert fair_order(feeds, states) == [feeds[1], feeds[3], feeds[0], feeds[2]]
    hosts = [FeedConfig(url=f"https://{h}.example/{n}.xml") for n, h in enumerate("abab")]
    assert fair_order(hosts, {}) == [hosts[0], hosts[2], hosts[1], hosts[3]]  # host by host


# --- a whole run over a hostile mix, in a child process ----------------------------------

MB = 1024 * 1024
RSS_CEILING = 600 * MB  # issue 19: peak RSS of a run under the hostile mix
DRIVER = Path(__file__).with_name("hostile_run_driver.py")
BILLION_LAUGHS = (
    '<!DOCTYPE rss [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)).replace(
        "&lol0;", "&lol;"
    )
    + "]>"
)


def _gzip_zeros(size: int) -> bytes:
    """Return `size` zero bytes gzipped (a 256 MB bomb is 250 KB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return b"".join(compressor.compress(bytes(MB)) for _ in range(size // MB)) + compressor.flush()


def _streamed(total: int) -> Callable[[Request], Response]:
    """Return a handler streaming `total` bytes, chunked, never holding them."""

    def handler(request: Request) -> Response:
        chunk = b"<!-- filler -->" * 4096
        return Response(
            (chunk for _ in range(total // len(chunk))),
            content_type="application/rss+xml",
            direct_passthrough=True,
        )

    return handler


def _normal_feed(n: int) -> bytes:
    items = "".join(
        f"<item><title>Talks {n}.{i}</title><link>https://normal.example/{n}/{i}</link>"
        f"<description>Russia rejects NATO expansion, Ryabkov said ({n}.{i}).</description>"
        f"<pubDate>Mon, 10 Jan 2022 10:0{i}:00 GMT</pubDate></item>"
        for i in range(5)
    )
    channel = f"<channel><title>n{n}</title>{items}</channel>"
    return f'<?xml version="1.0"?><rss version="2.0">{channel}</rss>'.encode()


def _hostile_folder(folder: Path) -> None:
    """Write a folder of normal and hostile documents (the folder itself stays readable)."""
    folder.mkdir()
    (folder / "normal.md").write_text(
        "---\ntitle: Normal\npublished: 2022-01-10\n---\n"
        "Russia rejects NATO expansion, Lavrov said."
    )
    (folder / "bomb.md").write_text(
        "---\n" + YAML_BOMB.replace("feeds:", "title:") + "\n---\nText."
    )
    (folder / "dev-zero.txt").symlink_to("/dev/zero")
    os.mkfifo(folder / "fifo.txt")
    (folder / "too-big.txt").write_bytes(b"word " * 2_000_000)  # 10 MB > the 5 MB default


def _serve_hostile_mix(httpserver: HTTPServer) -> tuple[list[str], list[str]]:
    """Serve the hostile feeds and three normal ones; return (hostile URLs, normal URLs)."""
    gz = {"Content-Encoding": "gzip", "Content-Type": "application/rss+xml"}
    hostile = {
        "amplify.xml": (gzip.compress(amplifying_feed(4_000_000)), gz),  # 86 KB -> 19 MB
        "gzip-bomb.xml": (_gzip_zeros(256 * MB), gz),
        "billion-laughs.xml": (
            f'<?xml version="1.0"?>{BILLION_LAUGHS}<rss version="2.0"><channel>'
            "<item><title>&lol9;</title></item></channel></rss>".encode(),
            {"Content-Type": "application/rss+xml"},
        ),
        "nine-mb.xml": (_rss_feed(99, 9_000_000), {"Content-Type": "application/rss+xml"}),
    }
    for name, (body, headers) in hostile.items():
        httpserver.expect_request(f"/{name}").respond_with_data(body, headers=headers)
    httpserver.expect_request("/huge.xml").respond_with_handler(_streamed(100 * MB))
    for n in range(3):
        httpserver.expect_request(f"/normal-{n}.xml").respond_with_data(
            _normal_feed(n), content_type="application/rss+xml"
        )
    urls = [httpserver.url_for(f"/{name}") for name in [*hostile, "huge.xml"]]
    return urls, [httpserver.url_for(f"/normal-{n}.xml") for n in range(3)]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_run_over_a_hostile_mix_stays_under_600_mb_and_stores_the_normal_feeds(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    folder = tmp_path / "seeds"
    _hostile_folder(folder)
    hostile, normal = _serve_hostile_mix(httpserver)
    db_url = f"sqlite:///{tmp_path / 'mix.db'}"
    config = tmp_path / "run.json"
    config.write_text(json.dumps({
        "settings": {"database_url": db_url, "allowed_networks": "127.0.0.0/8"},
        "folders": [str(folder)], "feeds": [*hostile, *normal],
    }))  # fmt: skip
    child = subprocess.run([sys.executable, str(DRIVER), str(config)], stdout=subprocess.PIPE,
                           text=True, timeout=280, cwd=tmp_path)  # fmt: skip
    assert child.returncode == 0
    summary = json.loads(child.stdout.strip().splitlines()[-1])
    # The driver's own peak (its process and its children): RUSAGE_CHILDREN of this test
    # process would also count any other child that ends meanwhile (a Prefect server).
    peak = summary["peak_rss_kb"] * 1024
    print(f"hostile mix: peak RSS {peak / MB:.0f} MB, {summary['seconds']}s, {summary}")
    engine = open_database(db_url)
    with session_scope(engine) as session:
        docs = {d.url for d in session.execute(select(t.Document)).scalars()}
        reasons = {r.item: r.reason for r in session.execute(select(t.Rejection)).scalars()}
    engine.dispose()
    expected = {f"https://normal.example/{n}/{i}" for n in range(3) for i in range(5)}
    record("hostile-run", inputs=len(hostile) + len(normal) + 6,
           losses=len(expected - docs))  # fmt: skip
    assert expected <= docs
    assert (folder / "normal.md").resolve().as_uri() in docs
    assert {reasons[u] for u in hostile if u in reasons} <= {"unsafe", "oversized"}
    assert [u.rsplit("/", 1)[1] for u in hostile if u not in reasons] == ["nine-mb.xml"]
    assert 0 < peak < RSS_CEILING, f"peak RSS {peak / MB:.0f} MB"


@pytest.mark.timeout(60)
def test_a_trickling_article_page_keeps_the_entry_and_records_a_timeout(httpserver, tmp_path):
    stop = threading.Event()

    def drip(request: Request) -> Response:
        def chunks() -> Iterator[bytes]:
            yield b"<html><body>"
            while not stop.wait(0.5):
                yield b" "

        return Response(chunks(), content_type="text/html")

    link = httpserver.url_for("/article")
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>'
        f"<title>Talks</title><link>{link}</link><description>Summary.</description>"
        "</item></channel></rss>"
    )
    httpserver.expect_request("/feed.xml").respond_with_data(
        feed, content_type="application/rss+xml"
    )
    httpserver.expect_request("/article").respond_with_handler(drip)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'page.db'}",
                        allowed_networks="127.0.0.0/8", feed_deadline_s=1.5)  # fmt: skip
    engine = open_database(settings.database_url)
    try:
        config = FeedConfig(url=httpserver.url_for("/feed.xml"), fetch_full_article=True)
        batch = poll_feeds(engine, [config], settings)
    finally:
        stop.set()
        engine.dispose()
    assert [i.url for i in batch.items] == [link]
    assert batch.items[0].meta["full_article"] == "failed"
    (page,) = [r for r in batch.rejected if r.stage == "article_fetch"]
    assert page.reason == RejectReason.TIMEOUT and "1.5s deadline" in page.detail
