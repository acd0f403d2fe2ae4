"""Documents: from a connector's bytes to a normalized `Document`, or a reasoned rejection.

Decoding order: a byte-order mark, the declared charset, strict UTF-8, then charset
detection. Text and markdown may open with YAML front matter (title, url, published,
source, language, kind); HTML goes through trafilatura. Fields a folder manifest supplies
(`RawItem.meta`) fill what front matter leaves out.

Identity (the document id): a local file is itself, whatever URL its front matter claims
(two files claiming one URL are two documents, and dedupe groups them); a feed entry with an
article link is its canonical URL, shared across feeds; a feed entry without one (no link,
a non-http link, the site's home page or the feed itself) is its feed plus its guid, else a
hash of its content — never one value shared by every such entry.

Dates: see `_publication` and `analysis/text/dates.py`. A refused date is returned as a
note (a `bad_date` rejection the caller records); the document is kept.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import charset_normalizer
import lxml.etree
import lxml.html
import trafilatura
import yaml

from shiftwatch.analysis.dedupe.clustering import content_hash
from shiftwatch.analysis.language.mojibake import repair_text
from shiftwatch.analysis.text.dates import plausible, read_date, text_date
from shiftwatch.analysis.text.entries import is_article_link
from shiftwatch.analysis.text.normalize import normalize_text
from shiftwatch.analysis.text.urls import canonicalize_url
from shiftwatch.analysis.text.yaml_safe import YAMLTooLarge, load_yaml
from shiftwatch.records import DateSource, Document, RawItem, Rejected, RejectReason

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
MAX_NUL_SHARE = 0.01  # more NULs than this and the bytes are binary, not text
TITLE_MAX = 300
SCALARS = (str, int, float, date)  # front-matter values we read (datetime is a date)
FRONT_MATTER_NODES = 5_000  # YAML nodes front matter may expand to (alias bombs refused)
# Field names that carry a publication date, most telling first; compared without case,
# `_` or `-` (so `pubDate`, `pub_date`, `published-at` are one spelling each).
DATE_FIELDS = (
    "published",
    "publishedat",
    "datepublished",
    "publicationdate",
    "publishdate",
    "pubdate",
    "date",
    "created",
    "createdat",
)


class _Reject(Exception):
    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def build_document(raw: RawItem) -> Document | Rejected:
    """Return the normalized document for `raw`, or why it cannot be one."""
    return build_document_with_notes(raw)[0]


# Text kept from one item, after extraction: the longest real transcripts run to a few hundred
# thousand characters; more is a dump, not an article, and would stall the analysis of a run
# (issue 19: a byte cap alone lets a 5 MB file of text through).
MAX_TEXT_CHARS = 1_000_000


def build_document_with_notes(raw: RawItem) -> tuple[Document | Rejected, tuple[Rejected, ...]]:
    """Return the document for `raw` (or why it cannot be one) and the refusals met on the
    way that keep the document (a `bad_date` for each impossible or implausible date)."""
    notes: list[Rejected] = []
    try:
        return _build(raw, notes), tuple(notes)
    except _Reject as exc:
        return _rejected(raw, exc.reason, exc.detail), tuple(notes)


def _rejected(
    raw: RawItem, reason: RejectReason, detail: str, stage: str = "normalize"
) -> Rejected:
    return Rejected(
        source_id=raw.source_id, item=raw.url, stage=stage, reason=reason, detail=detail
    )


def _build(raw: RawItem, notes: list[Rejected]) -> Document:
    text = decode_bytes(raw.body, raw.content_type)
    meta: dict[str, Any] = dict(raw.meta)
    front: dict[str, Any] = {}
    page_date = None
    if "html" in raw.content_type and "feed_url" in raw.meta:
        text = html_to_text(text)  # a feed entry's HTML is a fragment, not a page
    elif "html" in raw.content_type:
        text, html_meta = _extract_html(text, raw.url)
        page_date = html_meta.pop("published", None)
        meta = {**html_meta, **meta}
    else:
        dropped: list[str] = []
        text, front = split_front_matter(text, dropped)
        notes.extend(_rejected(raw, RejectReason.MALFORMED, d, "front_matter") for d in dropped)
        meta.update(front)
    text, repaired = repair_text(text)
    text = normalize_text(text, repair=False)
    if not text:
        raise _Reject(RejectReason.EMPTY, "no text after extraction")
    if len(text) > MAX_TEXT_CHARS:
        raise _Reject(
            RejectReason.OVERSIZED,
            f"{len(text):,} characters of text after extraction (more than {MAX_TEXT_CHARS:,})",
        )
    url = str(meta.get("url") or raw.url)
    canonical = canonicalize_url(url)
    identity = document_identity(raw, canonical)
    title = _title(meta.get("title") or raw.title, text)
    published, date_source = _publication(raw, front, page_date, title, text, notes)
    return Document(
        id=document_id(identity),
        source_id=raw.source_id,
        url=url,
        canonical_url=identity if raw.meta.get("feed_url") else canonical,
        title=title,
        text=text,
        content_hash=content_hash(text),
        fetched_at=raw.fetched_at,
        published_at=published,
        date_source=date_source,
        guid=raw.guid,
        raw_hash=raw_hash(raw),
        kind=_str(meta.get("kind")),
        language_hint=_str(meta.get("language")) or raw.language_hint,
        # Offsets of repaired lines refer to the text before normalization: dropped.
        mt_artifacts=tuple(replace(a, start=None, end=None) for a in repaired),
    )


def raw_hash(raw: RawItem) -> str:
    """Return a hash of what was fetched, so an unchanged item is skipped before any work."""
    digest = hashlib.sha256(raw.body)
    for key in sorted(raw.meta):
        digest.update(f"\0{key}={raw.meta[key]}".encode())
    return digest.hexdigest()[:32]


def document_id(canonical_url: str) -> str:
    """Return the stable id of the document at `canonical_url` (or another identity key)."""
    return "d" + hashlib.sha256(canonical_url.encode("utf-8")).hexdigest()[:16]


def document_identity(raw: RawItem, canonical: str) -> str:
    """Return the key a document's id derives from (see the module's docstring)."""
    if raw.url.startswith("file:"):
        return canonicalize_url(raw.url)  # the file itself, not the URL it claims
    feed_url = raw.meta.get("feed_url")
    if feed_url and not is_article_link(canonical, feed_url):
        key = (raw.guid or "").strip() or "sha256:" + _sha(raw.title or "", raw.body)
        return f"{canonicalize_url(feed_url)}#entry-{_sha(key)}"
    return canonical


def _sha(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:24]


def decode_bytes(body: bytes, content_type: str = "") -> str:
    """Return `body` as text, or raise why it is not text."""
    if body.count(b"\x00") > MAX_NUL_SHARE * max(len(body), 1) and not body.startswith(
        (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    ):
        raise _Reject(RejectReason.UNDECODABLE, "binary content (NUL bytes)")
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return body.decode(encoding, errors="replace")
    declared = _CHARSET.search(content_type or "")
    for encoding in ([declared.group(1)] if declared else []) + ["utf-8"]:
        try:
            return body.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    best = charset_normalizer.from_bytes(body).best()
    if best is None:
        raise _Reject(RejectReason.UNDECODABLE, "no text encoding fits these bytes")
    return str(best)


def split_front_matter(text: str, notes: list[str] | None = None) -> tuple[str, dict[str, Any]]:
    """Return the text without its YAML front matter, and the front matter's fields.

    Front matter that expands past `FRONT_MATTER_NODES` (an alias bomb) is dropped, noted
    in `notes`, and the text kept."""
    match = _FRONT_MATTER.match(text.lstrip("\ufeff"))
    if not match:
        return text, {}
    try:  # dates stay text: checked strictly later, one bad date never rejects the file
        data = load_yaml(match.group(1), max_nodes=FRONT_MATTER_NODES, dates_as_text=True)
    except YAMLTooLarge as exc:
        if notes is not None:
            notes.append(f"front matter dropped: {exc}")
        return text.lstrip("\ufeff")[match.end() :], {}
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        raise _Reject(RejectReason.MALFORMED, f"front matter is not YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _Reject(RejectReason.MALFORMED, "front matter must be a mapping of fields")
    # Fields are scalars: a list or mapping (an alias bomb's str() is gigabytes) is dropped.
    fields = {str(k): v for k, v in data.items() if isinstance(v, SCALARS)}
    return text.lstrip("\ufeff")[match.end() :], fields


def _extract_html(html: str, url: str) -> tuple[str, dict[str, Any]]:
    try:
        result = trafilatura.bare_extraction(
            html,
            url=url if url.startswith("http") else None,
            with_metadata=True,
            include_comments=False,
            include_tables=True,
            favor_precision=True,
        )
    except Exception as exc:  # trafilatura raises a zoo of parser errors on broken markup
        raise _Reject(RejectReason.MALFORMED, f"HTML could not be parsed: {exc}") from None
    if result is None or not (result.text or "").strip():
        fallback = html_to_text(html)  # short pages trafilatura will not call an article
        if not fallback.strip():
            raise _Reject(RejectReason.EMPTY, "no article text found in the HTML")
        return fallback, {}
    meta = {"title": result.title, "published": result.date, "language": result.language}
    return result.text, {k: v for k, v in meta.items() if v}


_BLOCKS = frozenset(
    {
        "p",
        "div",
        "br",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "tr",
        "section",
        "article",
        "header",
        "footer",
        "pre",
        "ul",
        "ol",
        "table",
        "figure",
        "figcaption",
        "dd",
        "dt",
    }
)
_DROP = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "iframe",
        "object",
        "embed",
        "svg",
        "math",
        "head",
    }
)


def html_to_text(html: str) -> str:
    """Return the text of an HTML fragment, one line per block, scripts and styles dropped."""
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return html if "<" not in html else ""
    parts: list[str] = []
    _walk(root, parts)
    return "".join(parts)


def _walk(element: lxml.html.HtmlElement, parts: list[str]) -> None:
    tag = element.tag if isinstance(element.tag, str) else ""
    if tag in _DROP:
        if element.tail:
            parts.append(element.tail)
        return
    block = tag in _BLOCKS
    if block:
        parts.append("\n")
    if element.text and tag:
        parts.append(element.text)
    for child in element:
        _walk(child, parts)
    if block:
        parts.append("\n")
    if element.tail:
        parts.append(element.tail)


def _publication(
    raw: RawItem,
    front: dict[str, Any],
    page_date: object,
    title: str,
    text: str,
    notes: list[Rejected],
) -> tuple[datetime | None, DateSource]:
    """Return the publication time and where it came from, first found in this order:
    front matter, the folder manifest, the feed entry, the page's own metadata, a dateline
    or date in the title or opening lines; a feed entry's fetch time; else none."""
    now = raw.fetched_at if raw.fetched_at.tzinfo else raw.fetched_at.replace(tzinfo=UTC)
    manifest = {k: v for k, v in raw.meta.items() if "feed_url" not in raw.meta}
    for fields, source, where in (
        (front, DateSource.FRONT_MATTER, "front matter"),
        (manifest, DateSource.MANIFEST, "manifest"),
    ):
        for key, value in _date_fields(fields):
            reading = read_date(value, now=now)
            if reading.when is not None:
                return reading.when, source
            if reading.problem:
                notes.append(_date_note(raw, f"{where} {key}: {reading.problem}"))
    if raw.meta.get("date_invalid"):
        notes.append(
            _date_note(raw, f"feed entry date refused: {raw.meta['date_invalid'][:100]!r}")
        )
    if raw.published_at is not None:
        if plausible(raw.published_at, now):
            return raw.published_at, DateSource.FEED
        notes.append(_date_note(raw, f"feed entry date {raw.published_at:%Y-%m-%d} implausible"))
    if page_date:
        reading = read_date(page_date, now=now)
        if reading.when is not None:
            return reading.when, DateSource.PAGE
    found = text_date(title, text, now=now)
    if found is not None:
        return found, DateSource.TEXT
    if raw.meta.get("date_missing"):
        return raw.fetched_at, DateSource.FETCHED
    return None, DateSource.NONE


