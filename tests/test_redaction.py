"""One redaction layer (`shiftwatch.redact`): canary secrets through every way text leaves.

Each test makes its own canary and never registers it itself: the settings and connectors
must. Real loopback servers only: an SMTP server (aiosmtpd) that refuses the login, one that
quotes the credentials back in its refusal (in clear and as the base64 `AUTH` strings), a
webhook endpoint standing in for Slack that answers 404, and one that echoes the request
(URL, path, headers) back. The canary, and its base64 forms, must show nowhere: exceptions
and their tracebacks, log records, the database (every column of every table, SQLite and
PostgreSQL), exports in both formats, the command line's output.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from alerting_support import Inbox, record, save_documents, settings, shift, smtp_server
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from reliability_support import record as record_figures
from sqlalchemy import MetaData, select
from typer.testing import CliRunner
from werkzeug import Request, Response

from shiftwatch.cli import app
from shiftwatch.connectors.slack import SlackWebhook
from shiftwatch.connectors.smtp import SmtpMailer
from shiftwatch.errors import DeliveryError, StorageError
from shiftwatch.pipeline.deliver import run_delivery
from shiftwatch.redact import MASK, redact, register, register_database_url, register_url
from shiftwatch.settings import DatabaseUrl, SlackSettings, SmtpSettings

USER = "analyst"


def canary() -> str:
    return f"canary{uuid.uuid4().hex}"


def encodings(secret: str, user: str = USER) -> list[str]:
    """Return the forms a password takes on the wire: AUTH PLAIN (both authzid forms),
    AUTH LOGIN, standard and URL-safe base64."""
    b64 = base64.b64encode
    forms = [f"\0{user}\0{secret}", f"{user}\0{user}\0{secret}", secret]
    return (
        [secret]
        + [b64(f.encode()).decode() for f in forms]
        + [base64.urlsafe_b64encode(f"\0{user}\0{secret}".encode()).decode()]
    )


def leaks(secret: str, *texts: str) -> list[str]:
    """Return the texts that hold the secret in any of its forms; record the search."""
    forms = encodings(secret)
    found = [t[:300] for t in texts for f in forms if f in t]
    record_figures("secrets", inputs=len(texts), leaks=len(found))
    return found


# -- the layer itself --------------------------------------------------------------------


def test_a_registered_password_is_masked_in_every_encoding() -> None:
    secret = canary()
    register(secret)
    for form in encodings(secret):
        for text in (form, f"535 5.7.8 {form} refused", f"x{form}y", f"'{form}'"):
            assert leaks(secret, redact(text)) == [], text
    awkward = f"p@ss w0rd/{secret}"
    register(awkward)
    assert redact(f"url: u:{quote(awkward, safe='')}@h") == f"url: u:{MASK}@h"
    # base64 of any longer text holding it, at every alignment
    for prefix in ("", "a", "ab", "abc"):
        encoded = base64.b64encode(f"{prefix}{secret} trailing".encode()).decode()
        assert MASK in redact(encoded) and encoded not in redact(encoded)


def test_credential_lookalikes_are_masked_even_unregistered() -> None:
    secret = canary()
    texts = {
        f"postgresql+psycopg://u:{secret}@db.example:5432/sw": "postgresql+psycopg://u:***@",
        f"connect: host=x password={secret} user=u": "password=***",
        f"{{'Authorization': 'Bearer {secret}', 'Host': 'x'}}": "'Authorization': '***'",
        f"Proxy-Authorization: Basic {secret}\r\nHost: x": "Proxy-Authorization: ***",
        f"Cookie: session={secret}": "Cookie: ***",
        f"x-api-key={secret}": "x-api-key=***",
        f">>> AUTH PLAIN {secret}": "AUTH PLAIN ***",
        f"https://hooks.slack.com/services/T1/B2/{secret} gone": "hooks.slack.com/services/***",
    }
    for text, shown in texts.items():
        clean = redact(text)
        assert secret not in clean and shown in clean, clean


def test_a_webhook_url_its_path_and_its_token_are_masked() -> None:
    token = canary()
    url = f"https://hooks.example/services/T0AAAAAAA/B0BBBBBBB/{token}"
    register_url(url)
    for text in (url, f"POST /services/T0AAAAAAA/B0BBBBBBB/{token}", f"invalid: {token}"):
        assert token not in redact(text)
    assert "B0BBBBBBB" not in redact("channel B0BBBBBBB")  # a path segment is a secret too


def test_database_url_password_is_registered_and_masked() -> None:
    secret = canary()
    url = f"postgresql://u:{secret}@h/db"
    register_database_url(url)
    assert secret not in redact(f"FATAL: password {secret} rejected")
    shown = DatabaseUrl(url)
    assert str(shown) == "postgresql://u:***@h/db" and secret not in repr(shown)
    assert shown.get_secret_value() == url


def test_log_records_are_redacted_message_and_traceback(caplog) -> None:
    secret = canary()
    SmtpSettings(host="h", port=25, security="none", user=USER, password=SecretStr(secret),
                 sender="a@b.c", recipients=("d@e.f",), timeout_s=1)  # fmt: skip
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("shiftwatch.test")
    log.warning("server said %s", secret)
    plain = base64.b64encode(f"{USER}\0{USER}\0{secret}".encode()).decode()
    try:
        raise RuntimeError(f"boom {plain}")
    except RuntimeError:
        log.exception("failed")
    text = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert "server said ***" in text and "Traceback" in text
    assert leaks(secret, text) == []


def test_shiftwatch_errors_are_redacted_when_made() -> None:
    secret = canary()
    register(secret)
    error = DeliveryError(f"SMTP server answered 535: bad {secret}")
    for text in (str(error), repr(error), "".join(traceback.format_exception(error))):
        assert secret not in text
    assert StorageError(f"postgresql://u:{secret}@h/db").args[0] == "postgresql://u:***@h/db"


def test_the_database_url_flow_parameter_is_stored_masked() -> None:
    """Prefect stores `serialize_parameters` in flow_run.parameters: the URL goes in masked."""
    from shiftwatch.flows.digest import digest
    from shiftwatch.flows.monitor import monitor

    secret = canary()
    url = f"postgresql+psycopg://postgres:{secret}@127.0.0.1:5432/sw"
    for flow in (monitor, digest):
        stored = json.dumps(flow.serialize_parameters({"database_url": DatabaseUrl(url)}))
        assert secret not in stored and "postgres:***@127.0.0.1" in stored


# -- the channels, against real loopback servers ------------------------------------------


def _refuse(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    return AuthResult(success=False, handled=False)


def _echo(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    """Refuse, quoting the credentials back in clear and as every base64 form."""
    assert isinstance(data, LoginPassword)
    user, password = data.login.decode(), data.password.decode()
    quoted = " ".join(encodings(password, user))
    return AuthResult(success=False, handled=False, message=f"535 5.7.8 {mechanism} {quoted}")


@pytest.fixture(params=["refuses", "echoes"])
def smtp(request) -> Iterator[int]:
    """An SMTP server that refuses every login, plainly or quoting the credentials."""
    authenticator = _refuse if request.param == "refuses" else _echo
    controller, port = smtp_server(Inbox(), authenticator=authenticator, auth_require_tls=False)
    yield port
    controller.stop()


@pytest.fixture(params=[404, "echo"])
def hook(request) -> Iterator[tuple[HTTPServer, str]]:
    """A webhook that answers 404, or one that answers 400 echoing the request back."""
    token = canary()
    path = f"/services/T0SECRET/B0SECRET/{token}"
    server = HTTPServer(host="127.0.0.1", port=0)

    def echo(req: Request) -> Response:
        lines = [f"{req.method} {req.full_path} {req.url}", *(f"{k}: {v}" for k, v in req.headers)]
        body = json.dumps(dict(req.headers)) + "\n".join(lines)
        return Response(body, status=400)

    if request.param == 404:
        server.expect_request(path).respond_with_data(f"no_service {req_note(path)}", status=404)
    else:
        server.expect_request(path).respond_with_handler(echo)
    server.start()
    yield server, server.url_for(path)
    server.clear()
    server.stop()


def req_note(path: str) -> str:
    return f"(no such hook at {path})"


def _smtp_settings(port: int, password: str) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, security="none", user=USER,
                        password=SecretStr(password), sender="sw@example.org",
                        recipients=("desk@example.org",), timeout_s=5)  # fmt: skip


def _failure_texts(call: Any) -> list[str]:
    with pytest.raises(DeliveryError) as info:
        call()
    return [str(info.value), repr(info.value), "".join(traceback.format_exception(info.value))]


def test_smtp_refusals_never_show_the_password(smtp: int, caplog) -> None:
    secret = canary()
    caplog.set_level(logging.DEBUG)
    mailer = SmtpMailer(_smtp_settings(smtp, f"pw-{secret}"))
    texts = _failure_texts(lambda: mailer.send(b"Subject: x\r\n\r\nx"))
    assert "535" in texts[0]
    assert leaks(secret, *texts, repr(mailer), caplog.text) == []


def test_webhook_failures_never_show_the_url_or_headers(hook, caplog) -> None:
    _, url = hook
    token = url.rsplit("/", 1)[1]
    caplog.set_level(logging.DEBUG)
    slack = SlackSettings(webhook_url=SecretStr(url), min_interval_s=0, timeout_s=5)
    with SlackWebhook(slack) as client:
        texts = _failure_texts(lambda: client.post(b'{"text": "x"}'))
    ours = [r.getMessage() for r in caplog.records if r.name != "werkzeug"]
    assert leaks(token, *texts, *ours) == [] and "B0SECRET" not in " ".join(texts)


def _dump(url: str) -> list[str]:
    """Return every row of every table as text."""
    from shiftwatch.models.db import make_engine

    engine = make_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    rows = []
    with engine.connect() as conn:
        for table in meta.tables.values():
            rows += [json.dumps([str(v) for v in row]) for row in conn.execute(select(table))]
    engine.dispose()
    return rows


def test_stored_delivery_errors_and_exports_never_show_secrets(
    engine, database_url, watchlist, tmp_path: Path, smtp: int, hook, caplog
) -> None:
    """Alerts fail on both channels; the alerts and deliveries tables, every export and the
    logs hold the errors, and never a secret."""
    _, url = hook
    secret = canary()
    caplog.set_level(logging.DEBUG)
    save_documents(engine)
    record(engine, [shift()], ["slack", "email"])
    cfg = settings(database_url, tmp_path, slack_webhook_url=url, smtp_host="127.0.0.1",
                   smtp_port=smtp, smtp_security="none", smtp_user=USER,
                   smtp_password=f"pw-{secret}", email_from="sw@example.org",
                   email_to="desk@example.org")  # fmt: skip
    report = run_delivery(engine, cfg, watchlist, owner="canary")
    assert report.failed == 2, report
    outputs = _dump(database_url)
    assert any("535" in row for row in outputs)  # the refusal is recorded...
    runner = CliRunner()
    for kind in ("alerts", "shifts", "runs"):
        for fmt in ("jsonl", "csv"):
            result = runner.invoke(app, ["export", kind, "--format", fmt, "--db", database_url])
            assert result.exit_code == 0, result.output
            outputs.append(result.output)
    outputs += [r.getMessage() for r in caplog.records if r.name not in ("werkzeug", "mail.log")]
    token = url.rsplit("/", 1)[1]
    assert leaks(secret, *outputs) == [] and leaks(token, *outputs) == []  # ...not the secret


# -- the command line, with Prefect: run, digest --send, export ------------------------------


@pytest.fixture
def pg_url_with_password(postgres_server) -> Iterator[tuple[str, str]]:
    """Yield (URL, password) of a new PostgreSQL database; trust auth ignores the password."""
    from conftest import _create_pg_database, _drop_pg_database

    name, url = _create_pg_database(postgres_server)
    secret = canary()
    try:
        yield url.replace("postgres@", f"postgres:{secret}@", 1), secret
    finally:
        _drop_pg_database(postgres_server, name)


def _prefect_records() -> list[str]:
    """Return what the Prefect API holds: flow runs (with parameters), task runs, logs,
    artifacts and events."""
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    texts = []
    with get_client(sync_client=True) as client:
        for items in (
            client.read_flow_runs(limit=200),
            client.read_task_runs(limit=200),
            client.read_logs(limit=200),
            client.read_artifacts(limit=200),
        ):
            texts += [item.model_dump_json() for item in items]
    events = httpx.post(f"{PREFECT_API_URL.value()}/events/filter", json={"limit": 50}, timeout=30)
    texts.append(events.text)
    return texts


def _command(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the installed `shiftwatch` as an operator would; return what it printed."""
    shiftwatch = str(Path(sys.executable).with_name("shiftwatch"))
    return subprocess.run(
        [shiftwatch, *args], env=env, capture_output=True, text=True, timeout=240, check=False
    )


