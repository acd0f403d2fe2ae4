"""Publication dates: strict parsing of given dates, and datelines found in a text.

Nothing here rolls a date over: "2022-02-30" is refused, not read as 2 March; "-0001-01-01",
a bare number (`published: -1`) or a date with no year is refused, not completed from today.
A date before `EARLIEST_DATE` (no outlet we follow wrote then) or after the fetch time (plus
a day for time zones) is refused as implausible. Callers record refusals.

In text, dates are looked for in the first lines (datelines: "MOSCOW, February 16, 2022 —",
"Москва, 17 февраля 2022 г."), then the title, then the rest of the opening, in the forms
"27 January 2022", "January 27, 2022", "27 января 2022 г.", "27 січня 2022 року",
"27.01.2022" and ISO "2022-01-27". Month names come from `lexicons/months.yaml`.

A statement's own day (`statement_date`) is read from its sentence relative to the document's
day: "said on Tuesday" in an article of Thursday, "yesterday", "вчера", "во вторник",
"у вівторок", "on 17 July", "17 июля". Words come from `lexicons/days.yaml`; vague spans
("last week") date nothing; a day after the document's, or more than `MAX_STATEMENT_AGE`
before it, is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import cache

import yaml
from dateutil import parser as dateparser

from shiftwatch.analysis import LEXICON_DIR
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


DAYS_LEXICON = LEXICON_DIR / "days.yaml"
MAX_STATEMENT_AGE = timedelta(days=31)  # "on 17 July" in a September article: another year
STATEMENT_TIME = time(12, tzinfo=UTC)  # the day is known, not the hour: noon UTC stands in
_QUOTED_TEXT = re.compile(r"«[^«»]*»|“[^“”]*”|„[^„“”]*[“”]|\"[^\"]*\"")
_DAY_WORD = re.compile(
    r"(?<![\w.])(\d{1,2})(?:st|nd|rd|th|-?го|-?е)?\.?\s+(?:of\s+)?([^\W\d_]{3,15})\.?"
    r"(?:,?\s+(\d{4})(?!\d))?",
)
_WORD_DAY = re.compile(
    r"(?<!\w)([^\W\d_]{3,15})\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?![\d.:]\d|\w)"
    r"(?:,?\s+(\d{4})(?!\d))?",
)


@cache
def _day_words() -> tuple[tuple[re.Pattern[str], int | None, int | None], ...]:
    """Return (whole-word pattern, weekday or None, days back or None) from the lexicon."""
    data = yaml.safe_load(DAYS_LEXICON.read_text(encoding="utf-8"))
    out = []
    for words in data.values():
        for weekday, forms in enumerate(words.get("weekdays", ())):
            out.append((_whole(str(forms).split("|")), weekday, None))
        for phrase, back in (words.get("days_back") or {}).items():
            out.append((_whole([str(phrase)]), None, int(back)))
    return tuple(out)


def _whole(forms: list[str]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(f.casefold()).replace(r"\ ", r"\s+") for f in forms)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.I)


def statement_date(sentence: str, published_at: datetime | None) -> datetime | None:
    """Return the day (noon UTC) a sentence says its statement was made, when that is before
    its document's day and within `MAX_STATEMENT_AGE`; None when the text gives no day, only
    the document's own day, or a day that cannot be (later than the document, too old)."""
    if published_at is None:
        return None
    day = _utc(published_at).date()
    outside_quotes = _QUOTED_TEXT.sub(lambda m: " " * len(m.group()), sentence)
    for said in said_days(outside_quotes, day):
        if said == day:
            return None  # dated as its document already
        if day - MAX_STATEMENT_AGE <= said < day:
            return datetime.combine(said, STATEMENT_TIME)
    return None


def said_days(text: str, day: date) -> list[date]:
    """Return the days `text` names relative to `day` (weekdays, "yesterday", day and month),
    in order of appearance; a weekday is the latest one on or before `day`."""
    found: list[tuple[int, date]] = []
    folded = text.casefold()
    for pattern, weekday, back in _day_words():
        for match in pattern.finditer(folded):
            if weekday is not None:
                back = (day.weekday() - weekday) % 7
            found.append((match.start(), day - timedelta(days=back or 0)))
    found += _day_months(text, day)
    return [when for _, when in sorted(found, key=lambda pair: pair[0])]


def _day_months(text: str, day: date) -> list[tuple[int, date]]:
    """Return (position, date) of "17 July", "July 17", "17 июля" (year: the latest not after
    `day`, unless the text gives one)."""
    out = []
    for pattern, day_group, month_group in ((_DAY_WORD, 1, 2), (_WORD_DAY, 2, 1)):
        for match in pattern.finditer(text):
            month = _month_word(match.group(month_group))
            if month is None:
                continue
            when = _resolve(int(match.group(day_group)), month, match.group(3), day)
            if when is not None:
                out.append((match.start(), when))
    return out


def _month_word(word: str) -> int | None:
    """Return the month a word names; a Latin-script word must begin a month's name ("Sept",
    "July"), so "marked 5" or "Junior 2" is no date."""
    number = month_number(word)
    if number is None or not word.isascii():
        return number
    full = date(2000, number, 1).strftime("%B").casefold()
    return number if full.startswith(word.casefold().rstrip(".")) else None


def _resolve(day_of_month: int, month: int, year: str | None, day: date) -> date | None:
    """Return the date of a day and month: in the given year, else the latest not after `day`."""
    years = [int(year)] if year else [day.year, day.year - 1]
    for candidate in years:
        try:
            when = date(candidate, month, day_of_month)
        except ValueError:
            continue
        if year or when <= day:
            return when
    return None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
