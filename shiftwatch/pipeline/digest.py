"""The digest, built and sent without Prefect: what changed since the last digest, per channel.

Each channel's digest covers the time since the digest last reached it (the `digests`
table) or `since` when given; the rendering shown (printed, published) starts at the
earliest of those. Sending goes through the same channels as alerts (`connectors/channels/`)
and records a `digests` row per channel as soon as that channel accepted it, so the next
digest starts there.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shiftwatch.connectors.channels import registry
from shiftwatch.models import outbox
from shiftwatch.models.db import Engine, session_scope
from shiftwatch.models.queries import digest_data
from shiftwatch.models.tables import utcnow
from shiftwatch.render.alerts import digest_message
from shiftwatch.render.digest import render_digest, timeline_svg
from shiftwatch.settings import Settings
from shiftwatch.settings import parse_since as parse_iso
from shiftwatch.views import DigestData
from shiftwatch.watchlist import Watchlist

NO_CHANNEL = (
    "digest: no channel configured (set SHIFTWATCH_SLACK_WEBHOOK_URL and/or "
    "SHIFTWATCH_SMTP_HOST, SHIFTWATCH_EMAIL_FROM, SHIFTWATCH_EMAIL_TO); rendered, not sent"
)


@dataclass(frozen=True, kw_only=True)
class DigestPlan:
    """Which rendering each channel gets, and the one shown."""

    starts: Mapping[str, datetime | None]  # channel -> start of its window
    shown_since: datetime | None
    until: datetime
    renderings: Mapping[datetime | None, DigestData]

    @property
    def shown(self) -> DigestData:
        """Return the rendering printed and published (the earliest window)."""
        return self.renderings[self.shown_since]


@dataclass(frozen=True, kw_only=True)
class DigestSummary:
    """What one digest run did (the CLI prints `text` and where it went)."""

    since: str | None
    until: str
    shifts: int
    documents: int
    sent: list[str] = field(default_factory=list)
    text: str = ""

    def __getitem__(self, key: str) -> Any:
        """Read a field by name (`result["sent"]`), as from the dict the flow returned."""
        return getattr(self, key)


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


def windows(
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


def plan_digest(
    engine: Engine, watchlist: Watchlist, channels: tuple[str, ...], since: datetime | None
) -> DigestPlan:
    """Work out each channel's window and render the digest data of each distinct window."""
    until = utcnow()
    starts, shown_since = windows(engine, channels, since)
    renderings: dict[datetime | None, DigestData] = {}
    with session_scope(engine) as session:
        for start in {shown_since, *starts.values()}:
            renderings[start] = digest_data(session, watchlist, since=start, until=until)
    return DigestPlan(starts=starts, shown_since=shown_since, until=until, renderings=renderings)


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
    (opened,) = registry.open_channels(settings, [channel]).values()
    try:
        return opened.send(opened.encode(digest_message(data), digest_id))
    finally:
        opened.close()


def summary(plan: DigestPlan, sent: list[str], fmt: str) -> DigestSummary:
    """Return what the digest run did, with the shown rendering in `fmt`."""
    data = plan.shown
    return DigestSummary(
        since=plan.shown_since.isoformat() if plan.shown_since else None,
        until=plan.until.isoformat(),
        shifts=len(data.shifts),
        documents=len(data.documents),
        sent=sent,
        text=render_digest(data, fmt),
    )
