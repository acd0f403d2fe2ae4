"""Canonical URLs: one spelling per article, article ids kept, tracking dropped."""

from __future__ import annotations

import pytest

from shiftwatch.analysis.text.urls import canonicalize_url, is_tracking_param

CASES = [
    # scheme and host case, default port, fragment, dot segments, sorted query
    (
        "HTTP://Example.COM:80/a/b/../c/./d.html?utm_source=x&id=5&b=2&a=1#frag",
        "http://example.com/a/c/d.html?a=1&b=2&id=5",
    ),
    (
        "https://EXAMPLE.com:443/news/?p=123&fbclid=abc&utm_medium=e",
        "https://example.com/news?p=123",
    ),
    ("https://example.com:8443/a", "https://example.com:8443/a"),
    # tracking deny-list, article ids kept
    (
        "https://example.com/news/story?article=9&gclid=1&ref_src=twsrc&yclid=2",
        "https://example.com/news/story?article=9",
    ),
    (
        "https://example.com/s?story=7&mc_cid=1&mc_eid=2&_ga=3&igshid=4&utm_campaign=x",
        "https://example.com/s?story=7",
    ),
    ("https://example.com/a?%75tm_source=x&ID=3", "https://example.com/a?ID=3"),
    ("https://example.com/?p=42&utm_content=x", "https://example.com/?p=42"),
    # IDNA host, percent-encoding normalized both ways
    (
        "https://пример.рф/новости?id=1",
        "https://xn--e1afmkfd.xn--p1ai/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8?id=1",
    ),
    (
        "https://example.com/%7euser/%e4%bd%a0?q=%e2%82%ac",
        "https://example.com/~user/%E4%BD%A0?q=%E2%82%AC",
    ),
    ("https://example.com/path with space/é", "https://example.com/path%20with%20space/%C3%A9"),
    # trailing slash: dropped except for the root
    ("https://example.com/news/story/", "https://example.com/news/story"),
    ("https://example.com", "https://example.com/"),
    ("https://example.com/?", "https://example.com/"),
    ("https://example.com./a", "https://example.com/a"),
    ("http://[2001:DB8::1]:80/a", "http://[2001:db8::1]/a"),
    # file URLs pass through normalized
    ("file:///home/x/My File.txt#top", "file:///home/x/My%20File.txt"),
    ("FILE://localhost/data/seeds/a%7e.txt", "file:///data/seeds/a~.txt"),
    # not web URLs: unchanged
    ("mailto:desk@example.com", "mailto:desk@example.com"),
    ("  example.com/a ", "example.com/a"),
]


@pytest.mark.parametrize(("url", "expected"), CASES)
def test_canonical_spelling(url: str, expected: str) -> None:
    assert canonicalize_url(url) == expected


@pytest.mark.parametrize(("url", "_"), CASES)
def test_canonicalization_is_idempotent(url: str, _: str) -> None:
    once = canonicalize_url(url)
    assert canonicalize_url(once) == once


def test_spellings_of_one_article_agree() -> None:
    spellings = [
        "https://www.Example.com/world/2022/01/10/geneva-talks/?utm_source=rss&utm_medium=rss",
        "https://www.example.com:443/world/2022/01/10/geneva-talks#comments",
        "https://www.example.com/world/2022/01/10/geneva-talks?fbclid=IwAR0abc",
        "https://www.example.com/world/2022/01/./10/geneva-talks/?CMP=share_btn_tw",
    ]
    assert len({canonicalize_url(url) for url in spellings}) == 1


def test_article_ids_are_never_dropped() -> None:
    for name in ("id", "p", "article", "story", "page_id", "storyid", "newsid", "aid", "item"):
        assert not is_tracking_param(name)
        url = f"https://example.com/view.php?{name}=12345&utm_source=x"
        assert canonicalize_url(url) == f"https://example.com/view.php?{name}=12345"


def test_distinct_articles_stay_distinct() -> None:
    assert canonicalize_url("https://example.com/a?id=1") != canonicalize_url(
        "https://example.com/a?id=2"
    )
    assert canonicalize_url("https://example.com/a") != canonicalize_url("http://example.com/a")


def test_extra_tracking_parameters() -> None:
    url = "https://example.com/a?id=1&src=feed"
    assert canonicalize_url(url, extra_tracking={"SRC"}) == "https://example.com/a?id=1"


def test_unparseable_port_is_kept_as_given() -> None:
    assert canonicalize_url("https://example.com:abc/x") == "https://example.com:abc/x"
