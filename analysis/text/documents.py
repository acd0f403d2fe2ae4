"""Documents: from a connector's bytes to a normalized `Document`, or a reasoned rejection.

Decoding order: a byte-order mark, the declared charset, strict UTF-8, then charset
detection. Text and markdown may open with YAML front matter (title, url, published,
source, language, kind); HTML goes through trafilatura. Fields a folder manifest supplies
(`RawItem.meta`) fill what front matter leaves out.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import charset_normalizer
import lxml.etree
import lxml.html
import trafilatura
import yaml
from dateutil import parser as dateparser

from shiftwatch.analysis.dedupe.clustering import content_hash
from shiftwatch.analysis.language.mojibake import repair_text
from shiftwatch.analysis.text.normalize import normalize_text
from shiftwatch.analysis.text.urls import canonicalize_url
from shiftwatch.records import DateSource, Document, RawItem, Rejected, RejectReason

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
MAX_NUL_SHARE = 0.01  # more NULs than this and the bytes are binary, not text
EARLIEST_DATE = datetime(1990, 1, 1, tzinfo=UTC)  # older "publication" dates are garbage
TITLE_MAX = 300
SCALARS = (str, int, float, date)  # front-matter values we read (datetime is a date)


class _Reject(Exception):
    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def build_document(raw: RawItem) -> Document | Rejected:
    """Return the normalized document for `raw`, or why it cannot be one."""
    try:
        return _build(raw)
    except _Reject as exc:
        return Rejected(
            source_id=raw.source_id,
            item=raw.url,
            stage="normalize",
            reason=exc.reason,
            detail=exc.detail,
        )


def _build(raw: RawItem) -> Document:
    text = decode_bytes(raw.body, raw.content_type)
    meta: dict[str, Any] = dict(raw.meta)
    if "html" in raw.content_type and "feed_url" in raw.meta:
        text = html_to_text(text)  # a feed entry's HTML is a fragment, not a page
    elif "html" in raw.content_type:
        text, html_meta = _extract_html(text, raw.url)
        meta = {**html_meta, **meta}
    else:
        text, front = split_front_matter(text)
        meta.update(front)
    text, repaired = repair_text(text)
    text = normalize_text(text, repair=False)
    if not text:
        raise _Reject(RejectReason.EMPTY, "no text after extraction")
    url = str(meta.get("url") or raw.url)
    canonical = canonicalize_url(url)
    published, date_source = _publication(raw, meta)
    return Document(
        id=document_id(canonical),
        source_id=raw.source_id,
        url=url,
        canonical_url=canonical,
        title=_title(meta.get("title") or raw.title, text),
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
    """Return the stable id of the document at `canonical_url`."""
    return "d" + hashlib.sha256(canonical_url.encode("utf-8")).hexdigest()[:16]


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


def split_front_matter(text: str) -> tuple[str, dict[str, Any]]:
    """Return the text without its YAML front matter, and the front matter's fields."""
    match = _FRONT_MATTER.match(text.lstrip("\ufeff"))
    if not match:
        return text, {}
    try:
        data = yaml.safe_load(match.group(1))
    except (yaml.YAMLError, ValueError, OverflowError) as exc:  # `published: 0000-01-01`
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


def _publication(raw: RawItem, meta: dict[str, Any]) -> tuple[datetime | None, DateSource]:
    from_manifest = "published" in raw.meta
    value = parse_date(meta.get("published") or meta.get("date"))
    if value is not None:
        return value, DateSource.MANIFEST if from_manifest else DateSource.SOURCE
    if raw.published_at is not None and _plausible(raw.published_at, raw.fetched_at):
        return raw.published_at, DateSource.SOURCE
    if raw.meta.get("date_missing"):
        return raw.fetched_at, DateSource.FETCHED
    return None, DateSource.UNDATED


def parse_date(value: object) -> datetime | None:
    """Return a UTC datetime for a front-matter style date, None when absent or absurd."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif hasattr(value, "isoformat"):  # a bare date from YAML
        parsed = datetime.fromisoformat(value.isoformat())
    else:
        try:
            parsed = dateparser.parse(str(value))
        except (ValueError, OverflowError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:  # year 9999 at -14:00 overflows; a '+99:00' offset only fails when it is applied
        parsed = parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return parsed if _plausible(parsed, datetime.now(UTC)) else None


def _plausible(value: datetime, now: datetime) -> bool:
    return EARLIEST_DATE <= value <= now + timedelta(days=2)


def _title(title: object, text: str) -> str:
    if isinstance(title, str) and title.strip():
        return " ".join(title.split())[:TITLE_MAX]
    first_line = text.split("\n", 1)[0]
    return first_line[:TITLE_MAX]


def _str(value: object) -> str | None:
    return str(value).strip() or None if value is not None else None
