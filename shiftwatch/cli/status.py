"""`shiftwatch status`: the database in use, the last runs, failing sources, the outbox, the
channels (secrets masked) and, when a Prefect server is configured and answers, its schedules.

Never starts Prefect: the server, if any, is asked over plain HTTP with a short timeout.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shiftwatch.errors import ShiftwatchError
from shiftwatch.render.digest import strip_controls

if TYPE_CHECKING:
    from shiftwatch.models.status import RunLine, StatusReport
    from shiftwatch.settings import Settings

PREFECT_TIMEOUT_S = 2.0  # a server that does not answer in 2 s is reported, not waited for

DbOption = Annotated[
    str | None,
    typer.Option("--db", envvar="SHIFTWATCH_DATABASE_URL", help="Database URL"),
]
RunsOption = Annotated[int, typer.Option("--runs", min=1, help="How many recent runs to list")]


def status(db: DbOption = None, runs: RunsOption = 5) -> None:
    """Show the database in use, the last runs, failing sources, the outbox and channels."""
    from shiftwatch.models.db import masked, open_database, session_scope
    from shiftwatch.models.status import status_report
    from shiftwatch.settings import load_settings

    try:
        settings = load_settings(database_url=db)
        typer.echo(f"database: {masked(settings.database_url)}")
        engine = open_database(settings.database_url)
        with session_scope(engine) as session:
            report = status_report(session, runs)
        engine.dispose()
        lines = [*report_lines(report), *channel_lines(settings), *schedule_lines()]
    except ShiftwatchError as exc:
        typer.secho(f"error: {strip_controls(str(exc))}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    typer.echo(strip_controls("\n".join(lines)))


def report_lines(report: StatusReport) -> list[str]:
    """Return the runs, sources and outbox parts of the status."""
    lines = ["last runs:" if report.runs else "last runs: none yet (start one: shiftwatch run)"]
    lines += [f"  {run_line(r)}" for r in report.runs]
    failing = report.failing_sources
    lines.append(f"sources: {report.sources} known, {len(failing)} failing")
    lines += [
        f"  {s.label} [{s.kind}, {s.status}, {s.failures} failures]"
        + (f": {s.last_error[:120]}" if s.last_error else "")
        for s in failing
    ]
    outbox = report.outbox
    lines.append(
        f"outbox: {outbox.get('pending', 0)} pending, {outbox.get('held', 0)} held "
        f"(no channel), {outbox.get('failed', 0)} failed, {outbox.get('sent', 0)} sent, "
        f"{outbox.get('written', 0)} written as previews"
    )
    return lines


def run_line(run: RunLine) -> str:
    """Return one run: when, how it ended, what it found, which sources failed."""
    counts: dict[str, Any] = run.counts
    took = (
        f" in {(run.finished_at - run.started_at).total_seconds():.1f}s" if run.finished_at else ""
    )
    line = f"{run.started_at:%Y-%m-%d %H:%M} {run.flow} {run.id} {run.status}{took}"
    if run.flow == "monitor" and counts:
        line += (
            f": {counts.get('new', 0)} new, {counts.get('shifts', 0)} shifts, "
            f"{counts.get('alerts', {}).get('sent', 0)} alerts sent"
        )
    if run.failing:
        line += f"; failing: {', '.join(run.failing)}"
    return line


def channel_lines(settings: Settings) -> list[str]:
    """Return the configured alert channels, secrets masked (half-configured: an error)."""
    from shiftwatch.models.db import masked

    slack, smtp = settings.slack(), settings.smtp()
    lines = []
    if slack is not None:
        lines.append(f"  slack: webhook {masked(slack.webhook_url.get_secret_value())}")
    if smtp is not None:
        login = f", user {smtp.user} (password set)" if smtp.user else ""
        lines.append(
            f"  email: {smtp.host}:{smtp.port} ({smtp.security}{login}), "
            f"{smtp.sender} -> {', '.join(smtp.recipients)}"
        )
    if not lines:
        return ["channels: none configured (alerts are held; see `shiftwatch notify test`)"]
    return ["channels:", *lines]


def schedule_lines() -> list[str]:
    """Return the Prefect server's deployments and schedules, if one is configured."""
    import httpx

    api = os.environ.get("PREFECT_API_URL", "").rstrip("/")
    if not api:
        return ["schedules: no Prefect server configured (PREFECT_API_URL)"]
    try:
        answer = httpx.post(f"{api}/deployments/filter", json={}, timeout=PREFECT_TIMEOUT_S)
        answer.raise_for_status()
        deployments = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        return [f"schedules: Prefect server at {api} not reachable ({type(exc).__name__})"]
    if not deployments:
        return [f"schedules: none on the Prefect server at {api}"]
    lines = [f"schedules (Prefect server at {api}):"]
    lines += [f"  {deployment_line(d)}" for d in deployments]
    return lines


def deployment_line(deployment: dict[str, Any]) -> str:
    """Return a deployment's name, its schedules and whether it is paused."""
    every = [_schedule(s.get("schedule") or {}) for s in deployment.get("schedules") or []]
    state = " (paused)" if deployment.get("paused") else ""
    return f"{deployment.get('name')}{state}: {', '.join(every) or 'no schedule'}"


def _schedule(schedule: dict[str, Any]) -> str:
    if schedule.get("interval") is not None:
        return f"every {float(schedule['interval']):g}s"
    if schedule.get("cron"):
        return f"cron {schedule['cron']} ({schedule.get('timezone') or 'UTC'})"
    return str(schedule.get("rrule") or "custom")
