"""Alert and digest messages as plain data: a Slack Block Kit payload, an email's text + HTML.

Everything that came from the news (quotes, speakers, titles, URLs) is untrusted:

- Slack: escaped `&`, `<`, `>` (so `<!channel>`, `<@U123>`, `<https://evil|click>` arrive as
  text), every mrkdwn object is `verbatim` (Slack does not auto-link bare `@here`, `#general`
  or URLs in it), `link_names` is never set, unfurling is off, and links are built here from
  http(s) URLs only, percent-encoding anything that could close the link.
- Email: the HTML template autoescapes; hrefs are http(s) only.

No I/O here: connectors send what these functions build.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shiftwatch.render.digest import escape_slack, render_digest, safe_url, template
from shiftwatch.views import DigestData, EvidenceView, Message, ShiftView

QUOTE_CHARS = 600  # longer quotes are cut: a Slack section holds 3,000 characters
EVIDENCE_PER_SIDE = 3  # quotes shown before and after the shift; the rest are counted
SLACK_SECTION_CHARS = 2900  # below Block Kit's 3,000-character section limit
SLACK_MAX_BLOCKS = 50  # Block Kit's limit per message
STANCE_EMOJI = {"supports": "🟢", "opposes": "🔴", "open": "🟡"}


@dataclass(frozen=True, kw_only=True, slots=True)
class EmailContent:
    """What an email says; connectors/smtp.py wraps it in a MIME message."""

    subject: str
    text: str
    html: str


def headline(shift: ShiftView) -> str:
    """Return the one-line summary of a shift (labels come from the watchlist, not the news)."""
    line = f"{shift.party} shifted on {shift.demand}: {shift.from_stance} → {shift.to_stance}"
    if shift.correction:
        line = (
            f"Correction: {shift.party} did not shift on {shift.demand} "
            f"({shift.from_stance} → {shift.to_stance} withdrawn)"
        )
    elif shift.confirmed_at is not None:
        line += " (confirmed)"
    return " ".join(line.split())


def confirmation(shift: ShiftView) -> str:
    """Return the line saying a held change is now confirmed, dated from its first evidence
    ("" when it was certain at once)."""
    if shift.confirmed_at is None:
        return ""
    first = f"{shift.at:%Y-%m-%d}" if shift.at else "undated"
    return (
        f"Confirmed on {shift.confirmed_at:%Y-%m-%d}: a possible change held since {first}, "
        f"now confirmed by independent evidence or an analyst; dated from its first evidence "
        f"({first})."
    )


def correction_text(shift: ShiftView) -> str:
    """Return what a correction says: which alert it retracts, why, what holds now."""
    since = f" (dated {shift.at:%Y-%m-%d})" if shift.at else ""
    why = f" Analyst's note: {shift.withdrawn_note}." if shift.withdrawn_note else ""
    return (
        f"An earlier shiftwatch alert said {shift.party} shifted on {shift.demand} from "
        f"{shift.from_stance} to {shift.to_stance}{since}. An analyst's review rejected the "
        f"evidence, so that shift is withdrawn.{why} The position stays as it was before the "
        f"withdrawn evidence."
    )


def evidence_date(evidence: EvidenceView) -> str:
    """Return when a quote was said and published ("said 2022-01-11, published 2022-01-13")."""
    published = _date(evidence)
    if evidence.said_at is None:
        return published
    return f"said {evidence.said_at:%Y-%m-%d}, published {published}"


def slack_link(url: str, label: str) -> str:
    """Return a Slack link to `url` labelled `label`, or just the escaped label."""
    target = safe_url(url)
    text = escape_slack(label.replace("|", "¦")) or "source"
    return f"<{escape_slack(target)}|{text}>" if target else text


def _clip(text: str, limit: int = QUOTE_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _date(evidence: EvidenceView) -> str:
    return f"{evidence.published_at:%Y-%m-%d}" if evidence.published_at else "undated"


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _slack_evidence(label: str, items: Sequence[EvidenceView]) -> list[dict[str, Any]]:
    """Return the section blocks quoting one side of a shift."""
    blocks = []
    for e in items[:EVIDENCE_PER_SIDE]:
        lines = [
            f"*{label}* · {evidence_date(e)}" + (f" · `{e.id}`" if e.id else ""),
            f">{escape_slack(_clip(e.quote))}",
            f"— {escape_slack(e.speaker) or 'unattributed'}, {slack_link(e.url, e.source_title)}",
        ]
        if e.machine_translated:
            lines.append(":warning: _machine-translated: check the original wording_")
        if e.reported:
            lines.append("_reported by the outlet, not the party's own words_")
        if e.basis:
            lines.append(f"_why: {escape_slack(e.basis)}_")
        blocks.append({"type": "section", "text": _mrkdwn("\n".join(lines))})
    if len(items) > EVIDENCE_PER_SIDE:
        more = f"+{len(items) - EVIDENCE_PER_SIDE} more {label.lower()} quotes in the digest"
        blocks.append({"type": "context", "elements": [_mrkdwn(more)]})
    return blocks


def slack_correction_payload(shift: ShiftView, key: str) -> dict[str, Any]:
    """Return the Block Kit webhook body retracting an alerted shift a review withdrew."""
    line = headline(shift)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _plain(line, 150)}},
        {"type": "section", "text": _mrkdwn(escape_slack(correction_text(shift)))},
        {
            "type": "context",
            "elements": [_mrkdwn(f"shiftwatch correction · key `{escape_slack(key)}`")],
        },
    ]
    return {
        "text": escape_slack(line),
        "blocks": blocks,
        "unfurl_links": False,
        "unfurl_media": False,
    }


def slack_alert_payload(shift: ShiftView, key: str) -> dict[str, Any]:
    """Return the Block Kit webhook body announcing one shift (never `link_names`)."""
    if shift.correction:
        return slack_correction_payload(shift, key)
    line = headline(shift)
    facts = [
        ("Party", escape_slack(shift.party)),
        ("Demand", escape_slack(shift.demand)),
        (
            "From → to",
            f"{STANCE_EMOJI.get(shift.from_stance, '')} ~{shift.from_stance}~ → "
            f"{STANCE_EMOJI.get(shift.to_stance, '')} *{shift.to_stance}*",
        ),
        ("Since", f"{shift.at:%Y-%m-%d}" if shift.at else "undated"),
    ]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _plain(line, 150), "emoji": True},
        },
        {"type": "section", "fields": [_mrkdwn(f"*{k}*\n{v}") for k, v in facts]},
    ]
    if shift.confirmed_at is not None:
        blocks.append({"type": "section", "text": _mrkdwn(escape_slack(confirmation(shift)))})
    if shift.possible:
        now = f"Now: {escape_slack(shift.possible)}"
        blocks.append({"type": "context", "elements": [_mrkdwn(now)]})
    if any(e.machine_translated for e in (*shift.before, *shift.after)):
        warn = ":warning: Some evidence comes from machine-translated text: weigh it accordingly."
        blocks.append({"type": "context", "elements": [_mrkdwn(warn)]})
    blocks.append({"type": "divider"})
    blocks += _slack_evidence("Before", shift.before) + _slack_evidence("After", shift.after)
    footer = f"shiftwatch alert · key `{escape_slack(key)}`"
    if shift.id:
        footer += f" · wrong? `shiftwatch review reject {escape_slack(shift.id)}`"
    blocks.append({"type": "context", "elements": [_mrkdwn(footer)]})
    return {
        "text": escape_slack(line),
        "blocks": blocks[:SLACK_MAX_BLOCKS],
        "unfurl_links": False,
        "unfurl_media": False,
    }


def _plain(text: str, limit: int) -> str:
    """Return label text for a plain_text object: no markup characters, within `limit`."""
    clean = " ".join(text.replace("<", "‹").replace(">", "›").split())
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def email_alert(shift: ShiftView, key: str) -> EmailContent:
    """Return the subject, text and HTML of the email announcing one shift."""
    context = {
        "s": shift,
        "key": key,
        "headline": headline(shift),
        "confirmation": confirmation(shift),
        "correction": correction_text(shift) if shift.correction else "",
        "said": evidence_date,
        "safe_url": safe_url,
        "limit": EVIDENCE_PER_SIDE,
        "clip": _clip,
        "mt": any(e.machine_translated for e in (*shift.before, *shift.after)),
    }
    return EmailContent(
        # ASCII arrow: Python folds a long subject around an encoded "→" with a stray space.
        subject=_subject(f"[shiftwatch] {headline(shift).replace('→', '->')}"),
        text=template("alert.txt.j2").render(**context),
        html=template("alert.html.j2").render(**context),
    )


def _subject(text: str) -> str:
    """Return a one-line subject (a header must not carry line breaks)."""
    return " ".join(text.split())[:200]


def digest_slack_payload(data: DigestData) -> dict[str, Any]:
    """Return the digest as a webhook body: the Slack rendering cut into section blocks."""
    title = _plain(f"shiftwatch digest: {data.watchlist}", 150)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title, "emoji": True}}
    ]
    for chunk in _chunks(render_digest(data, "slack"), SLACK_SECTION_CHARS):
        blocks.append({"type": "section", "text": _mrkdwn(chunk)})
    if len(blocks) > SLACK_MAX_BLOCKS:
        blocks = blocks[: SLACK_MAX_BLOCKS - 1]
        blocks.append({"type": "context", "elements": [_mrkdwn("(cut: see the HTML digest)")]})
    return {
        "text": escape_slack(title),
        "blocks": blocks,
        "unfurl_links": False,
        "unfurl_media": False,
    }


def _chunks(text: str, limit: int) -> list[str]:
    """Return `text` cut at paragraph (else line) boundaries into pieces under `limit`."""
    out: list[str] = []
    current = ""
    for para in text.strip().split("\n\n"):
        pieces = [para] if len(para) <= limit else _lines(para, limit)
        for piece in pieces:
            if current and len(current) + 2 + len(piece) > limit:
                out.append(current)
                current = ""
            current = f"{current}\n\n{piece}" if current else piece
    if current:
        out.append(current)
    return out


def _lines(para: str, limit: int) -> list[str]:
    """Return a long paragraph as groups of whole lines under `limit` (long lines are cut)."""
    out: list[str] = []
    current = ""
    for line in para.split("\n"):
        line = line[:limit]
        if current and len(current) + 1 + len(line) > limit:
            out.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    return [*out, current] if current else out


def email_digest(data: DigestData) -> EmailContent:
    """Return the digest as an email: the text and HTML renderings of the same data."""
    window = f"since {data.since:%Y-%m-%d %H:%M} UTC" if data.since else "everything stored"
    return EmailContent(
        subject=_subject(
            f"[shiftwatch] digest: {data.watchlist} ({window}, {len(data.shifts)} shifts)"
        ),
        text=render_digest(data, "text"),
        html=render_digest(data, "html"),
    )


def alert_message(shift: ShiftView, key: str) -> Message:
    """Return a shift's alert in every form a channel sends (Slack blocks, email text + HTML)."""
    email = email_alert(shift, key)
    return Message(
        subject=email.subject,
        text=email.text,
        html=email.html,
        slack=slack_alert_payload(shift, key),
    )


def digest_message(data: DigestData) -> Message:
    """Return the digest in every form a channel sends."""
    email = email_digest(data)
    return Message(
        subject=email.subject, text=email.text, html=email.html, slack=digest_slack_payload(data)
    )
