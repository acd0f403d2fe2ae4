"""`shiftwatch run` says what happened: progress on a terminal, what this run found, payload
previews with --no-deliver, paused feeds skipped, failing sources named, -q and --digest."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SEEDS
from typer.testing import CliRunner
from werkzeug.wrappers import Response

from shiftwatch.cli import app

pytestmark = pytest.mark.prefect

EXE = str(Path(sys.executable).with_name("shiftwatch"))
RSS = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
    "<link>https://news.example.org/</link><item><title>Ryabkov on guarantees</title>"
    "<link>https://news.example.org/{n}</link><description>Deputy Foreign Minister Sergei "
    "Ryabkov said Russia insists on legally binding guarantees.</description>"
    "<pubDate>Mon, 10 Jan 2022 18:00:00 GMT</pubDate></item></channel></rss>"
)


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIFTWATCH_CONFIG", "")
    monkeypatch.setenv("SHIFTWATCH_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("SHIFTWATCH_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
    monkeypatch.chdir(tmp_path)
    return {"db": f"sqlite:///{tmp_path / 'sw.db'}", "tmp": tmp_path}


def _invoke(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def test_run_reports_this_run_and_previews_payloads(prefect_harness, env, monkeypatch):
    monkeypatch.setenv("SHIFTWATCH_SLACK_WEBHOOK_URL", "http://127.0.0.1:9/hook-secret")
    out = _invoke("run", "--seeds", str(SEEDS), "--db", env["db"], "--no-deliver").output
    assert "this run: 5 new, 0 duplicate, 0 unchanged" in out
    assert "new stances: " in out and "new stances: 0" not in out
    assert "shifts: 2 (1 announced, 1 held as possible" in out
    assert "1 written as previews (--no-deliver)" in out
    assert "1 held (no channel configured for them)" in out  # email
    # the Slack body the delivery step wrote, and the email no channel is configured for
    assert "payload previews (2; nothing was sent) under" in out
    preview = next(line for line in out.splitlines() if ".slack.json: " in line)
    assert "Russia" in preview
    email = next(line for line in out.splitlines() if ".email.txt: " in line)
    assert "[shiftwatch] Russia shifted on" in email
    assert (env["tmp"] / "outbox").is_dir() and list((env["tmp"] / "outbox").glob("*.slack.json"))
    assert "shiftwatch digest" not in out  # the digest only with --digest
    assert "read 5" not in out  # no progress when not a terminal
    assert "hook-secret" not in out

    again = _invoke("run", "--seeds", str(SEEDS), "--db", env["db"], "--digest").output
    assert "shiftwatch digest" in again
    assert again.rstrip().splitlines()[-5].startswith("this run: 0 new, 0 duplicate, 5 unchanged")
    assert "new stances: 0" in again and "shifts: 0" in again

    verbose = _invoke("-v", "run", "--seeds", str(SEEDS), "--db", env["db"]).output
    assert "[file, ok]: 0 new, 5 unchanged" in verbose
    quiet = _invoke("-q", "run", "--seeds", str(SEEDS), "--db", env["db"])
    assert quiet.stdout == ""


def test_paused_feeds_are_skipped_and_failing_sources_named(
    prefect_harness, env, httpserver, tmp_path
):
    served: list[str] = []

    def feed(n: int):
        def handler(request):
            served.append(request.path)
            return Response(RSS.format(n=n), content_type="application/rss+xml")

        return handler

    httpserver.expect_request("/a.xml").respond_with_handler(feed(1))
    httpserver.expect_request("/b.xml").respond_with_handler(feed(2))
    httpserver.expect_request("/broken.xml").respond_with_data("oops", status=500)
    feeds = str(tmp_path / "feeds.yaml")
    for path, name in (("/a.xml", "Feed A"), ("/b.xml", "Feed B"), ("/broken.xml", "Broken")):
        _invoke("feeds", "add", httpserver.url_for(path), "--name", name, "--feeds-file", feeds)
    _invoke("feeds", "pause", httpserver.url_for("/b.xml"), "--feeds-file", feeds)

    args = ["run", "--seeds", str(tmp_path / "none"), "--feeds-file", feeds, "--db", env["db"]]
    (tmp_path / "none").mkdir()
    out = _invoke(*args, "--no-deliver").stdout
    assert "/b.xml" not in served and "/a.xml" in served
    assert "this run: 1 new" in out
    # the empty folder, Feed A and Broken; the paused Feed B is not read
    assert "sources: 3 read, 1 failing: Broken (HTTP 500 from http://" in out, out

    broken = httpserver.url_for("/broken.xml")
    quiet = CliRunner().invoke(app, ["-q", *args[:3], "--feed", broken, "--db", env["db"]])
    assert quiet.exit_code == 0 and quiet.stdout == ""
    assert "warning: sources: 2 read, 1 failing: " in quiet.stderr, quiet.stderr
    assert "/broken.xml (HTTP 500" in quiet.stderr


def test_progress_is_drawn_on_a_terminal_only(prefect_harness, env):
    """A real terminal (a pty): rows per source with read, analysed and stored counts. The
    run uses the session's Prefect API (Prefect's temporary server is test_run_process's and
    test_readme's subject, not this one's)."""
    from prefect.settings import PREFECT_API_URL

    environ = {**os.environ, "COLUMNS": "160", "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    environ["PREFECT_HOME"] = str(env["tmp"] / "prefect")
    command = [EXE, "run", "--seeds", str(SEEDS), "--db", env["db"], "--no-deliver"]
    main, child = pty.openpty()
    process = subprocess.Popen(command, stdout=child, stderr=child, env=environ, cwd=env["tmp"])
    os.close(child)
    output = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    assert process.wait(timeout=300) == 0, output[-2000:]
    text = output.decode("utf-8", "replace")
    assert "seeds read 5 · analysed 5 · stored 5" in text, text[-2000:]
    assert "this run: 5 new" in text
