"""Deliver the outbox: claim due alerts one at a time, send (or write) each, record it.

`run_delivery` is the plain function (tests call it with loopback servers); `deliver_alerts`
is the Prefect task the monitor calls last. Per alert: a transient failure (5xx, timeouts,
429 beyond what we sit out, SMTP 4xx) goes back to the outbox with a backoff and pauses that
channel for the rest of the pass (a channel that is down is not hammered once per alert); a
permanent one fails the alert with the reason. The task itself is retried by Prefect only
while alerts wait for a retry (`retry_condition_fn` accepts `TransientDeliveryError` and
nothing else), with delays as long as the outbox's first backoffs so the retried pass finds
them due; its last run returns normally, leaving what is still pending to the next run,
so a Slack outage never fails the monitor.
"""

from __future__ import annotations

import json
import os
import random
import ssl
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run
from pydantic import SecretStr

from shiftwatch.connectors.slack import SlackWebhook
from shiftwatch.connectors.smtp import SmtpMailer, build_message
from shiftwatch.errors import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from shiftwatch.models import outbox, queries
from shiftwatch.models.db import Engine, session_scope
from shiftwatch.models.tables import utcnow
from shiftwatch.render.alerts import email_alert, slack_alert_payload
from shiftwatch.settings import Settings, SmtpSettings
from shiftwatch.views import ShiftView
from shiftwatch.watchlist import Watchlist

TASK_RETRIES = 2
# Prefect's waits before re-running the task: the longest first and second outbox backoffs.
TASK_RETRY_DELAYS_S = [outbox.BACKOFF_BASE_S, 2 * outbox.BACKOFF_BASE_S]
SECRET_BLOCKS = {  # Prefect Secret blocks read when the environment leaves a secret unset
    "slack_webhook_url": "shiftwatch-slack-webhook-url",
    "smtp_password": "shiftwatch-smtp-password",
}
NO_CHANNEL = (
    "alerts: no channel configured (set SHIFTWATCH_SLACK_WEBHOOK_URL and/or "
    "SHIFTWATCH_SMTP_HOST, SHIFTWATCH_EMAIL_FROM, SHIFTWATCH_EMAIL_TO); shifts are recorded "
    "and shown in the digest, {held} alerts held"
)


class Channel(Protocol):
    """One way out: renders an alert to the exact bytes it sends, and sends them."""

    name: str
    suffix: str

    def render(self, shift: ShiftView, key: str) -> bytes: ...

    def send(self, body: bytes) -> str: ...


@dataclass
class SlackChannel:
    webhook: SlackWebhook | None  # None: render only (--no-deliver)
    name: str = "slack"
    suffix: str = ".json"

    def render(self, shift: ShiftView, key: str) -> bytes:
        """Return the webhook body (JSON, UTF-8)."""
        payload = slack_alert_payload(shift, key)
        return json.dumps(payload, ensure_ascii=False, indent=1).encode("utf-8")

    def send(self, body: bytes) -> str:
        """Post the body; return Slack's answer."""
        if self.webhook is None:
            raise PermanentDeliveryError("slack is not configured")
        return self.webhook.post(body)


@dataclass
class EmailChannel:
    settings: SmtpSettings
    mailer: SmtpMailer | None  # None: render only (--no-deliver)
    name: str = "email"
    suffix: str = ".eml"

    def render(self, shift: ShiftView, key: str) -> bytes:
        """Return the RFC 5322 message, Message-ID derived from the alert key."""
        content = email_alert(shift, key)
        message = build_message(
            sender=self.settings.sender,
            recipients=self.settings.recipients,
            subject=content.subject,
            text=content.text,
            html=content.html,
            key=key,
        )
        return message.as_bytes()

    def send(self, body: bytes) -> str:
        """Send the message; return what the server accepted."""
        if self.mailer is None:
            raise PermanentDeliveryError("email is not configured")
        return self.mailer.send(body)


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


