"""Email over SMTP: multipart text + HTML messages built with `email`, sent with smtplib.

`build_message` makes the message (pure, no I/O); `SmtpMailer.send` delivers its bytes with
STARTTLS, implicit TLS ("ssl") or neither, logging in when a user is set. The Message-ID is
derived from the alert's dedupe key, so a message re-sent after a crash carries the same id
and mail clients that thread or de-duplicate by it show it once.

Errors are classified the way SMTP does: 4xx replies, timeouts and dropped connections are
transient (retry later); 5xx replies, failed logins, a server without STARTTLS or a
certificate that does not verify are permanent until someone fixes the settings.

A server's reply is quoted in the error, so the password is registered with `redact`: a
server that echoes the login (in clear or as the base64 `AUTH` string) has it masked in the
error, the alerts table and the logs.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

from shiftwatch.errors import PermanentDeliveryError, TransientDeliveryError
from shiftwatch.redact import install_log_redaction, register
from shiftwatch.settings import SmtpSettings

MESSAGE_ID_DOMAIN = "shiftwatch.invalid"  # used when the sender has no usable domain


def message_id(key: str, sender: str) -> str:
    """Return a stable Message-ID for `key` (same alert, same id, on every attempt)."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    domain = sender.rpartition("@")[2].strip(" >") or MESSAGE_ID_DOMAIN
    if not all(c.isalnum() or c in ".-" for c in domain):
        domain = MESSAGE_ID_DOMAIN
    return f"<{digest}.shiftwatch@{domain}>"


def build_message(
    *,
    sender: str,
    recipients: Sequence[str],
    subject: str,
    text: str,
    html: str,
    key: str,
) -> EmailMessage:
    """Return a multipart/alternative message (text first, HTML preferred by clients)."""
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = " ".join(subject.split())  # a header carries no line breaks
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = message_id(key, sender)
    message["X-Shiftwatch-Key"] = key
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message


def envelope_sender(sender: str) -> str:
    """Return the bare address of a From header ("Name <a@b>" -> "a@b") for MAIL FROM."""
    try:
        return Address(addr_spec=sender).addr_spec
    except (ValueError, IndexError):
        return sender.rpartition("<")[2].rstrip(">").strip() or sender


class SmtpMailer:
    """Send messages through one SMTP server (a connection per message: alerts are few)."""

    def __init__(self, settings: SmtpSettings, *, ssl_context: ssl.SSLContext | None = None):
        self.settings = settings
        self._context = ssl_context or ssl.create_default_context()
        register(settings.password)
        install_log_redaction()

    def __repr__(self) -> str:
        s = self.settings
        return f"SmtpMailer({s.host}:{s.port}, {s.security}, user={s.user!r})"

    def send(self, body: bytes) -> str:
        """Send a message's bytes to the configured recipients; return the server's answer."""
        s = self.settings
        try:
            client = self._connect()
            try:
                if s.user:
                    password = s.password.get_secret_value() if s.password else ""
                    client.login(s.user, password)
                refused = client.sendmail(envelope_sender(s.sender), list(s.recipients), body)
            finally:
                _quit(client)
        except smtplib.SMTPException as exc:  # before OSError: SMTPException is one
            raise classify(exc) from None
        except UnicodeEncodeError:  # smtplib's AUTH encodes credentials as ASCII
            raise PermanentDeliveryError(
                "SMTP login failed: smtplib only sends ASCII user names and passwords"
            ) from None
        except ssl.SSLCertVerificationError as exc:
            raise PermanentDeliveryError(f"SMTP server certificate rejected: {exc}") from None
        except TimeoutError:
            raise TransientDeliveryError(f"SMTP server {s.host}:{s.port} timed out") from None
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise TransientDeliveryError(f"SMTP server {s.host}:{s.port}: {reason}") from None
        detail = f"accepted for {len(s.recipients) - len(refused)} of {len(s.recipients)}"
        if refused:
            detail += f"; refused: {', '.join(sorted(refused))}"
        return detail

    def _connect(self) -> smtplib.SMTP:
        """Return a connected, greeted client, TLS-protected as configured."""
        s = self.settings
        if s.security == "ssl":
            return smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_s, context=self._context)
        client = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
        try:
            client.ehlo()
            if s.security == "starttls":
                client.starttls(context=self._context)
                client.ehlo()
        except BaseException:
            client.close()
            raise
        return client


def _quit(client: smtplib.SMTP) -> None:
    """Say goodbye and close; once the server accepted the message nothing here may fail it."""
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def classify(exc: smtplib.SMTPException) -> TransientDeliveryError | PermanentDeliveryError:
    """Return the delivery error an SMTP failure means (4xx and drops: transient)."""
    if isinstance(exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError):
        return TransientDeliveryError(f"SMTP connection lost: {exc}")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentDeliveryError(f"SMTP server does not support what we need: {exc}")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        message = "SMTP server refused every recipient: " + ", ".join(
            f"{rcpt} ({code})" for rcpt, (code, _) in sorted(exc.recipients.items())
        )
        transient = any(400 <= code < 500 for code in codes)
        return TransientDeliveryError(message) if transient else PermanentDeliveryError(message)
    code = getattr(exc, "smtp_code", None)
    text = getattr(exc, "smtp_error", b"")
    reason = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text or exc)
    message = f"SMTP server answered {code}: {reason}" if code else f"SMTP error: {exc}"
    if isinstance(code, int) and 400 <= code < 500:
        return TransientDeliveryError(message)
    return PermanentDeliveryError(message)
