"""Parse feed bytes into typed entries (pure: bytes and headers in, records out; no I/O).

feedparser does the RSS/Atom work, but is only ever handed UTF-8 bytes in a BytesIO
(`parse(bytes)` would try the bytes as a file path), with a Content-Location for
relative links and xml:base. Before it sees them, this module:

- decodes the bytes itself (feed_charset: legacy encodings feedparser would misread);
- drops leading whitespace, BOMs and junk (PHP warnings) before the XML;
- refuses DOCTYPEs that declare anything but a few plain character entities
  (billion laughs, external entities, parameter entities), wherever the DOCTYPE sits,
  including on the XML declaration's own line where feedparser's stripping misses it;
- refuses HTML pages (error pages, login walls) as NOT_A_FEED instead of reading them
  as news;
- strips characters XML forbids and caps the entries read (bounded time on huge feeds).

Malformed feeds keep every entry feedparser's loose parser recovers, with a warning.
"""

from __future__ import annotations

import calendar
import email.utils
import hashlib
import html
import html.entities
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from shiftwatch.analysis.text.entries import is_article_link
from shiftwatch.connectors.feed_charset import Decoded, decode_feed_bytes, header_value
from shiftwatch.records import RawItem, Rejected, RejectReason

STAGE = "feed_parse"
MAX_ENTRIES = 10_000  # ~0.4 ms each in feedparser: a 100,000-entry feed stays bounded
MAX_ELEMENTS = 200_000  # ~10-25 s of feedparser at worst
MAX_TITLE_CHARS = 1_000
# An entry's content above this is rejected, not stored: analysing 9 MB of relevant text
# took minutes and over a gigabyte; real articles are tens of kilobytes.
MAX_ENTRY_CHARS = 2_000_000
MAX_SAFE_ENTITIES = 64
MAX_ENTITY_CHARS = 64  # a longer replacement text is how quadratic blow-ups start
# Plain entities may still amplify: 60-character values referenced a million times turn
# 42 KB of gzip into 120 MB of text (750 MB in feedparser). References to declared
# entities may add at most this many characters to the feed, in all.
MAX_ENTITY_GROWTH = 1_000_000
EARLIEST_DATE = datetime(1970, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=2)  # time-zone mistakes, not typos for year 9999
JUNK_SEARCH_CHARS = 64 * 1024
FEED_ROOTS = frozenset({"rss", "feed", "rdf", "channel"})
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "html", "xhtml"})