def _date_fields(fields: dict[str, Any]) -> list[tuple[str, object]]:
    """Return the (name, value) pairs of `fields` that carry a date, most telling first."""
    found = [(_field_name(k), k, v) for k, v in fields.items()]
    ranked = [(DATE_FIELDS.index(n), k, v) for n, k, v in found if n in DATE_FIELDS]
    return [(k, v) for _, k, v in sorted(ranked, key=lambda x: x[0])]


def _field_name(key: str) -> str:
    return key.casefold().replace("_", "").replace("-", "")


def _date_note(raw: RawItem, detail: str) -> Rejected:
    return _rejected(raw, RejectReason.BAD_DATE, detail, stage="date")


def parse_date(value: object, now: datetime | None = None) -> datetime | None:
    """Return a UTC datetime for a front-matter style date, None when absent or refused."""
    return read_date(value, now=now or datetime.now(UTC)).when


_TITLE_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # ESC, CSI, CR: never in a title


def _title(title: object, text: str) -> str:
    if isinstance(title, str) and title.strip():
        return " ".join(_TITLE_CONTROLS.sub(" ", title).split())[:TITLE_MAX]
    first_line = text.split("\n", 1)[0]
    return first_line[:TITLE_MAX]


def _str(value: object) -> str | None:
    return str(value).strip() or None if value is not None else None
