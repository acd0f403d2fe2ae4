"""The feed list: a YAML file of feeds with per-feed options, and OPML import.

    feeds:
      - url: https://example.org/world/rss.xml
        name: Example World          # optional
        language: ru                 # optional hint for language detection
        poll_interval: 30m           # optional fixed interval (s, m, h, d); else adaptive
        fetch_full_article: true     # summary-only feed: fetch and extract each article
        enabled: true                # false keeps the feed listed but never fetched
        tags: [wire, russia]         # optional; OPML folders land here

Each feed gets a stable id derived from its normalized URL unless the file gives one.
Everything is validated on load: a bad entry is a ConfigError that names it.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml
from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from shiftwatch.analysis.text.yaml_safe import load_yaml
from shiftwatch.errors import ConfigError
from shiftwatch.localfiles import FileRefused, read_regular_file

MIN_FIXED_INTERVAL_S = 300
MAX_FIXED_INTERVAL_S = 7 * 24 * 3600
MAX_LIST_BYTES = 10 * 1024 * 1024
MAX_LIST_NODES = 500_000  # ~8 nodes a feed: 50,000 feeds; an alias bomb stops here
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_LANG = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{1,8})*$")
_KEYS = {"url", "id", "name", "language", "poll_interval", "poll_interval_s"}
_KEYS |= {"fetch_full_article", "enabled", "tags"}


@dataclass(frozen=True, kw_only=True, slots=True)
class FeedConfig:
    """One feed to poll and how; validated at construction."""

    url: str
    id: str = ""  # empty: derived from the normalized URL (stable across edits of other fields)
    name: str | None = None
    language: str | None = None
    poll_interval_s: int | None = None  # None: adapt to how often the feed publishes
    fetch_full_article: bool = False
    enabled: bool = True
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        url = normalize_feed_url(self.url)
        object.__setattr__(self, "url", url)
        object.__setattr__(self, "id", self.id.strip() or feed_id(url))
        object.__setattr__(self, "tags", tuple(str(t) for t in self.tags))
        if self.language is not None:
            lang = self.language.strip().lower().replace("_", "-")
            if not _LANG.match(lang):
                raise ConfigError(f"feed {url}: language {self.language!r} is not a language code")
            object.__setattr__(self, "language", lang)
        if self.poll_interval_s is not None and not (
            MIN_FIXED_INTERVAL_S <= self.poll_interval_s <= MAX_FIXED_INTERVAL_S
        ):
            raise ConfigError(
                f"feed {url}: poll interval must be between 5m and 7d, got {self.poll_interval_s}s"
            )


def normalize_feed_url(url: str) -> str:
    """Return url with scheme and host lower-cased, default port and fragment dropped."""
    text = str(url).strip()
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"feed URL must be absolute http(s): {url!r}")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[parts.scheme.lower()]
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"feed URL has a bad port: {url!r}") from exc
    netloc = host if port in (None, default) else f"{host}:{port}"
    if parts.username or parts.password:
        raise ConfigError(f"feed URL must not carry credentials: {url!r}")
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def feed_id(url: str) -> str:
    """Return the stable id of a feed URL: 'feed-' and 16 hex digits of its SHA-256."""
    return "feed-" + hashlib.sha256(normalize_feed_url(url).encode()).hexdigest()[:16]


def parse_duration(value: Any) -> int:
    """Return seconds for 900, '900', '15m', '2h' or '1d'; ConfigError otherwise."""
    if isinstance(value, bool):
        raise ConfigError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        return int(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ConfigError(f"not a duration (use e.g. 900, 15m, 2h, 1d): {value!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def feed_from_mapping(data: Any, *, where: str) -> FeedConfig:
    """Return a FeedConfig from one YAML mapping; unknown keys are errors (typos)."""
    if isinstance(data, str):
        data = {"url": data}
    if not isinstance(data, dict) or "url" not in data:
        raise ConfigError(f"{where}: each feed needs at least a url")
    unknown = set(data) - _KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)} (known: {sorted(_KEYS)})")
    interval = data.get("poll_interval", data.get("poll_interval_s"))
    tags = data.get("tags") or ()
    try:
        return FeedConfig(
            url=str(data["url"]),
            id=str(data.get("id") or ""),
            name=_optional_str(data.get("name")),
            language=_optional_str(data.get("language")),
            poll_interval_s=None if interval is None else parse_duration(interval),
            fetch_full_article=_flag(data.get("fetch_full_article", False), where),
            enabled=_flag(data.get("enabled", True), where),
            tags=tuple(tags) if isinstance(tags, list | tuple) else (str(tags),),
        )
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _optional_str(value: Any) -> str | None:
    """Return value as a stripped string, None when empty."""
    return str(value).strip() or None if value is not None else None


def _flag(value: Any, where: str) -> bool:
    """Return a YAML boolean; anything else is an error rather than a guess."""
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    return value


def parse_feedlist(text: str, *, origin: str = "<feed list>") -> list[FeedConfig]:
    """Return the feeds in a feed-list YAML document, validated, duplicates refused."""
    try:
        data = load_yaml(text, max_nodes=MAX_LIST_NODES) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {exc}") from exc
    items = data.get("feeds", []) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ConfigError(f"{origin}: expected a 'feeds:' list")
    feeds = [
        feed_from_mapping(item, where=f"{origin}: feed {i + 1}") for i, item in enumerate(items)
    ]
    _refuse_duplicates(feeds, origin)
    return feeds


def _refuse_duplicates(feeds: Sequence[FeedConfig], origin: str) -> None:
    """Raise ConfigError when two feeds share a URL or an id."""
    seen: set[str] = set()
    for feed in feeds:
        for key in {feed.url, feed.id}:
            if key in seen:
                raise ConfigError(f"{origin}: feed listed twice: {key}")
            seen.add(key)


def load_feedlist(path: str | os.PathLike[str], *, missing_ok: bool = False) -> list[FeedConfig]:
    """Return the feeds in a feed-list file (none if it is missing and missing_ok)."""
    file = Path(path)
    if not os.path.lexists(file):
        if missing_ok:
            return []
        raise ConfigError(f"feed list not found: {file} (create it with `shiftwatch feeds add`)")
    body = _read_list(file, "feed list")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"feed list {file} is not UTF-8: {exc}") from None
    return parse_feedlist(text, origin=str(file))


def _read_list(file: Path, what: str) -> bytes:
    """Return a list file's bytes: a regular file (links followed) under MAX_LIST_BYTES."""
    try:
        return read_regular_file(file, max_bytes=MAX_LIST_BYTES, follow_links=True)
    except FileRefused as exc:
        raise ConfigError(f"{what} {file} is not read: {exc.detail}") from None