_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_NAME = re.compile(r"[A-Za-z_][\w.:-]*")
_FEED_START = re.compile(r"<\?xml\b|<(?:[\w.-]+:)?(?:rss|feed|RDF)\b")
_ENTITY_DECL = re.compile(
    r"""<!ENTITY\s+(%\s+)?([A-Za-z_][\w.-]*)\s+(?:"([^"]*)"|'([^']*)'|(SYSTEM|PUBLIC)\b[^>]*)\s*>"""
)
_SAFE_VALUE = re.compile(r"&#(?:\d{1,7}|x[0-9a-fA-F]{1,6});|[^&%<\"]*")
_IGNORED_DECL = re.compile(r"<!(?:ELEMENT|ATTLIST|NOTATION)\b[^>]*>|<!--.*?-->", re.DOTALL)
_ELEMENT_OR_CDATA = re.compile(r"<!\[CDATA\[|<[A-Za-z_]")
_ENTRY_END = re.compile(r"</(?:[\w.-]+:)?(?:item|entry)\s*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
_LANG = re.compile(r"^([a-z]{2,3})(?:[-_][a-z0-9]{1,8})*$")
# A numeric zone no place uses: hours past 14 or minutes past 59 ("+9900", "-2400").
_BAD_OFFSET = re.compile(r"\s*[+-](?:(?:[2-9]\d|1[5-9]):?\d\d|\d\d:?[6-9]\d)\s*$|\s*[+-]\d{5,}\s*$")
# An ISO-looking date: checked whole, because feedparser rolls "2022-13-45" into 2023.
_ISO_FIELDS = re.compile(r"^\s*([+-]?\d+)-(\d{1,2})-(\d{1,2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?")
_CDATA = re.compile(r"<!\[CDATA\[.*?\]\]>", re.DOTALL)
_REFERENCE = re.compile(r"&(?:(#\d{1,7}|#x[0-9a-fA-F]{1,6})|([A-Za-z][\w.-]{0,31}));|&")
_NAMED_REFERENCE = re.compile(r"&([A-Za-z_][\w.-]*);")
_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})
_ACTIVE_OPEN = re.compile(r"<(script|style)\b", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True, slots=True)
class FeedEntry:
    """One entry as the feed gave it, cleaned: a stable id, an absolute link, HTML."""

    guid: str
    guid_source: str  # guid | link | hash
    url: str
    title: str | None
    html: str  # content or summary HTML as published, script/style removed
    body_from: str  # content | summary | title
    published_at: datetime | None  # UTC; None when missing or absurd
    date_flag: str | None = None  # None | "missing" | "invalid" | "zone_ignored"
    raw_date: str | None = None
    language: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ParsedFeed:
    """What a feed's bytes held: its entries, what was dropped, and what looked wrong."""

    url: str
    fetched_at: datetime
    entries: tuple[FeedEntry, ...] = ()
    title: str | None = None
    site_url: str | None = None
    language: str | None = None
    version: str = ""  # feedparser's: rss20, atom10, rss10, rss091u, ...
    encoding: str = ""
    encoding_source: str = ""
    bozo: bool = False
    warnings: tuple[str, ...] = ()
    rejected: tuple[Rejected, ...] = ()
    refusal: Rejected | None = None  # the whole body was refused: not a feed, unsafe, ...

    @property
    def ok(self) -> bool:
        """Return whether the body was read as a feed (it may still have no entries)."""
        return self.refusal is None


@dataclass(frozen=True, kw_only=True, slots=True)
class _Prolog:
    """The start of a document: its root element and DOCTYPE, after junk."""

    root: str | None  # qualified name of the root element
    body_start: int  # index of the root element
    doctype: str | None
    junk: bool


def parse_feed(
    body: bytes,
    headers: Mapping[str, str],
    *,
    url: str,
    fetched_at: datetime,
    source_id: str = "",
    max_entries: int = MAX_ENTRIES,
    max_entry_chars: int = MAX_ENTRY_CHARS,
) -> ParsedFeed:
    """Return the feed in body; whole-body problems come back as `refusal`, never raised."""
    base = ParsedFeed(url=url, fetched_at=fetched_at)
    refuse = _refuser(base, source_id or url, url)
    if not body.strip():
        return refuse(RejectReason.EMPTY, "empty body")
    decoded = decode_feed_bytes(body, headers)
    warnings = _encoding_warnings(decoded)
    text, stripped = _INVALID_XML_CHARS.subn("", decoded.text)
    if stripped:
        warnings.append(f"removed {stripped} characters XML forbids (NUL, control)")
    prolog = _scan_prolog(text)
    if prolog.root is None:
        return refuse(RejectReason.NOT_A_FEED, _describe_non_xml(text))
    if prolog.root.split(":")[-1].lower() == "html":
        return refuse(RejectReason.NOT_A_FEED, "an HTML page, not a feed")
    if prolog.junk:
        warnings.append("ignored text before the XML")
    doctype, problem = _safe_doctype(prolog.doctype, prolog.root)
    if problem:
        return refuse(RejectReason.UNSAFE, problem)
    xml, dropped, problem = _cap_entries(text[prolog.body_start :], prolog.root, max_entries)
    growth = entity_growth(xml, _declared_values(doctype))
    if growth > MAX_ENTITY_GROWTH:
        return refuse(
            RejectReason.UNSAFE,
            f"entity references would add {growth:,} characters "
            f"(limit {MAX_ENTITY_GROWTH:,}): entity amplification refused",
        )
    xml, repaired = repair_references(xml, _declared_names(doctype))
    if repaired:
        warnings.append(f"repaired {repaired} bare '&' or HTML-only entity references")
    if problem:
        return refuse(RejectReason.OVERSIZED, problem)
    data = ('<?xml version="1.0" encoding="utf-8"?>\n' + doctype + xml).encode("utf-8")
    result = _run_feedparser(data, headers, url)
    if not result.get("version") and not result.entries:
        return refuse(RejectReason.NOT_A_FEED, f"no RSS/Atom found (root <{prolog.root}>)")
    parsed = _build(base, result, decoded, warnings, dropped, source_id or url)
    return _drop_oversized(parsed, max_entry_chars, source_id or url)


