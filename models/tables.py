"""SQLModel tables: the schema every run reads and writes.

Natural keys carry unique constraints so re-ingesting the same input stores nothing twice;
JSON columns hold small lists (languages, artifacts, evidence) that are read whole.
Times are stored in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from shiftwatch.models.types import UTCDateTime


def utcnow() -> datetime:
    """Return the current time in UTC (stored naive-free, read back as UTC)."""
    return datetime.now(UTC)


class Source(SQLModel, table=True):
    """A folder, feed or page list a run reads; for feeds, the polling state too."""

    __tablename__ = "sources"
    id: str = Field(primary_key=True)
    kind: str
    url: str
    name: str | None = None
    language_hint: str | None = None
    fetch_full_article: bool = False
    poll_interval_s: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_fetched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_poll_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = "new"
    failures: int = 0
    error_score: float = 0.0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_error_kind: str | None = None
    muted: bool = False
    state: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Document(SQLModel, table=True):
    __tablename__ = "documents"
    __table_args__ = (
        Index("ix_documents_published_at", "published_at"),
        Index("ix_documents_cluster_id", "cluster_id"),
        Index("ix_documents_content_hash", "content_hash"),
        Index("ix_documents_canonical_url", "canonical_url"),
        # Every run looks for the documents of runs that died (positions' recovery) and feeds
        # ask which article URLs are stored: without these, each was a scan of the history.
        Index("ix_documents_run_id", "run_id"),
        Index("ix_documents_url", "url"),
        Index("ix_documents_created_at", "created_at"),  # digests read the window stored
    )
    id: str = Field(primary_key=True)
    source_id: str = Field(index=True)
    url: str
    canonical_url: str
    guid: str | None = None
    title: str
    text: str = Field(sa_column=Column(Text, nullable=False))
    content_hash: str
    raw_hash: str | None = Field(default=None, index=True)
    kind: str | None = None
    body_end: int | None = None
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    date_source: str = "undated"
    fetched_at: datetime = Field(sa_type=UTCDateTime)
    language: str = "und"
    languages: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    segments: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    mt_score: float = 0.0
    mt_artifacts: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    cluster_id: str | None = None
    duplicate_of: str | None = None
    run_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Signature(SQLModel, table=True):
    """A document's MinHash signature, so the dedupe index reloads without re-reading text."""

    __tablename__ = "signatures"
    document_id: str = Field(primary_key=True, foreign_key="documents.id")
    minhash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # The layout its `signature_bands` rows were made with (`clustering.INDEX_FORMAT`); None:
    # stored before they existed (migration 0006), filed at the next run's first dedupe.
    band_format: int | None = Field(default=None, index=True)


class SignatureBand(SQLModel, table=True):
    """One LSH band key a signature is filed under: dedupe reads the stored documents that share
    a key with a new one, not every signature (a cache of `signatures`, rebuilt from it)."""

    __tablename__ = "signature_bands"
    __table_args__ = {"sqlite_with_rowid": False}  # the key index is the table: half the bytes
    key: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    document_id: str = Field(primary_key=True, foreign_key="documents.id")


class Mention(SQLModel, table=True):
    __tablename__ = "mentions"
    __table_args__ = (UniqueConstraint("document_id", "kind", "entity_id", "start"),)
    id: int | None = Field(default=None, primary_key=True)
    document_id: str = Field(foreign_key="documents.id", index=True)
    kind: str
    entity_id: str = Field(index=True)
    text: str
    start: int
    end: int


class Statement(SQLModel, table=True):
    """One quote or claim, however many outlets and languages repeat it."""

    __tablename__ = "statements"
    id: str = Field(primary_key=True)
    speaker_id: str | None = None
    text: str = Field(sa_column=Column(Text, nullable=False))
    first_seen: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_document_id: str | None = None
    echo_count: int = 1


class StanceObservation(SQLModel, table=True):
    __tablename__ = "stances"
    __table_args__ = (
        UniqueConstraint("document_id", "party_id", "demand_id", "evidence_start", "actor_id"),
        Index("ix_stances_party_demand", "party_id", "demand_id"),
        # A run replays a pair from its checkpoint: the observations dated since, and those
        # of the same stories (clusters) before it.
        Index("ix_stances_pair_time", "party_id", "demand_id", "published_at"),
        Index("ix_stances_cluster", "cluster_id"),
        # ... and of the same quotes: without it, a scan of the pair's whole history
        Index("ix_stances_statement", "statement_id"),
        Index("ix_stances_published_at", "published_at"),  # the digest's timeline window
    )
    id: int | None = Field(default=None, primary_key=True)
    document_id: str = Field(foreign_key="documents.id", index=True)
    party_id: str
    actor_id: str | None = None
    demand_id: str
    stance: str
    confidence: float
    evidence: str = Field(sa_column=Column(Text, nullable=False))
    evidence_start: int
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    machine_translated: bool = False
    reported: bool = False
    statement_id: str | None = Field(default=None, index=True)
    cluster_id: str | None = None
    basis: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    said_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # the statement's day