def dump_feedlist(feeds: Iterable[FeedConfig]) -> str:
    """Return the YAML text for feeds, defaults omitted so the file stays readable."""
    return yaml.safe_dump(
        {"feeds": [_as_mapping(f) for f in feeds]},
        allow_unicode=True,
        sort_keys=False,
        default_flow_style=False,
    )


def _as_mapping(feed: FeedConfig) -> dict[str, Any]:
    """Return one feed as the mapping the file holds."""
    out: dict[str, Any] = {"url": feed.url, "id": feed.id}
    if feed.name:
        out["name"] = feed.name
    if feed.language:
        out["language"] = feed.language
    if feed.poll_interval_s is not None:
        out["poll_interval"] = feed.poll_interval_s
    if feed.fetch_full_article:
        out["fetch_full_article"] = True
    if not feed.enabled:
        out["enabled"] = False
    if feed.tags:
        out["tags"] = list(feed.tags)
    return out


def save_feedlist(path: str | os.PathLike[str], feeds: Iterable[FeedConfig]) -> None:
    """Write the feed list atomically (a crash leaves the old file or the new one)."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    text = "# shiftwatch feed list\n" + dump_feedlist(feeds)
    fd, tmp = tempfile.mkstemp(prefix=f".{file.name}.", dir=file.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def merge_feeds(
    existing: Sequence[FeedConfig], new: Iterable[FeedConfig]
) -> tuple[list[FeedConfig], list[FeedConfig]]:
    """Return (all feeds, the ones added): feeds already listed by URL are kept as they are."""
    merged = list(existing)
    known = {f.url for f in merged} | {f.id for f in merged}
    added = []
    for feed in new:
        if feed.url in known or feed.id in known:
            continue
        merged.append(feed)
        added.append(feed)
        known |= {feed.url, feed.id}
    return merged, added


def add_feeds(path: str | os.PathLike[str], feeds: Iterable[FeedConfig]) -> list[FeedConfig]:
    """Return the feeds newly added to the list file (created if missing)."""
    merged, added = merge_feeds(load_feedlist(path, missing_ok=True), feeds)
    if added:
        save_feedlist(path, merged)
    return added


def parse_opml(data: bytes, *, origin: str = "<opml>") -> list[FeedConfig]:
    """Return the feeds of an OPML subscription list (nested folders become tags)."""
    if len(data) > MAX_LIST_BYTES:
        raise ConfigError(f"{origin}: OPML over {MAX_LIST_BYTES} bytes")
    try:
        root = SafeET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise ConfigError(f"{origin}: OPML with DTD or entities refused ({exc!r})") from exc
    except SafeET.ParseError as exc:
        raise ConfigError(f"{origin}: not well-formed OPML: {exc}") from exc
    body = next((el for el in root if _local(el.tag) == "body"), None)
    if _local(root.tag) != "opml" or body is None:
        raise ConfigError(f"{origin}: not OPML (no <opml><body>)")
    feeds: list[FeedConfig] = []
    _walk_outlines(body, (), feeds, origin)
    _, unique = merge_feeds([], feeds)
    return unique


def _walk_outlines(node: Any, folders: tuple[str, ...], out: list[FeedConfig], origin: str) -> None:
    """Collect outlines with an xmlUrl, depth first, carrying the folder names as tags."""
    for outline in (el for el in node if _local(el.tag) == "outline"):
        attrs = {k.lower(): v for k, v in outline.attrib.items()}
        title = (attrs.get("title") or attrs.get("text") or "").strip() or None
        url = (attrs.get("xmlurl") or "").strip()
        if url:
            out.append(_opml_feed(url, title, attrs, folders, origin))
        _walk_outlines(outline, (*folders, title) if (title and not url) else folders, out, origin)


def _opml_feed(
    url: str, title: str | None, attrs: dict[str, str], folders: tuple[str, ...], origin: str
) -> FeedConfig:
    """Return the FeedConfig for one OPML outline."""
    language = (attrs.get("language") or "").strip() or None
    if language and not _LANG.match(language.lower().replace("_", "-")):
        language = None
    try:
        return FeedConfig(url=url, name=title, language=language, tags=folders)
    except ConfigError as exc:
        raise ConfigError(f"{origin}: outline {title or url!r}: {exc}") from exc


def read_opml(path: str | os.PathLike[str]) -> list[FeedConfig]:
    """Return the feeds of an OPML file."""
    file = Path(path)
    if not os.path.lexists(file):
        raise ConfigError(f"OPML file not found: {file}")
    return parse_opml(_read_list(file, "OPML file"), origin=str(file))


def with_options(feed: FeedConfig, **changes: Any) -> FeedConfig:
    """Return feed with some options changed (validated again)."""
    return replace(feed, **changes)


def _local(tag: str) -> str:
    """Return an XML tag without its namespace, lower-cased."""
    return tag.rsplit("}", 1)[-1].lower()