@pytest.mark.prefect
@pytest.mark.slow
@pytest.mark.timeout(400)
def test_the_command_line_never_shows_secrets(
    prefect_harness, pg_url_with_password, monkeypatch, tmp_path: Path, caplog
) -> None:
    """Issue 19's reproduction, through the command line: the database URL only in
    SHIFTWATCH_DATABASE_URL, an SMTP server that quotes the login back, a webhook that echoes
    the request; `run` delivers, `digest --send` fails on both channels, everything is
    exported; no output and no store holds a secret, and the digest fails in one line."""
    from conftest import SEEDS
    from prefect.settings import PREFECT_API_URL

    db, db_password = pg_url_with_password
    password, token = f"pw-{canary()}", canary()
    path = f"/services/T0SECRET/B0SECRET/{token}"
    hook = HTTPServer(host="127.0.0.1", port=0)
    hook.expect_request(path).respond_with_handler(
        lambda req: Response(f"{req.url} {dict(req.headers)}", status=404)
    )
    hook.start()
    controller, port = smtp_server(Inbox(), authenticator=_echo, auth_require_tls=False)
    env = {
        "SHIFTWATCH_DATABASE_URL": db, "SHIFTWATCH_SLACK_WEBHOOK_URL": hook.url_for(path),
        "SHIFTWATCH_SLACK_MIN_INTERVAL_S": "0", "SHIFTWATCH_SMTP_HOST": "127.0.0.1",
        "SHIFTWATCH_SMTP_PORT": str(port), "SHIFTWATCH_SMTP_SECURITY": "none",
        "SHIFTWATCH_SMTP_USER": USER, "SHIFTWATCH_SMTP_PASSWORD": password,
        "SHIFTWATCH_EMAIL_FROM": "sw@example.org", "SHIFTWATCH_EMAIL_TO": "desk@example.org",
        "SHIFTWATCH_OUTBOX_DIR": str(tmp_path / "outbox"),
    }  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # The commands that run flows run as processes, on the test's Prefect API, logging at INFO.
    process_env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()),
                   "PREFECT_LOGGING_LEVEL": "INFO"}  # fmt: skip
    caplog.set_level(logging.INFO)
    outputs: list[str] = []
    try:
        ran = _command("run", "--seeds", str(SEEDS), env=process_env)
        assert ran.returncode == 0, ran.stderr
        sent = _command("digest", "--send", env=process_env)
        for kind in ("documents", "stances", "shifts", "alerts", "rejections", "runs"):
            for fmt in ("jsonl", "csv"):
                exported = CliRunner().invoke(app, ["export", kind, "--format", fmt])
                assert exported.exit_code == 0, exported.output
                outputs.append(exported.output)
    finally:
        hook.stop()
        controller.stop()
    errors = [line for line in sent.stderr.splitlines() if line.startswith("error:")]
    assert sent.returncode == 2 and len(errors) == 1, sent.stderr
    assert "Traceback" not in sent.stderr + ran.stderr and "535" in errors[0], sent.stderr
    prefect = _prefect_records()
    assert any("postgres:***@" in text for text in prefect)  # the URL parameter, masked
    outputs += [ran.stdout, ran.stderr, sent.stdout, sent.stderr, *_dump(db), *prefect]
    outputs += [r.getMessage() for r in caplog.records if r.name not in ("werkzeug", "mail.log")]
    assert any("535" in text for text in outputs)  # the refusal was seen and recorded
    for secret in (password, token, db_password):
        assert leaks(secret, *outputs) == [], secret
