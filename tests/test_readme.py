"""The README opens with the two commands; the first one is run here as a user would."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from conftest import ROOT, seed_prefect_home

pytestmark = pytest.mark.prefect


def _commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?)```", readme, re.S)
    assert block and readme.index(block.group(0)) < 40, "README must open with the commands"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_exactly_two_commands_and_ci_runs_the_second():
    commands = _commands()
    assert commands == ["./scripts/run", "./scripts/test"]
    assert "./scripts/test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_the_main_job_prints_a_digest_of_the_seeds(tmp_path, prefect_db_template):
    # Prefect's home holds its migrated database, as on a user's machine after the first run
    # (a first run from an empty Prefect home: the cold runs of test_bench_smoke).
    seed_prefect_home(tmp_path, prefect_db_template)
    env = {
        **os.environ,
        "SHIFTWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'readme.db'}",
        "SHIFTWATCH_OUTBOX_DIR": str(tmp_path / "outbox"),
        "PREFECT_HOME": str(tmp_path),
    }
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run(
        [str(ROOT / _commands()[0])], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "shiftwatch digest" in out and "Traceback" not in out
    for title in ("Moscow Pessimistic Ahead of Security Talks", "My yours does not understand"):
        assert title in out
    assert "opposes -> open" in out  # Russia on arms-control talks, Lavrov, 27 January
    assert "this run: 5 new" in out