def _drop_oversized(parsed: ParsedFeed, limit: int, source_id: str) -> ParsedFeed:
    """Return parsed without the entries whose content is over `limit` characters, rejected."""
    big = [e for e in parsed.entries if len(e.html) > limit]
    if not big:
        return parsed
    detail = "entry content of {:,} characters is over the {:,}-character cap"
    rejected = [
        _reject(source_id, e.url, RejectReason.OVERSIZED, detail.format(len(e.html), limit))
        for e in big
    ]
    kept = tuple(e for e in parsed.entries if len(e.html) <= limit)
    return replace(parsed, entries=kept, rejected=(*parsed.rejected, *rejected))


def _refuser(base: ParsedFeed, source_id: str, url: str) -> Any:
    """Return a function making the refused ParsedFeed for a reason and detail."""

    def refuse(reason: RejectReason, detail: str) -> ParsedFeed:
        rejected = Rejected(
            source_id=source_id, item=url, stage=STAGE, reason=reason, detail=detail
        )
        return ParsedFeed(url=base.url, fetched_at=base.fetched_at, refusal=rejected)

    return refuse


def _encoding_warnings(decoded: Decoded) -> list[str]:
    """Return warnings about how the bytes were decoded, when that needed judgement."""
    warnings = []
    used = decoded.encoding
    if decoded.source in ("detected", "fallback"):
        said = f"declared {decoded.declared}" if decoded.declared else "undeclared"
        warnings.append(f"encoding {said}; decoded as {used} ({decoded.source})")
    elif decoded.source == "mixed":
        warnings.append("mixed encodings: UTF-8 with stray legacy bytes repaired")
    elif decoded.declared and decoded.declared != used and decoded.source != "ascii":
        warnings.append(f"encoding declared {decoded.declared}; the bytes are {used}")
    if decoded.replaced:
        warnings.append(f"{decoded.replaced} undecodable bytes replaced")
    return warnings


def _describe_non_xml(text: str) -> str:
    """Return a short description of a body that holds no XML element."""
    head = text.lstrip()[:1]
    if head in ("{", "["):
        return "JSON, not an RSS/Atom feed"
    return "no XML element found"


def _scan_prolog(text: str) -> _Prolog:
    """Return where the root element starts, skipping declarations, comments and junk."""
    prolog = _scan_from(text, 0)
    local = (prolog.root or "").split(":")[-1].lower()
    if local in FEED_ROOTS or local == "html":
        return prolog
    later = _FEED_START.search(text, 0, JUNK_SEARCH_CHARS)
    if later and later.start() > prolog.body_start:
        again = _scan_from(text, later.start())
        if again.root is not None:
            return _Prolog(
                root=again.root, body_start=again.body_start, doctype=again.doctype, junk=True
            )
    return prolog


def _scan_from(text: str, i: int) -> _Prolog:
    """Return the prolog read from index i (whitespace, BOM and leading junk skipped)."""
    n, doctype, junk = len(text), None, False
    while i < n:
        i = _skip_space(text, i)
        if i >= n:
            break
        if text[i] != "<":
            junk = True
            i = text.find("<", i)
            if i < 0:
                break
            continue
        if text.startswith("<?", i):
            i = _after(text, "?>", i)
        elif text.startswith("<!--", i):
            i = _after(text, "-->", i)
        elif text[i : i + 9].upper() == "<!DOCTYPE":
            end = _doctype_end(text, i)
            doctype, i = text[i:end], end
        else:
            name = _NAME.match(text, i + 1)
            if name:
                return _Prolog(root=name.group(), body_start=i, doctype=doctype, junk=junk)
            junk, i = True, i + 1
    return _Prolog(root=None, body_start=n, doctype=doctype, junk=junk)


