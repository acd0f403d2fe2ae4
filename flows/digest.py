"""The `digest` flow (scheduled daily): what changed since the last digest, for people.

It covers, per channel, the time since the digest last sent there (the `digests` table) or
`since` when given; renders text, markdown, HTML and Slack from the one set of templates in
analysis/templates; leaves the markdown (with the position timeline as an image) in the
Prefect UI as the artifact `shiftwatch-digest`; and, with `send`, posts it to Slack and
mails it, recording a `digests` row per channel as soon as that channel accepted it, so the
next digest starts there. Run it with `shiftwatch digest --send` or `python flows/digest.py`.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from shiftwatch.connectors.slack import SlackWebhook
from shiftwatch.connectors.smtp import SmtpMailer, build_message
from shiftwatch.errors import ConfigError, DeliveryError
from shiftwatch.flows.deliver import (
    TASK_RETRIES,
    TASK_RETRY_DELAYS_S,
    transient_only,
    with_secret_blocks,
)
from shiftwatch.models import outbox
from shiftwatch.models.db import Engine, open_database, session_scope
from shiftwatch.models.queries import digest_data
from shiftwatch.models.tables import utcnow
from shiftwatch.render.alerts import digest_slack_payload, email_digest
from shiftwatch.render.digest import FORMATS, render_digest, timeline_svg
from shiftwatch.settings import Settings, load_settings
from shiftwatch.settings import parse_since as parse_iso
from shiftwatch.views import DigestData
from shiftwatch.watchlist import load_watchlist

ARTIFACT_KEY = "shiftwatch-digest"
NO_CHANNEL = (
    "digest: no channel configured (set SHIFTWATCH_SLACK_WEBHOOK_URL and/or "
    "SHIFTWATCH_SMTP_HOST, SHIFTWATCH_EMAIL_FROM, SHIFTWATCH_EMAIL_TO); rendered, not sent"
)


def parse_since(value: str | datetime | None) -> datetime | None:
    """Return `value` as an aware UTC datetime (naive input is taken as UTC)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None if value is None else parse_iso(value)


def artifact_markdown(data: DigestData) -> str:
    """Return the digest as markdown with the position timeline embedded as an SVG image."""
    text = render_digest(data, "markdown")
    svg = timeline_svg(data)
    if not svg:
        return text
    encoded = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    image = f"![Position timeline](data:image/svg+xml;base64,{encoded})"
    return f"{text}\n## Position timeline\n\n{image}\n"


def slack_body(data: DigestData) -> bytes:
    """Return the digest's Slack webhook body."""
    return json.dumps(digest_slack_payload(data), ensure_ascii=False).encode("utf-8")


def email_body(settings: Settings, data: DigestData, key: str) -> bytes:
    """Return the digest as a multipart email."""
    smtp = settings.smtp()
    assert smtp is not None
    content = email_digest(data)
    message = build_message(
        sender=smtp.sender,
        recipients=smtp.recipients,
        subject=content.subject,
        text=content.text,
        html=content.html,
        key=key,
    )
    return message.as_bytes()


@task(name="publish-digest", cache_policy=NO_CACHE, persist_result=False)
def publish_digest(data: DigestData) -> None:
    """Leave the digest (with its timeline picture) in the Prefect UI."""
    create_markdown_artifact(
        key=ARTIFACT_KEY,
        markdown=artifact_markdown(data),
        description=f"shiftwatch digest: {data.watchlist}",
    )


@task(
    name="send-digest",
    retries=TASK_RETRIES,
    retry_delay_seconds=TASK_RETRY_DELAYS_S,
    retry_condition_fn=transient_only,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def send_digest(engine: Engine, settings: Settings, channel: str, data: DigestData) -> str:
    """Send the digest to one channel and record it there at once; return the answer."""
    digest_id = f"digest-{uuid.uuid4().hex[:16]}"
    answer = deliver_digest(settings, channel, data, digest_id)
    with session_scope(engine) as session:
        outbox.record_digest(
            session,
            digest_id=digest_id,
            since=data.since,
            until=data.until or utcnow(),
            channel=channel,
        )
    return answer


def deliver_digest(settings: Settings, channel: str, data: DigestData, digest_id: str) -> str:
    """Send one rendering of the digest through `channel`; return the server's answer."""
    if channel == "slack":
        slack = settings.slack()
        assert slack is not None
        with SlackWebhook(slack) as webhook:
            return webhook.post(slack_body(data))
    smtp = settings.smtp()
    assert smtp is not None
    return SmtpMailer(smtp).send(email_body(settings, data, digest_id))


def _windows(
    engine: Engine, channels: tuple[str, ...], since: datetime | None
) -> tuple[dict[str, datetime | None], datetime | None]:
    """Return each channel's start and the start of the rendering shown (the earliest)."""
    with session_scope(engine) as session:
        starts = {c: since or outbox.last_digest_until(session, c) for c in channels}
        last_any = outbox.last_digest_until(session, None)
    if since is not None:
        return starts, since
    if not channels:
        return starts, last_any
    known = [s for s in starts.values() if s is not None]
    return starts, (min(known) if len(known) == len(starts) else None)


@flow(name="digest", persist_result=False)
def digest(
    send: bool = True,
    since: str | None = None,
    fmt: str = "markdown",
    watchlist: str | None = None,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Render the digest of what is new since the last one, publish it, and send it."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown digest format {fmt!r}: use one of {', '.join(FORMATS)}")
    settings = load_settings(database_url=database_url, watchlist=watchlist)
    logger = get_run_logger()
    wl = load_watchlist(settings.watchlist)
    engine = open_database(settings.database_url)
    if send:
        settings = with_secret_blocks(settings)
    channels = outbox.configured_channels(settings) if send else ()
    until = utcnow()
    starts, shown_since = _windows(engine, channels, parse_since(since))
    renderings: dict[datetime | None, DigestData] = {}
    with session_scope(engine) as session:
        for start in {shown_since, *starts.values()}:
            renderings[start] = digest_data(session, wl, since=start, until=until)
    data = renderings[shown_since]
    publish_digest(data)
    sent, failed = _send_all(engine, settings, starts, renderings)
    if send and not channels:
        logger.warning(NO_CHANNEL)
    engine.dispose()
    if failed:
        raise DeliveryError("digest not delivered: " + "; ".join(failed.values()))
    return {
        "since": shown_since.isoformat() if shown_since else None,
        "until": until.isoformat(),
        "shifts": len(data.shifts),
        "documents": len(data.documents),
        "sent": sent,
        "text": render_digest(data, fmt),
    }


def _send_all(
    engine: Engine,
    settings: Settings,
    starts: dict[str, datetime | None],
    renderings: dict[datetime | None, DigestData],
) -> tuple[list[str], dict[str, str]]:
    """Send each channel its rendering; return the channels that took it and the failures."""
    sent: list[str] = []
    failed: dict[str, str] = {}
    for channel, start in starts.items():
        try:
            send_digest(engine, settings, channel, renderings[start])
            sent.append(channel)
        except DeliveryError as exc:
            failed[channel] = f"{channel}: {exc}"
    return sent, failed


if __name__ == "__main__":
    digest()
