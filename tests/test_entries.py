"""Feed entry identity: guid, then link, then content; misused guids detected."""

from __future__ import annotations

from datetime import UTC, datetime

from shiftwatch.analysis.text.entries import entry_keys
from shiftwatch.records import RawItem

FETCHED = datetime(2022, 1, 10, tzinfo=UTC)


def _item(url: str, guid: str | None, body: str, title: str = "t") -> RawItem:
    return RawItem(
        source_id="feed", url=url, body=body.encode(), fetched_at=FETCHED, title=title, guid=guid
    )


def test_guid_first_then_link_then_content() -> None:
    keys = entry_keys(
        [
            _item("https://example.com/a", "urn:1", "one"),
            _item("https://example.com/b?utm_source=rss", None, "two"),
            _item("", None, "three"),
        ]
    )
    assert keys[0] == "guid:urn:1"
    assert keys[1] == "link:https://example.com/b"
    assert keys[2].startswith("hash:")


def test_a_guid_repeated_for_every_item_falls_back_to_links() -> None:
    items = [
        _item("https://example.com/a", "same", "one"),
        _item("https://example.com/b", "same", "two"),
        _item("https://example.com/c", "same", "three"),
    ]
    assert entry_keys(items) == [
        "link:https://example.com/a",
        "link:https://example.com/b",
        "link:https://example.com/c",
    ]


def test_a_repeated_guid_and_home_page_links_fall_back_to_content() -> None:
    items = [
        _item("https://example.com/", "1", "first story"),
        _item("https://example.com/?utm_source=rss", "1", "second story"),
    ]
    keys = entry_keys(items)
    assert all(key.startswith("hash:") for key in keys)
    assert keys[0] != keys[1]


def test_a_guid_reissued_across_fetches_is_not_trusted() -> None:
    item = _item("https://example.com/new-story", "42", "new story")
    known = {"42": "https://example.com/old-story"}
    assert entry_keys([item], known_links=known) == ["link:https://example.com/new-story"]
    same = {"42": "https://example.com/new-story"}
    assert entry_keys([item], known_links=same) == ["guid:42"]


def test_an_edited_entry_keeps_its_key() -> None:
    before = entry_keys([_item("https://example.com/a", "g", "draft")])
    after = entry_keys([_item("https://example.com/a#x", "g", "final text")])
    assert before == after == ["guid:g"]


def test_a_duplicated_entry_in_one_fetch_keeps_its_guid() -> None:
    items = [_item("https://example.com/a", "g", "x"), _item("https://example.com/a", "g", "y")]
    assert entry_keys(items) == ["guid:g", "guid:g"]


def test_a_home_page_guid_is_not_an_identity() -> None:
    item = _item("https://example.com/story", "https://example.com/", "text")
    assert entry_keys([item]) == ["link:https://example.com/story"]
