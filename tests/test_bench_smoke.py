"""The benchmarks keep working: one smoke run of the end-to-end, history and scale benchmarks
(`bench/run_all.py --smoke`, one process for the three) writes a results file with each one's
section (no timings are checked; benchmarks are never timed tests)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = [pytest.mark.prefect, pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run the three benchmarks' smoke runs once; return the process and the results file."""
    tmp = tmp_path_factory.mktemp("bench-smoke")
    output = tmp / "results.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_all.py"), "--smoke",
         "--only", "pipeline,history,scale", "--output", str(output)],
        capture_output=True, text=True, timeout=880, cwd=tmp,
    )  # fmt: skip
    return done, output.read_text(encoding="utf-8") if output.exists() else ""


def _section(text: str, heading: str) -> str:
    """Return the section of the results that starts with `heading` (up to the next one)."""
    assert heading in text, text[-3000:]
    rest = text.split(heading, 1)[1]
    return heading + rest.split("\n## ", 1)[0]


def test_pipeline_benchmark_smoke_run_writes_its_section(smoke):
    done, text = smoke
    assert done.returncode == 0, done.stdout + done.stderr
    section = _section(text, "## Pipeline end to end (a) and its peak memory (c)")
    assert "FAILED" not in section
    row = next(line for line in section.splitlines() if line.startswith("| 50 |"))
    assert row.rstrip().endswith("|")
    assert "### Where the time goes" in section


@pytest.mark.parametrize(
    ("area", "heading"),
    [
        ("history", "## Run cost flat in history"),
        ("scale", "## Throughput, worker pool and memory per batch"),
    ],
)
def test_issue_17_benchmarks_smoke_run_write_their_sections(smoke, area, heading):
    done, text = smoke
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"## {area}\n\nFAILED" not in text
    assert "FAILED" not in _section(text, heading)
