"""The position timeline: one row per party x demand, positions over time, shifts marked.

A self-contained SVG made here from plain data (no fonts to download, no CDN, no script):
it goes inline into the HTML digest and, as a data URI, into the Prefect artifact. Each row
shows the position as a tinted band (stance by colour, changing at each shift), every
observation as a dot (a hollow ring when the evidence was machine-translated) and every
shift as a dark tick with its `from -> to` in a tooltip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape, quoteattr

from shiftwatch.views import TimelinePoint, TimelineRow

STANCE_COLOURS = {"supports": "#2e7d32", "opposes": "#c62828", "open": "#e0a800"}
UNKNOWN_COLOUR = "#9e9e9e"
LABEL_W = 250  # px: the party/demand column
ROW_H = 26  # px per row
TOP = 46  # px: legend above the rows
AXIS_H = 34  # px: date axis below the rows
RIGHT_PAD = 16
MAX_TICKS = 8
TICK_STEPS_DAYS = (1, 2, 7, 14, 30, 61, 91, 182, 365)


@dataclass(frozen=True, slots=True)
class _Scale:
    start: datetime
    end: datetime
    x0: float
    x1: float

    def x(self, at: datetime) -> float:
        span = (self.end - self.start).total_seconds()
        return self.x0 + (self.x1 - self.x0) * (at - self.start).total_seconds() / span


def render_timeline(
    rows: Sequence[TimelineRow],
    *,
    window: tuple[datetime | None, datetime] | None = None,
    width: int = 760,
    max_rows: int = 24,
) -> str | None:
    """Return the timeline as an SVG document, or None when nothing is dated (no picture
    beats an empty one). `window` (since, until) is shaded: the span the digest covers."""
    shown = [r for r in rows if r.points or r.shifts][:max_rows]
    if not shown:
        return None
    scale = _scale(shown, window, width)
    height = TOP + ROW_H * len(shown) + AXIS_H
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-family="sans-serif" font-size="12">',
        "<title>Position timeline: parties by demand over time</title>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        *_legend(),
        *_window(scale, window, len(shown)),
        *_grid(scale, len(shown)),
    ]
    for i, row in enumerate(shown):
        parts.extend(_row(row, TOP + i * ROW_H, scale))
    hidden = len([r for r in rows if r.points or r.shifts]) - len(shown)
    if hidden > 0:
        parts.append(_text(8, height - 6, f"+{hidden} more rows not shown", fill="#666"))
    parts.append("</svg>")
    return "\n".join(parts)


def _scale(
    rows: Sequence[TimelineRow], window: tuple[datetime | None, datetime] | None, width: int
) -> _Scale:
    """Return the time scale: every point, shift and the window fit, padded by 5%."""
    times = [p.at for r in rows for p in r.points] + [s.at for r in rows for s in r.shifts]
    if window is not None:
        times.extend(t for t in window if t is not None)
    start, end = min(times), max(times)
    if end - start < timedelta(days=1):
        middle = start + (end - start) / 2
        start, end = middle - timedelta(hours=12), middle + timedelta(hours=12)
    pad = (end - start) * 0.05
    return _Scale(start - pad, end + pad, LABEL_W + 8, width - RIGHT_PAD)


def _legend() -> list[str]:
    """Return the legend: stance colours, the machine-translated ring, the shift mark."""
    out, x = [], 8
    for stance, colour in STANCE_COLOURS.items():
        out.append(f'<rect x="{x}" y="12" width="12" height="12" rx="2" fill="{colour}"/>')
        out.append(_text(x + 16, 22, stance))
        x += 30 + 7 * len(stance)
    out.append(
        f'<circle cx="{x + 6}" cy="18" r="5" fill="#fff" stroke="#555" '
        'stroke-width="2" stroke-dasharray="2 1.5"/>'
    )
    out.append(_text(x + 16, 22, "machine-translated evidence"))
    x += 200
    out.append(f'<path d="M{x + 6} 10 v16" stroke="#111" stroke-width="2.5"/>')
    out.append(_text(x + 14, 22, "shift"))
    return out


def _window(
    scale: _Scale, window: tuple[datetime | None, datetime] | None, nrows: int
) -> list[str]:
    """Return the shaded span this digest covers."""
    if window is None or window[0] is None:
        return []
    x0, x1 = scale.x(window[0]), scale.x(window[1])
    return [
        f'<rect x="{x0:.1f}" y="{TOP - 8}" width="{max(x1 - x0, 1):.1f}" '
        f'height="{ROW_H * nrows + 8}" fill="#e3f2fd"/>',
        _text(x1 - 4, TOP - 11, "this digest", anchor="end", fill="#1565c0", size=10),
    ]


def _grid(scale: _Scale, nrows: int) -> list[str]:
    """Return day ticks (at most MAX_TICKS, midnight UTC) with their dates under the rows."""
    span_days = (scale.end - scale.start).total_seconds() / 86400
    step = next((s for s in TICK_STEPS_DAYS if span_days / s <= MAX_TICKS), 730)
    tick = datetime(scale.start.year, scale.start.month, scale.start.day, tzinfo=UTC)
    bottom = TOP + ROW_H * nrows
    out = [f'<path d="M{scale.x0} {bottom} H{scale.x1}" stroke="#999"/>']
    while tick <= scale.end:
        if tick >= scale.start:
            x = scale.x(tick)
            out.append(f'<path d="M{x:.1f} {TOP - 4} V{bottom + 4}" stroke="#eee"/>')
            out.append(
                _text(
                    x,
                    bottom + 18,
                    tick.strftime("%d %b %Y" if step >= 30 else "%d %b"),
                    anchor="middle",
                    fill="#555",
                    size=11,
                )
            )
        tick += timedelta(days=step)
    return out


def _row(row: TimelineRow, y: int, scale: _Scale) -> list[str]:
    """Return one row: its label, the position band, the shifts and the observations."""
    mid = y + ROW_H / 2
    out = [
        f'<path d="M0 {y + ROW_H} H{scale.x1}" stroke="#f0f0f0"/>',
        f'<text x="8" y="{mid + 4:.1f}"><tspan font-weight="bold">'
        f"{escape(_clip(row.party, 14))}</tspan> · {escape(_clip(row.demand, 30))}</text>",
    ]
    out.extend(_bands(row, mid, scale))
    for shift in sorted(row.shifts, key=lambda s: s.at):
        x = scale.x(shift.at)
        tip = f"{shift.from_stance} → {shift.to_stance}, {shift.at:%Y-%m-%d}"
        out.append(
            f'<path d="M{x:.1f} {y + 3} V{y + ROW_H - 3}" stroke="#111" '
            f'stroke-width="2.5"><title>{escape(tip)}</title></path>'
        )
    for point in sorted(row.points, key=lambda p: p.at):
        out.append(_dot(point, scale.x(point.at), mid))
    return out


def _bands(row: TimelineRow, mid: float, scale: _Scale) -> list[str]:
    """Return the position as tinted segments: from the first evidence, changing at shifts."""
    events = sorted([*(p.at for p in row.points), *(s.at for s in row.shifts)])
    shifts = sorted(row.shifts, key=lambda s: s.at)
    first_points = sorted(row.points, key=lambda p: p.at)
    stance = shifts[0].from_stance if shifts else first_points[0].stance
    edges = [(events[0], stance)] + [(s.at, s.to_stance) for s in shifts]
    out = []
    for i, (start, value) in enumerate(edges):
        stop = edges[i + 1][0] if i + 1 < len(edges) else scale.end
        x0, x1 = scale.x(start), scale.x(stop)
        colour = STANCE_COLOURS.get(value, UNKNOWN_COLOUR)
        out.append(
            f'<rect x="{x0:.1f}" y="{mid - 5:.1f}" width="{max(x1 - x0, 1):.1f}" '
            f'height="10" rx="3" fill="{colour}" fill-opacity="0.25"/>'
        )
    return out


def _dot(point: TimelinePoint, x: float, mid: float) -> str:
    """Return one observation: a filled dot, or a dashed ring for machine-translated text."""
    colour = STANCE_COLOURS.get(point.stance, UNKNOWN_COLOUR)
    tip = escape(
        f"{point.stance}, {point.at:%Y-%m-%d}"
        + (" (machine-translated)" if point.machine_translated else "")
    )
    if point.machine_translated:
        return (
            f'<circle cx="{x:.1f}" cy="{mid:.1f}" r="5" fill="#fff" stroke="{colour}" '
            f'stroke-width="2" stroke-dasharray="2 1.5"><title>{tip}</title></circle>'
        )
    return (
        f'<circle cx="{x:.1f}" cy="{mid:.1f}" r="5" fill="{colour}" stroke="#fff" '
        f'stroke-width="1.5"><title>{tip}</title></circle>'
    )


def _text(
    x: float, y: float, text: str, *, anchor: str = "start", fill: str = "#222", size: int = 12
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor={quoteattr(anchor)} '
        f'fill={quoteattr(fill)} font-size="{size}">{escape(text)}</text>'
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
