"""The `shiftwatch` command line: run the monitor, export what it stored, print digests.

Errors a user can cause end with one clear line on stderr and exit status 2, never a
traceback. Prefect is imported only by the commands that run flows, with telemetry off.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterable
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from shiftwatch.errors import ConfigError, ShiftwatchError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Monitor news for shifts in negotiating positions.")

PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}

DbOption = Annotated[str | None, typer.Option("--db", envvar="SHIFTWATCH_DATABASE_URL",
                                              help="Database URL (default: SQLite under ./data/)")]
WatchlistOption = Annotated[Path | None, typer.Option("--watchlist", envvar="SHIFTWATCH_WATCHLIST",
                                                      help="Watchlist YAML file")]


class ExportKind(StrEnum):
    documents = "documents"
    mentions = "mentions"
    stances = "stances"
    positions = "positions"
    shifts = "shifts"
    alerts = "alerts"
    rejections = "rejections"
    runs = "runs"


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


class DigestFormat(StrEnum):
    text = "text"
    markdown = "markdown"
    html = "html"


def configure_prefect() -> None:
    """Set Prefect's defaults (telemetry off, quiet logs) unless the environment says otherwise."""
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)


def fail(message: str) -> None:
    """Print one error line and exit with status 2."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@app.command()
def run(
    seeds: Annotated[list[Path] | None, typer.Option("--seeds", help="Folder of documents (repeatable)")] = None,
    watchlist: WatchlistOption = None,
    db: DbOption = None,
    no_deliver: Annotated[bool, typer.Option("--no-deliver", help="Write alert payloads to files instead of sending")] = False,
    digest_format: Annotated[DigestFormat, typer.Option("--format", help="Digest format printed after the run")] = DigestFormat.text,
) -> None:
    """Run the monitor once over the given sources and print a digest."""
    configure_prefect()
    try:
        preflight(seeds, watchlist, db)
        from shiftwatch.flows.monitor import monitor

        summary = monitor(
            seeds=[str(s) for s in seeds] if seeds else None,
            watchlist=str(watchlist) if watchlist else None,
            database_url=db, deliver=not no_deliver,
        )
        typer.echo(_digest_text(db, watchlist, digest_format.value, None, summary))
    except ShiftwatchError as exc:
        fail(str(exc))


def preflight(seeds: list[Path] | None, watchlist: Path | None, db: str | None) -> None:
    """Check what the user typed before anything starts, so mistakes cost one clear line."""
    from shiftwatch.models.db import make_engine
    from shiftwatch.models.watchlist import load_watchlist
    from shiftwatch.settings import load_settings

    settings = load_settings(database_url=db, watchlist=watchlist)
    for folder in seeds or []:
        if not folder.is_dir():
            raise ConfigError(f"seed folder not found or not a folder: {folder}")
    load_watchlist(settings.watchlist)
    make_engine(settings.database_url).dispose()


def _digest_text(
    db: str | None, watchlist: Path | None, fmt: str, since: datetime | None,
    summary: dict[str, Any] | None = None,
) -> str:
    from shiftwatch.analysis.digest import render_digest
    from shiftwatch.models.db import open_database, session_scope
    from shiftwatch.models.queries import digest_data
    from shiftwatch.models.watchlist import load_watchlist
    from shiftwatch.settings import load_settings

    settings = load_settings(database_url=db, watchlist=watchlist)
    engine = open_database(settings.database_url)
    with session_scope(engine) as session:
        data = digest_data(session, load_watchlist(settings.watchlist), since=since)
    engine.dispose()
    text = render_digest(data, fmt)
    if summary is not None and fmt == "text":
        text += (f"\nthis run: {summary['new']} new, {summary['duplicate']} duplicate, "
                 f"{summary['unchanged']} unchanged, {summary['rejected']} rejected "
                 f"in {summary['elapsed_s']:.1f}s\n")
    return text


@app.command()
def export(
    kind: Annotated[ExportKind, typer.Argument(help="What to export")],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="jsonl or csv")] = ExportFormat.jsonl,
    db: DbOption = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: stdout)")] = None,
) -> None:
    """Export stored records, one JSON object per line or CSV rows."""
    try:
        from shiftwatch.models.db import open_database, session_scope
        from shiftwatch.models.queries import EXPORTS, export_rows
        from shiftwatch.settings import load_settings

        engine = open_database(load_settings(database_url=db).database_url)
        fields = EXPORTS[kind.value][1]
        stream = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
        try:
            with session_scope(engine) as session:
                write_rows(export_rows(session, kind.value), fields, fmt.value, stream)
        finally:
            if output:
                stream.close()
        engine.dispose()
    except ShiftwatchError as exc:
        fail(str(exc))


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def write_rows(rows: Iterable[dict[str, Any]], fields: tuple[str, ...], fmt: str, stream: Any) -> None:
    """Write rows as JSON lines or CSV (lists and objects JSON-encoded in CSV cells)."""
    if fmt == "jsonl":
        for row in rows:
            stream.write(json.dumps({k: _plain(v) for k, v in row.items()}, ensure_ascii=False,
                                    default=str) + "\n")
        return
    writer = csv.DictWriter(stream, fieldnames=list(fields), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v, ensure_ascii=False, default=str)
                         if isinstance(v, list | dict) else _plain(v) for k, v in row.items()})


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--since {value!r} is not an ISO date (e.g. 2022-01-10 or 2022-01-10T07:00)")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@app.command()
def digest(
    since: Annotated[str | None, typer.Option("--since", help="ISO date: cover documents stored since then")] = None,
    fmt: Annotated[DigestFormat, typer.Option("--format", help="text, markdown or html")] = DigestFormat.text,
    db: DbOption = None,
    watchlist: WatchlistOption = None,
) -> None:
    """Print the digest of what is stored."""
    try:
        typer.echo(_digest_text(db, watchlist, fmt.value, _parse_since(since)))
    except ShiftwatchError as exc:
        fail(str(exc))


if __name__ == "__main__":
    app()
