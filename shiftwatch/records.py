"""Plain records passed between pipeline stages.

Frozen, keyword-only dataclasses: a stage takes one kind and returns the next
(`RawItem` -> `Document` -> `Mention` -> `StanceObservation` -> `Shift` -> `Alert`).
No feedparser dict or ORM row travels more than one hop; stages that enrich a
record return a copy made with `dataclasses.replace`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple


class SourceKind(StrEnum):
    FILE = "file"
    FEED = "feed"
    PAGE = "page"


class EntityKind(StrEnum):
    PARTY = "party"
    ACTOR = "actor"
    DEMAND = "demand"
    VENUE = "venue"


class Stance(StrEnum):
    SUPPORTS = "supports"
    OPPOSES = "opposes"
    OPEN = "open"


class DateSource(StrEnum):
    """Where a document's publication time came from (analysts must know a guess from a fact).

    Tried in this order: front matter, the folder manifest, the feed entry, the page's own
    metadata, a dateline or date in the title or first lines of the text; a feed entry with
    none of these is dated by its fetch time (flagged); otherwise `none`.
    """

    FRONT_MATTER = "front_matter"  # a local file's own front matter (published, date, ...)
    MANIFEST = "manifest"  # the folder's manifest.yaml
    FEED = "feed"  # the feed entry's published/updated date
    PAGE = "page"  # the HTML page's own metadata (trafilatura/htmldate)
    TEXT = "text"  # a dateline or a date in the title or the first lines of the text
    FETCHED = "fetched"  # no date given: the fetch time stands in, flagged
    NONE = "none"  # nothing known
    # Values written by earlier versions, still read from older databases.
    SOURCE = "source"
    UNDATED = "undated"


class RejectReason(StrEnum):
    UNREADABLE = "unreadable"  # the file or response could not be read at all
    UNDECODABLE = "undecodable"  # bytes that decode to no usable text
    EMPTY = "empty"  # no text left after extraction
    OVERSIZED = "oversized"  # over the configured size cap
    MALFORMED = "malformed"  # front matter, XML or HTML too broken to use
    UNSUPPORTED = "unsupported"  # a file type or content type we do not read
    NOT_A_FEED = "not_a_feed"  # an HTML page or error page served where a feed was expected
    UNSAFE = "unsafe"  # DOCTYPE/entity declarations, private addresses, bombs
    HTTP_ERROR = "http_error"  # a status the fetcher cannot use
    BAD_DATE = "bad_date"  # an impossible or implausible date, refused (the item is kept)
    DUPLICATE = "duplicate"  # another item already holds this document's identity
    TIMEOUT = "timeout"  # no complete answer within the deadline (slow or trickling server)


class OutboxStatus(StrEnum):
    """Where an alert is in the outbox (stored as these strings)."""

    PENDING = "pending"  # waiting to be sent (maybe after a backoff)
    SENDING = "sending"  # leased to a deliverer
    SENT = "sent"
    FAILED = "failed"  # gave up, with the reason
    HELD = "held"  # its channel was not configured when the shift was recorded: never sent
    WRITTEN = "written"  # --no-deliver wrote its payload to a file: never sent


class DeliveryOutcome(StrEnum):
    """What one delivery attempt did (the `deliveries` table)."""

    SENT = "sent"
    WRITTEN = "written"
    RETRY = "retry"
    FAILED = "failed"
    LEASE_LOST = "lease-lost"  # sent, but another deliverer had taken the alert over


class ReviewVerdict(StrEnum):
    """What an analyst said about a stance observation or a shift (the `reviews` table)."""

    CONFIRMED = "confirmed"  # right: the observation counts as strong evidence
    REJECTED = "rejected"  # wrong, no reason given: it never counts
    NOT_A_STANCE = "not_a_stance"  # a mention, a question, a report of no stance: never counts
    WRONG_HOLDER = "wrong_holder"  # someone else's stance: never counts for this party
    WRONG_STANCE = "wrong_stance"  # the holder's, but another stance (`stance`): counts so
    FALSE_SHIFT = "false_shift"  # a shift that did not happen: its new-stance evidence is void


class RunStatus(StrEnum):
    """How a run stands (the `runs` table)."""

    RUNNING = "running"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"  # it died; a later run carried its documents through


@dataclass(frozen=True, kw_only=True, slots=True)
class RawItem:
    """Bytes as a connector fetched them, with what the source said about them."""

    source_id: str
    url: str
    body: bytes
    fetched_at: datetime
    content_type: str = "text/plain"
    title: str | None = None
    published_at: datetime | None = None
    language_hint: str | None = None
    guid: str | None = None
    meta: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class Rejected:
    """An item a stage refused, with the reason: stored and counted, never silently dropped."""

    source_id: str
    item: str
    stage: str
    reason: RejectReason
    detail: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class LanguageShare:
    lang: str
    share: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Segment:
    """A paragraph or line of a document with its detected language (`und` when unsure)."""

    start: int
    end: int
    lang: str
    confidence: float


@dataclass(frozen=True, kw_only=True, slots=True)
class MTArtifact:
    """One piece of evidence that a text is machine-translated (or mis-decoded)."""

    kind: str
    evidence: str
    start: int | None = None
    end: int | None = None
    weight: float = 0.0
    detail: str = ""  # what the evidence means: "ru: железобетонные гарантии", "reads: канал"


@dataclass(frozen=True, kw_only=True, slots=True)
class Document:
    """A normalized document: its text, where it came from, and what the stages found."""

    id: str
    source_id: str
    url: str
    canonical_url: str
    title: str
    text: str
    content_hash: str
    fetched_at: datetime
    published_at: datetime | None = None
    date_source: DateSource = DateSource.NONE
    guid: str | None = None
    raw_hash: str | None = None  # hash of the fetched bytes: unchanged input is skipped cheaply
    kind: str | None = None  # e.g. "news-article", "tweet-thread" (from front matter/manifest)
    body_end: int | None = None  # offset where reader comments or page chrome begin
    language_hint: str | None = None
    language: str = "und"
    languages: tuple[LanguageShare, ...] = ()
    segments: tuple[Segment, ...] = ()
    mt_score: float = 0.0
    mt_artifacts: tuple[MTArtifact, ...] = ()
    cluster_id: str | None = None
    duplicate_of: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class DemandTerms:
    """How a demand's words lean, from its watchlist entry, all languages merged.

    `forbids` words name what the demand rules out ("expansion"), `opposite` aliases its
    counter-concept ("open door"), `neutral` aliases only its topic; `cues` are the demand's
    own stance phrases, as (kind, language, phrase) with kind favour, against or open
    ("extend" the deal, "walk away from" it)."""

    forbids: tuple[str, ...] = ()
    opposite: tuple[str, ...] = ()
    neutral: tuple[str, ...] = ()
    cues: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Entity:
    """A watchlist entry compiled for matching: aliases per language code."""

    kind: EntityKind
    id: str
    name: str
    party: str | None = None  # actors only: the party they speak for (None: commentator)
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    opposite: Mapping[str, tuple[str, ...]] = field(
        default_factory=dict
    )  # demands: counter-concept


@dataclass(frozen=True, kw_only=True, slots=True)
class Mention:
    document_id: str
    kind: EntityKind
    entity_id: str
    text: str
    start: int
    end: int
    # The watchlist alias the text was read as when it names a demand in other words
    # ("enlargement of the Alliance" for "NATO enlargement"); analysis only, never stored.
    wording: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class StanceObservation:
    """Who took which stance on which demand, where, and how sure we are."""

    document_id: str
    party_id: str
    actor_id: str | None
    demand_id: str
    stance: Stance
    confidence: float
    evidence: str
    evidence_start: int
    published_at: datetime | None
    machine_translated: bool = False
    reported: bool = False  # an outlet's claim about what a third party said
    statement_id: str | None = None
    cluster_id: str | None = None
    basis: str = ""  # why: the cue, the holder rule, what lowered it (for the analyst)
    # The statement's own day when its sentence gives one ("said on Tuesday"), before
    # `published_at`: the timeline dates the stance from it (noon UTC: the hour is unknown).
    said_at: datetime | None = None
    review: str | None = None  # an analyst's verdict applied to it (ReviewVerdict value)


@dataclass(frozen=True, kw_only=True, slots=True)
class Correction:
    """An analyst's verdict on one stance observation, as the timeline replay applies it."""

    verdict: ReviewVerdict
    stance: Stance | None = None  # WRONG_STANCE: the stance it really takes
    review_id: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class Review:
    """An analyst's verdict on a stance observation (`st-…`) or a shift (`shift-…`)."""

    id: str
    target_kind: str  # "stance" or "shift"
    target_id: str
    verdict: ReviewVerdict
    stance: Stance | None = None
    note: str = ""
    at: datetime | None = None
    undone_at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Position:
    party_id: str
    demand_id: str
    stance: Stance
    since: datetime | None
    observations: int
    confidence: float
    # A change held, not yet confirmed ("supports — possible change to opposes since ...")
    possible_change: Stance | None = None
    possible_since: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Shift:
    """A change of a party's position on a demand, with the evidence before and after."""

    id: str
    party_id: str
    demand_id: str
    from_stance: Stance
    to_stance: Stance
    at: datetime | None
    evidence_document_ids: tuple[str, ...]
    evidence: tuple[StanceObservation, ...] = ()
    confirmed: bool = True  # False: a possible shift held until confirmed, never alerted
    retroactive: bool = False  # found late about the past: recorded, not announced as new
    # When a held change was confirmed by independent evidence (None: strong at once);
    # `at` stays the first evidence of the new stance.
    confirmed_at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Alert:
    id: str
    shift_id: str
    channel: str
    dedupe_key: str
    kind: str = "shift"  # "correction": a withdrawn shift's retraction


@dataclass(frozen=True, kw_only=True, slots=True)
class AlertRouting:
    """Which channels exist (`known`, in order) and which are configured now: a recorded
    shift gets one alert per known channel, pending where configured, held elsewhere."""

    known: tuple[str, ...]
    configured: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceRef:
    """A source a run reads (folder, feed), as stored before its first fetch."""

    id: str
    kind: str
    url: str
    name: str | None = None
    language_hint: str | None = None
    fetch_full_article: bool = False
    poll_interval_s: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class FeedHealth:
    """A polled feed's health as `shiftwatch feeds health` shows it."""

    url: str
    name: str | None
    status: str
    last_fetched_at: datetime | None
    next_poll_at: datetime | None
    failures: int
    error_score: float
    last_error: str | None


class StoredSignature(NamedTuple):
    """A document's MinHash signature (bytes) and, to store it, the LSH band keys it is filed
    under (`clustering.index_keys`; empty as loaded back)."""

    document_id: str
    minhash: bytes
    band_keys: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredText:
    """What clustering needs of a stored document."""

    id: str
    text: str
    body_end: int | None
    mt_score: float | None
    published_at: datetime | None
    cluster_id: str | None
    duplicate_of: str | None