class Position(SQLModel, table=True):
    __tablename__ = "positions"
    party_id: str = Field(primary_key=True)
    demand_id: str = Field(primary_key=True)
    stance: str
    since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    observations: int = 0
    confidence: float = 0.0
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    possible_change: str | None = None  # a held change of stance, awaiting confirmation
    possible_since: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PositionCheckpoint(SQLModel, table=True):
    """Where a pair's replay may resume: its last dated unit after which no challenger was
    pending, and the position as it stood there (see `analysis/positions/checkpoint.py`)."""

    __tablename__ = "position_checkpoints"
    party_id: str = Field(primary_key=True)
    demand_id: str = Field(primary_key=True)
    unit_key: str
    stance: str
    at: datetime = Field(sa_type=UTCDateTime)
    weight: float
    since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    observations: int
    confidence: float
    possible_change: str | None = None
    possible_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    earlier: int  # observations of the pair stored before `at`: a history changed since is seen


class Shift(SQLModel, table=True):
    __tablename__ = "shifts"
    id: str = Field(primary_key=True)
    party_id: str
    demand_id: str
    from_stance: str
    to_stance: str
    at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    confirmed: bool = True
    retroactive: bool = False
    evidence_document_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    evidence: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    detected_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    run_id: str | None = None
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # held, then this
    withdrawn_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # review voided it
    withdrawn_note: str | None = Field(default=None, sa_column=Column(Text))


class Alert(SQLModel, table=True):
    """The outbox: one row per shift and channel, claimed and delivered exactly once."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_status_lease", "status", "lease_until"),)
    id: str = Field(primary_key=True)
    shift_id: str = Field(foreign_key="shifts.id", index=True)
    channel: str
    dedupe_key: str = Field(unique=True)
    status: str = "pending"  # pending | sending | sent | failed | held
    attempts: int = 0
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lease_owner: str | None = None
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # "shift" announces a shift; "correction" retracts one a review withdrew, once per channel
    kind: str = Field(
        default="shift", sa_column=Column(Text, nullable=False, server_default="shift")
    )


class Review(SQLModel, table=True):
    """An analyst's verdict on a stance observation or a shift; undone, never deleted."""

    __tablename__ = "reviews"
    __table_args__ = (Index("ix_reviews_target", "target_id"),)
    id: str = Field(primary_key=True)
    target_kind: str  # stance | shift
    target_id: str  # a stance observation's stable id (st-…) or a shift id
    verdict: str
    stance: str | None = None  # wrong_stance: the stance it really takes
    note: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    undone_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The observations a shift review voided (their stable ids), fixed when it was made, so
    # replay obeys it after the shift itself is gone.
    observation_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON))


class Delivery(SQLModel, table=True):
    """One delivery attempt of an alert or digest, with its outcome."""

    __tablename__ = "deliveries"
    id: int | None = Field(default=None, primary_key=True)
    alert_id: str | None = Field(default=None, index=True)
    channel: str
    attempt: int
    outcome: str  # sent | retry | failed | written
    detail: str | None = Field(default=None, sa_column=Column(Text))
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Run(SQLModel, table=True):
    __tablename__ = "runs"
    id: str = Field(primary_key=True)
    flow: str = "monitor"
    flow_run_id: str | None = None
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = "running"
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    sources: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))


class Rejection(SQLModel, table=True):
    """An item a stage refused, with its reason; unique so a re-run records it once."""

    __tablename__ = "rejections"
    __table_args__ = (UniqueConstraint("source_id", "item", "stage", "reason"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: str | None = None
    source_id: str
    item: str
    stage: str
    reason: str
    detail: str | None = Field(default=None, sa_column=Column(Text))
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Digest(SQLModel, table=True):
    """A digest that was sent, so the next one covers the time since."""

    __tablename__ = "digests"
    id: str = Field(primary_key=True)
    since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    until: datetime = Field(sa_type=UTCDateTime)
    channel: str
    sent_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
