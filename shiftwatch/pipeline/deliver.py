"""Deliver the outbox: claim due alerts one at a time, send (or write) each, record it.

No Prefect here: `flows/deliver.py` wraps `deliver_outbox` in a retried task. Per alert: a
transient failure (5xx, timeouts, 429 beyond what we sit out, SMTP 4xx) goes back to the
outbox with a backoff and pauses that channel for the rest of the pass (a channel that is
down is not hammered once per alert); a permanent one fails the alert with the reason.

Channels come from `connectors/channels/` (one `Channel` interface, one registry); an
`AlertOutlet` renders a shift's alert (`render/alerts.py`) and hands it to its channel.
"""

from __future__ import annotations

import logging
import os
import random
import ssl
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

from shiftwatch import records as r
from shiftwatch.connectors.channels import registry
from shiftwatch.connectors.channels.base import Channel, Transports
from shiftwatch.errors import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from shiftwatch.models import outbox, queries
from shiftwatch.models.db import Engine, Session, session_scope
from shiftwatch.models.tables import utcnow
from shiftwatch.pipeline.positions import Announce
from shiftwatch.records import DeliveryOutcome, OutboxStatus
from shiftwatch.render.alerts import alert_message
from shiftwatch.settings import Settings
from shiftwatch.views import ShiftView
from shiftwatch.watchlist import Watchlist

NO_CHANNEL = (
    "alerts: no channel configured (set SHIFTWATCH_SLACK_WEBHOOK_URL and/or "
    "SHIFTWATCH_SMTP_HOST, SHIFTWATCH_EMAIL_FROM, SHIFTWATCH_EMAIL_TO); shifts are recorded "
    "and shown in the digest, {held} alerts held"
)


class AlertSink(Protocol):
    """What the delivery loop needs of a channel: render a shift's alert, send the bytes."""

    name: str
    suffix: str

    def render(self, shift: ShiftView, key: str) -> bytes: ...

    def send(self, body: bytes) -> str: ...


@dataclass
class AlertOutlet:
    """A channel as the outbox sees it: a shift's alert rendered, encoded and sent."""

    channel: Channel

    @property
    def name(self) -> str:
        return self.channel.name

    @property
    def suffix(self) -> str:
        return self.channel.suffix

    def render(self, shift: ShiftView, key: str) -> bytes:
        """Return the exact bytes this channel sends for the shift's alert."""
        return self.channel.encode(alert_message(shift, key), key)

    def send(self, body: bytes) -> str:
        """Send the bytes; return the server's answer."""
        return self.channel.send(body)

    def close(self) -> None:
        """Release the channel's connections."""
        self.channel.close()


@dataclass
class DeliveryReport:
    """What one delivery pass did (a task returns this, not the payloads)."""

    channels: list[str] = field(default_factory=list)
    sent: int = 0
    written: int = 0
    retrying: int = 0
    failed: int = 0
    lease_lost: int = 0
    paused: list[str] = field(default_factory=list)  # channels that failed transiently
    errors: list[str] = field(default_factory=list)  # one line per failure, no secrets

    def as_dict(self) -> dict[str, Any]:
        """Return the report as plain data for run summaries."""
        return asdict(self)

    def __getitem__(self, key: str) -> Any:
        """Read a count by name (`report["sent"]`), as from the dict runs record."""
        return getattr(self, key)


def configured_channels(settings: Settings) -> tuple[str, ...]:
    """Return the channels settings configure, in registry order."""
    return registry.configured(settings)


def routing(configured: Sequence[str]) -> r.AlertRouting:
    """Return the outbox routing: every known channel, `configured` ones pending."""
    return r.AlertRouting(known=registry.CHANNELS, configured=tuple(configured))


def record_shifts(
    session: Session, shifts: Sequence[r.Shift], channels: Sequence[str], run_id: str | None
) -> int:
    """Record shifts and their alerts (pending on `channels`, held on the other known ones)
    in the caller's transaction; return how many alerts were queued for delivery."""
    return outbox.record_shifts(session, shifts, routing(channels), run_id)


