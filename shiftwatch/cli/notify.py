"""`shiftwatch notify test`: one test message to each configured alert channel, and per
channel what happened (ok with the server's answer, or failed with the reason); secrets
never printed."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer

from shiftwatch.errors import DeliveryError, ShiftwatchError
from shiftwatch.render.digest import strip_controls
from shiftwatch.views import Message

if TYPE_CHECKING:
    from shiftwatch.settings import Settings

UNCONFIGURED = {
    "slack": "set SHIFTWATCH_SLACK_WEBHOOK_URL",
    "email": "set SHIFTWATCH_SMTP_HOST, SHIFTWATCH_EMAIL_FROM and SHIFTWATCH_EMAIL_TO",
}


def sample_message(now: datetime, host: str) -> Message:
    """Return the test message, in every form a channel sends."""
    text = (
        f"shiftwatch test message from {host} at {now:%Y-%m-%d %H:%M} UTC: "
        "alerts about position shifts will arrive here."
    )
    return Message(
        subject="[shiftwatch] test message",
        text=text + "\n",
        html=f"<p>{text}</p>",
        slack={"text": text},
    )


def notify_test() -> None:
    """Send one test message to each configured alert channel and say what happened."""
    from shiftwatch.connectors.channels import registry
    from shiftwatch.settings import load_settings

    try:
        settings = _with_blocks(load_settings())
        names = registry.configured(settings)
        opened = registry.open_channels(settings, names)
    except ShiftwatchError as exc:
        typer.secho(f"error: {strip_controls(str(exc))}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    message = sample_message(datetime.now(UTC), socket.gethostname())
    failed = 0
    for name in registry.CHANNELS:
        if name not in opened:
            typer.echo(f"{name}: not configured ({UNCONFIGURED.get(name, 'see README')})")
            continue
        channel = opened[name]
        try:
            answer = channel.send(channel.encode(message, f"test-{uuid.uuid4().hex[:12]}"))
            typer.echo(strip_controls(f"{name}: ok ({answer or 'accepted'})"[:300]))
        except DeliveryError as exc:
            failed += 1
            typer.echo(strip_controls(f"{name}: failed: {exc}"[:500]))
        finally:
            channel.close()
    if not opened:
        typer.secho("error: no alert channel is configured", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    if failed:
        raise typer.Exit(1)


def _with_blocks(settings: Settings) -> Settings:
    """Return settings with secrets held in Prefect Secret blocks, when a server is set."""
    if not os.environ.get("PREFECT_API_URL"):
        return settings
    from shiftwatch.cli.main import configure_prefect
    from shiftwatch.context import with_secret_blocks

    configure_prefect()
    try:
        return with_secret_blocks(settings)
    except Exception as exc:  # an unreachable server must not hide the channels we do have
        typer.secho(
            f"warning: Prefect Secret blocks not read ({type(exc).__name__})",
            fg=typer.colors.YELLOW,
            err=True,
        )
        return settings