def _skip_space(text: str, i: int) -> int:
    """Return the index of the next character that is not whitespace or a BOM."""
    n = len(text)
    while i < n and (text[i].isspace() or text[i] == "\ufeff"):
        i += 1
    return i


def _after(text: str, marker: str, i: int) -> int:
    """Return the index just past marker at or after i (the end of text if absent)."""
    j = text.find(marker, i)
    return len(text) if j < 0 else j + len(marker)


def _doctype_end(text: str, i: int) -> int:
    """Return the index past a DOCTYPE, honouring quotes, comments and an internal subset."""
    n, depth, quote = len(text), 0, ""
    j = i + 9
    while j < n:
        c = text[j]
        if quote:
            quote = "" if c == quote else quote
        elif c in "\"'":
            quote = c
        elif text.startswith("<!--", j):
            j = _after(text, "-->", j) - 1
        elif c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
        elif c == ">" and depth <= 0:
            return j + 1
        j += 1
    return n


def _safe_doctype(doctype: str | None, root: str) -> tuple[str, str | None]:
    """Return (DOCTYPE to keep, problem): plain character entities only, never expansion."""
    if not doctype:
        return "", None
    if "[" not in doctype:
        netscape = "netscape" in doctype.lower()
        keep = f'<!DOCTYPE {root} PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "">\n'
        return (keep if netscape else ""), None
    if "]" not in doctype or not doctype.endswith(">"):
        return "", "unterminated DOCTYPE internal subset"
    subset = doctype[doctype.index("[") + 1 : doctype.rindex("]")]
    entities: list[tuple[str, str]] = []
    rest = _IGNORED_DECL.sub("", subset)
    for match in _ENTITY_DECL.finditer(rest):
        problem = _entity_problem(match)
        if problem:
            return "", problem
        entities.append(
            (match.group(2), match.group(3) if match.group(3) is not None else match.group(4))
        )
    leftover = _ENTITY_DECL.sub("", rest).strip()
    if leftover:
        return "", f"DOCTYPE declares what is not a plain entity: {leftover[:80]!r}"
    if len(entities) > MAX_SAFE_ENTITIES:
        return "", f"DOCTYPE declares {len(entities)} entities (limit {MAX_SAFE_ENTITIES})"
    lines = "".join(f'<!ENTITY {name} "{value}">\n' for name, value in entities)
    return (f"<!DOCTYPE {root} [\n{lines}]>\n" if entities else ""), None


def _entity_problem(match: re.Match[str]) -> str | None:
    """Return why one ENTITY declaration is unsafe, or None for a plain character entity."""
    name = match.group(2)
    if match.group(1):
        return f"DOCTYPE declares parameter entity %{name} (entity expansion refused)"
    if match.group(5):
        return f"DOCTYPE declares external entity {name} (XXE refused)"
    value = match.group(3) if match.group(3) is not None else match.group(4)
    if len(value) > MAX_ENTITY_CHARS or not _SAFE_VALUE.fullmatch(value):
        return f"DOCTYPE entity {name} expands to markup or other entities (refused)"
    return None


def _cap_entries(
    xml: str, root: str, max_entries: int, max_elements: int = MAX_ELEMENTS
) -> tuple[str, int, str | None]:
    """Return xml cut after the entries that fit both caps, the entries cut, and a problem.

    feedparser spends ~60 µs per element (twice when the strict parser gives up), so
    elements are capped as well as entries: the time to parse any body stays bounded.
    """
    limit = _nth_element_start(xml, max_elements)
    cut, kept, dropped = None, 0, 0
    for match in _ENTRY_END.finditer(xml):
        if kept >= max(max_entries, 1) or (limit is not None and match.end() > limit):
            dropped += 1
            continue
        cut, kept = match.end(), kept + 1
    if not dropped and limit is None:
        return xml, 0, None
    if cut is None:
        return xml, 0, f"more than {max_elements} XML elements before the first entry ends"
    closing = "</channel>" if root.split(":")[-1].lower() == "rss" else ""
    return xml[:cut] + f"\n{closing}</{root}>\n", max(dropped, 1), None


