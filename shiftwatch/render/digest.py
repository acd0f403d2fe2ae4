"""The digest: what analysts read — shifts with evidence, positions, documents, pipeline health.

Built from plain data (`DigestData`, filled by a query in `models/`) and rendered from one
set of jinja2 templates per format. Text from the news is escaped for HTML and markdown by
the templates' filters, never trusted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from urllib.parse import quote, urlsplit

import jinja2

from shiftwatch.render.timeline import render_timeline
from shiftwatch.views import DigestData

TEMPLATES = Path(__file__).parent / "templates"
FORMATS = {
    "text": "digest.txt.j2",
    "markdown": "digest.md.j2",
    "html": "digest.html.j2",
    "slack": "digest.slack.j2",  # Slack mrkdwn; analysis/alerts.py wraps it in Block Kit
}


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")


def escape_markdown(text: object) -> str:
    """Return `text` with markdown syntax neutralised (news text must not format a digest)."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


# C0 controls but tab and newline, DEL and C1 (ESC starts terminal escape sequences, CSI is
# one byte in C1, CR overwrites a line): news text must not drive the analyst's terminal.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strip_controls(text: str) -> str:
    """Return `text` without control characters (tab and newline kept)."""
    return _CONTROLS.sub("", text)


_UNSAFE_IN_LINK = re.compile(r"[\s<>|()\"'`\[\]]")


def safe_url(url: object, schemes: tuple[str, ...] = ("http", "https")) -> str:
    """Return `url` fit to be a link target (no javascript: or data: from a feed),
    percent-encoding whatever could end a link in HTML, markdown or Slack; else ""."""
    text = str(url or "").strip()
    if urlsplit(text).scheme.lower() not in schemes:
        return ""
    return _UNSAFE_IN_LINK.sub(lambda m: quote(m.group(0), safe=""), text)


def escape_slack(text: object) -> str:
    """Return `text` safe inside Slack mrkdwn: no mention, link or markup can be injected."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _date(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else "undated"


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md"] = escape_markdown
    env.filters["slack"] = escape_slack
    # The digest may link local files (file://: documents read from a folder); alerts may not.
    env.filters["href"] = lambda url: safe_url(url, ("http", "https", "file"))
    env.filters["date"] = _date
    env.filters["pct"] = lambda v: f"{100 * float(v):.0f}%"
    return env


def template(name: str) -> jinja2.Template:
    """Return a template of analysis/templates (alerts share the digest's filters)."""
    return _environment().get_template(name)


def render_digest(data: DigestData, fmt: str = "text") -> str:
    """Return the digest in `fmt` (text, markdown, html or slack mrkdwn)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown digest format {fmt!r}: use one of {', '.join(FORMATS)}")
    svg = timeline_svg(data) if fmt == "html" else None
    rendered = template(FORMATS[fmt]).render(d=data, stance_mark=STANCE_MARKS, timeline_svg=svg)
    return strip_controls(rendered)


def timeline_svg(data: DigestData) -> str | None:
    """Return the digest's position timeline as inline SVG (None: nothing dated to draw)."""
    chart = data.timeline
    return None if chart is None else render_timeline(list(chart.rows), window=chart.window)


STANCE_MARKS = {"supports": "+", "opposes": "-", "open": "~", "": "."}


def names(pairs: Sequence[tuple[str, int]]) -> str:
    """Return "name (n), name" for a list of (name, count)."""
    return ", ".join(f"{n} ({c})" if c > 1 else n for n, c in pairs)
