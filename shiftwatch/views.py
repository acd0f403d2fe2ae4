"""Read models: what the digest, alerts and timeline are rendered from.

Storage fills them from its tables (`models/queries.py`, `models/reports.py`); `render/` turns
them into text, HTML, Slack blocks and SVG. Display names, not ids; plain frozen data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, kw_only=True, slots=True)
class TimelinePoint:
    """One dated observation of a stance."""

    at: datetime
    stance: str
    machine_translated: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class TimelineShift:
    """One confirmed change of position."""

    at: datetime
    from_stance: str
    to_stance: str


@dataclass(frozen=True, kw_only=True, slots=True)
class TimelineRow:
    """What one party said on one demand over time (display names, not ids)."""

    party: str
    demand: str
    points: tuple[TimelinePoint, ...]
    shifts: tuple[TimelineShift, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class TimelineChart:
    """The rows of the position timeline and the window the digest covers (None: all)."""

    rows: tuple[TimelineRow, ...]
    window: tuple[datetime, datetime] | None = None


@dataclass(frozen=True, kw_only=True)
class DocumentView:
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
class EvidenceView:
    quote: str
    speaker: str
    source_title: str
    url: str
    published_at: datetime | None
    machine_translated: bool
    basis: str = ""  # why the tool read it so: the cue, the holder rule (stance `basis`)
    reported: bool = False  # an outlet's report of what a party said, not the party's words


@dataclass(frozen=True, kw_only=True)
class ShiftView:
    party: str
    demand: str
    from_stance: str
    to_stance: str
    at: datetime | None
    retroactive: bool
    before: tuple[EvidenceView, ...]
    after: tuple[EvidenceView, ...]


@dataclass(frozen=True, kw_only=True)
class DigestData:
    watchlist: str
    generated_at: datetime
    since: datetime | None
    documents: tuple[DocumentView, ...]
    shifts: tuple[ShiftView, ...] = ()
    parties: tuple[tuple[str, str], ...] = ()  # (id, name) columns of the position table
    demands: tuple[tuple[str, str], ...] = ()  # (id, name) rows
    positions: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (party, demand)
    health: Mapping[str, object] = field(default_factory=dict)
    rejections: tuple[tuple[str, str, str], ...] = ()  # (item, reason, detail)
    statements_by_venue: Mapping[str, int] = field(default_factory=dict)
    # Held changes: (party, demand, stance, possible stance, since), display names
    possible: tuple[tuple[str, str, str, str, datetime | None], ...] = ()
    timeline: TimelineChart | None = None  # rendered as SVG by render/timeline.py
    sources: tuple[tuple[str, int], ...] = ()  # (source, documents), busiest first
    until: datetime | None = None  # end of the window (None: up to generated_at)


@dataclass(frozen=True, kw_only=True)
class Message:
    """One thing to tell people (a shift's alert, a digest), in every form a channel sends.

    `render/` builds it; each channel (`connectors/channels/`) encodes the form it needs.
    """

    subject: str  # email subject
    text: str  # plain text
    html: str  # HTML body
    slack: Mapping[str, Any]  # Slack Block Kit webhook body
