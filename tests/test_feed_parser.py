"""Feed parser: every fixture under tests/fixtures/feeds/ against its .expect.yaml, plus bounds."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shiftwatch.connectors.feed_charset import decode_feed_bytes
from shiftwatch.connectors.feed_parser import (
    MAX_ENTRIES,
    ParsedFeed,
    parse_feed,
    raw_items,
    strip_active_content,
)
from shiftwatch.records import RejectReason

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
EXPECTATIONS = sorted(FIXTURES.glob("*.expect.yaml"))
FETCHED_AT = datetime(2022, 1, 20, 12, 0, tzinfo=UTC)


def _body_for(expect_path: Path) -> bytes:
    stem = expect_path.name.removesuffix(".expect.yaml")
    matches = [p for p in FIXTURES.glob(stem + ".*") if not p.name.endswith(".expect.yaml")]
    assert len(matches) == 1, f"one data file per expectation: {matches}"
    return matches[0].read_bytes()


def _parse_fixture(expect_path: Path) -> tuple[ParsedFeed, dict[str, Any]]:
    expect = yaml.safe_load(expect_path.read_text(encoding="utf-8"))
    parsed = parse_feed(
        _body_for(expect_path), expect["headers"], url=expect["url"], fetched_at=FETCHED_AT
    )
    return parsed, expect


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _check_list(name: str, actual: list[Any], expected: list[Any]) -> None:
    assert len(actual) == len(expected), f"{name}: {actual!r}"
    for got, want in zip(actual, expected, strict=True):
        if want != "any":
            assert got == want, f"{name}: got {got!r}, want {want!r}"


@pytest.mark.parametrize("expect_path", EXPECTATIONS, ids=lambda p: p.name.split(".")[0])
def test_fixture(expect_path: Path) -> None:
    parsed, expect = _parse_fixture(expect_path)
    refusal = expect.get("refusal")
    if refusal:
        assert parsed.refusal is not None, "expected a refusal"
        assert parsed.refusal.reason == RejectReason(refusal)
        assert parsed.entries == ()
        return
    assert parsed.refusal is None, parsed.refusal
    entries = parsed.entries
    simple = {"version": parsed.version, "bozo": parsed.bozo, "language": parsed.language}
    for key, value in simple.items():
        if key in expect:
            assert value == expect[key], key
    if "entries" in expect:
        assert len(entries) == expect["entries"], [e.title for e in entries]
    assert len(entries) >= expect.get("min_entries", 0)
    if "rejected" in expect:
        assert len(parsed.rejected) == expect["rejected"]
    if expect.get("warnings"):
        assert parsed.warnings, "expected a warning"
    fields = {
        "titles": [e.title for e in entries],
        "guids": [e.guid for e in entries],
        "guid_sources": [e.guid_source for e in entries],
        "body_from": [e.body_from for e in entries],
        "published": [_iso(e.published_at) for e in entries],
        "date_flags": [e.date_flag for e in entries],
    }
    for key, actual in fields.items():
        if key in expect:
            _check_list(key, actual, expect[key])
    _check_links(expect, [e.url for e in entries])
    if "titles_start" in expect:
        assert fields["titles"][: len(expect["titles_start"])] == expect["titles_start"]
    texts = [f"{e.title}\n{e.html}" for e in entries]
    for needle in expect.get("contains", []):
        assert any(needle in t for t in texts), f"{needle!r} not found"
    for needle in expect.get("not_contains", []):
        assert not any(needle in t for t in texts), f"{needle!r} found (mojibake or code)"


def _check_links(expect: dict[str, Any], links: list[str]) -> None:
    if "links" not in expect:
        return
    if expect.get("link_match") == "prefix":
        assert len(links) == len(expect["links"])
        for got, want in zip(links, expect["links"], strict=True):
            assert got.startswith(want), (got, want)
    else:
        assert links == expect["links"]


def test_every_fixture_has_data_and_expectation() -> None:
    data = {p.name.split(".")[0] for p in FIXTURES.iterdir() if not p.name.endswith(".yaml")}
    expected = {p.name.removesuffix(".expect.yaml") for p in EXPECTATIONS}
    assert data == expected
    assert len(expected) >= 30


def test_raw_items_flag_missing_dates_and_carry_the_hint() -> None:
    parsed, _ = _parse_fixture(FIXTURES / "dates_missing_and_absurd.expect.yaml")
    items = raw_items(parsed, source_id="feed-1", language_hint="ru-RU")
    assert items[0].published_at is None and items[0].meta["date_missing"] == "1"
    assert items[1].meta["date_invalid"].startswith("Sat, 01 Jan 0000")
    assert items[5].published_at is not None and "date_missing" not in items[5].meta
    assert {i.source_id for i in items} == {"feed-1"}
    assert {i.language_hint for i in items} == {"ru"}
    assert {i.content_type for i in items} == {"text/html"}
    assert all(i.fetched_at == FETCHED_AT for i in items)


def test_raw_items_use_the_feed_language_without_a_hint() -> None:
    parsed, _ = _parse_fixture(FIXTURES / "rss10_rdf.expect.yaml")
    items = raw_items(parsed, source_id="feed-de")
    assert [i.language_hint for i in items] == ["de", "de"]
    assert items[0].body.decode("utf-8") == "Die Delegationen trafen sich am Montag."


def test_bytes_that_name_a_file_are_never_opened(tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_text(
        '<rss version="2.0"><channel><item><title>leak</title></item></channel></rss>'
    )
    parsed = parse_feed(os.fsencode(secret), {}, url="https://x.example/f", fetched_at=FETCHED_AT)
    assert parsed.refusal is not None and parsed.refusal.reason == RejectReason.NOT_A_FEED


def _big_feed(count: int) -> bytes:
    item = "<item><title>t{0}</title><link>https://e.example/{0}</link></item>"
    items = "".join(item.format(i) for i in range(count))
    head = '<?xml version="1.0"?><rss version="2.0"><channel><title>big</title>'
    return f"{head}{items}</channel></rss>".encode()


def test_a_feed_of_100000_entries_is_capped_and_the_rest_recorded() -> None:
    parsed = parse_feed(_big_feed(100_000), {}, url="https://e.example/f", fetched_at=FETCHED_AT)
    assert len(parsed.entries) == MAX_ENTRIES
    assert parsed.entries[-1].title == f"t{MAX_ENTRIES - 1}"
    [reject] = parsed.rejected
    assert reject.reason == RejectReason.OVERSIZED and "90000" in reject.detail


def test_a_single_entry_with_a_million_elements_is_refused() -> None:
    body = b'<?xml version="1.0"?><rss><channel><item><description>'
    body += b"<p>x" * 1_000_000 + b"</description></item></channel></rss>"
    parsed = parse_feed(body, {}, url="https://e.example/f", fetched_at=FETCHED_AT)
    assert parsed.refusal is not None and parsed.refusal.reason == RejectReason.OVERSIZED


def test_a_ten_megabyte_line_is_read_then_rejected_over_the_entry_cap() -> None:
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>long</title>'
    body += b"<description>" + b"word " * 2_000_000 + b"</description></item></channel></rss>"
    parsed = parse_feed(body, {}, url="https://e.example/f", fetched_at=FETCHED_AT)
    assert parsed.entries == () and parsed.rejected[0].reason == RejectReason.OVERSIZED
    roomy = parse_feed(body, {}, url="https://e.example/f", fetched_at=FETCHED_AT,
                       max_entry_chars=20_000_000)  # fmt: skip
    assert len(roomy.entries) == 1 and len(roomy.entries[0].html) >= 9_999_999


def test_strip_active_content_is_linear_on_unclosed_scripts() -> None:
    html = "<p>a</p>" + "<script>x" * 50_000
    started = time.process_time()
    assert strip_active_content(html) == "<p>a</p>"
    assert strip_active_content("<p>a</p><STYLE>b</style ><p>c</p>") == "<p>a</p><p>c</p>"
    assert time.process_time() - started < 30  # a quadratic scan would take hours


def test_undeclared_cp1251_is_not_read_as_windows_1252() -> None:
    text = "<rss><channel><title>Переговоры о гарантиях безопасности</title></channel></rss>"
    decoded = decode_feed_bytes(text.encode("cp1251"), {"content-type": "text/xml"})
    assert decoded.encoding == "cp1251" and decoded.text == text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(body: bytes) -> None:
    parsed = parse_feed(body, {}, url="https://e.example/f", fetched_at=FETCHED_AT)
    assert parsed.refusal is not None or parsed.version or parsed.entries is not None


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300))
def test_random_text_inside_a_feed_never_raises(text: str) -> None:
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><item><title>{text}</title>'
    body += f"<description>{text}</description></item></channel></rss>"
    parsed = parse_feed(
        body.encode("utf-8", "surrogatepass"), {}, url="https://e.example/f", fetched_at=FETCHED_AT
    )
    assert isinstance(parsed, ParsedFeed)
