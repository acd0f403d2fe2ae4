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
    id: str = ""  # the observation's stable id (st-…), for `shiftwatch review`
    said_at: datetime | None = None  # the day the text says it was said, before publication


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
    id: str = ""  # for `shiftwatch review shift ID`
    confirmed: bool = True  # False: a possible change, held
    confirmed_at: datetime | None = None  # held first, confirmed then (`at`: first evidence)
    withdrawn_at: datetime | None = None  # an analyst's review voided it
    withdrawn_note: str = ""
    correction: bool = False  # render the correction of an earlier alert, not the alert
    possible: str = ""  # the pair's held change now, if any ("open — possible change to …")


@dataclass(frozen=True, kw_only=True)
class HeldChange:
    """A possible change beside a confirmed position ("supports — possible change to
    opposes since 17 Jul, awaiting confirmation"), with its evidence when stored."""

    stance: str
    since: datetime | None
    shift: ShiftView | None = None

    def label(self, current: str) -> str:
        """Return the one-line description shown beside the position."""
        since = f" since {self.since:%d %b %Y}" if self.since else ""
        return f"{current} — possible change to {self.stance}{since}, awaiting confirmation"


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
    # The same held changes by (party id, demand id), with their stored shift (evidence, id)
    held: Mapping[tuple[str, str], HeldChange] = field(default_factory=dict)
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
