"""Secrets: the SMTP password and the Slack webhook URL never show, wherever output goes.

Everything runs with canary secrets (a unique token inside the SMTP password and the
webhook path), with deliveries that fail: a Slack endpoint that answers errors quoting the
URL it was called on, an SMTP server that refuses the login, ports where nobody listens.
Then every output is searched for the token: stdout and stderr, every log record (Prefect,
httpx, ours, with tracebacks), exception messages and tracebacks, reprs, the Prefect API's
flow runs, task runs, logs and artifacts, every export in both formats, the outbox files of
a --no-deliver run, and every column of every table of the database.
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from conftest import SEEDS
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from reliability_support import record
from sqlalchemy import MetaData, select
from typer.testing import CliRunner
from werkzeug import Request, Response

from shiftwatch.cli import app
from shiftwatch.connectors.slack import SlackWebhook
from shiftwatch.connectors.smtp import SmtpMailer
from shiftwatch.errors import DeliveryError
from shiftwatch.models.db import make_engine, masked
from shiftwatch.settings import load_settings

CANARY = f"canary{uuid.uuid4().hex}"
PASSWORD = f"pw-{CANARY}"
HOOK_PATH = f"/services/T0SECRET/B0SECRET/{CANARY}"
# The loopback servers standing in for Slack and the mail server log what they receive, as
# the real ones do on their side: their records are not shiftwatch's output.
THE_TEST_SERVERS = ("werkzeug", "mail.log")
pytestmark = [pytest.mark.prefect, pytest.mark.slow, pytest.mark.timeout(240)]


class Outputs:
    """Everything the system printed, logged, raised, stored or wrote, by where it came from."""

    def __init__(self) -> None:
        self.texts: dict[str, list[str]] = {}

    def add(self, where: str, text: Any) -> None:
        self.texts.setdefault(where, []).append(text if isinstance(text, str) else str(text))

    def leaks(self) -> list[str]:
        return [w for w, texts in self.texts.items() for t in texts if CANARY in t]

    def count(self) -> int:
        return sum(len(t) for t in self.texts.values())


class Everything(logging.Handler):
    """Keep every log record, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(THE_TEST_SERVERS):
            self.lines.append(self.format(record))


@pytest.fixture
def echo_slack() -> Iterator[tuple[HTTPServer, dict[str, int]]]:
    """Slack that fails, quoting the URL and headers it was called with (as proxies do)."""
    mode = {"status": 404}
    server = HTTPServer(host="127.0.0.1", port=0)

    def handler(request: Request) -> Response:
        body = f"no_service: {request.path} ({request.url}) {dict(request.headers)}"
        return Response(body, status=mode["status"])

    server.expect_request(HOOK_PATH, method="POST").respond_with_handler(handler)
    server.start()
    yield server, mode
    server.clear()
    server.stop()


class _Refuse:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "550 not reached"


def _no_login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    return AuthResult(success=False, handled=False)


@pytest.fixture
def smtp_port() -> Iterator[int]:
    """An SMTP server that refuses every login."""
    port = _free_port()
    controller = Controller(_Refuse(), hostname="127.0.0.1", port=port,
                            authenticator=_no_login, auth_require_tls=False)  # fmt: skip
    controller.start()
    yield port
    controller.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def canary_env(monkeypatch, tmp_path: Path, echo_slack, smtp_port) -> dict[str, str]:
    server, _ = echo_slack
    env = {
        "SHIFTWATCH_SLACK_WEBHOOK_URL": f"http://127.0.0.1:{server.port}{HOOK_PATH}",
        "SHIFTWATCH_SLACK_MIN_INTERVAL_S": "0",
        "SHIFTWATCH_SMTP_HOST": "127.0.0.1", "SHIFTWATCH_SMTP_PORT": str(smtp_port),
        "SHIFTWATCH_SMTP_SECURITY": "none", "SHIFTWATCH_SMTP_USER": "analyst",
        "SHIFTWATCH_SMTP_PASSWORD": PASSWORD, "SHIFTWATCH_EMAIL_FROM": "sw@example.org",
        "SHIFTWATCH_EMAIL_TO": "analyst@example.org", "SHIFTWATCH_HTTP_TIMEOUT_S": "2",
        "SHIFTWATCH_OUTBOX_DIR": str(tmp_path / "outbox"),
    }  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def logs() -> Iterator[Everything]:
    handler = Everything()
    root = logging.getLogger()
    levels = {n: logging.getLogger(n).level for n in ("", "httpx", "httpcore", "prefect")}
    root.addHandler(handler)
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def cli(outputs: Outputs, *args: str) -> int:
    """Run the command line; keep what it printed (and any exception's traceback)."""
    result = CliRunner().invoke(app, list(args))
    outputs.add(f"cli {args[0]} {args[1] if len(args) > 1 else ''}", result.output)
    if result.exc_info and not isinstance(result.exception, SystemExit):
        outputs.add(f"cli {args[0]} traceback", "".join(traceback.format_exception(
            *result.exc_info)))  # fmt: skip
    return result.exit_code


def failure(outputs: Outputs, where: str, call: Any) -> None:
    """Run a call expected to fail; keep the exception's message, repr and traceback."""
    with pytest.raises(DeliveryError) as info:
        call()
    outputs.add(where, str(info.value))
    outputs.add(where, repr(info.value))
    outputs.add(where, "".join(traceback.format_exception(info.value)))


def database(outputs: Outputs, url: str) -> None:
    """Keep every column of every row of every table."""
    engine = make_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        for name, table in meta.tables.items():
            for row in conn.execute(select(table)):
                outputs.add(f"db {name}", json.dumps([str(v) for v in row]))
    engine.dispose()


