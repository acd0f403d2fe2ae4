"""The email channel: a multipart message (text + HTML) sent over SMTP."""

from __future__ import annotations

from dataclasses import dataclass

from shiftwatch.connectors.channels.base import ChannelKind, Transports
from shiftwatch.connectors.smtp import SmtpMailer, build_message
from shiftwatch.errors import PermanentDeliveryError
from shiftwatch.settings import Settings, SmtpSettings
from shiftwatch.views import Message

NAME = "email"


@dataclass
class EmailChannel:
    settings: SmtpSettings
    mailer: SmtpMailer | None  # None: encode only (--no-deliver)
    name: str = NAME
    suffix: str = ".eml"

    def encode(self, message: Message, key: str) -> bytes:
        """Return the RFC 5322 message, its Message-ID derived from `key`."""
        mime = build_message(
            sender=self.settings.sender,
            recipients=self.settings.recipients,
            subject=message.subject,
            text=message.text,
            html=message.html,
            key=key,
        )
        return mime.as_bytes()

    def send(self, body: bytes) -> str:
        """Send the message; return what the server accepted."""
        if self.mailer is None:
            raise PermanentDeliveryError("email is not configured")
        return self.mailer.send(body)

    def close(self) -> None:
        """Nothing to release: each send opens and closes its SMTP connection."""


def _open(settings: Settings, transports: Transports, write_only: bool) -> EmailChannel:
    smtp = settings.smtp()
    if smtp is None:
        raise PermanentDeliveryError("email is not configured")
    mailer = None if write_only else SmtpMailer(smtp, ssl_context=transports.ssl_context)
    return EmailChannel(smtp, mailer)


KIND = ChannelKind(name=NAME, configured=lambda s: s.smtp() is not None, open=_open)
