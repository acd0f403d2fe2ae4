"""The outbox: every shift worth announcing becomes alert rows, delivered exactly once.

Recording (`record_shifts`) runs in the caller's transaction, so a shift and its alerts land
together or not at all. Each confirmed, non-retroactive shift gets one alert per channel
with a unique `dedupe_key` (`<shift id>:<channel>`), inserted or ignored, so re-running
the monitor never queues an alert twice.

Channels: storage knows rows, not channels: the caller says which channels exist and which
are configured (`records.AlertRouting`, built from `connectors/channels/registry.py`). A
channel that is configured when the shift is recorded gets a `pending` alert; one that is
not gets a `held` alert: on record, never sent (configuring Slack later does not flood it
with old shifts; they are in the digest). With no channel configured at all every alert is
held and the monitor says so in one line.

Delivery claims one due alert at a time:

- SQLite: a short `BEGIN IMMEDIATE` transaction (one writer at a time) that selects due rows
  and sets a lease (`status=sending`, `lease_owner`, `lease_until`);
- PostgreSQL: the same under `SELECT ... FOR UPDATE SKIP LOCKED`, so concurrent deliverers
  never wait for, nor take, each other's rows.

A row is due when `pending` and its `next_attempt_at` has come, or when `sending` and its
lease has expired (the deliverer that held it crashed). Every attempt counts (`attempts`) and
leaves a `Delivery` row. `mark_sent` is called as soon as the server accepts; transient
failures come back `pending` after a backoff with jitter, and after
`delivery_max_attempts` the alert is `failed` with the reason. Claiming one at a time bounds
what a crash can leave ambiguous to the single alert in flight: if the server accepted it
and we died before recording that, it is sent once more after the lease expires (at most
one duplicate, the window every outbox has); everything else is either recorded as sent or
still pending. `--no-deliver` writes the exact payloads to files (`written`, never sent
later: a dry run or a quiet backfill does not alert afterwards).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from shiftwatch import records as r
from shiftwatch.models import tables as t
from shiftwatch.models.rows import insert_ignore
from shiftwatch.models.shifts import shift_row
from shiftwatch.models.tables import utcnow
from shiftwatch.records import DeliveryOutcome, OutboxStatus
from shiftwatch.redact import redact

PENDING, SENDING, SENT = OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.SENT
FAILED, HELD, WRITTEN = OutboxStatus.FAILED, OutboxStatus.HELD, OutboxStatus.WRITTEN
BACKOFF_BASE_S = 10.0  # first retry after 5-10 s, doubling per attempt
BACKOFF_CAP_S = 3600.0  # never wait more than an hour between attempts
LEASE_S = 300.0  # > the longest send: connect + timeouts + the Retry-After waits we sit out
ERROR_CHARS = 1000  # of an error message kept in alerts.last_error / deliveries.detail


@dataclass(frozen=True, kw_only=True, slots=True)
class Claim:
    """An alert this deliverer holds the lease on, and which attempt this is."""

    alert: r.Alert
    attempt: int
    owner: str
    lease_until: datetime


def dedupe_key(shift_id: str, channel: str) -> str:
    """Return the alert's natural key: one alert per shift and channel, ever."""
    return f"{shift_id}:{channel}"


def alert_id(shift_id: str, channel: str) -> str:
    """Return the alert's stable id (the same in every run that meets this shift)."""
    digest = hashlib.sha256(dedupe_key(shift_id, channel).encode("utf-8")).hexdigest()
    return "alert-" + digest[:20]


def alert_rows(shift: r.Shift, routing: r.AlertRouting, now: datetime) -> list[dict[str, Any]]:
    """Return the alert rows a shift deserves: none unless confirmed and new, else one per
    known channel, pending where configured and held where not."""
    channels = routing.configured
    if not shift.confirmed or shift.retroactive:
        return []
    return [
        {
            "id": alert_id(shift.id, channel),
            "shift_id": shift.id,
            "channel": channel,
            "dedupe_key": dedupe_key(shift.id, channel),
            "kind": "shift",
            "status": PENDING if channel in channels else HELD,
            "last_error": None if channel in channels else f"{channel} not configured",
            "attempts": 0,
            "created_at": now,
        }
        for channel in routing.known
    ]


def record_shifts(
    session: Session, shifts: Sequence[r.Shift], routing: r.AlertRouting, run_id: str | None
) -> int:
    """Insert shifts and their alerts in the caller's transaction; return how many alerts
    were queued for delivery (new `pending` rows). A possible shift recorded earlier and now
    confirmed (same id) is updated and gets its alerts now."""
    unknown = set(routing.configured) - set(routing.known)
    if unknown:
        known = ", ".join(routing.known)
        raise ValueError(f"unknown alert channels {sorted(unknown)}: use {known}")
    now = utcnow()
    insert_ignore(session, t.Shift, [shift_row(s, run_id) for s in shifts])
    _confirm(session, [s for s in shifts if s.confirmed], run_id)
    rows = [row for s in shifts for row in alert_rows(s, routing, now)]
    if not rows:
        return 0
    new = set(_insert_returning_ids(session, rows))
    return sum(1 for row in rows if row["id"] in new and row["status"] == PENDING)