def channels_for(
    settings: Settings,
    *,
    write_only: bool,
    slack_transport: httpx.BaseTransport | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> dict[str, Channel]:
    """Return the configured channels (render-only when `write_only`)."""
    out: dict[str, Channel] = {}
    slack = settings.slack()
    if slack is not None:
        webhook = None if write_only else SlackWebhook(slack, transport=slack_transport)
        out["slack"] = SlackChannel(webhook)
    smtp = settings.smtp()
    if smtp is not None:
        mailer = None if write_only else SmtpMailer(smtp, ssl_context=ssl_context)
        out["email"] = EmailChannel(smtp, mailer)
    return out


def close_channels(channels: Mapping[str, Channel]) -> None:
    """Close the connection pools channels hold."""
    for channel in channels.values():
        if isinstance(channel, SlackChannel) and channel.webhook is not None:
            channel.webhook.close()


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


def deliver_pending(
    engine: Engine,
    channels: Mapping[str, Channel],
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
        outcome = _deliver_one(
            engine,
            claim,
            active[claim.alert.channel],
            watchlist,
            write_dir,
            max_attempts,
            clock,
            rng,
        )
        _count(report, claim, outcome)
        if outcome[0] == "retry":
            active.pop(claim.alert.channel)
            report.paused.append(claim.alert.channel)
    return report


def _count(report: DeliveryReport, claim: outbox.Claim, outcome: tuple[str, str]) -> None:
    kind, detail = outcome
    if kind == outbox.SENT:
        report.sent += 1
    elif kind == outbox.WRITTEN:
        report.written += 1
    elif kind == "lease-lost":
        report.lease_lost += 1
    else:
        report.retrying += kind == "retry"
        report.failed += kind == outbox.FAILED
        report.errors.append(f"{claim.alert.dedupe_key}: {detail}")


def _deliver_one(
    engine: Engine,
    claim: outbox.Claim,
    channel: Channel,
    watchlist: Watchlist,
    write_dir: Path | None,
    max_attempts: int,
    clock: Callable[[], datetime],
    rng: random.Random | None,
) -> tuple[str, str]:
    """Deliver one claimed alert; return (outcome, detail)."""
    if claim.attempt > max_attempts:  # its lease expired again and again: crashes mid-send
        reason = f"gave up after {claim.attempt - 1} attempts (deliveries died mid-send)"
        outbox.mark_failed(engine, claim, reason, transient=False, max_attempts=max_attempts)
        return outbox.FAILED, reason
    try:
        body = channel.render(_view(engine, claim, watchlist), claim.alert.dedupe_key)
        if write_dir is not None:
            path = write_payload(write_dir, claim, channel.suffix, body)
            outbox.mark_written(engine, claim, str(path), clock())
            return outbox.WRITTEN, str(path)
        detail = channel.send(body)
    except DeliveryError as exc:
        return _failed(engine, claim, exc, max_attempts, clock, rng)
    except Exception as exc:  # a bug or a broken payload: recorded, retried later, counted
        error = TransientDeliveryError(f"{type(exc).__name__}: {exc}")
        return _failed(engine, claim, error, max_attempts, clock, rng)
    held = outbox.mark_sent(engine, claim, detail, clock())
    return (outbox.SENT, detail) if held else ("lease-lost", detail)


def _failed(
    engine: Engine,
    claim: outbox.Claim,
    exc: DeliveryError,
    max_attempts: int,
    clock: Callable[[], datetime],
    rng: random.Random | None,
) -> tuple[str, str]:
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
    return ("retry" if status == outbox.PENDING else outbox.FAILED), str(exc)


def _view(engine: Engine, claim: outbox.Claim, watchlist: Watchlist) -> ShiftView:
    with session_scope(engine) as session:
        view = queries.shift_view(session, claim.alert.shift_id, watchlist)
    if view is None:
        raise PermanentDeliveryError(f"shift {claim.alert.shift_id} is not stored")
    return view


def write_payload(folder: Path, claim: outbox.Claim, suffix: str, body: bytes) -> Path:
    """Write a payload atomically as <shift id>.<channel><suffix>; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{claim.alert.shift_id}.{claim.alert.channel}{suffix}"
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    temporary.write_bytes(body)
    os.replace(temporary, path)
    return path


def with_secret_blocks(settings: Settings) -> Settings:
    """Return settings with secrets the environment left unset read from Prefect Secret
    blocks (`shiftwatch-slack-webhook-url`, `shiftwatch-smtp-password`), when they exist."""
    from prefect.blocks.system import Secret

    found: dict[str, SecretStr] = {}
    for name, block in SECRET_BLOCKS.items():
        if getattr(settings, name) is not None:
            continue
        if name == "smtp_password" and not (settings.smtp_host and settings.smtp_user):
            continue
        try:
            found[name] = SecretStr(str(Secret.load(block).get()))
        except ValueError:  # no such block
            continue
    return settings.model_copy(update=found) if found else settings


def transient_only(task: Any, task_run: Any, state: Any) -> bool:
    """Return True when the task failed with a transient delivery error (retry), else False."""
    try:
        state.result()
    except TransientDeliveryError:
        return True
    except BaseException:
        return False
    return False


def owner_id(run_id: str) -> str:
    """Return a lease owner unique to this process and pass."""
    return f"{run_id}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@task(
    name="deliver-alerts",
    retries=TASK_RETRIES,
    retry_delay_seconds=TASK_RETRY_DELAYS_S,
    retry_condition_fn=transient_only,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def deliver_alerts(
    engine: Engine, settings: Settings, watchlist: Watchlist, run_id: str, deliver: bool = True
) -> dict[str, Any]:
    """Deliver (or, with deliver=False, write to files) every due alert; return a summary."""
    logger = get_run_logger()
    settings = with_secret_blocks(settings)
    if not outbox.configured_channels(settings):
        with session_scope(engine) as session:
            held = outbox.status_counts(session).get(outbox.HELD, 0)
        logger.warning(NO_CHANNEL.format(held=held))
        return DeliveryReport().as_dict()
    report = run_delivery(
        engine, settings, watchlist, owner=owner_id(run_id), write_only=not deliver
    )
    for line in report.errors:
        logger.warning("alert not delivered: %s", line)
    if report.retrying and task_run.run_count <= TASK_RETRIES:
        raise TransientDeliveryError(f"{report.retrying} alerts wait for a retry")
    logger.info("alerts: %s", report.as_dict())
    return report.as_dict()
