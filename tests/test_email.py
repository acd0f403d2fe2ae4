"""Email: the MIME message, escaping, and delivery to aiosmtpd on loopback (plain, AUTH,
STARTTLS and implicit TLS with a self-signed certificate)."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest
from alerting_support import (
    INJECTION,
    PASSWORD,
    USER,
    Inbox,
    authenticator,
    client_tls,
    free_port,
    record,
    save_documents,
    self_signed,
    server_tls,
    settings,
    shift,
    smtp_server,
)
from pydantic import SecretStr

from shiftwatch.connectors.smtp import SmtpMailer, build_message, message_id
from shiftwatch.errors import PermanentDeliveryError, TransientDeliveryError
from shiftwatch.pipeline.deliver import run_delivery
from shiftwatch.render.alerts import email_alert
from shiftwatch.settings import SmtpSettings
from shiftwatch.views import EvidenceView, ShiftView

AT = datetime(2022, 1, 11, tzinfo=UTC)
SCRIPT = '<script>alert("x")</script>'


def _view(quote: str, url: str = "https://tass.example/1", mt: bool = False) -> ShiftView:
    def evidence(text: str) -> EvidenceView:
        return EvidenceView(
            quote=text,
            speaker="Sergei <b>Ryabkov</b>",
            source_title="TASS & co",
            url=url,
            published_at=AT,
            machine_translated=mt,
        )

    return ShiftView(
        party="Russia",
        demand="Arms-control talks",
        from_stance="opposes",
        to_stance="open",
        at=AT,
        retroactive=False,
        before=(evidence("We reject these talks."),),
        after=(evidence(quote),),
    )


def _message(key: str = "shift-1:email", quote: str = "Ready to discuss.", **kw) -> bytes:
    content = email_alert(_view(quote, **kw), key)
    return build_message(
        sender="shiftwatch <alerts@example.org>",
        recipients=["desk@example.org"],
        subject=content.subject,
        text=content.text,
        html=content.html,
        key=key,
    ).as_bytes()


def _smtp(
    port: int, security: str = "none", user: str | None = None, password: str | None = None
) -> SmtpSettings:
    return SmtpSettings(
        host="127.0.0.1",
        port=port,
        security=security,
        user=user,
        password=SecretStr(password) if password else None,
        sender="shiftwatch <alerts@example.org>",
        recipients=("desk@example.org", "lead@example.org"),
        timeout_s=5,
    )


@pytest.fixture
def inbox():
    return Inbox()


@pytest.fixture
def certificate(tmp_path):
    return self_signed(tmp_path)


# --- the message -------------------------------------------------------------------------------


def test_the_message_is_multipart_text_and_html_with_a_stable_id():
    parsed = message_from_bytes(_message(), policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in parsed.iter_parts()]
    assert parts == ["text/plain", "text/html"]  # clients prefer the last they can show
    assert parsed["Message-ID"] == message_id("shift-1:email", "alerts@example.org")
    assert parsed["Message-ID"].endswith("@example.org>")
    again = message_from_bytes(_message(), policy=policy.default)
    assert again["Message-ID"] == parsed["Message-ID"]  # a retry carries the same id
    other = message_from_bytes(_message("shift-2:email"), policy=policy.default)
    assert other["Message-ID"] != parsed["Message-ID"]
    assert parsed["Subject"] == "[shiftwatch] Russia shifted on Arms-control talks: opposes -> open"
    assert parsed["Auto-Submitted"] == "auto-generated"


def test_news_text_is_html_escaped_and_links_are_http_only():
    raw = _message(quote=f"{INJECTION} {SCRIPT}", url="javascript:alert(1)")
    parsed = message_from_bytes(raw, policy=policy.default)
    html = parsed.get_body(("html",)).get_content()
    text = parsed.get_body(("plain",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "&lt;!channel&gt; @here &lt;https://evil.example|click&gt; &amp;" in html
    assert "<b>Ryabkov</b>" not in html and "Sergei &lt;b&gt;Ryabkov&lt;/b&gt;" in html
    assert "TASS &amp; co" in html
    assert "javascript:" not in html
    assert SCRIPT in text  # the text part shows the quote as it was said


def test_machine_translated_evidence_is_flagged_in_both_parts():
    parsed = message_from_bytes(_message(mt=True), policy=policy.default)
    assert "machine-translated" in parsed.get_body(("html",)).get_content()
    assert "machine-translated" in parsed.get_body(("plain",)).get_content()


def test_a_subject_cannot_carry_extra_headers():
    message = build_message(
        sender="a@example.org",
        recipients=["b@example.org"],
        subject="hi\r\nBcc: victim@example.org",
        text="t",
        html="<p>t</p>",
        key="k",
    )
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert parsed["Bcc"] is None


# --- sending to a real SMTP server on loopback ---------------------------------------------


def _received(inbox: Inbox) -> list:
    return [(m["Message-ID"], m.get_content_type()) for m in inbox.messages]


def test_plain_smtp(inbox):
    controller, port = smtp_server(inbox)
    try:
        SmtpMailer(_smtp(port)).send(_message())
    finally:
        controller.stop()
    assert _received(inbox) == [
        (message_id("shift-1:email", "x@example.org"), "multipart/alternative")
    ]
    assert inbox.envelopes == [("alerts@example.org", ["desk@example.org", "lead@example.org"])]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_auth_without_tls(inbox):
    controller, port = smtp_server(
        inbox, authenticator=authenticator, auth_require_tls=False, auth_required=True
    )
    try:
        SmtpMailer(_smtp(port, user=USER, password=PASSWORD)).send(_message())
        with pytest.raises(PermanentDeliveryError, match="535"):
            SmtpMailer(_smtp(port, user=USER, password="wrong")).send(_message())
    finally:
        controller.stop()
    assert len(inbox.messages) == 1


def test_starttls_with_auth(inbox, certificate):
    cert, key = certificate
    controller, port = smtp_server(
        inbox,
        tls_context=server_tls(cert, key),
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    try:
        mailer = SmtpMailer(_smtp(port, "starttls", USER, PASSWORD), ssl_context=client_tls(cert))
        assert "accepted for 2 of 2" in mailer.send(_message())
        untrusted = SmtpMailer(_smtp(port, "starttls", USER, PASSWORD))  # system CAs only
        with pytest.raises(PermanentDeliveryError, match="certificate"):
            untrusted.send(_message())
    finally:
        controller.stop()
    assert len(inbox.messages) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls_with_auth(inbox, certificate):
    cert, key = certificate
    # aiosmtpd only counts STARTTLS as TLS for AUTH; this socket is TLS from the first byte.
    controller, port = smtp_server(
        inbox,
        ssl_context=server_tls(cert, key),
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,
    )
    try:
        mailer = SmtpMailer(_smtp(port, "ssl", USER, PASSWORD), ssl_context=client_tls(cert))
        mailer.send(_message())
    finally:
        controller.stop()
    assert len(inbox.messages) == 1


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("451 4.3.0 try again later", TransientDeliveryError),
        ("554 5.7.1 rejected as spam", PermanentDeliveryError),
    ],
)
def test_server_refusals_are_classified(inbox, reply, error):
    inbox.reply = reply
    controller, port = smtp_server(inbox)
    try:
        with pytest.raises(error, match=reply.split()[0]):
            SmtpMailer(_smtp(port)).send(_message())
    finally:
        controller.stop()


def test_no_server_is_transient():
    with pytest.raises(TransientDeliveryError):
        SmtpMailer(_smtp(free_port())).send(_message())


def test_starttls_missing_on_the_server_is_permanent(inbox):
    controller, port = smtp_server(inbox)
    try:
        with pytest.raises(PermanentDeliveryError, match="STARTTLS"):
            SmtpMailer(_smtp(port, "starttls")).send(_message())
    finally:
        controller.stop()
    assert inbox.messages == []


# --- through the outbox ----------------------------------------------------------------------


def test_an_alert_is_mailed_once_escaped(engine, database_url, watchlist, tmp_path, inbox):
    save_documents(engine)
    record(engine, [shift(after=f"{INJECTION} {SCRIPT}")], ["email"])
    controller, port = smtp_server(inbox)
    cfg = settings(
        database_url,
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        email_from="alerts@example.org",
        email_to="desk@example.org",
    )
    try:
        reports = [run_delivery(engine, cfg, watchlist, owner=f"r{i}") for i in range(3)]
    finally:
        controller.stop()
    assert [r.sent for r in reports] == [1, 0, 0]
    (message,) = inbox.messages
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;!channel&gt;" in html
    assert message["X-Shiftwatch-Key"] == "shift-arms-1:email"
    assert "Moscow ready to talk arms control" in html  # the source's title, linked


def test_the_alert_says_why_and_when_the_evidence_is_reported():
    from dataclasses import replace

    view = _view("Ready to discuss.")
    why = "open cue “ready to <discuss>”; holder: speaker via name; direct speech"
    after = replace(view.after[0], basis=why, reported=True)
    content = email_alert(replace(view, after=(after,)), "shift-1:email")
    assert "why: open cue “ready to <discuss>”" in content.text
    assert "reported by the outlet" in content.text
    assert "ready to &lt;discuss&gt;" in content.html and "<discuss>" not in content.html
