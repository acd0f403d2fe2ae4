"""Feed entry identity: which entries of one feed are the same item, fetch after fetch.

Per feed, an entry is known by its guid, else its link, else a hash of its content:

- a guid is trusted unless the feed misuses it: the same guid on entries of one fetch with
  different links (or, without links, different content), a guid that is a site's home page,
  or a guid stored earlier with another link (`known_links`, from the feed's stored entries):
  some feeds give every item one guid, or reissue a guid for the next story;
- a link is trusted unless it is a home page or shared by entries with different content
  (feeds that link every item to the front page);
- otherwise the content hash (title + body, normalized like dedupe's hashing).

An edited entry keeps its guid and link, so it keeps its key. Across feeds, the same article
is found by its canonical URL (document ids derive from it) and by dedupe.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from shiftwatch.analysis.dedupe.clustering import content_hash
from shiftwatch.analysis.text.urls import canonicalize_url
from shiftwatch.records import RawItem


def entry_keys(
    items: Sequence[RawItem], *, known_links: Mapping[str, str] | None = None
) -> list[str]:
    """Return each entry's identity in its feed: `guid:…`, `link:…` or `hash:…`, in order.

    `known_links` maps guids stored earlier for this feed to their canonical links.
    """
    links = [_usable_link(item.url) for item in items]
    contents = [_content(item) for item in items]
    bad_guids = _misused_guids(items, links, contents, known_links or {})
    bad_links = _shared(links, contents)
    keys = []
    for item, link, content in zip(items, links, contents, strict=True):
        guid = (item.guid or "").strip()
        if guid and guid not in bad_guids:
            keys.append(f"guid:{guid}")
        elif link and link not in bad_links:
            keys.append(f"link:{link}")
        else:
            keys.append(f"hash:{content}")
    return keys


def is_article_link(url: str, feed_url: str | None = None) -> bool:
    """Return whether `url` can name one article: an absolute http(s) link that is not a
    site's home page nor the feed itself (some feeds link every item to one of those)."""
    if not url or not url.strip():
        return False
    canonical = canonicalize_url(url)
    parts = urlsplit(canonical)
    if parts.scheme not in ("http", "https") or not parts.netloc or _is_home_page(canonical):
        return False
    return not feed_url or canonical != canonicalize_url(feed_url)


def _usable_link(url: str) -> str | None:
    """Return the canonical form of an entry link, or None for no link or a home page."""
    if not url or not url.strip():
        return None
    canonical = canonicalize_url(url)
    return None if _is_home_page(canonical) else canonical


def _is_home_page(url: str) -> bool:
    """Return whether `url` is a site's root (a link that names no article)."""
    parts = urlsplit(url)
    return bool(parts.netloc) and parts.path in ("", "/") and not parts.query


def _content(item: RawItem) -> str:
    """Return the content hash of an entry's title and body."""
    body = item.body.decode("utf-8", errors="replace")
    return content_hash(f"{item.title or ''}\n{body}")


def _misused_guids(
    items: Sequence[RawItem],
    links: Sequence[str | None],
    contents: Sequence[str],
    known_links: Mapping[str, str],
) -> set[str]:
    """Return the guids this feed does not use as identities (shared, home pages, reissued)."""
    seen: dict[str, set[str]] = defaultdict(set)
    bad = set()
    for item, link, content in zip(items, links, contents, strict=True):
        guid = (item.guid or "").strip()
        if not guid:
            continue
        seen[guid].add(f"link:{link}" if link else f"hash:{content}")
        if "://" in guid and _is_home_page(canonicalize_url(guid)):
            bad.add(guid)
        if link and guid in known_links and known_links[guid] != link:
            bad.add(guid)
    return bad | {guid for guid, identities in seen.items() if len(identities) > 1}


def _shared(links: Sequence[str | None], contents: Sequence[str]) -> set[str]:
    """Return the links that entries with different content share within one fetch."""
    seen: dict[str, set[str]] = defaultdict(set)
    for link, content in zip(links, contents, strict=True):
        if link:
            seen[link].add(content)
    return {link for link, found in seen.items() if len(found) > 1}
