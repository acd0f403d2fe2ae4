"""Helpers shared by the alerting tests: records, a loopback SMTP inbox, a self-signed cert."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from shiftwatch.models import documents as document_store
from shiftwatch.models.db import session_scope
from shiftwatch.pipeline.deliver import record_shifts
from shiftwatch.records import Document, Shift, Stance, StanceObservation
from shiftwatch.settings import Settings

DAY1 = dt.datetime(2022, 1, 10, 9, tzinfo=dt.UTC)
DAY2 = dt.datetime(2022, 1, 11, 15, tzinfo=dt.UTC)
INJECTION = "<!channel> @here <https://evil.example|click> & <@U123ABC> <!everyone>"
USER, PASSWORD = "analyst", "s3cret-password"


def document(doc_id: str, at: dt.datetime, title: str, url: str | None = None) -> Document:
    """Return a stored-document record (alerts link to its title and URL)."""
    return Document(
        id=doc_id,
        source_id="feed-1",
        url=url or f"https://news.example/{doc_id}",
        canonical_url=url or f"https://news.example/{doc_id}",
        title=title,
        text=title,
        content_hash=f"h-{doc_id}",
        fetched_at=at,
        published_at=at,
    )


def observation(
    doc_id: str,
    stance: Stance,
    at: dt.datetime,
    evidence: str,
    *,
    mt: bool = False,
    party: str = "russia",
    demand: str = "arms-control-talks",
    actor: str | None = "ryabkov",
) -> StanceObservation:
    """Return a stance observation."""
    return StanceObservation(
        document_id=doc_id,
        party_id=party,
        actor_id=actor,
        demand_id=demand,
        stance=stance,
        confidence=0.9,
        evidence=evidence,
        evidence_start=0,
        published_at=at,
        machine_translated=mt,
    )


def shift(
    shift_id: str = "shift-arms-1",
    *,
    before: str = "We reject these talks outright.",
    after: str = "Russia is ready to discuss arms control.",
    confirmed: bool = True,
    retroactive: bool = False,
    mt: bool = False,
    demand: str = "arms-control-talks",
) -> Shift:
    """Return an opposes -> open shift of Russia with one quote on each side."""
    evidence = (
        observation("doc-day1", Stance.OPPOSES, DAY1, before, demand=demand),
        observation("doc-day2", Stance.OPEN, DAY2, after, mt=mt, demand=demand),
    )
    return Shift(
        id=shift_id,
        party_id="russia",
        demand_id=demand,
        from_stance=Stance.OPPOSES,
        to_stance=Stance.OPEN,
        at=DAY2,
        evidence_document_ids=("doc-day1", "doc-day2"),
        evidence=evidence,
        confirmed=confirmed,
        retroactive=retroactive,
    )


def save_documents(engine: Any, title_day2: str = "Moscow ready to talk arms control") -> None:
    """Store the two documents the standard shift quotes."""
    with session_scope(engine) as session:
        document_store.save_documents(
            session,
            [
                document("doc-day1", DAY1, "Ryabkov rejects talks"),
                document("doc-day2", DAY2, title_day2),
            ],
            "run-test",
        )


def record(engine: Any, shifts: Sequence[Shift], channels: Sequence[str]) -> int:
    """Record shifts and their alerts in one transaction."""
    with session_scope(engine) as session:
        return record_shifts(session, shifts, channels, "run-test")


def settings(url: str, tmp_path: Path, **overrides: Any) -> Settings:
    """Return settings for a test database, no channel unless given, no pacing."""
    values: dict[str, Any] = {
        "database_url": url,
        "outbox_dir": tmp_path / "outbox",
        "slack_min_interval_s": 0,
        "http_timeout_s": 5,
        "slack_webhook_url": None,
        "smtp_host": None,
    }
    values.update(overrides)
    return Settings(**values)


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Inbox:
    """An aiosmtpd handler keeping what it received."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    reply: str = "250 Message accepted for delivery"
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reply.startswith("250"):
            parsed = message_from_bytes(envelope.original_content, policy=policy.default)
            with self.lock:
                self.messages.append(parsed)  # type: ignore[arg-type]
                self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return self.reply


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    """Accept USER/PASSWORD only."""
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


def smtp_server(inbox: Inbox, **kwargs: Any) -> tuple[Controller, int]:
    """Start an SMTP server on loopback; return it (call .stop()) and its port."""
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return controller, port


def self_signed(folder: Path) -> tuple[Path, Path]:
    """Return (cert, key) files of a self-signed certificate for 127.0.0.1 and localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    """Return the server side TLS context."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def client_tls(cert: Path) -> ssl.SSLContext:
    """Return a client context trusting only the self-signed certificate."""
    return ssl.create_default_context(cafile=str(cert))
