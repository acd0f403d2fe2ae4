"""Publication dates: strict parsing of given dates, and datelines found in a text.

Nothing here rolls a date over: "2022-02-30" is refused, not read as 2 March; "-0001-01-01",
a bare number (`published: -1`) or a date with no year is refused, not completed from today.
A date before `EARLIEST_DATE` (no outlet we follow wrote then) or after the fetch time (plus
a day for time zones) is refused as implausible. Callers record refusals.

In text, dates are looked for in the first lines (datelines: "MOSCOW, February 16, 2022 —",
"Москва, 17 февраля 2022 г."), then the title, then the rest of the opening, in the forms
"27 January 2022", "January 27, 2022", "27 января 2022 г.", "27 січня 2022 року",
"27.01.2022" and ISO "2022-01-27". Month names come from `lexicons/months.yaml`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from dateutil import parser as dateparser

from shiftwatch.analysis.text.months import month_number

EARLIEST_DATE = datetime(1990, 1, 1, tzinfo=UTC)  # older "publication" dates are garbage
FUTURE_SLACK = timedelta(days=1)  # a day-precision date ahead of UTC, not a typo for 2099
OPENING_LINES = 5  # datelines sit in the first lines of a text
DATELINE_CHARS = 120  # ... within the first characters of such a line
OPENING_CHARS = 1_500  # where a date "in the first lines" may still be found
MAX_VALUE_CHARS = 200  # a date value longer than this is not a date

_ISO = re.compile(
    r"^\s*(?P<y>[+-]?\d+)-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[T ](?P<H>\d{1,2}):(?P<M>\d{1,2})(?::(?P<S>\d{1,2})(?:[.,]\d+)?)?)?"
    r"\s*(?P<z>Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?\s*$",
    re.I,
)
_YEAR = re.compile(r"(?<![\d.])\d{4}(?!\d)")
_ORDINAL = r"(?:st|nd|rd|th|er|e|-?го|-?е)?"
_WORD = r"([^\W\d_]{3,15})\.?"
_DAY = rf"(?<!\d)(\d{{1,2}}){_ORDINAL}"
_YEAR4 = r"(\d{4})(?!\d)"
_TEXT_DATES = (
    # ISO 2022-01-27
    ("ymd", re.compile(r"(?<![\d-])(\d{4})-(\d{2})-(\d{2})(?!\d)")),
    # 27.01.2022
    ("dmy", re.compile(r"(?<![\d.])(\d{1,2})\.(\d{1,2})\.(\d{4})(?![\d.]\d)")),
    # 27 January 2022, 27 января 2022 г., 27. Januar 2022, 1er mars 2022
    ("d_word_y", re.compile(rf"{_DAY}\.?\s+(?:of\s+|de\s+)?{_WORD},?\s+(?:de\s+)?{_YEAR4}", re.I)),
    # January 27, 2022
    ("word_d_y", re.compile(rf"{_WORD}\s+{_DAY},?\s+{_YEAR4}", re.I)),
)


@dataclass(frozen=True, slots=True)
class DateReading:
    """A date read from a value: `when` (UTC) or why it was refused (`problem`)."""

    when: datetime | None = None
    problem: str | None = None


def plausible(when: datetime, now: datetime) -> bool:
    """Return whether `when` could be a publication time seen at `now`."""
    return EARLIEST_DATE <= when <= now + FUTURE_SLACK


def read_date(value: object, *, now: datetime) -> DateReading:
    """Return the UTC time a given date value names, or why it is refused.

    Accepts datetimes, dates and strings (ISO 8601, RFC 822 and other spellings with a
    four-digit year and a month, including month names of the lexicon). Refuses numbers,
    impossible calendar dates and times, dates without a year and implausible dates.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return DateReading()
    if isinstance(value, datetime):
        parsed: datetime | None = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        if len(value) > MAX_VALUE_CHARS:
            return DateReading(problem="too long to be a date")
        parsed = _parse_string(value)
        if parsed is None:
            return DateReading(problem=f"not a possible date: {value.strip()[:80]!r}")
    else:  # bool, int, float: `published: -1` is not a day of this month
        return DateReading(problem=f"not a date: {value!r}"[:100])
    return _checked(parsed, now, value)