def _nth_element_start(xml: str, n: int) -> int | None:
    """Return where the n-th element starts (CDATA skipped), None if there are fewer."""
    count, i = 0, 0
    while True:
        match = _ELEMENT_OR_CDATA.search(xml, i)
        if match is None:
            return None
        if match.group() == "<![CDATA[":
            i = _after(xml, "]]>", match.end())
            continue
        count += 1
        if count >= n:
            return match.start()
        i = match.end()


def repair_references(xml: str, declared: frozenset[str] = frozenset()) -> tuple[str, int]:
    """Return xml with bare '&' escaped and HTML-only entities made numeric (CDATA untouched).

    Both are the commonest reasons a real feed is not well-formed; repaired, the strict
    parser reads the feed instead of the lossy loose one ("Q&A" stays "Q&A").
    """
    count = 0

    def fix(match: re.Match[str]) -> str:
        nonlocal count
        name = match.group(2)
        if match.group(1) or (name and (name in _XML_ENTITIES or name in declared)):
            return match.group()
        count += 1
        if name and name + ";" in html.entities.html5:
            return "".join(f"&#{ord(c)};" for c in html.entities.html5[name + ";"])
        return "&amp;" + match.group()[1:]

    parts: list[str] = []
    i = 0
    for cdata in _CDATA.finditer(xml):
        parts += [_REFERENCE.sub(fix, xml[i : cdata.start()]), cdata.group()]
        i = cdata.end()
    parts.append(_REFERENCE.sub(fix, xml[i:]))
    return "".join(parts), count


def _declared_names(doctype: str) -> frozenset[str]:
    """Return the entity names a kept DOCTYPE declares."""
    return frozenset(_declared_values(doctype))


def _declared_values(doctype: str) -> dict[str, str]:
    """Return the replacement text of each entity a kept DOCTYPE declares."""
    return dict(re.findall(r'<!ENTITY (\w[\w.-]*) "([^"]*)">', doctype))


def entity_growth(xml: str, values: Mapping[str, str]) -> int:
    """Return how many characters expanding the declared entities would add (CDATA aside)."""
    if not values:
        return 0
    text = _CDATA.sub("", xml)
    growth = {name: len(value) - len(name) - 2 for name, value in values.items()}
    return sum(growth.get(m.group(1), 0) for m in _NAMED_REFERENCE.finditer(text))


def _run_feedparser(data: bytes, headers: Mapping[str, str], url: str) -> Any:
    """Return feedparser's result for clean UTF-8 XML, never letting it open anything."""
    response_headers: dict[str, str] = {"content-type": "application/xml; charset=utf-8"}
    if b"xml:base" in data:
        # feedparser re-joins the base URI on every element (a third of its time); only
        # xml:base needs that, plain relative links are joined with the feed URL later.
        response_headers["content-location"] = url
    language = header_value(headers, "content-language")
    if language:
        response_headers["content-language"] = language
    # Text extraction downstream needs neither sanitized markup nor absolute links in
    # the content, and both cost a full HTML re-parse per entry (half the parse time).
    return feedparser.parse(
        io.BytesIO(data),
        response_headers=response_headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )


def _build(
    base: ParsedFeed,
    result: Any,
    decoded: Decoded,
    warnings: list[str],
    dropped: int,
    source_id: str,
) -> ParsedFeed:
    """Return the ParsedFeed for a feedparser result: entries, rejects and warnings."""
    feed = result.get("feed", {})
    language = _language(feed.get("language"))
    rejected: list[Rejected] = []
    if result.get("bozo"):
        warnings.append(f"malformed feed, recovered what could be read: {_bozo(result)}")
    if dropped:
        caps = f"{MAX_ENTRIES} entries, {MAX_ELEMENTS} elements"
        detail = f"{dropped} entries past the caps ({caps}) were not read"
        rejected.append(_reject(source_id, base.url, RejectReason.OVERSIZED, detail))
        warnings.append(detail)
    entries: list[FeedEntry] = []
    for index, raw in enumerate(result.entries):
        entry = _entry(raw, base.url, base.fetched_at, language)
        if entry is None:
            detail = f"entry {index} has no title, link or content"
            rejected.append(
                _reject(source_id, f"{base.url}#entry-{index}", RejectReason.EMPTY, detail)
            )
        else:
            entries.append(entry)
    entries, note = _unique_ids(entries, base.url)
    if note:
        warnings.append(note)
    return ParsedFeed(
        url=base.url,
        fetched_at=base.fetched_at,
        entries=tuple(entries),
        title=_clean_title(feed.get("title"), feed.get("title_detail")),
        site_url=_absolute(feed.get("link"), base.url),
        language=language,
        version=result.get("version") or "",
        encoding=decoded.encoding,
        encoding_source=decoded.source,
        bozo=bool(result.get("bozo")),
        warnings=tuple(warnings),
        rejected=tuple(rejected),
    )


def _bozo(result: Any) -> str:
    """Return feedparser's complaint, short."""
    return str(result.get("bozo_exception", "unknown problem"))[:200]


def _reject(source_id: str, item: str, reason: RejectReason, detail: str) -> Rejected:
    """Return a Rejected record for this stage."""
    return Rejected(source_id=source_id, item=item, stage=STAGE, reason=reason, detail=detail)


def _entry(
    raw: Any, feed_url: str, fetched_at: datetime, feed_language: str | None
) -> FeedEntry | None:
    """Return one cleaned entry, or None when it holds nothing to read."""
    title = _clean_title(raw.get("title"), raw.get("title_detail"))
    link = _entry_link(raw, feed_url)
    body, body_from, language = _entry_html(raw)
    if not (title or link or body.strip()):
        return None
    if not body.strip() and title:
        body, body_from = f"<p>{html.escape(title)}</p>", "title"
    guid, guid_source = _entry_id(raw, link, title, body, feed_url)
    published, flag, raw_date = _entry_date(raw, fetched_at)
    return FeedEntry(
        guid=guid,
        guid_source=guid_source,
        url=link or f"{feed_url}#{guid_source}-{_digest(guid)[:16]}",
        title=title,
        html=body,
        body_from=body_from,
        published_at=published,
        date_flag=flag,
        raw_date=raw_date,
        language=language or feed_language,
    )


def _entry_link(raw: Any, feed_url: str) -> str | None:
    """Return the entry's absolute http(s) link: its link, another link, or a URL guid."""
    candidates = [raw.get("link")]
    candidates += [
        link.get("href")
        for link in raw.get("links", [])
        if isinstance(link, Mapping) and link.get("rel", "alternate") == "alternate"
    ]
    if raw.get("guidislink") or str(raw.get("id", "")).startswith(("http://", "https://")):
        candidates.append(raw.get("id"))
    for candidate in candidates:
        absolute = _absolute(candidate, feed_url)
        if absolute:
            return absolute
    return None


def _absolute(value: Any, base: str) -> str | None:
    """Return value as an absolute http(s) URL resolved against base, None otherwise."""
    if not isinstance(value, str) or not value.strip():
        return None
    absolute = urljoin(base, _SPACE.sub("", value))
    parts = urlsplit(absolute)
    return absolute if parts.scheme in ("http", "https") and parts.netloc else None


def _entry_html(raw: Any) -> tuple[str, str, str | None]:
    """Return (HTML, where it came from, xml:lang): the fuller of content and summary."""
    best, source, language = "", "summary", None
    for part in raw.get("content", []) or []:
        value = _as_html(part.get("value", ""), part.get("type", ""))
        if len(value) > len(best):
            best, source, language = value, "content", part.get("language")
    detail = raw.get("summary_detail") or {}
    summary = _as_html(raw.get("summary", ""), detail.get("type", "text/html"))
    if len(summary) > len(best):
        best, source, language = summary, "summary", detail.get("language")
    return strip_active_content(best), source, _language(language)


def _as_html(value: str, content_type: str) -> str:
    """Return value as HTML: plain text is escaped into paragraphs."""
    if not value or content_type in HTML_TYPES or not content_type:
        return value or ""
    paragraphs = [p.strip() for p in value.split("\n\n") if p.strip()]
    return "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)


