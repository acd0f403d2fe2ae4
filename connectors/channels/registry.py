"""Every channel shiftwatch knows, in the order alerts are queued: one line per channel."""

from __future__ import annotations

from collections.abc import Iterable

from shiftwatch.connectors.channels import email, slack
from shiftwatch.connectors.channels.base import Channel, ChannelKind, Transports
from shiftwatch.settings import Settings

KINDS: tuple[ChannelKind, ...] = (
    slack.KIND,
    email.KIND,
)
CHANNELS: tuple[str, ...] = tuple(kind.name for kind in KINDS)


def configured(settings: Settings) -> tuple[str, ...]:
    """Return the channels `settings` configure (ConfigError when one is half-configured)."""
    return tuple(kind.name for kind in KINDS if kind.configured(settings))


def open_channels(
    settings: Settings,
    names: Iterable[str],
    *,
    write_only: bool = False,
    transports: Transports | None = None,
) -> dict[str, Channel]:
    """Open the named channels (encode-only when `write_only`), in registry order."""
    wanted = set(names)
    chosen = transports or Transports()
    return {
        kind.name: kind.open(settings, chosen, write_only) for kind in KINDS if kind.name in wanted
    }


def close_all(channels: Iterable[Channel]) -> None:
    """Close the channels (their connection pools)."""
    for channel in channels:
        channel.close()
