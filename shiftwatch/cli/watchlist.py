"""`shiftwatch watchlist`: check a watchlist file, or start one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

watchlist_app = typer.Typer(no_args_is_help=True, help="Check or start a watchlist file.")

STARTER = """\
# A shiftwatch watchlist: who and what to track in one negotiation.
# Check it with `shiftwatch watchlist check FILE`; use it with `shiftwatch run --watchlist FILE`.
# Aliases are per language code; a trailing `*` marks a stem (Рябков* matches Рябкова).
name: my-negotiation
description: What this watchlist follows, and when
languages: [en]

parties:            # who holds positions (at least one)
  - id: party-a
    name: Party A
    aliases:
      en: [Party A, Capital A]

actors:             # who speaks for a party; `party: null` for commentators (no stance)
  - id: minister-a
    name: Minister A
    party: party-a
    aliases:
      en: [Minister A]
    roles:
      en: [Party A's foreign minister]

demands:            # what positions are taken on (at least one)
  - id: agreement-extension
    name: Extend the agreement
    aliases:
      en: [the agreement, the deal]
    # The demand's own stance verbs, matched on lemmas (base forms are enough). Verbs, not
    # nouns: "extension" also names the topic ("talks on the extension").
    cues:
      favour:
        en: [extend, renew, prolong]
      against:
        en: [suspend participation, withdraw from, walk away from]
      open:
        en: [ready to discuss]
    # opposite: {en: [...]}   the counter-concept (supporting it opposes the demand)
    # forbids: {en: [...]}    words in aliases that name what the demand rules out
    # neutral: {en: [...]}    aliases that only name the topic

venues:             # where positions are put (optional)
  - id: main-talks
    name: The main talks
    aliases:
      en: [the talks in City X]

# Phrases that contain an alias but name someone else.
ignore:
  en: [Deputy Minister A]
"""


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@watchlist_app.command("check")
def check(file: Annotated[Path, typer.Argument(help="Watchlist YAML file")]) -> None:
    """Validate a watchlist; print every problem with its line, or what it tracks."""
    from shiftwatch.watchlist import load_watchlist, watchlist_problems

    problems = watchlist_problems(file)
    if problems:
        for line in problems:
            typer.secho(f"error: {line}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    wl = load_watchlist(file)
    cues = sum(len(t.cues) for t in wl.demand_terms().values())
    typer.echo(
        f"{file}: ok — {wl.name}: {len(wl.parties)} parties, {len(wl.actors)} actors, "
        f"{len(wl.demands)} demands ({cues} own cues), {len(wl.venues)} venues"
    )


@watchlist_app.command("init")
def init(
    file: Annotated[Path, typer.Argument(help="Where to write the starter")] = Path(
        "watchlist.yaml"
    ),
) -> None:
    """Write a commented starter watchlist (never over an existing file)."""
    if file.exists():
        _fail(f"{file} exists; choose another name")
    file.write_text(STARTER, encoding="utf-8")
    typer.echo(f"wrote {file}; edit it, then: shiftwatch watchlist check {file}")