def _checked(parsed: datetime, now: datetime, value: object) -> DateReading:
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:  # year 9999 at -14:00 overflows
        parsed = parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return DateReading(problem=f"not a possible date: {str(value)[:80]!r}")
    if not plausible(parsed, now):
        return DateReading(problem=f"implausible date {parsed:%Y-%m-%d} for a publication")
    return DateReading(when=parsed)


def _parse_string(text: str) -> datetime | None:
    """Return the datetime `text` spells, None when it is impossible or incomplete."""
    iso = _ISO.match(text)
    if iso:
        return _from_iso(iso)
    if re.match(r"^\s*[+-]?\d+\s*-\s*\d", text) or not _YEAR.search(text):
        return None  # a negative or short year, or no year at all
    try:  # RFC 822 and friends; dateutil refuses out-of-range fields rather than rolling them
        first = dateparser.parse(text, default=datetime(2000, 1, 1))
        second = dateparser.parse(text, default=datetime(2001, 2, 2))
    except (ValueError, OverflowError, TypeError):
        found = find_dates(text)  # month names of other languages: "27 января 2022"
        return found[0] if found else None
    if (first.year, first.month, first.day) != (second.year, second.month, second.day):
        return None  # a field came from the default: incomplete
    return first


def _from_iso(match: re.Match[str]) -> datetime | None:
    year = match.group("y")
    if not year.isdigit() or len(year) != 4:
        return None
    fields = [int(match.group(k) or 0) for k in ("m", "d", "H", "M", "S")]
    try:
        when = datetime(int(year), *fields[:2], fields[2], fields[3], min(fields[4], 59))
    except ValueError:
        return None
    if fields[4] > 60:
        return None
    zone = (match.group("z") or "").upper()
    if zone in ("", "Z", "UTC", "GMT"):
        return when.replace(tzinfo=UTC) if zone else when
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 14 or minutes > 59:
        return None
    return when.replace(tzinfo=timezone(sign * timedelta(hours=hours, minutes=minutes)))


def find_dates(text: str) -> list[datetime]:
    """Return the possible calendar dates spelled in `text`, in order of appearance (UTC)."""
    found: list[tuple[int, datetime]] = []
    for form, pattern in _TEXT_DATES:
        for match in pattern.finditer(text):
            when = _text_date(form, match.groups())
            if when is not None:
                found.append((match.start(), when))
    return [when for _, when in sorted(found, key=lambda pair: pair[0])]


def _text_date(form: str, groups: tuple[str, ...]) -> datetime | None:
    if form == "ymd":
        year, month, day = int(groups[0]), int(groups[1]), int(groups[2])
    elif form == "dmy":
        day, month, year = int(groups[0]), int(groups[1]), int(groups[2])
    elif form == "d_word_y":
        day, month_, year = int(groups[0]), month_number(groups[1]), int(groups[2])
        if month_ is None:
            return None
        month = month_
    else:
        month_, day, year = month_number(groups[0]), int(groups[1]), int(groups[2])
        if month_ is None:
            return None
        month = month_
    try:
        return datetime(year, month, day, tzinfo=UTC)
    except ValueError:  # 30 February: refused, never rolled over
        return None


def text_date(title: str | None, text: str, *, now: datetime) -> datetime | None:
    """Return the publication date a text gives itself: a dateline, else a date in the
    title, else one in the opening lines; None when there is none that is plausible."""
    lines = [line for line in text[:OPENING_CHARS].split("\n") if line.strip()][:OPENING_LINES]
    places = [line[:DATELINE_CHARS] for line in lines]
    places += [title or "", "\n".join(lines)]
    for place in places:
        for when in find_dates(place):
            if plausible(when, now):
                return when
    return None
