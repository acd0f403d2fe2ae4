"""Feeds end to end: a loopback feed server → the monitor flow → documents, stances, health."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from typer.testing import CliRunner
from werkzeug.wrappers import Response

from shiftwatch.cli import app

pytestmark = pytest.mark.prefect

ITEMS = [
    (
        "https://news.example.org/geneva?id=1&utm_source=rss",
        "Рябков: Россия настаивает на юридических гарантиях",
        "Замминистра иностранных дел Сергей Рябков заявил, что Россия настаивает на юридически "
        "обязывающих гарантиях нерасширения НАТО. «Для нас это абсолютный императив», — сказал он.",
        datetime(2022, 1, 10, 18, tzinfo=UTC),
    ),
    (
        "https://news.example.org/brussels?id=2",
        "Stoltenberg: NATO's door stays open",
        "NATO Secretary General Jens Stoltenberg said the alliance will not close its open door "
        "and rejected Russia's demand to halt NATO enlargement.",
        datetime(2022, 1, 12, 15, tzinfo=UTC),
    ),
]


def _rss(items, charset: str = "windows-1251") -> bytes:
    entries = "".join(
        f"<item><title>{t}</title><link>{u.replace('&', '&amp;')}</link>"
        f"<description>{b}</description><pubDate>{format_datetime(d)}</pubDate></item>"
        for u, t, b, d in items
    )
    xml = (
        f'<?xml version="1.0" encoding="{charset}"?><rss version="2.0"><channel>'
        f"<title>Test news</title><link>https://news.example.org/</link>{entries}"
        "</channel></rss>"
    )
    return xml.encode(charset)


@pytest.fixture
def feed_env(httpserver, tmp_path, monkeypatch):
    monkeypatch.setenv("SHIFTWATCH_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
    body = _rss(ITEMS)
    calls = []

    def handler(request):
        calls.append(request.headers.get("If-None-Match"))
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304)
        return Response(body, headers={"Content-Type": "application/rss+xml", "ETag": '"v1"'})

    httpserver.expect_request("/feed.xml").respond_with_handler(handler)
    # A second feed repeating the first story with other tracking parameters.
    httpserver.expect_request("/other.xml").respond_with_data(
        _rss([(ITEMS[0][0].replace("utm_source=rss", "fbclid=abc"), *ITEMS[0][1:])], "utf-8"),
        content_type="application/rss+xml",
    )
    return {
        "db": f"sqlite:///{tmp_path / 'feeds.db'}",
        "url": httpserver.url_for("/feed.xml"),
        "other": httpserver.url_for("/other.xml"),
        "calls": calls,
    }


def _export(db: str, kind: str) -> list[dict]:
    result = CliRunner().invoke(app, ["export", kind, "--db", db])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_feed_entries_flow_into_the_pipeline_once(prefect_harness, feed_env):
    from shiftwatch.flows.monitor import monitor

    first = monitor(
        feeds=[feed_env["url"], feed_env["other"]], database_url=feed_env["db"], deliver=False
    )
    assert first["new"] == 2 and first["rejected"] == 0
    docs = _export(feed_env["db"], "documents")
    assert sorted(d["url"].split("?")[0] for d in docs) == [
        "https://news.example.org/brussels",
        "https://news.example.org/geneva",
    ]
    assert {d["language"] for d in docs} == {"ru", "en"}
    ru = next(d for d in docs if d["language"] == "ru")
    assert ru["title"].startswith("Рябков")  # cp1251 decoded right
    assert ru["published_at"].startswith("2022-01-10")
    stances = _export(feed_env["db"], "stances")
    assert {(s["party_id"], s["demand_id"], s["stance"]) for s in stances} >= {
        ("russia", "legal-guarantees", "supports")
    }

    second = monitor(feeds=[feed_env["url"]], database_url=feed_env["db"], deliver=False)
    assert second["new"] == 0
    assert feed_env["calls"][-1] == '"v1"'  # conditional GET, answered 304

    health = CliRunner().invoke(app, ["feeds", "health", "--db", feed_env["db"]])
    assert health.exit_code == 0 and "localhost" in health.output, health.output
    assert " ok " in health.output, health.output


def test_feeds_cli_add_list_import(tmp_path):
    feeds_file = tmp_path / "feeds.yaml"
    runner = CliRunner()
    out = runner.invoke(
        app,
        [
            "feeds",
            "add",
            "https://Example.org/rss#x",
            "--name",
            "Example",
            "--language",
            "ru",
            "--feeds-file",
            str(feeds_file),
        ],
    )
    assert out.exit_code == 0 and "added https://example.org/rss" in out.output
    again = runner.invoke(
        app, ["feeds", "add", "https://example.org/rss", "--feeds-file", str(feeds_file)]
    )
    assert "already listed" in again.output
    opml = tmp_path / "subs.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><body><outline text="News">'
        '<outline type="rss" text="A" xmlUrl="https://a.example/feed"/>'
        '<outline type="rss" text="B" xmlUrl="https://example.org/rss"/></outline></body></opml>',
        encoding="utf-8",
    )
    imported = runner.invoke(app, ["feeds", "import", str(opml), "--feeds-file", str(feeds_file)])
    assert "2 feeds" in imported.output and "1 added" in imported.output
    listed = runner.invoke(app, ["feeds", "list", "--feeds-file", str(feeds_file)])
    assert "a.example" in listed.output and "Example" in listed.output
    bad = runner.invoke(app, ["feeds", "add", "ftp://x", "--feeds-file", str(feeds_file)])
    assert bad.exit_code == 2 and "http(s)" in bad.output
