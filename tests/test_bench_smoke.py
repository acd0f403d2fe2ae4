"""The end-to-end benchmark keeps working: its smoke run writes a results file (no timings
are checked; benchmarks are never timed tests)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


def test_pipeline_benchmark_smoke_run_writes_its_section(tmp_path):
    output = tmp_path / "results.md"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run_all.py"),
            "--smoke",
            "--only",
            "pipeline",
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    text = output.read_text(encoding="utf-8")
    assert "## Pipeline end to end (a) and its peak memory (c)" in text
    assert "FAILED" not in text
    row = next(line for line in text.splitlines() if line.startswith("| 50 |"))
    assert row.rstrip().endswith("|")
    assert "### Where the time goes" in text


@pytest.mark.parametrize(
    ("area", "heading"),
    [
        ("history", "## Run cost flat in history"),
        ("scale", "## Throughput, worker pool and memory per batch"),
    ],
)
def test_issue_17_benchmarks_smoke_run_write_their_sections(tmp_path, area, heading):
    output = tmp_path / "results.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_all.py"), "--smoke", "--only", area,
         "--output", str(output)],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    text = output.read_text(encoding="utf-8")
    assert heading in text
    assert "FAILED" not in text
