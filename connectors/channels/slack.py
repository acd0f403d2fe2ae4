"""The Slack channel: a Block Kit body posted to an incoming webhook."""

from __future__ import annotations

import json
from dataclasses import dataclass

from shiftwatch.connectors.channels.base import ChannelKind, Transports
from shiftwatch.connectors.slack import SlackWebhook
from shiftwatch.errors import PermanentDeliveryError
from shiftwatch.settings import Settings
from shiftwatch.views import Message

NAME = "slack"


@dataclass
class SlackChannel:
    webhook: SlackWebhook | None  # None: encode only (--no-deliver)
    name: str = NAME
    suffix: str = ".json"

    def encode(self, message: Message, key: str) -> bytes:
        """Return the webhook body (JSON, UTF-8)."""
        return json.dumps(message.slack, ensure_ascii=False, indent=1).encode("utf-8")

    def send(self, body: bytes) -> str:
        """Post the body; return Slack's answer."""
        if self.webhook is None:
            raise PermanentDeliveryError("slack is not configured")
        return self.webhook.post(body)

    def close(self) -> None:
        """Close the webhook's connection pool."""
        if self.webhook is not None:
            self.webhook.close()


def _open(settings: Settings, transports: Transports, write_only: bool) -> SlackChannel:
    slack = settings.slack()
    if write_only or slack is None:
        return SlackChannel(None)
    return SlackChannel(SlackWebhook(slack, transport=transports.http))


KIND = ChannelKind(name=NAME, configured=lambda s: s.slack() is not None, open=_open)
