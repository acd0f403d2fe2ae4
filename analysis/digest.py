"""The digest: what analysts read — shifts with evidence, positions, documents, pipeline health.

Built from plain data (`DigestData`, filled by a query in `models/`) and rendered from one
set of jinja2 templates per format. Text from the news is escaped for HTML and markdown by
the templates' filters, never trusted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).parent / "templates"
FORMATS = {"text": "digest.txt.j2", "markdown": "digest.md.j2", "html": "digest.html.j2"}


@dataclass(frozen=True, kw_only=True)
class DigestDocument:
    id: str
    title: str
    url: str
    published_at: datetime | None
    date_source: str
    kind: str | None
    language: str
    other_languages: tuple[str, ...]
    mt_score: float
    mt_kinds: tuple[str, ...]
    demands: tuple[tuple[str, int], ...]  # (display name, mentions)
    venues: tuple[tuple[str, int], ...]
    speakers: tuple[str, ...]
    copies: int = 0  # other members of its dedupe cluster
    duplicate_of: str | None = None


@dataclass(frozen=True, kw_only=True)
class DigestEvidence:
    quote: str
    speaker: str
    source_title: str
    url: str
    published_at: datetime | None
    machine_translated: bool


@dataclass(frozen=True, kw_only=True)
class DigestShift:
    party: str
    demand: str
    from_stance: str
    to_stance: str
    at: datetime | None
    retroactive: bool
    before: tuple[DigestEvidence, ...]
    after: tuple[DigestEvidence, ...]


@dataclass(frozen=True, kw_only=True)
class DigestData:
    watchlist: str
    generated_at: datetime
    since: datetime | None
    documents: tuple[DigestDocument, ...]
    shifts: tuple[DigestShift, ...] = ()
    parties: tuple[tuple[str, str], ...] = ()  # (id, name) columns of the position table
    demands: tuple[tuple[str, str], ...] = ()  # (id, name) rows
    positions: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (party, demand)
    health: Mapping[str, object] = field(default_factory=dict)
    rejections: tuple[tuple[str, str, str], ...] = ()  # (item, reason, detail)
    statements_by_venue: Mapping[str, int] = field(default_factory=dict)
    timeline_svg: str | None = None


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")


def escape_markdown(text: object) -> str:
    """Return `text` with markdown syntax neutralised (news text must not format a digest)."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def _date(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else "undated"


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )
    env.filters["md"] = escape_markdown
    env.filters["date"] = _date
    env.filters["pct"] = lambda v: f"{100 * float(v):.0f}%"
    return env


def render_digest(data: DigestData, fmt: str = "text") -> str:
    """Return the digest in `fmt` (text, markdown or html)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown digest format {fmt!r}: use one of {', '.join(FORMATS)}")
    return _environment().get_template(FORMATS[fmt]).render(d=data, stance_mark=STANCE_MARKS)


STANCE_MARKS = {"supports": "+", "opposes": "-", "open": "~", "": "."}


def names(pairs: Sequence[tuple[str, int]]) -> str:
    """Return "name (n), name" for a list of (name, count)."""
    return ", ".join(f"{n} ({c})" if c > 1 else n for n, c in pairs)
