"""The monitor's typed run summary, without Prefect: what the run row, the artifact and the
run name are made from."""

from __future__ import annotations

import dataclasses

import pytest

from shiftwatch.pipeline.deliver import DeliveryReport
from shiftwatch.pipeline.ingest import IngestResult
from shiftwatch.pipeline.monitor import (
    RunSummary,
    monitor_run_title,
    summarize,
    summary_markdown,
)
from shiftwatch.pipeline.positions import PositionResult


def _summary() -> RunSummary:
    result = IngestResult()
    result.source("file:///seeds").new = 4
    result.source("https://feed.example/rss").rejected = 1
    result.source("https://feed.example/rss").status = "failed"
    result.new_document_ids.extend(["d1", "d2"])
    result.languages.update({"en": 3, "ru": 1})
    positions = PositionResult(shifts=["s1", "s2"], announced=["s1"], held=["s2"])
    return summarize(
        "run-1", result, positions, DeliveryReport(channels=["slack"], sent=1), elapsed_s=1.23456
    )


def test_the_summary_is_typed_frozen_and_keeps_the_recorded_shape():
    summary = _summary()
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.new = 0  # type: ignore[misc]
    assert (summary.new, summary.rejected, summary.shifts, summary.alerts.sent) == (4, 1, 2, 1)
    assert summary["new"] == 4 and summary["alerts"]["sent"] == 1
    counts = summary.counts()
    assert list(counts) == [
        "run_id", "new", "duplicate", "unchanged", "rejected", "reanalysed", "elapsed_s",
        "languages", "machine_translated", "new_document_ids", "shifts", "announced", "held",
        "retroactive", "feed_warnings", "alerts",
    ]  # fmt: skip
    assert counts["elapsed_s"] == 1.235 and counts["alerts"]["channels"] == ["slack"]


def test_the_run_name_and_the_artifact_render_the_summary():
    summary = _summary()
    assert monitor_run_title(summary) == (
        "monitor: 4 new, 0 unchanged, 0 dup, 1 rejected, 2 shifts, 1/2 sources failing"
    )
    markdown = summary_markdown(summary)
    assert "**4 new**" in markdown and "2 recorded, 1 announced, 1 held" in markdown
    assert "sources: 2 (1 failing)" in markdown
