"""`shiftwatch status`, `notify test`, the config file, and commands that never start Prefect —
through the real command line (a subprocess), against loopback servers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from alerting_support import Inbox, record, shift, smtp_server
from conftest import ROOT

from shiftwatch.models import sources as source_store
from shiftwatch.models.db import open_database, session_scope
from shiftwatch.records import SourceRef

SECRET = "T000-B000-s3cr3t"
EXE = str(Path(sys.executable).with_name("shiftwatch"))
WATCHLIST = str(ROOT / "watchlists" / "black-sea-grain.yaml")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIFTWATCH_", "PREFECT_"))}
    env.update(
        PREFECT_API_URL=f"http://127.0.0.1:{_closed_port()}/api",
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        SHIFTWATCH_DATABASE_URL=f"sqlite:///{tmp_path / 'sw.db'}",
        **extra,
    )
    return env


def _cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None, python_flags=()):
    command = [sys.executable, *python_flags, EXE, *args]
    return subprocess.run(
        command, cwd=tmp_path, env=env or _env(tmp_path), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def _store_runs(url: str) -> None:
    engine = open_database(url)
    feeds = [
        SourceRef(id="feed-ok", kind="feed", url="https://ok.example/rss", name="Fine Feed"),
        SourceRef(id="feed-bad", kind="feed", url="https://bad.example/rss", name="Bad Feed"),
    ]
    with session_scope(engine) as session:
        source_store.ensure_sources(session, feeds)
        source_store.save_source_state(
            session, "feed-bad", {"status": "failing", "failures": 3, "last_error": "HTTP 503"}
        )
        source_store.start_run(session, "run-one", "monitor", None)
        source_store.finish_run(
            session,
            "run-one",
            "completed",
            {"new": 4, "shifts": 1, "alerts": {"sent": 0}},
            [
                {"source_id": "feed-ok", "status": "updated"},
                {"source_id": "feed-bad", "status": "failed"},
            ],
        )
    record(engine, [shift()], ["slack"])
    engine.dispose()


def test_status_names_database_runs_failing_sources_outbox_and_channels(tmp_path):
    db = f"sqlite:///{tmp_path / 'sw.db'}"
    _store_runs(db)
    env = _env(tmp_path, SHIFTWATCH_SLACK_WEBHOOK_URL=f"https://hooks.example/services/{SECRET}")
    done = _cli(tmp_path, "status", env=env)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"database: {db}" in out
    assert "monitor run-one completed" in out and "4 new, 1 shifts" in out
    assert "failing: Bad Feed" in out and "Fine Feed" not in out
    assert "sources: 2 known, 1 failing" in out and "Bad Feed [feed, failing, 3 failures]" in out
    assert "outbox: 1 pending, 1 held" in out
    assert "slack: webhook https://hooks.example/***" in out
    assert "schedules: Prefect server at" in out and "not reachable" in out
    assert SECRET not in out + done.stderr
    digest = _cli(tmp_path, "digest", env=env)
    assert digest.returncode == 0, digest.stderr
    assert "1 in 1 runs: Bad Feed (1)" in digest.stdout  # the feed that answered is healthy


@pytest.mark.parametrize("command", [("status",), ("run", "--no-deliver"), ("export", "runs")])
def test_database_errors_are_one_line_with_the_password_masked(tmp_path, postgres_server, command):
    url = postgres_server.rsplit("/", 1)[0].replace("postgres@", "postgres:hunter2@")
    done = _cli(tmp_path, *command, "--db", f"{url}/no_such_database_here")
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "no_such_database_here" in done.stderr and "***" in done.stderr
    assert "hunter2" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_notify_test_says_per_channel_ok_or_failed(tmp_path, httpserver):
    httpserver.expect_request(f"/services/{SECRET}", method="POST").respond_with_data("ok")
    inbox = Inbox()
    controller, port = smtp_server(inbox)
    try:
        env = _env(
            tmp_path,
            SHIFTWATCH_SLACK_WEBHOOK_URL=httpserver.url_for(f"/services/{SECRET}"),
            SHIFTWATCH_SMTP_HOST="127.0.0.1",
            SHIFTWATCH_SMTP_PORT=str(port),
            SHIFTWATCH_SMTP_SECURITY="none",
            SHIFTWATCH_EMAIL_FROM="monitor@example.org",
            SHIFTWATCH_EMAIL_TO="analyst@example.org",
        )
        env.pop("PREFECT_API_URL")
        done = _cli(tmp_path, "notify", "test", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "slack: ok" in done.stdout and "email: ok" in done.stdout
        (request, _), *_ = httpserver.log
        assert "test message" in json.loads(request.data)["text"]
        assert inbox.messages and inbox.messages[0]["Subject"] == "[shiftwatch] test message"
    finally:
        controller.stop()
    broken = dict(env, SHIFTWATCH_SLACK_WEBHOOK_URL=f"http://127.0.0.1:{_closed_port()}/{SECRET}")
    broken["SHIFTWATCH_SMTP_PORT"] = str(_closed_port())
    failed = _cli(tmp_path, "notify", "test", env=broken)
    assert failed.returncode == 1
    assert "slack: failed: " in failed.stdout and "email: failed: " in failed.stdout
    assert SECRET not in failed.stdout + failed.stderr
    nothing = {k: v for k, v in env.items() if not k.startswith("SHIFTWATCH_S")}
    none = _cli(tmp_path, "notify", "test", env=nothing)
    assert none.returncode == 2 and "slack: not configured" in none.stdout


def test_config_file_is_read_and_flags_and_environment_win(tmp_path):
    db_toml = tmp_path / "from-toml.db"
    (tmp_path / "shiftwatch.toml").write_text(
        f'database_url = "sqlite:///{db_toml}"\nwatchlist = "{WATCHLIST}"\n'
    )
    env = _env(tmp_path)
    env.pop("SHIFTWATCH_DATABASE_URL")
    done = _cli(tmp_path, "status", env=env)
    assert done.returncode == 0, done.stderr
    assert f"database: sqlite:///{db_toml}" in done.stdout
    (tmp_path / ".env").write_text(f"SHIFTWATCH_DATABASE_URL=sqlite:///{tmp_path / 'dot.db'}\n")
    assert "dot.db" in _cli(tmp_path, "status", env=env).stdout  # .env over the TOML file
    env["SHIFTWATCH_DATABASE_URL"] = f"sqlite:///{tmp_path / 'env.db'}"
    assert "env.db" in _cli(tmp_path, "status", env=env).stdout  # environment over .env
    flag = _cli(tmp_path, "status", "--db", f"sqlite:///{tmp_path / 'flag.db'}", env=env)
    assert "flag.db" in flag.stdout  # flags over everything

    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "mine.toml").write_text(f'database_url = "sqlite:///{other / "named.db"}"\n')
    env.pop("SHIFTWATCH_DATABASE_URL")
    named = _cli(tmp_path, "--config", str(other / "mine.toml"), "status", env=env)
    assert "named.db" in named.stdout, named.stderr
    (other / "typo.toml").write_text('databse_url = "x"\n')
    typo = _cli(tmp_path, "--config", str(other / "typo.toml"), "status", env=env)
    assert typo.returncode == 2 and "unknown settings ['databse_url']" in typo.stderr
    missing = _cli(tmp_path, "--config", str(other / "none.toml"), "status", env=env)
    assert missing.returncode == 2 and "config file not found" in missing.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("export", "runs"),
        ("export", "documents", "--format", "csv"),
        ("digest",),
        ("digest", "--format", "markdown"),
        ("status",),
        ("feeds", "list"),
        ("feeds", "health"),
        ("watchlist", "check", WATCHLIST),
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_commands_without_a_flow_never_import_prefect(tmp_path, args):
    """PREFECT_API_URL points at a closed port: any Prefect start would fail or wait; the
    import log proves Prefect was not even imported."""
    done = _cli(tmp_path, *args, python_flags=("-X", "importtime"))
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "shiftwatch" in imported
    assert "prefect" not in imported, sorted(imported)
