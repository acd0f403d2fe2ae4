"""`shiftwatch watchlist check|init` through the real command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import ROOT

EXE = str(Path(sys.executable).with_name("shiftwatch"))


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_both_shipped_watchlists_check_ok(tmp_path):
    for name in ("russia-nato-2022.yaml", "black-sea-grain.yaml"):
        done = _run("watchlist", "check", str(ROOT / "watchlists" / name), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert ": ok" in done.stdout


def test_init_writes_a_starter_that_checks_and_never_overwrites(tmp_path):
    done = _run("watchlist", "init", "mine.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _run("watchlist", "check", "mine.yaml", cwd=tmp_path).returncode == 0
    again = _run("watchlist", "init", "mine.yaml", cwd=tmp_path)
    assert again.returncode == 2 and again.stderr.startswith("error:")


def test_unknown_keys_and_missing_fields_are_errors_with_their_lines(tmp_path):
    _run("watchlist", "init", "mine.yaml", cwd=tmp_path)
    text = (tmp_path / "mine.yaml").read_text()
    bad = text.replace("parties:", "partys:").replace(
        "    name: Extend the agreement", "    nam: x"
    )
    (tmp_path / "bad.yaml").write_text(bad)
    done = _run("watchlist", "check", "bad.yaml", cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    line_of = {n + 1: line for n, line in enumerate(bad.splitlines())}
    partys = next(x for x in lines if ": partys:" in x)
    assert line_of[int(partys.split(":")[2])].startswith("partys:")
    assert any("demands.0.nam" in x and "not permitted" in x for x in lines)
    assert any("demands.0.name" in x and "required" in x for x in lines)


def test_empty_party_or_demand_lists_are_errors(tmp_path):
    (tmp_path / "empty.yaml").write_text("name: x\nparties: []\ndemands: []\n")
    done = _run("watchlist", "check", "empty.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert "at least one party and one demand" in done.stderr


def test_version_and_completion_are_offered(tmp_path):
    done = _run("--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("shiftwatch ")
    assert "--show-completion" in _run("--help", cwd=tmp_path).stdout