CORRECTION = "correction"
SHIFT_ALERT = "shift"
ANNOUNCED = (SENT, SENDING)  # may have reached people: a withdrawal owes them a correction


def correction_rows(
    shift_id: str, channels: Sequence[str], routing: r.AlertRouting, now: datetime
) -> list[dict[str, Any]]:
    """Return the correction alerts a withdrawn shift owes: one per channel it reached."""
    return [
        {
            "id": alert_id(shift_id, f"{channel}:{CORRECTION}"),
            "shift_id": shift_id,
            "channel": channel,
            "dedupe_key": f"{dedupe_key(shift_id, channel)}:{CORRECTION}",
            "kind": CORRECTION,
            "status": PENDING if channel in routing.configured else HELD,
            "last_error": None if channel in routing.configured else f"{channel} not configured",
            "attempts": 0,
            "created_at": now,
        }
        for channel in channels
    ]


def queue_corrections(
    session: Session, shift_ids: Sequence[str], routing: r.AlertRouting, note: str = ""
) -> int:
    """In the caller's transaction: hold the withdrawn shifts' alerts not yet sent, and queue
    one correction per channel their alert reached (its dedupe key makes it once, ever);
    return how many corrections were queued for delivery."""
    if not shift_ids:
        return 0
    now = utcnow()
    session.execute(
        update(t.Alert)
        .where(
            t.Alert.shift_id.in_(list(shift_ids)),
            t.Alert.kind == SHIFT_ALERT,
            t.Alert.status == PENDING,
        )
        .values(status=HELD, last_error=f"shift withdrawn by review {note}".strip())
    )
    reached = session.execute(
        select(t.Alert.shift_id, t.Alert.channel).where(
            t.Alert.shift_id.in_(list(shift_ids)),
            t.Alert.kind == SHIFT_ALERT,
            t.Alert.status.in_(list(ANNOUNCED)),
        )
    ).all()
    rows = [
        row
        for shift_id, channel in sorted(reached)
        for row in correction_rows(shift_id, [channel], routing, now)
    ]
    if not rows:
        return 0
    new = set(_insert_returning_ids(session, rows))
    return sum(1 for row in rows if row["id"] in new and row["status"] == PENDING)


def _confirm(session: Session, shifts: Sequence[r.Shift], run_id: str | None) -> None:
    """Mark stored possible shifts confirmed, with the evidence that confirmed them."""
    for s in shifts:
        row = shift_row(s, run_id)
        session.execute(
            update(t.Shift)
            .where(t.Shift.id == s.id, t.Shift.confirmed.is_(False))
            .values(
                confirmed=True,
                evidence=row["evidence"],
                evidence_document_ids=row["evidence_document_ids"],
                run_id=run_id,
                confirmed_at=s.confirmed_at or utcnow(),
            )
        )


def _insert_returning_ids(session: Session, rows: list[dict[str, Any]]) -> list[str]:
    """Insert alert rows, ignoring existing keys (id or dedupe key); return the new ids."""
    dialect = session.get_bind().dialect.name
    insert_or_ignore = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert_or_ignore(t.Alert).values(rows).on_conflict_do_nothing()
    return list(session.execute(statement.returning(t.Alert.id)).scalars())


def _due(now: datetime, channels: Collection[str] | None, exclude: Collection[str]) -> Any:
    """Return the condition of rows a deliverer may claim now (of `channels`; None: any)."""
    condition = and_(
        t.Alert.channel.in_(list(channels)) if channels is not None else true(),
        or_(
            and_(
                t.Alert.status == PENDING,
                or_(t.Alert.next_attempt_at.is_(None), t.Alert.next_attempt_at <= now),
            ),
            and_(t.Alert.status == SENDING, t.Alert.lease_until < now),
        ),
    )
    return and_(condition, t.Alert.id.not_in(list(exclude))) if exclude else condition


