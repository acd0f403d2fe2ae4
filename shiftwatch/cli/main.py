"""The `shiftwatch` command line: run the monitor, export what it stored, print digests.

Errors a user can cause end with one clear line on stderr and exit status 2, never a
traceback. Prefect is imported only by the commands that run flows, with telemetry off.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import sys
from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shiftwatch.cli.feeds import feeds_app
from shiftwatch.cli.notify import notify_test
from shiftwatch.cli.output import run_progress, run_report, set_verbosity, verbosity
from shiftwatch.cli.review import review_app
from shiftwatch.cli.status import status
from shiftwatch.cli.watchlist import watchlist_app
from shiftwatch.errors import ConfigError, ShiftwatchError
from shiftwatch.redact import redact
from shiftwatch.render.digest import strip_controls

if TYPE_CHECKING:
    from shiftwatch.pipeline.monitor import RunSummary

app = typer.Typer(
    no_args_is_help=True,
    help="Monitor news for shifts in negotiating positions.",
)
app.add_typer(feeds_app, name="feeds")
app.add_typer(watchlist_app, name="watchlist")
app.add_typer(review_app, name="review")


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"shiftwatch {version('shiftwatch')}")
        raise typer.Exit()


@app.callback()
def main(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit"
        ),
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="SHIFTWATCH_CONFIG",
            help="Settings file: shiftwatch.toml or a .env file (default: those in the "
            "working directory). Flags > environment > .env > TOML > defaults",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress, no run report; errors only")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Per-source details and INFO logs")
    ] = False,
) -> None:
    """Monitor news for shifts in negotiating positions."""
    if quiet and verbose:
        fail("--quiet and --verbose cannot be used together")
    set_verbosity(quiet=quiet, verbose=verbose)
    if config is not None:
        # the settings read it through the environment, and so do runs started from here
        os.environ["SHIFTWATCH_CONFIG"] = str(config.resolve())


PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="SHIFTWATCH_DATABASE_URL",
        help="Database URL (default: SQLite under ./data/)",
    ),
]
WatchlistOption = Annotated[
    Path | None,
    typer.Option("--watchlist", envvar="SHIFTWATCH_WATCHLIST", help="Watchlist YAML file"),
]


class ExportKind(StrEnum):
    documents = "documents"
    mentions = "mentions"
    stances = "stances"
    positions = "positions"
    shifts = "shifts"
    alerts = "alerts"
    reviews = "reviews"
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
    # trafilatura logs every page it declines as an ERROR; we record those as rejections.
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)


def fail(message: str) -> None:
    """Print one error line (secrets masked) and exit with status 2."""
    typer.secho(f"error: {strip_controls(redact(message))}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


SeedsOption = Annotated[
    list[Path] | None,
    typer.Option("--seeds", help="Folder of documents (repeatable; default: the bundled seeds)"),
]
FeedOption = Annotated[
    list[str] | None,
    typer.Option("--feed", help="Poll this RSS/Atom feed now (repeatable; one-off, not saved)"),
]
FeedsFileOption = Annotated[
    Path | None,
    typer.Option(
        "--feeds-file", envvar="SHIFTWATCH_FEEDS_FILE", help="Feed list (default: data/feeds.yaml)"
    ),
]
NoDeliverOption = Annotated[
    bool, typer.Option("--no-deliver", help="Write alert payloads to files instead of sending")
]
RunFormatOption = Annotated[
    DigestFormat, typer.Option("--format", help="Format of the digest --digest prints")
]
DigestFlag = Annotated[
    bool, typer.Option("--digest", help="Also print the full digest of what is stored")
]


@app.command()
def run(
    seeds: SeedsOption = None,
    feed: FeedOption = None,
    feeds_file: FeedsFileOption = None,
    watchlist: WatchlistOption = None,
    db: DbOption = None,
    no_deliver: NoDeliverOption = False,
    show_digest: DigestFlag = False,
    digest_format: RunFormatOption = DigestFormat.text,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Also re-analyse stored documents published since this ISO date "
            "(after a watchlist change)",
        ),
    ] = None,
) -> None:
    """Run the monitor once over the given sources and say what this run found."""
    configure_prefect()
    try:
        preflight(seeds, watchlist, db, feed, feeds_file)
        _parse_since(since)
        labels = source_labels(feed, feeds_file)
        from shiftwatch.flows.local import prepare_local_run
        from shiftwatch.flows.monitor import monitor
        from shiftwatch.settings import DatabaseUrl

        prepare_local_run()
        with run_progress(labels):
            summary = monitor(
                seeds=[str(s) for s in seeds] if seeds else None,
                feeds=list(feed) if feed else None,
                feeds_file=str(feeds_file) if feeds_file else None,
                watchlist=str(watchlist) if watchlist else None,
                database_url=DatabaseUrl(db) if db else None,  # stored masked by Prefect
                deliver=not no_deliver,
                since=since,
            )
        if show_digest:
            typer.echo(strip_controls(_digest_text(db, watchlist, digest_format.value, None)))
        _report_run(db, watchlist, summary, labels, preview_held=no_deliver)
    except ShiftwatchError as exc:
        fail(str(exc))


def source_labels(feeds: list[str] | None, feeds_file: Path | None) -> dict[str, str]:
    """Return {source id: the name or URL users know it by} for the feeds a run polls."""
    from shiftwatch.connectors.feedlist import FeedConfig, load_feedlist
    from shiftwatch.settings import load_settings

    listed = load_feedlist(load_settings(feeds_file=feeds_file).feed_list_path(), missing_ok=True)
    chosen = [FeedConfig(url=url) for url in feeds or []] + listed
    return {f.id: f.name or f.url for f in chosen}


def _report_run(
    db: str | None,
    watchlist: Path | None,
    summary: RunSummary,
    labels: dict[str, str],
    *,
    preview_held: bool,
) -> None:
    """Print what this run found (stdout); with -q only failing sources, on stderr. With
    `preview_held` (--no-deliver), alerts held for want of a channel get previews too."""
    from shiftwatch.cli.previews import write_held_previews
    from shiftwatch.models.db import open_database, session_scope
    from shiftwatch.models.status import run_findings
    from shiftwatch.settings import load_settings
    from shiftwatch.watchlist import load_watchlist

    settings = load_settings(database_url=db, watchlist=watchlist)
    engine = open_database(settings.database_url)
    with session_scope(engine) as session:
        findings = run_findings(session, summary.run_id)
    held = []
    if preview_held and findings.alerts.get("held"):
        held = write_held_previews(
            engine, settings, load_watchlist(settings.watchlist), summary.run_id
        )
    engine.dispose()
    if verbosity.quiet:
        if summary.failed_sources:
            lines = run_report(summary, findings, labels)
            typer.secho(f"warning: {lines[-1].strip()}", fg=typer.colors.YELLOW, err=True)
        return
    previews = [Path(p) for p in findings.previews] + held
    lines = run_report(summary, findings, labels, previews=previews, verbose=verbosity.verbose)
    typer.echo(strip_controls("\n".join(lines)))


def preflight(
    seeds: list[Path] | None,
    watchlist: Path | None,
    db: str | None,
    feeds: list[str] | None = None,
    feeds_file: Path | None = None,
) -> None:
    """Check what the user typed before anything starts, so mistakes cost one clear line."""
    from shiftwatch.connectors.feedlist import FeedConfig, load_feedlist
    from shiftwatch.models.db import open_database
    from shiftwatch.pipeline.feeds import fetch_policy
    from shiftwatch.settings import load_settings
    from shiftwatch.watchlist import load_watchlist

    settings = load_settings(database_url=db, watchlist=watchlist, feeds_file=feeds_file)
    fetch_policy(settings)
    settings.slack(), settings.smtp()  # half-configured alert channels fail here, before I/O
    for url in feeds or []:
        FeedConfig(url=url)
    load_feedlist(settings.feed_list_path(), missing_ok=feeds_file is None)
    for folder in seeds or []:
        if not folder.is_dir():
            raise ConfigError(f"seed folder not found or not a folder: {folder}")
    load_watchlist(settings.watchlist)
    open_database(settings.database_url).dispose()  # unreachable or missing: one line, here


def _digest_text(
    db: str | None,
    watchlist: Path | None,
    fmt: str,
    since: datetime | None,
) -> str:
    from shiftwatch.models.db import open_database, session_scope
    from shiftwatch.models.queries import digest_data
    from shiftwatch.render.digest import render_digest
    from shiftwatch.settings import load_settings
    from shiftwatch.watchlist import load_watchlist

    settings = load_settings(database_url=db, watchlist=watchlist)
    engine = open_database(settings.database_url)
    with session_scope(engine) as session:
        data = digest_data(session, load_watchlist(settings.watchlist), since=since)
    engine.dispose()
    return render_digest(data, fmt)


@app.command()
def export(
    kind: Annotated[ExportKind, typer.Argument(help="What to export")],
    fmt: Annotated[
        ExportFormat, typer.Option("--format", help="jsonl or csv")
    ] = ExportFormat.jsonl,
    db: DbOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout)")
    ] = None,
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


def write_rows(
    rows: Iterable[dict[str, Any]], fields: tuple[str, ...], fmt: str, stream: Any
) -> None:
    """Write rows as JSON lines or CSV (lists and objects JSON-encoded in CSV cells)."""
    if fmt == "jsonl":
        for row in rows:
            stream.write(
                json.dumps({k: _plain(v) for k, v in row.items()}, ensure_ascii=False, default=str)
                + "\n"
            )
        return
    writer = csv.DictWriter(stream, fieldnames=list(fields), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                k: json.dumps(v, ensure_ascii=False, default=str)
                if isinstance(v, list | dict)
                else _plain(v)
                for k, v in row.items()
            }
        )


def _parse_since(value: str | None) -> datetime | None:
    from shiftwatch.settings import parse_since

    return None if value is None else parse_since(value)


@app.command()
def digest(
    since: Annotated[
        str | None, typer.Option("--since", help="ISO date: cover documents stored since then")
    ] = None,
    fmt: Annotated[
        DigestFormat, typer.Option("--format", help="text, markdown or html")
    ] = DigestFormat.text,
    db: DbOption = None,
    watchlist: WatchlistOption = None,
    send: Annotated[
        bool,
        typer.Option(
            "--send",
            help="Send to the configured channels; the next digest starts where it ends",
        ),
    ] = False,
) -> None:
    """Print the digest of what is stored (with --send: of what is new since the last one)."""
    try:
        if send:
            _send_digest(db, watchlist, fmt.value, since)
            return
        typer.echo(strip_controls(_digest_text(db, watchlist, fmt.value, _parse_since(since))))
    except ShiftwatchError as exc:
        fail(str(exc))


def _send_digest(db: str | None, watchlist: Path | None, fmt: str, since: str | None) -> None:
    """Run the `digest` flow with send=True; print the digest and where it went."""
    from shiftwatch.settings import DatabaseUrl, load_settings

    settings = load_settings(database_url=db, watchlist=watchlist)
    settings.slack(), settings.smtp()
    start = _parse_since(since)
    configure_prefect()
    from shiftwatch.flows.digest import digest as digest_flow
    from shiftwatch.flows.local import prepare_local_run

    prepare_local_run()

    result = digest_flow(
        send=True,
        since=start.isoformat() if start else None,
        fmt=fmt,
        watchlist=str(watchlist) if watchlist else None,
        database_url=DatabaseUrl(db) if db else None,  # stored masked by Prefect
    )
    typer.echo(strip_controls(result["text"]))
    where = ", ".join(result["sent"]) or "nowhere (no channel configured)"
    typer.secho(f"digest sent to {where}", err=True)


def _prefect_api_url() -> str | None:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def _check_timezone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"SHIFTWATCH_DIGEST_TIMEZONE: unknown timezone {name!r} (e.g. Europe/Brussels)"
        ) from None


@app.command()
def serve(db: DbOption = None, watchlist: WatchlistOption = None) -> None:
    """Serve the monitor (every 15 minutes) and digest (daily 07:00) schedules from here."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")  # run logs belong in the UI
    configure_prefect()
    import httpx

    try:
        from shiftwatch.settings import load_settings

        preflight(None, watchlist, db)
        settings = load_settings(database_url=db, watchlist=watchlist)
        _check_timezone(settings.digest_timezone)
        # Runs start as subprocesses of this one: hand the options down through the environment.
        os.environ["SHIFTWATCH_DATABASE_URL"] = settings.database_url
        os.environ["SHIFTWATCH_WATCHLIST"] = str(settings.watchlist)
        if not _prefect_api_url():
            typer.secho(
                "warning: PREFECT_API_URL is not set: runs go to a temporary API and "
                "no UI; start `prefect server start` and export PREFECT_API_URL",
                fg=typer.colors.YELLOW,
                err=True,
            )
        from shiftwatch.flows.serve import build_deployments, serve_deployments

        serve_deployments(build_deployments(settings.digest_timezone))
    except ShiftwatchError as exc:
        fail(str(exc))
    except httpx.HTTPError as exc:  # the server is not (yet) there
        fail(f"Prefect server at {_prefect_api_url()}: {exc}")