def strip_active_content(markup: str) -> str:
    """Return markup without <script>/<style> blocks: code, never text (linear time)."""
    parts: list[str] = []
    i = 0
    for match in _ACTIVE_OPEN.finditer(markup):
        if match.start() < i:
            continue
        parts.append(markup[i : match.start()])
        closing = re.compile(rf"</{match.group(1)}\s*>", re.IGNORECASE).search(markup, match.end())
        i = closing.end() if closing else len(markup)
    parts.append(markup[i:])
    return "".join(parts)


def _entry_id(
    raw: Any, link: str | None, title: str | None, body: str, feed_url: str
) -> tuple[str, str]:
    """Return a stable id and its source: the guid, else an article link, else a content
    hash (a link to the home page or the feed itself names no entry: many entries share it)."""
    guid = _SPACE.sub(" ", str(raw.get("id") or "")).strip()
    if guid:
        return guid[:2000], "guid"
    if link and is_article_link(link, feed_url):
        return link, "link"
    return "sha256:" + _digest(f"{title}\n{body}")[:32], "hash"


def _digest(text: str) -> str:
    """Return the SHA-256 hex digest of text."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _unique_ids(entries: list[FeedEntry], feed_url: str) -> tuple[list[FeedEntry], str | None]:
    """Return entries with exact repeats dropped and shared guids re-keyed by link or hash.

    Every entry of a guid that several different entries carry is re-keyed, the first one
    too, so which entry comes first in this fetch never decides an identity.
    """
    groups: dict[str, list[FeedEntry]] = {}
    repeats = 0
    for entry in entries:
        group = groups.setdefault(entry.guid, [])
        if any(_same(entry, other) for other in group):
            repeats += 1
        else:
            group.append(entry)
    shared = {guid for guid, group in groups.items() if len(group) > 1}
    taken = set(groups) - shared
    out: list[FeedEntry] = []
    rekeyed = 0
    for entry in (e for group in groups.values() for e in group):
        if entry.guid in shared:
            entry = _rekey(entry, taken, feed_url)
            taken.add(entry.guid)
            rekeyed += 1
        out.append(entry)
    order = {id(e): i for i, e in enumerate(entries)}
    out.sort(key=lambda e: order.get(id(e), 0))
    notes = []
    if repeats:
        notes.append(f"{repeats} repeated entries dropped")
    if rekeyed:
        notes.append(f"{rekeyed} entries shared a guid with others; re-keyed by link or hash")
    return out, ("; ".join(notes) or None)


def _same(a: FeedEntry, b: FeedEntry) -> bool:
    return (a.url, a.title, a.html) == (b.url, b.title, b.html)


def _rekey(entry: FeedEntry, taken: set[str], feed_url: str) -> FeedEntry:
    """Return entry with an id no other entry has: its link, else a content hash."""
    if is_article_link(entry.url, feed_url) and entry.url not in taken:
        return replace(entry, guid=entry.url, guid_source="link")
    digest = "sha256:" + _digest(f"{entry.guid}\n{entry.url}\n{entry.title}\n{entry.html}")[:32]
    return replace(entry, guid=digest, guid_source="hash")


def _entry_date(raw: Any, fetched_at: datetime) -> tuple[datetime | None, str | None, str | None]:
    """Return (UTC publication time, flag, raw text); absurd dates count as missing."""
    raw_text = raw.get("published") or raw.get("updated") or raw.get("created")
    parsed = raw.get("published_parsed") or raw.get("updated_parsed") or raw.get("created_parsed")
    if isinstance(raw_text, str) and _impossible_iso(raw_text):
        return None, "invalid", raw_text
    when, flag = None, None
    if isinstance(raw_text, str) and (parsed is None or _BAD_OFFSET.search(raw_text)):
        when, flag = _fallback_date(raw_text)
    elif parsed is not None:
        try:
            when = datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
        except (OverflowError, ValueError, OSError, TypeError):
            when = None
    if when is None:
        return None, ("invalid" if raw_text else "missing"), raw_text
    if not EARLIEST_DATE <= when <= _aware(fetched_at) + FUTURE_SLACK:
        return None, "invalid", raw_text or when.isoformat()
    return when, flag, raw_text


def _impossible_iso(text: str) -> bool:
    """Return True for an ISO-looking date that names no real moment: a signed or short
    year, a month, day or time out of range, or a day its month lacks (feedparser would
    roll "2022-02-30" into 2 March and "-0001-01-01" into 2000)."""
    match = _ISO_FIELDS.match(text)
    if not match:
        return False
    year, *rest = match.groups()
    if not year.isdigit() or len(year) != 4:
        return True
    fields = [int(v) if v else 0 for v in rest]
    try:
        datetime(int(year), fields[0], fields[1], fields[2], fields[3], min(fields[4], 59))
    except ValueError:
        return True
    return fields[4] > 60


def _fallback_date(text: str) -> tuple[datetime | None, str | None]:
    """Return what feedparser could not read: RFC 822 without a zone (UTC), a bad zone dropped."""
    text = text.strip()
    flag = None
    bad = _BAD_OFFSET.search(text)
    if bad:
        text, flag = text[: bad.start()], "zone_ignored"
    if any(int(year) < EARLIEST_DATE.year for year in re.findall(r"\b(\d{4})\b", text)):
        return None, None  # parsedate_tz would read year 0000 as 2000
    parts = email.utils.parsedate_tz(text)
    try:
        if parts is not None:
            when = datetime(*parts[:6], tzinfo=UTC) - timedelta(seconds=parts[9] or 0)
            return when, flag
        return _aware(datetime.fromisoformat(text)), flag
    except (ValueError, OverflowError, TypeError):
        return None, None


def _aware(when: datetime) -> datetime:
    """Return when as an aware UTC datetime (naive means UTC)."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _clean_title(value: Any, detail: Any) -> str | None:
    """Return a one-line plain-text title (tags removed for HTML titles), capped."""
    if not isinstance(value, str) or not value.strip():
        return None
    if (detail or {}).get("type", "text/plain") in HTML_TYPES:
        value = html.unescape(_TAG.sub(" ", value))
    value = _SPACE.sub(" ", _INVALID_XML_CHARS.sub("", value)).strip()
    return value[:MAX_TITLE_CHARS] or None


