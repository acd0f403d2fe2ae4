"""`shiftwatch feeds remove|pause|resume` through the real command line."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from shiftwatch.cli import app


def _feeds(runner: CliRunner, *args: str):
    return runner.invoke(app, ["feeds", *args])


def test_pause_resume_and_remove_edit_the_list_and_show_in_list(tmp_path):
    runner = CliRunner()
    path = tmp_path / "feeds.yaml"
    for url in ("https://a.example/rss", "https://b.example/rss"):
        assert _feeds(runner, "add", url, "--feeds-file", str(path)).exit_code == 0

    paused = _feeds(runner, "pause", "https://A.example/rss", "--feeds-file", str(path))
    assert paused.exit_code == 0 and "paused https://a.example/rss" in paused.output
    stored = yaml.safe_load(path.read_text())["feeds"]
    assert [f.get("enabled", True) for f in stored] == [False, True]
    listed = _feeds(runner, "list", "--feeds-file", str(path))
    row_a = next(x for x in listed.output.splitlines() if "a.example" in x)
    row_b = next(x for x in listed.output.splitlines() if "b.example" in x)
    assert "paused" in row_a and "active" in row_b

    again = _feeds(runner, "pause", "https://a.example/rss", "--feeds-file", str(path))
    assert again.exit_code == 0 and "already paused" in again.output
    feed_id = stored[0]["id"]
    resumed = _feeds(runner, "resume", feed_id, "--feeds-file", str(path))
    assert resumed.exit_code == 0 and "resumed" in resumed.output
    assert "enabled" not in yaml.safe_load(path.read_text())["feeds"][0]

    removed = _feeds(runner, "remove", "https://b.example/rss", "--feeds-file", str(path))
    assert removed.exit_code == 0 and "removed https://b.example/rss" in removed.output
    assert [f["url"] for f in yaml.safe_load(path.read_text())["feeds"]] == [
        "https://a.example/rss"
    ]


def test_unknown_feed_is_one_error_line(tmp_path):
    runner = CliRunner()
    path = tmp_path / "feeds.yaml"
    _feeds(runner, "add", "https://a.example/rss", "--feeds-file", str(path))
    for command in ("remove", "pause", "resume"):
        done = _feeds(runner, command, "https://nope.example/rss", "--feeds-file", str(path))
        assert done.exit_code == 2
        assert done.output.startswith("error: no feed 'https://nope.example/rss'")
    missing = _feeds(runner, "pause", "x", "--feeds-file", str(tmp_path / "none.yaml"))
    assert missing.exit_code == 2 and "feed list not found" in missing.output
