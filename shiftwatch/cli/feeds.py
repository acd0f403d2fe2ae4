"""`shiftwatch feeds`: the feed list (add, list, remove, pause, resume, import OPML) and
feed health. A paused feed stays listed (`enabled: false`) and runs skip it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from shiftwatch.errors import ConfigError, ShiftwatchError

if TYPE_CHECKING:
    from shiftwatch.connectors.feedlist import FeedConfig

feeds_app = typer.Typer(no_args_is_help=True, help="Manage the feed list and see feed health.")
FileOption = Annotated[
    Path | None,
    typer.Option(
        "--feeds-file", envvar="SHIFTWATCH_FEEDS_FILE", help="Feed list (default: data/feeds.yaml)"
    ),
]
DbOption = Annotated[
    str | None, typer.Option("--db", envvar="SHIFTWATCH_DATABASE_URL", help="Database URL")
]


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _path(feeds_file: Path | None) -> Path:
    from shiftwatch.settings import load_settings

    return load_settings(feeds_file=feeds_file).feed_list_path()


@feeds_app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="Feed URL (RSS or Atom)")],
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
    language: Annotated[str | None, typer.Option(help="Language hint, e.g. ru")] = None,
    interval: Annotated[str | None, typer.Option(help="Fixed poll interval, e.g. 30m, 2h")] = None,
    full_article: Annotated[
        bool, typer.Option("--full-article", help="Fetch each entry's page (summary-only feeds)")
    ] = False,
    feeds_file: FileOption = None,
) -> None:
    """Add a feed to the feed list."""
    from shiftwatch.connectors.feedlist import FeedConfig, add_feeds, parse_duration

    try:
        feed = FeedConfig(
            url=url,
            name=name,
            language=language,
            poll_interval_s=parse_duration(interval) if interval else None,
            fetch_full_article=full_article,
        )
        added = add_feeds(_path(feeds_file), [feed])
    except ShiftwatchError as exc:
        _fail(str(exc))
    typer.echo(f"added {feed.url} ({feed.id})" if added else f"already listed: {feed.url}")


@feeds_app.command("import")
def import_opml(
    opml: Annotated[Path, typer.Argument(help="OPML file exported from a feed reader")],
    feeds_file: FileOption = None,
) -> None:
    """Import every feed of an OPML file into the feed list."""
    from shiftwatch.connectors.feedlist import add_feeds, read_opml

    try:
        found = read_opml(opml)
        added = add_feeds(_path(feeds_file), found)
    except ShiftwatchError as exc:
        _fail(str(exc))
    typer.echo(
        f"{len(found)} feeds in {opml}: {len(added)} added, "
        f"{len(found) - len(added)} already listed"
    )


@feeds_app.command("list")
def list_feeds(feeds_file: FileOption = None) -> None:
    """List the feeds in the feed list."""
    from shiftwatch.connectors.feedlist import load_feedlist

    try:
        feeds = load_feedlist(_path(feeds_file), missing_ok=True)
    except ShiftwatchError as exc:
        _fail(str(exc))
    if not feeds:
        typer.echo(f"no feeds yet: add one with `shiftwatch feeds add URL` ({_path(feeds_file)})")
        return
    table = Table("id", "url", "name", "lang", "interval", "full article", "state")
    for f in feeds:
        table.add_row(
            f.id,
            f.url,
            f.name or "",
            f.language or "",
            f"{f.poll_interval_s // 60} min" if f.poll_interval_s else "adaptive",
            "yes" if f.fetch_full_article else "",
            "active" if f.enabled else "paused",
        )
    Console(width=200).print(table)


FeedArgument = Annotated[str, typer.Argument(help="The feed's URL or id (see `feeds list`)")]


def _find(feeds: list[FeedConfig], key: str) -> int:
    """Return the index of the feed whose URL or id is `key`; ConfigError if none is."""
    from shiftwatch.connectors.feedlist import normalize_feed_url

    try:
        url = normalize_feed_url(key)
    except ShiftwatchError:
        url = None
    for i, feed in enumerate(feeds):
        if key.strip() in (feed.id, feed.url) or url == feed.url:
            return i
    raise ConfigError(f"no feed {key!r} in the feed list (see `shiftwatch feeds list`)")


def _edit(key: str, feeds_file: Path | None, change: str) -> str:
    """Apply `change` (remove, pause, resume) to one feed of the list; return what was done."""
    from shiftwatch.connectors.feedlist import load_feedlist, save_feedlist, with_options

    path = _path(feeds_file)
    feeds = load_feedlist(path)
    i = _find(feeds, key)
    feed = feeds[i]
    if change == "remove":
        del feeds[i]
        done = f"removed {feed.url}"
    elif feed.enabled == (change == "resume"):
        return f"{feed.url} is already {'active' if feed.enabled else 'paused'}"
    else:
        feeds[i] = with_options(feed, enabled=change == "resume")
        done = f"{'resumed' if change == 'resume' else 'paused'} {feed.url}"
    save_feedlist(path, feeds)
    return done


@feeds_app.command("remove")
def remove(feed: FeedArgument, feeds_file: FileOption = None) -> None:
    """Remove a feed from the feed list (what it brought stays stored)."""
    try:
        typer.echo(_edit(feed, feeds_file, "remove"))
    except ShiftwatchError as exc:
        _fail(str(exc))


@feeds_app.command("pause")
def pause(feed: FeedArgument, feeds_file: FileOption = None) -> None:
    """Pause a feed: it stays listed, runs skip it until `feeds resume`."""
    try:
        typer.echo(_edit(feed, feeds_file, "pause"))
    except ShiftwatchError as exc:
        _fail(str(exc))


@feeds_app.command("resume")
def resume(feed: FeedArgument, feeds_file: FileOption = None) -> None:
    """Resume a paused feed: the next run polls it."""
    try:
        typer.echo(_edit(feed, feeds_file, "resume"))
    except ShiftwatchError as exc:
        _fail(str(exc))


@feeds_app.command("health")
def health(db: DbOption = None) -> None:
    """Show each polled feed's health: status, last fetch, next poll, failures, last error."""
    from shiftwatch.models.db import open_database, session_scope
    from shiftwatch.models.sources import feed_health
    from shiftwatch.settings import load_settings

    try:
        engine = open_database(load_settings(database_url=db).database_url)
        with session_scope(engine) as session:
            rows = feed_health(session)
        engine.dispose()
    except ShiftwatchError as exc:
        _fail(str(exc))
    if not rows:
        typer.echo("no feed has been polled yet")
        return
    table = Table("feed", "health", "last fetched", "next poll", "failures", "last error")
    for r in rows:
        table.add_row(
            r.name or r.url,
            r.status,
            _when(r.last_fetched_at),
            _when(r.next_poll_at),
            f"{r.failures} ({r.error_score:g})",
            (r.last_error or "")[:80],
        )
    Console(width=200).print(table)


def _when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else "-"