def _language(value: Any) -> str | None:
    """Return the primary language subtag ('en-US' -> 'en'), None if not a language tag."""
    if not isinstance(value, str):
        return None
    match = _LANG.match(value.strip().lower())
    return match.group(1) if match else None


def raw_items(
    parsed: ParsedFeed, *, source_id: str, language_hint: str | None = None
) -> list[RawItem]:
    """Return the feed's entries as RawItems: HTML bodies, dates flagged when missing."""
    return [_raw_item(e, parsed, source_id, language_hint) for e in parsed.entries]


def _raw_item(entry: FeedEntry, parsed: ParsedFeed, source_id: str, hint: str | None) -> RawItem:
    """Return one RawItem; a configured language hint wins over what the feed declares."""
    meta = {"guid_source": entry.guid_source, "body_from": entry.body_from, "feed_url": parsed.url}
    if entry.date_flag in ("missing", "invalid"):
        meta["date_missing"] = "1"
    if entry.date_flag == "zone_ignored":
        meta["date_zone_ignored"] = "1"
    if entry.date_flag == "invalid" and entry.raw_date:
        meta["date_invalid"] = entry.raw_date[:200]
    return RawItem(
        source_id=source_id,
        url=entry.url,
        body=entry.html.encode("utf-8", "replace"),
        fetched_at=parsed.fetched_at,
        content_type="text/html",
        title=entry.title,
        published_at=entry.published_at,
        language_hint=_language(hint) or entry.language,
        guid=entry.guid,
        meta=meta,
    )


def entry_dates(parsed: ParsedFeed) -> Iterable[datetime]:
    """Return the publication times the feed's entries carry (for poll scheduling)."""
    return (e.published_at for e in parsed.entries if e.published_at is not None)
