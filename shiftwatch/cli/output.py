"""What the command line prints besides results: verbosity, progress bars, the run's report.

Progress goes to stderr, only when stderr is a terminal and `-q` was not given; results go
to stdout, so `shiftwatch run --digest > digest.txt` stays clean.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from shiftwatch.models.status import RunFindings
    from shiftwatch.pipeline.ingest import SourceCounts
    from shiftwatch.pipeline.monitor import RunSummary
    from shiftwatch.pipeline.progress import Stage

STAGES = ("read", "analysed", "stored")


@dataclass
class Verbosity:
    """The global `-q/--quiet` and `-v/--verbose` flags."""

    quiet: bool = False
    verbose: bool = False


verbosity = Verbosity()


def set_verbosity(*, quiet: bool, verbose: bool) -> None:
    """Record the global flags; `-q` keeps Prefect's warnings back, `-v` lets INFO through."""
    verbosity.quiet, verbosity.verbose = quiet, verbose
    if quiet:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
    if verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def stderr_console() -> Console:
    """Return the console progress is drawn on (stderr)."""
    return Console(stderr=True)


class RunProgress:
    """One progress row per source: items read, analysed, stored (a pipeline listener)."""

    def __init__(self, progress: Progress, labels: Mapping[str, str]) -> None:
        self.progress = progress
        self.labels = labels
        self.rows: dict[str, int] = {}

    def __call__(self, stage: Stage, counts: Mapping[str, int]) -> None:
        for source_id, n in counts.items():
            row = self._row(source_id)
            fields = self.progress.tasks[row].fields
            self.progress.update(row, **{stage.value: fields[stage.value] + n})

    def _row(self, source_id: str) -> int:
        if source_id not in self.rows:
            label = self.labels.get(source_id) or Path(source_id).name or source_id
            self.rows[source_id] = self.progress.add_task(
                label[:60], total=None, **dict.fromkeys(STAGES, 0)
            )
        return self.rows[source_id]


@contextmanager
def run_progress(labels: Mapping[str, str], console: Console | None = None) -> Iterator[None]:
    """Show the run's progress while the block runs (nothing when quiet or not a terminal)."""
    console = console or stderr_console()
    if verbosity.quiet or not console.is_terminal:
        yield
        return
    from shiftwatch.pipeline.progress import watching

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn(
            "read {task.fields[read]} · analysed {task.fields[analysed]} · "
            "stored {task.fields[stored]}"
        ),
        TimeElapsedColumn(),
    )
    progress = Progress(*columns, console=console, transient=False)
    with progress, watching(RunProgress(progress, labels)):
        yield


def run_report(
    summary: RunSummary,
    findings: RunFindings,
    labels: Mapping[str, str],
    *,
    previews: Sequence[Path] = (),
    verbose: bool = False,
) -> list[str]:
    """Return what this run found, as the lines `shiftwatch run` ends with."""
    lines = [
        f"this run: {summary.new} new, {summary.duplicate} duplicate, "
        f"{summary.unchanged} unchanged, {summary.rejected} rejected in {summary.elapsed_s:.1f}s",
        f"  new stances: {findings.stances}",
        f"  shifts: {summary.shifts} ({summary.announced} announced, "
        f"{summary.held} held as possible, {summary.retroactive} retroactive)",
        "  alerts: " + _alerts_line(summary, findings),
        "  sources: " + _sources_line(summary, labels),
    ]
    if previews:
        lines.append(
            f"  payload previews ({len(previews)}; nothing was sent) under {previews[0].parent}:"
        )
        lines += [f"    {p.name}: {payload_headline(p)}" for p in previews]
    if verbose:
        lines += [f"    {_source_row(s, labels)}" for s in summary.sources]
    return lines


def _alerts_line(summary: RunSummary, findings: RunFindings) -> str:
    report = summary.alerts
    parts = [f"{report.sent} sent"]
    if report.written:
        parts.append(f"{report.written} written as previews (--no-deliver)")
    if report.retrying:
        parts.append(f"{report.retrying} waiting for a retry")
    if report.failed:
        parts.append(f"{report.failed} failed")
    held = findings.alerts.get("held", 0)
    if held:
        parts.append(f"{held} held (no channel configured for them)")
    if not report.channels and not held:
        parts.append("no channel configured")
    return ", ".join(parts)


def _sources_line(summary: RunSummary, labels: Mapping[str, str]) -> str:
    failing = [s for s in summary.sources if s.status == "failed"]
    line = f"{len(summary.sources)} read, {len(failing)} failing"
    if failing:
        line += ": " + "; ".join(
            f"{source_label(s.source_id, labels)}" + (f" ({s.detail})" if s.detail else "")
            for s in failing
        )
    return line


def _source_row(s: SourceCounts, labels: Mapping[str, str]) -> str:
    return (
        f"{source_label(s.source_id, labels)} [{s.kind}, {s.status}]: {s.new} new, "
        f"{s.unchanged} unchanged, {s.duplicate} duplicate, {s.rejected} rejected "
        f"in {s.latency_s:.2f}s"
    )


def source_label(source_id: str, labels: Mapping[str, str]) -> str:
    """Return how the user knows a source: its name or URL, else its folder."""
    return labels.get(source_id) or source_id


def payload_headline(path: Path) -> str:
    """Return one line saying what a written payload says (Slack text, email subject)."""
    try:
        body = path.read_bytes()
        if path.suffix == ".json":
            text = str(json.loads(body).get("text", ""))
        else:
            text = str(BytesHeaderParser(policy=policy.default).parsebytes(body).get("Subject", ""))
    except (OSError, ValueError, AttributeError):
        return "(unreadable)"
    return " ".join(text.split())[:160]
