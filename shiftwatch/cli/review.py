"""`shiftwatch review`: what needs a human, and an analyst's verdicts the timeline obeys.

    shiftwatch review [list]                         possible shifts, weak evidence, alerts, reviews
    shiftwatch review confirm ID [--note TEXT]       a stance (st-…) or shift (shift-…) is right
    shiftwatch review reject ID [--note TEXT]        it is wrong: it never counts
    shiftwatch review stance ID --not-a-stance | --wrong-holder | --stance S | --confirm
    shiftwatch review shift ID --false | --confirm
    shiftwatch review undo [REVIEW_ID]               undo the latest (or that) review

Ids are those the digest, the alerts, `review list` and `export stances|shifts` show; a
unique prefix is enough. A verdict is obeyed at once: positions are replayed, a shift that no
longer holds is withdrawn, and if it was alerted one correction per channel is queued and
(unless --no-deliver) sent.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shiftwatch.errors import ShiftwatchError
from shiftwatch.records import ReviewVerdict, Stance

if TYPE_CHECKING:
    from shiftwatch.pipeline.review import ReviewOutcome
    from shiftwatch.settings import Settings

review_app = typer.Typer(
    help="List what needs a human; confirm or reject stances and shifts (the timeline obeys).",
    invoke_without_command=True,
)

DbOption = Annotated[
    str | None,
    typer.Option("--db", envvar="SHIFTWATCH_DATABASE_URL", help="Database URL"),
]
WatchlistOption = Annotated[
    Path | None,
    typer.Option("--watchlist", envvar="SHIFTWATCH_WATCHLIST", help="Watchlist YAML file"),
]
NoteOption = Annotated[str, typer.Option("--note", help="Why (stored, exported)")]
DeliverOption = Annotated[
    bool,
    typer.Option("--deliver/--no-deliver", help="Send queued corrections and alerts now"),
]
IdArgument = Annotated[str, typer.Argument(help="A stance id (st-…) or shift id (shift-…)")]


def _fail(exc: Exception) -> None:
    from shiftwatch.cli.main import fail

    fail(str(exc))


@review_app.callback()
def review_main(
    ctx: typer.Context,
    db: DbOption = None,
    days: Annotated[int, typer.Option("--days", help="Alerts sent in the last N days")] = 7,
) -> None:
    """List what needs a human when no subcommand is given."""
    if ctx.invoked_subcommand is None:
        show_list(db=db, days=days)


@review_app.command("list")
def show_list(
    db: DbOption = None,
    days: Annotated[int, typer.Option("--days", help="Alerts sent in the last N days")] = 7,
) -> None:
    """List possible shifts, weak evidence touching a position, recent alerts, reviews."""
    try:
        from shiftwatch.analysis.positions.replay import STRONG_CONFIDENCE
        from shiftwatch.models.db import open_database, session_scope
        from shiftwatch.models.reviews import review_queue
        from shiftwatch.models.tables import utcnow
        from shiftwatch.settings import load_settings

        engine = open_database(load_settings(database_url=db).database_url)
        with session_scope(engine) as session:
            queue = review_queue(
                session, utcnow() - timedelta(days=days), weak_below=STRONG_CONFIDENCE
            )
        engine.dispose()
    except ShiftwatchError as exc:
        _fail(exc)
        return
    typer.echo(render_queue(queue, days))


def render_queue(queue: dict[str, list[dict[str, Any]]], days: int) -> str:
    """Return the review queue as text for the terminal."""
    from shiftwatch.render.digest import strip_controls

    lines = ["POSSIBLE SHIFTS (held, awaiting confirmation)"]
    lines += _shift_lines(queue["possible"]) or ["  none"]
    lines += ["", "WEAK EVIDENCE TOUCHING A POSITION (low confidence, MT or reported)"]
    for o in queue["weak"]:
        flags = f" [{o['flags']}]" if o["flags"] else ""
        lines.append(
            f"  {o['id']}  {o['party']} · {o['demand']}: {o['stance']} "
            f"({o['confidence']:.2f}{flags}, {_day(o['at'])})"
        )
        lines.append(f'      "{_clip(o["evidence"])}"')
    if not queue["weak"]:
        lines.append("  none")
    lines += ["", f"SHIFTS ALERTED IN THE LAST {days} DAYS"]
    lines += _shift_lines(queue["alerted"]) or ["  none"]
    lines += ["", "REVIEWS"]
    for rv in queue["reviews"]:
        undone = f"  (undone {_day(rv['undone_at'])})" if rv["undone_at"] else ""
        note = f"  “{rv['note']}”" if rv["note"] else ""
        lines.append(f"  {rv['id']}  {rv['target']}: {rv['verdict']}{note}{undone}")
    if not queue["reviews"]:
        lines.append("  none")
    lines += ["", "confirm or reject by id: shiftwatch review reject ID --note '…'"]
    return strip_controls("\n".join(lines))


def _shift_lines(items: list[dict[str, Any]]) -> list[str]:
    out = []
    for s in items:
        withdrawn = "  [withdrawn]" if s["withdrawn"] else ""
        out.append(
            f"  {s['id']}  {s['party']} · {s['demand']}: {s['change']} ({_day(s['at'])}){withdrawn}"
        )
        out += [f'      {i}  "{_clip(text)}"' for i, text in s["evidence"][:3]]
    return out


def _day(value: Any) -> str:
    return value.strftime("%Y-%m-%d") if value else "undated"


def _clip(text: str, limit: int = 140) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@review_app.command("confirm")
def confirm(
    target: IdArgument,
    note: NoteOption = "",
    db: DbOption = None,
    watchlist: WatchlistOption = None,
    deliver: DeliverOption = True,
) -> None:
    """Mark a stance or shift right: it counts as strong (a held change it backs is confirmed)."""
    _review(target, ReviewVerdict.CONFIRMED, None, note, db, watchlist, deliver)


@review_app.command("reject")
def reject(
    target: IdArgument,
    note: NoteOption = "",
    db: DbOption = None,
    watchlist: WatchlistOption = None,
    deliver: DeliverOption = True,
) -> None:
    """Mark a stance or shift wrong: it never counts; an alerted shift gets a correction."""
    _review(target, ReviewVerdict.REJECTED, None, note, db, watchlist, deliver)


@review_app.command("stance")
def stance(
    target: Annotated[str, typer.Argument(help="A stance id (st-…)")],
    not_a_stance: Annotated[bool, typer.Option("--not-a-stance")] = False,
    wrong_holder: Annotated[bool, typer.Option("--wrong-holder")] = False,
    right_stance: Annotated[
        Stance | None, typer.Option("--stance", help="The stance it really takes")
    ] = None,
    confirm_: Annotated[bool, typer.Option("--confirm", help="It is right")] = False,
    note: NoteOption = "",
    db: DbOption = None,
    watchlist: WatchlistOption = None,
    deliver: DeliverOption = True,
) -> None:
    """Correct one stance observation: not a stance, wrong holder, wrong stance, or right."""
    chosen = [
        (flag, verdict)
        for flag, verdict in (
            (not_a_stance, ReviewVerdict.NOT_A_STANCE),
            (wrong_holder, ReviewVerdict.WRONG_HOLDER),
            (right_stance is not None, ReviewVerdict.WRONG_STANCE),
            (confirm_, ReviewVerdict.CONFIRMED),
        )
        if flag
    ]
    if len(chosen) != 1:
        _fail(ValueError("give one of --not-a-stance, --wrong-holder, --stance S, --confirm"))
    if not target.startswith("st-"):
        _fail(ValueError(f"{target!r} is not a stance id (st-…)"))
    _review(target, chosen[0][1], right_stance, note, db, watchlist, deliver)


@review_app.command("shift")
def shift(
    target: Annotated[str, typer.Argument(help="A shift id (shift-…)")],
    false: Annotated[bool, typer.Option("--false", help="The shift did not happen")] = False,
    confirm_: Annotated[bool, typer.Option("--confirm", help="It did")] = False,
    note: NoteOption = "",
    db: DbOption = None,
    watchlist: WatchlistOption = None,
    deliver: DeliverOption = True,
) -> None:
    """Mark a shift false (withdrawn; corrected once if alerted) or confirmed."""
    if false == confirm_:
        _fail(ValueError("give one of --false, --confirm"))
    if not target.startswith("shift-"):
        _fail(ValueError(f"{target!r} is not a shift id (shift-…)"))
    verdict = ReviewVerdict.FALSE_SHIFT if false else ReviewVerdict.CONFIRMED
    _review(target, verdict, None, note, db, watchlist, deliver)


@review_app.command("undo")
def undo(
    review_id: Annotated[
        str | None, typer.Argument(help="A review id (rev-…); default: the latest")
    ] = None,
    db: DbOption = None,
    watchlist: WatchlistOption = None,
    deliver: DeliverOption = True,
) -> None:
    """Undo a review; the timeline is replayed without it."""
    try:
        from shiftwatch.models.db import open_database
        from shiftwatch.pipeline.deliver import configured_channels
        from shiftwatch.pipeline.review import undo_review

        settings = _settings(db, watchlist)
        engine = open_database(settings.database_url)
        outcome = undo_review(engine, review_id, configured_channels(settings))
        _report(outcome, "undone")
        _deliver(engine, settings, outcome, deliver)
        engine.dispose()
    except ShiftwatchError as exc:
        _fail(exc)


def _settings(db: str | None, watchlist: Path | None) -> Settings:
    from shiftwatch.settings import load_settings

    return load_settings(database_url=db, watchlist=watchlist)


def _review(
    target: str,
    verdict: ReviewVerdict,
    right: Stance | None,
    note: str,
    db: str | None,
    watchlist: Path | None,
    deliver: bool,
) -> None:
    try:
        from shiftwatch.models.db import open_database
        from shiftwatch.pipeline.deliver import configured_channels
        from shiftwatch.pipeline.review import review_target

        settings = _settings(db, watchlist)
        engine = open_database(settings.database_url)
        outcome = review_target(
            engine, target, verdict, configured_channels(settings), stance=right, note=note
        )
        _report(outcome, "recorded")
        _deliver(engine, settings, outcome, deliver)
        engine.dispose()
    except ShiftwatchError as exc:
        _fail(exc)


def _report(outcome: ReviewOutcome, done: str) -> None:
    review = outcome.review
    assert review is not None
    stance_note = f" ({review.stance})" if review.stance else ""
    typer.echo(
        f"review {review.id} {done}: {review.target_kind} {review.target_id} "
        f"{review.verdict}{stance_note}"
    )
    for label, ids in (
        ("withdrawn", outcome.withdrawn),
        ("restored", outcome.restored),
        ("recorded", outcome.recorded),
    ):
        if ids:
            typer.echo(f"  shifts {label}: {', '.join(ids)}")
    if outcome.corrections_queued or outcome.alerts_queued:
        typer.echo(
            f"  queued: {outcome.corrections_queued} correction(s), "
            f"{outcome.alerts_queued} alert(s)"
        )


def _deliver(engine: Any, settings: Settings, outcome: ReviewOutcome, deliver: bool) -> None:
    """Send what the review queued, when asked and a channel is configured."""
    if not deliver or not (outcome.corrections_queued or outcome.alerts_queued):
        return
    from shiftwatch.pipeline.deliver import configured_channels, owner_id, run_delivery
    from shiftwatch.watchlist import load_watchlist

    if not configured_channels(settings):
        return
    report = run_delivery(
        engine, settings, load_watchlist(settings.watchlist), owner=owner_id("review")
    )
    typer.echo(
        f"  delivered: {report.sent} sent, {report.retrying} retrying, {report.failed} failed"
    )
