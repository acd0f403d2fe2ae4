"""Previews of alerts no channel is configured for (`run --no-deliver`): what they would say.

Alerts for configured channels are written by the delivery step itself (the exact bytes it
would send). Alerts held because their channel is not configured are rendered here, so a
new user sees the payloads before setting anything up: Slack's exact webhook body (it needs
no settings to encode) and, for email, the subject and text. The outbox is not touched.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shiftwatch.models.db import Engine
    from shiftwatch.settings import Settings
    from shiftwatch.watchlist import Watchlist


def write_held_previews(
    engine: Engine, settings: Settings, watchlist: Watchlist, run_id: str
) -> list[Path]:
    """Write a preview of each held alert of the run's shifts; return the files."""
    from shiftwatch.connectors.channels import registry
    from shiftwatch.models.db import session_scope
    from shiftwatch.models.queries import shift_view
    from shiftwatch.models.status import held_alerts
    from shiftwatch.render.alerts import alert_message

    with session_scope(engine) as session:
        held = held_alerts(session, run_id)
        views = {s: shift_view(session, s, watchlist) for s in {s for s, _, _ in held}}
    slack = registry.open_channels(settings, ["slack"], write_only=True).get("slack")
    written = []
    for shift_id, channel, key in held:
        view = views.get(shift_id)
        if view is None:
            continue
        message = alert_message(view, key)
        if channel == "slack" and slack is not None:
            body, suffix = slack.encode(message, key), slack.suffix
        else:
            body, suffix = f"Subject: {message.subject}\n\n{message.text}".encode(), ".txt"
        written.append(_write(settings.outbox_dir, f"{shift_id}.{channel}{suffix}", body))
    return written


def _write(folder: Path, name: str, body: bytes) -> Path:
    """Write `body` atomically to folder/name; return the path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    temporary = path.with_name(f".{name}.{uuid.uuid4().hex[:8]}.tmp")
    temporary.write_bytes(body)
    os.replace(temporary, path)
    return path