app.command("status")(status)

notify_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Test the alert channels; set up failure notices sent by the Prefect server.",
)
app.add_typer(notify_app, name="notify")
notify_app.command("test")(notify_test)

SlackOption = Annotated[
    str | None, typer.Option("--slack-webhook", help="Slack incoming-webhook URL")
]
WebhookOption = Annotated[
    str | None, typer.Option("--webhook", help='Any URL that takes a JSON POST ({"text": ...})')
]
EmailOption = Annotated[
    list[str] | None, typer.Option("--email", help="Recipient (repeatable; sent via SendGrid)")
]
EmailFromOption = Annotated[
    str | None,
    typer.Option("--email-from", envvar="SHIFTWATCH_EMAIL_FROM", help="Sender for --email"),
]
SendgridOption = Annotated[
    str | None,
    typer.Option(
        "--sendgrid-api-key", envvar="SHIFTWATCH_SENDGRID_API_KEY", help="API key for --email"
    ),
]


@notify_app.command("setup")
def notify_setup(
    slack_webhook: SlackOption = None,
    webhook: WebhookOption = None,
    email: EmailOption = None,
    email_from: EmailFromOption = None,
    sendgrid_api_key: SendgridOption = None,
) -> None:
    """Save a notification block and an automation: failed monitor/digest runs notify you."""
    configure_prefect()
    import httpx

    try:
        if not _prefect_api_url():
            raise ConfigError(
                "PREFECT_API_URL is not set: point it at your Prefect server "
                "(e.g. http://127.0.0.1:4200/api)"
            )
        from shiftwatch.flows.notify import (
            AUTOMATION_NAME,
            BLOCK_NAME,
            NoticeTarget,
            setup_failure_notices,
        )

        target = NoticeTarget(
            slack_webhook=slack_webhook,
            webhook=webhook,
            email=tuple(email or ()),
            email_from=email_from,
            sendgrid_api_key=sendgrid_api_key,
        )
        block_id, automation_id = setup_failure_notices(target)
    except ShiftwatchError as exc:
        fail(str(exc))
    except httpx.HTTPError as exc:  # not reachable, or it refused the block/automation
        fail(f"Prefect server at {_prefect_api_url()}: {exc}")
    typer.echo(
        f"saved notification block {BLOCK_NAME!r} ({block_id}) and automation "
        f"{AUTOMATION_NAME!r} ({automation_id})"
    )


if __name__ == "__main__":
    app()
