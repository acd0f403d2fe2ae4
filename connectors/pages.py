"""Fetch article pages for summary-only feeds and extract their text with trafilatura.

Opt-in per feed (`fetch_full_article`). Pages go through the same Fetcher as feeds, so
the same politeness (per-host concurrency and spacing) and safety rules apply. A page
that cannot be fetched or yields no text leaves the feed's summary item as it was,
with the failure recorded as a Rejected: the entry is never lost.

The returned item carries the extracted text (`content_type` "text/plain",
meta["extracted_by"] = "trafilatura"); `extract=False` returns the page HTML instead
("text/html"), for a normalize step that extracts on its own.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

import trafilatura

from shiftwatch.analysis.text.entries import is_article_link
from shiftwatch.connectors.feed_charset import codec_name, declared_charset
from shiftwatch.connectors.http import (
    PAGE_ACCEPT,
    BudgetSpentError,
    Fetcher,
    FetchRefusedError,
    FetchTimeoutError,
)
from shiftwatch.errors import SourceError
from shiftwatch.records import RawItem, Rejected, RejectReason

STAGE = "article_fetch"
MAX_PAGE_BYTES = 8 * 1024 * 1024
PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_TAGS = re.compile(r"<[^>]*>")


def extract_article_text(body: bytes, headers: Mapping[str, str], *, url: str) -> str | None:
    """Return the article text of an HTML page (comments and chrome left out), or None."""
    codec = codec_name(declared_charset(headers))
    markup: bytes | str = body if codec is None else body.decode(codec, errors="replace")
    text = trafilatura.extract(
        markup, url=url, include_comments=False, include_tables=True, deduplicate=False
    )
    return text.strip() if text and text.strip() else None


async def fetch_article(
    item: RawItem, fetcher: Fetcher, *, extract: bool = True
) -> tuple[RawItem, Rejected | None]:
    """Return the item with its article page's text, or unchanged plus why not."""
    try:
        result = await fetcher.fetch(item.url, accept=PAGE_ACCEPT, max_bytes=MAX_PAGE_BYTES)
    except SourceError as exc:
        reason = _REASONED.get(type(exc), RejectReason.HTTP_ERROR)
        if isinstance(exc, FetchRefusedError):
            reason = exc.reason
        return _kept(item, "failed"), _reject(item, reason, str(exc))
    if result.content_type not in PAGE_TYPES:
        detail = f"article is {result.content_type or 'untyped'}, not HTML"
        return _kept(item, "failed"), _reject(item, RejectReason.UNSUPPORTED, detail)
    meta = {**item.meta, "full_article": "1", "page_url": result.final_url}
    if not extract:
        return replace(item, body=result.body, content_type="text/html", meta=meta), None
    text = await asyncio.to_thread(
        extract_article_text, result.body, result.headers, url=result.final_url
    )
    if not text or len(text) < len(_summary_text(item)):
        detail = "the page yields less text than the feed's summary"
        return _kept(item, "empty"), _reject(item, RejectReason.EMPTY, detail)
    meta["extracted_by"] = "trafilatura"
    return replace(item, body=text.encode("utf-8"), content_type="text/plain", meta=meta), None


async def fetch_articles(
    items: Iterable[RawItem],
    fetcher: Fetcher,
    *,
    is_known: Callable[[RawItem], bool] | None = None,
    extract: bool = True,
) -> tuple[list[RawItem], list[Rejected]]:
    """Return items with article text fetched for the new ones, and what failed."""
    items = list(items)
    todo = [  # an entry without an article link (no link, home page, the feed) has no page
        i
        for i, item in enumerate(items)
        if is_article_link(item.url, item.meta.get("feed_url"))
        and not (is_known and is_known(item))
    ]
    results = await asyncio.gather(
        *(fetch_article(items[i], fetcher, extract=extract) for i in todo)
    )
    out = list(items)
    rejected = []
    for index, (item, reject) in zip(todo, results, strict=True):
        out[index] = item
        if reject is not None:
            rejected.append(reject)
    return out, rejected


# Timeouts and the run's byte budget keep their own reason; other statuses are HTTP errors.
_REASONED = {FetchTimeoutError: RejectReason.TIMEOUT, BudgetSpentError: RejectReason.OVERSIZED}


def _summary_text(item: RawItem) -> str:
    """Return the summary's text, roughly, to compare with what the page yields."""
    return _TAGS.sub(" ", item.body.decode("utf-8", "replace")).strip()


def _kept(item: RawItem, status: str) -> RawItem:
    """Return the summary item, marked with what happened to its article."""
    return replace(item, meta={**item.meta, "full_article": status})


def _reject(item: RawItem, reason: RejectReason, detail: str) -> Rejected:
    """Return a Rejected for an article page (the summary item itself is kept)."""
    return Rejected(
        source_id=item.source_id, item=item.url, stage=STAGE, reason=reason, detail=detail[:500]
    )