def prefect_records(outputs: Outputs) -> None:
    """Keep what the Prefect API holds: flow runs (parameters, states), task runs, logs,
    artifacts, variables and blocks."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        for kind, items in (
            ("flow runs", client.read_flow_runs(limit=200)),
            ("task runs", client.read_task_runs(limit=200)),
            ("logs", client.read_logs(limit=200)),
            ("artifacts", client.read_artifacts(limit=200)),
            ("block documents", client.read_block_documents()),
        ):
            for item in items:
                outputs.add(f"prefect {kind}", item.model_dump_json())


def test_canary_secrets_never_show(prefect_harness, canary_env, echo_slack, logs, capfd,
                                   tmp_path: Path) -> None:  # fmt: skip
    from shiftwatch.flows.monitor import monitor

    server, mode = echo_slack
    outputs = Outputs()
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS, seeds)
    db, dry = f"sqlite:///{tmp_path / 'live.db'}", f"sqlite:///{tmp_path / 'dry.db'}"

    # The monitor delivers for real: Slack answers 404 quoting its URL, SMTP refuses the login.
    summary = monitor(seeds=[str(seeds)], database_url=db, deliver=True)
    outputs.add("monitor summary", json.dumps(summary, default=str))
    assert summary["alerts"]["failed"] >= 2, summary["alerts"]
    assert len(server.log) >= 1  # Slack was called on the secret URL
    # The same through the command line, writing payloads instead of sending them.
    assert cli(outputs, "run", "--seeds", str(seeds), "--db", dry, "--no-deliver") == 0
    assert list((tmp_path / "outbox").iterdir())
    # A digest that cannot be delivered anywhere.
    assert cli(outputs, "digest", "--send", "--db", db) == 2
    for url in (db, dry):
        for kind in ("documents", "stances", "shifts", "alerts", "rejections", "runs"):
            for fmt in ("jsonl", "csv"):
                assert cli(outputs, "export", kind, "--format", fmt, "--db", url) == 0
    # Transient failures, raised directly: 500s quoting the URL, nobody listening, timeouts.
    settings = load_settings()
    mode["status"] = 500
    with SlackWebhook(settings.slack()) as hook:  # type: ignore[arg-type]
        failure(outputs, "slack 500", lambda: hook.post(b'{"text": "x"}'))
        outputs.add("repr", repr(hook))
    nobody = f"http://127.0.0.1:{_free_port()}{HOOK_PATH}"
    closed = settings.model_copy(
        update={"slack_webhook_url": SecretStr(nobody), "smtp_port": _free_port()}
    )
    with SlackWebhook(closed.slack()) as hook:  # type: ignore[arg-type]
        failure(outputs, "slack refused", lambda: hook.post(b"{}"))
    failure(outputs, "smtp login", lambda: SmtpMailer(settings.smtp()).send(b"Subject: x\r\n\r\nx"))
    failure(outputs, "smtp refused", lambda: SmtpMailer(closed.smtp()).send(b"Subject: x\r\n\r\n"))
    for thing in (settings, settings.slack(), settings.smtp(), SmtpMailer(settings.smtp())):
        outputs.add("repr", repr(thing))
        outputs.add("repr", str(thing))
    outputs.add("settings json", settings.model_dump_json())

    for path in (tmp_path / "outbox").rglob("*"):
        if path.is_file():
            outputs.add(f"outbox {path.suffix}", path.read_text("utf-8", errors="replace"))
    database(outputs, db)
    database(outputs, dry)
    prefect_records(outputs)
    captured = capfd.readouterr()
    outputs.add("stdout", captured.out)
    outputs.add("stderr", captured.err)
    outputs.add("log records", "\n".join(logs.lines))
    leaks = outputs.leaks()
    record("secrets", inputs=outputs.count(), leaks=len(leaks))
    shown = [line[:300] for w in set(leaks) for t in outputs.texts[w]
             for line in t.splitlines() if CANARY in line]  # fmt: skip
    assert leaks == [], f"the canary shows in: {sorted(set(leaks))}: {shown[:5]}"
    assert len(logs.lines) > 10 and outputs.count() > 100  # the search saw real output


def test_database_passwords_are_masked_in_errors() -> None:
    """A PostgreSQL password in --db never shows in the one-line errors."""
    outputs = Outputs()
    for url in (f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:notaport/db",
                f"nosuchdialect://u:{PASSWORD}@127.0.0.1/db",
                f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:1/db"):  # fmt: skip
        code = cli(outputs, "export", "documents", "--db", url)
        assert code == 2
    outputs.add("masked", masked(f"postgresql://u:{PASSWORD}@h/db"))
    leaks = outputs.leaks()
    record("secrets", inputs=outputs.count(), leaks=len(leaks))
    assert leaks == [], outputs.texts


def test_an_answer_quoting_only_the_webhook_token_is_scrubbed() -> None:
    import httpx

    from shiftwatch.settings import SlackSettings

    def quoting(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, text=f"invalid_token: B0SECRET/{CANARY} is disabled")

    settings = SlackSettings(webhook_url=SecretStr(f"https://hooks.slack.example{HOOK_PATH}"),
                             min_interval_s=0, timeout_s=2)  # fmt: skip
    hook = SlackWebhook(settings, transport=httpx.MockTransport(quoting))
    with hook, pytest.raises(DeliveryError) as info:
        hook.post(b"{}")
    assert CANARY not in str(info.value)
