"""Feed list file (YAML) and OPML import."""

from __future__ import annotations

from pathlib import Path

import pytest

from shiftwatch.connectors.feedlist import (
    FeedConfig,
    add_feeds,
    feed_id,
    load_feedlist,
    parse_feedlist,
    parse_opml,
    read_opml,
    save_feedlist,
)
from shiftwatch.errors import ConfigError

OPML = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Subscriptions</title></head>
  <body>
    <outline text="Wires">
      <outline text="World wire" type="rss" xmlUrl="https://wire.example.com/world.rss" htmlUrl="https://wire.example.com/"/>
      <outline text="Regional">
        <outline title="Lenta" text="lenta" xmlurl="https://lenta.example.ru/rss" language="ru"/>
      </outline>
    </outline>
    <outline text="Loose feed" xmlUrl="HTTPS://Blog.Example.org:443/feed#top"/>
    <outline text="Duplicate" xmlUrl="https://wire.example.com/world.rss"/>
    <outline text="Just a folder"/>
  </body>
</opml>
"""


def test_feed_ids_are_stable_and_urls_normalized() -> None:
    feed = FeedConfig(url="HTTPS://News.Example.org:443/rss.xml#frag")
    assert feed.url == "https://news.example.org/rss.xml"
    assert feed.id == feed_id("https://news.example.org/rss.xml") == FeedConfig(url=feed.url).id
    assert feed.id.startswith("feed-") and len(feed.id) == 21


@pytest.mark.parametrize(
    "url", ["ftp://x.example/f", "news.example.org/rss", "", "https://user:pw@x.example/f"]
)
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        FeedConfig(url=url)


def test_the_yaml_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(
        """
feeds:
  - url: https://news.example.org/rss.xml
    name: News
    language: ru
    poll_interval: 30m
    fetch_full_article: true
    tags: [wire]
  - https://plain.example.com/feed
  - url: https://off.example.com/feed
    enabled: false
""",
        encoding="utf-8",
    )
    feeds = load_feedlist(path)
    assert [f.name for f in feeds] == ["News", None, None]
    assert feeds[0].poll_interval_s == 1800 and feeds[0].fetch_full_article
    assert feeds[0].language == "ru" and feeds[0].tags == ("wire",)
    assert not feeds[2].enabled
    save_feedlist(path, feeds)
    assert load_feedlist(path) == feeds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("feeds:\n  - url: https://a.example/f\n    poll_intervall: 5m\n", "unknown keys"),
        ("feeds:\n  - url: https://a.example/f\n    poll_interval: 10s\n", "between 5m and 7d"),
        (
            "feeds:\n  - url: https://a.example/f\n    fetch_full_article: yes please\n",
            "true or false",
        ),
        ("feeds:\n  - url: https://a.example/f\n    language: Russian!\n", "language"),
        ("feeds:\n  - https://a.example/f\n  - https://A.example/f\n", "twice"),
        ("feeds: {url: x}\n", "list"),
        ("feeds: [\n", "YAML"),
    ],
)
def test_bad_feed_lists_say_what_to_fix(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_feedlist(text)


def test_a_missing_list_is_an_error_unless_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="feeds add"):
        load_feedlist(tmp_path / "nope.yaml")
    assert load_feedlist(tmp_path / "nope.yaml", missing_ok=True) == []


def test_add_creates_the_file_and_skips_known_feeds(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "feeds.yaml"
    first = add_feeds(path, [FeedConfig(url="https://a.example/f", name="A")])
    again = add_feeds(
        path, [FeedConfig(url="https://A.example/f"), FeedConfig(url="https://b.example/f")]
    )
    assert [f.name for f in first] == ["A"]
    assert [f.url for f in again] == ["https://b.example/f"]
    assert [f.url for f in load_feedlist(path)] == ["https://a.example/f", "https://b.example/f"]


def test_opml_import_walks_nested_outlines() -> None:
    feeds = parse_opml(OPML)
    assert [f.url for f in feeds] == [
        "https://wire.example.com/world.rss",
        "https://lenta.example.ru/rss",
        "https://blog.example.org/feed",
    ]
    assert feeds[0].name == "World wire" and feeds[0].tags == ("Wires",)
    assert feeds[1].name == "Lenta" and feeds[1].language == "ru"
    assert feeds[1].tags == ("Wires", "Regional")


def test_opml_from_a_file_into_the_list(tmp_path: Path) -> None:
    opml = tmp_path / "subs.opml"
    opml.write_bytes(OPML)
    added = add_feeds(tmp_path / "feeds.yaml", read_opml(opml))
    assert len(added) == 3


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
        b'<opml><body><outline text="&b;" xmlUrl="https://x.example/f"/></body></opml>',
        b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<opml><body><outline text="&x;" xmlUrl="https://x.example/f"/></body></opml>',
        b"<html><body>not opml</body></html>",
        b"<opml><body><outline",
    ],
)
def test_hostile_or_broken_opml_is_refused(body: bytes) -> None:
    with pytest.raises(ConfigError):
        parse_opml(body)