def claim_alerts(
    engine: Engine,
    owner: str,
    limit: int,
    lease_s: float,
    now: datetime,
    *,
    channels: Collection[str] | None = None,
    exclude: Collection[str] = (),
) -> list[Claim]:
    """Return up to `limit` due alerts, leased to `owner` until `now + lease_s`."""
    if (channels is not None and not channels) or limit < 1:
        return []
    until = now + timedelta(seconds=lease_s)
    due = _due(now, channels, exclude)
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock before reading
        pick = (
            select(t.Alert.id)
            .where(due)
            .order_by(t.Alert.created_at, t.Alert.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite has the lock already
        )
        ids = list(conn.execute(pick).scalars())
        if ids:
            conn.execute(
                update(t.Alert)
                .where(t.Alert.id.in_(ids), due)
                .values(
                    status=SENDING,
                    lease_owner=owner,
                    lease_until=until,
                    attempts=t.Alert.attempts + 1,
                )
            )
        claims = _claims(conn, ids, owner, until)
        conn.commit()
    return claims


def _claims(conn: Connection, ids: list[str], owner: str, until: datetime) -> list[Claim]:
    if not ids:
        return []
    rows = conn.execute(
        select(
            t.Alert.id,
            t.Alert.shift_id,
            t.Alert.channel,
            t.Alert.dedupe_key,
            t.Alert.attempts,
            t.Alert.kind,
        )
        .where(t.Alert.id.in_(ids), t.Alert.lease_owner == owner, t.Alert.status == SENDING)
        .order_by(t.Alert.created_at, t.Alert.id)
    )
    return [
        Claim(
            alert=r.Alert(id=a, shift_id=s, channel=c, dedupe_key=k, kind=kind),
            attempt=n,
            owner=owner,
            lease_until=until,
        )
        for a, s, c, k, n, kind in rows
    ]


def _finish(
    engine: Engine,
    claim: Claim,
    values: dict[str, Any],
    outcome: str,
    detail: str,
    now: datetime,
) -> bool:
    """Update a claimed alert (only while we still hold it) and record the attempt; return
    False when the lease had been lost (another deliverer took the alert over)."""
    with engine.begin() as conn:
        result = conn.execute(
            update(t.Alert)
            .where(
                t.Alert.id == claim.alert.id,
                t.Alert.lease_owner == claim.owner,
                t.Alert.status == SENDING,
            )
            .values(lease_until=None, **values)
        )
        held = result.rowcount == 1
        conn.execute(
            insert(t.Delivery).values(
                alert_id=claim.alert.id,
                channel=claim.alert.channel,
                attempt=claim.attempt,
                outcome=outcome,
                at=now,
                detail=redact(
                    detail if held else f"{detail} (lease lost: another deliverer took over)"
                )[:ERROR_CHARS],
            )
        )
    return held


def mark_sent(engine: Engine, claim: Claim, detail: str = "", now: datetime | None = None) -> bool:
    """Record that the server accepted the alert (call it at once: this closes the window)."""
    now = now or utcnow()
    values = {"status": SENT, "sent_at": now, "last_error": None, "next_attempt_at": None}
    return _finish(engine, claim, values, SENT, detail, now)


def mark_written(engine: Engine, claim: Claim, path: str, now: datetime | None = None) -> bool:
    """Record that the alert's payload was written to `path` instead of being sent."""
    now = now or utcnow()
    values = {"status": WRITTEN, "last_error": None, "next_attempt_at": None}
    return _finish(engine, claim, values, WRITTEN, path, now)


def mark_failed(
    engine: Engine,
    claim: Claim,
    reason: str,
    *,
    transient: bool,
    max_attempts: int,
    retry_after: float | None = None,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> str:
    """Record a failed attempt; return the alert's new status: `pending` again after a backoff
    when the failure is transient and attempts remain, else `failed` with the reason."""
    now = now or utcnow()
    reason = redact(reason)[:ERROR_CHARS]  # a server's reply may quote a secret back
    if transient and claim.attempt < max_attempts:
        wait = backoff_s(claim.attempt, retry_after, rng)
        values = {
            "status": PENDING,
            "last_error": reason,
            "lease_owner": None,
            "next_attempt_at": now + timedelta(seconds=wait),
        }
        wait_note = f"{reason} (next try in {wait:.0f}s)"
        _finish(engine, claim, values, DeliveryOutcome.RETRY, wait_note, now)
        return PENDING
    why = f"gave up after {claim.attempt} attempts: {reason}" if transient else reason
    _finish(engine, claim, {"status": FAILED, "last_error": why[:ERROR_CHARS]}, FAILED, why, now)
    return FAILED


def backoff_s(
    attempt: int, retry_after: float | None = None, rng: random.Random | None = None
) -> float:
    """Return the wait before attempt `attempt + 1`: exponential, half of it jittered (so
    deliverers that failed together do not retry together), at least what the server asked."""
    base = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(attempt - 1, 0))
    wait = base / 2 + (rng or random).uniform(0, base / 2)
    return max(wait, min(retry_after or 0.0, BACKOFF_CAP_S))


def status_counts(session: Session) -> dict[str, int]:
    """Return how many alerts are in each status."""
    rows = session.execute(select(t.Alert.status, func.count()).group_by(t.Alert.status))
    return {status: n for status, n in rows}


def last_digest_until(session: Session, channel: str | None) -> datetime | None:
    """Return where the last digest sent to `channel` (None: to any) ended; the next one
    starts there."""
    statement = select(t.Digest.until).order_by(t.Digest.until.desc()).limit(1)
    if channel is not None:
        statement = statement.where(t.Digest.channel == channel)
    return session.execute(statement).scalar()


def record_digest(
    session: Session, *, digest_id: str, since: datetime | None, until: datetime, channel: str
) -> None:
    """Record that a digest covering [since, until) reached `channel`."""
    insert_ignore(
        session,
        t.Digest,
        [
            {
                "id": digest_id,
                "since": since,
                "until": until,
                "channel": channel,
                "sent_at": utcnow(),
            }
        ],
    )