def announcer(settings: Settings | Sequence[str], run_id: str | None) -> Announce:
    """Return the callback the positions step runs inside its transaction: it queues the
    alerts of the shifts to announce on the channels configured (settings, or names)."""
    channels = configured_channels(settings) if isinstance(settings, Settings) else tuple(settings)

    def announce(session: Session, shifts: Sequence[r.Shift]) -> int:
        return record_shifts(session, shifts, channels, run_id)

    return announce


def channels_for(
    settings: Settings,
    *,
    write_only: bool,
    slack_transport: httpx.BaseTransport | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> dict[str, AlertOutlet]:
    """Return the configured channels as alert outlets (render-only when `write_only`)."""
    transports = Transports(http=slack_transport, ssl_context=ssl_context)
    opened = registry.open_channels(
        settings, registry.configured(settings), write_only=write_only, transports=transports
    )
    return {name: AlertOutlet(channel) for name, channel in opened.items()}


def close_channels(channels: Mapping[str, Any]) -> None:
    """Close the connection pools channels hold."""
    for channel in channels.values():
        close = getattr(channel, "close", None)
        if close is not None:
            close()


def run_delivery(
    engine: Engine,
    settings: Settings,
    watchlist: Watchlist,
    *,
    owner: str,
    write_only: bool = False,
    slack_transport: httpx.BaseTransport | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> DeliveryReport:
    """Deliver every due alert of the configured channels once; return what happened."""
    channels = channels_for(
        settings, write_only=write_only, slack_transport=slack_transport, ssl_context=ssl_context
    )
    try:
        return deliver_pending(
            engine,
            channels,
            watchlist,
            owner=owner,
            write_dir=settings.outbox_dir if write_only else None,
            max_attempts=settings.delivery_max_attempts,
        )
    finally:
        close_channels(channels)


def deliver_outbox(
    engine: Engine,
    settings: Settings,
    watchlist: Watchlist,
    run_id: str,
    *,
    deliver: bool = True,
    log: logging.Logger | logging.LoggerAdapter[Any] | None = None,
) -> DeliveryReport:
    """Deliver (or, with deliver=False, write to files) every due alert; return the report."""
    log = log or logging.getLogger(__name__)
    if not configured_channels(settings):
        with session_scope(engine) as session:
            held = outbox.status_counts(session).get(OutboxStatus.HELD, 0)
        log.warning(NO_CHANNEL.format(held=held))
        return DeliveryReport()
    report = run_delivery(
        engine, settings, watchlist, owner=owner_id(run_id), write_only=not deliver
    )
    for line in report.errors:
        log.warning("alert not delivered: %s", line)
    return report


def deliver_pending(
    engine: Engine,
    channels: Mapping[str, AlertSink],
    watchlist: Watchlist,
    *,
    owner: str,
    write_dir: Path | None = None,
    max_attempts: int = 5,
    lease_s: float = outbox.LEASE_S,
    clock: Callable[[], datetime] = utcnow,
    rng: random.Random | None = None,
) -> DeliveryReport:
    """Claim, deliver and record due alerts one at a time; each alert at most once per pass."""
    report = DeliveryReport(channels=sorted(channels))
    active = dict(channels)
    seen: set[str] = set()
    while active:
        claims = outbox.claim_alerts(
            engine, owner, 1, lease_s, clock(), channels=list(active), exclude=seen
        )
        if not claims:
            break
        claim = claims[0]
        seen.add(claim.alert.id)
        sink = active[claim.alert.channel]
        outcome = _deliver_one(engine, claim, sink, watchlist, write_dir, max_attempts, clock, rng)
        _count(report, claim, outcome)
        if outcome[0] == DeliveryOutcome.RETRY:
            active.pop(claim.alert.channel)
            report.paused.append(claim.alert.channel)
    return report


def _count(report: DeliveryReport, claim: outbox.Claim, outcome: tuple[str, str]) -> None:
    kind, detail = outcome
    if kind == DeliveryOutcome.SENT:
        report.sent += 1
    elif kind == DeliveryOutcome.WRITTEN:
        report.written += 1
    elif kind == DeliveryOutcome.LEASE_LOST:
        report.lease_lost += 1
    else:
        report.retrying += kind == DeliveryOutcome.RETRY
        report.failed += kind == DeliveryOutcome.FAILED
        report.errors.append(f"{claim.alert.dedupe_key}: {detail}")


def _deliver_one(
    engine: Engine,
    claim: outbox.Claim,
    sink: AlertSink,
    watchlist: Watchlist,
    write_dir: Path | None,
    max_attempts: int,
    clock: Callable[[], datetime],
    rng: random.Random | None,
) -> tuple[DeliveryOutcome, str]:
    """Deliver one claimed alert; return (outcome, detail)."""
    if claim.attempt > max_attempts:  # its lease expired again and again: crashes mid-send
        reason = f"gave up after {claim.attempt - 1} attempts (deliveries died mid-send)"
        outbox.mark_failed(engine, claim, reason, transient=False, max_attempts=max_attempts)
        return DeliveryOutcome.FAILED, reason
    try:
        body = sink.render(_view(engine, claim, watchlist), claim.alert.dedupe_key)
        if write_dir is not None:
            path = write_payload(write_dir, claim, sink.suffix, body)
            outbox.mark_written(engine, claim, str(path), clock())
            return DeliveryOutcome.WRITTEN, str(path)
        detail = sink.send(body)
    except DeliveryError as exc:
        return _failed(engine, claim, exc, max_attempts, clock, rng)
    except Exception as exc:  # a bug or a broken payload: recorded, retried later, counted
        error = TransientDeliveryError(f"{type(exc).__name__}: {exc}")
        return _failed(engine, claim, error, max_attempts, clock, rng)
    held = outbox.mark_sent(engine, claim, detail, clock())
    return (DeliveryOutcome.SENT if held else DeliveryOutcome.LEASE_LOST), detail


def _failed(
    engine: Engine,
    claim: outbox.Claim,
    exc: DeliveryError,
    max_attempts: int,
    clock: Callable[[], datetime],
    rng: random.Random | None,
) -> tuple[DeliveryOutcome, str]:
    transient = isinstance(exc, TransientDeliveryError)
    status = outbox.mark_failed(
        engine,
        claim,
        str(exc),
        transient=transient,
        max_attempts=max_attempts,
        retry_after=exc.retry_after if isinstance(exc, TransientDeliveryError) else None,
        now=clock(),
        rng=rng,
    )
    retry = status == OutboxStatus.PENDING
    return (DeliveryOutcome.RETRY if retry else DeliveryOutcome.FAILED), str(exc)


def _view(engine: Engine, claim: outbox.Claim, watchlist: Watchlist) -> ShiftView:
    with session_scope(engine) as session:
        view = queries.shift_view(session, claim.alert.shift_id, watchlist)
    if view is None:
        raise PermanentDeliveryError(f"shift {claim.alert.shift_id} is not stored")
    return replace(view, correction=claim.alert.kind == outbox.CORRECTION)


def write_payload(folder: Path, claim: outbox.Claim, suffix: str, body: bytes) -> Path:
    """Write a payload atomically as <shift id>.<channel><suffix>; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    kind = f".{outbox.CORRECTION}" if claim.alert.kind == outbox.CORRECTION else ""
    path = folder / f"{claim.alert.shift_id}.{claim.alert.channel}{kind}{suffix}"
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    temporary.write_bytes(body)
    os.replace(temporary, path)
    return path


def owner_id(run_id: str) -> str:
    """Return a lease owner unique to this process and pass."""
    return f"{run_id}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
