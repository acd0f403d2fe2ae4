"""Statements: one quote or claim, however many outlets and languages repeat it.

No embedding model can be had here, so identity rests on what survives translation and
re-quoting. The rule (`statement_key`):

1. **Speaker known, and anchors found** -> a language-independent key from the speaker, the
   watchlist entity ids the caller found in or near the quote, and the numbers and dates
   inside the quote. A quote and its translation ("Legal guarantees of NATO non-expansion are of
   prime significance", "Юридические гарантии нерасширения НАТО имеют первостепенное значение")
   share speaker `ryabkov` and entities `legal-guarantees`, `nato-nonenlargement`: one key.
   Numbers ("1997", "14 states") and dates ("12 January" = "12 января" = "January 12", month
   names from lexicons/months.yaml) tell apart claims that differ in them.
2. **Otherwise a quote fingerprint** (language-specific): the text inside quotation marks of
   any style (« » “ ” „ " ' ‹ › ‘ ’), folded like dedupe's hashing, transliterated by anyascii,
   punctuation dropped, at least `MIN_QUOTE_WORDS` words. The same quote reported by several
   outlets in one language matches whatever the quote marks, spacing or case.
3. Nothing to go on -> `None` (no statement; the observation counts for itself).

Speakers are ids (`ryabkov`) or raw names; both reduce to the transliterated, case-folded last
word, so "Рябков", "Sergei Ryabkov" and the id `ryabkov` agree.

The key is coarse on purpose (only what survives translation): two different remarks by one
speaker about the same entities, with no numbers, share it. Time separates them: given
`published_at`, `statement_key` appends the UTC day (`key@YYYYMMDD`), so the same words said
again another day are another statement, and a stage that counts one unit per statement id
(positions) cannot fold a later restatement into an old one. Echoes published across midnight
then make two units; `group_statements` and `collapse_echoes` avoid that by chaining instead.

`group_statements` turns reports into `Statement`s with an echo count and a first-seen time:
reports sharing a key (without the day), or a quote fingerprint (one outlet names the speaker,
another does not), are one statement while each is published within `WINDOW` of the previous
one; the statement's id is the key with the day it was first seen.

`collapse_echoes` is the positions stage's side: one `StanceObservation` per (statement id,
party, demand, stance) chained within `WINDOW`: echoes count once, a reversal always counts.

Entity ids are the caller's: pass those found inside the quote or its sentence, not the whole
document's, or two outlets' reports of one quote will disagree.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from anyascii import anyascii

from shiftwatch.analysis.dedupe.clustering import normalize_for_hash, tokenize
from shiftwatch.analysis.text.months import month_number
from shiftwatch.records import StanceObservation

MIN_QUOTE_WORDS = 4  # shorter quoted spans ("so-called", "red lines") are not fingerprints
WINDOW = timedelta(hours=72)  # echoes of one statement keep coming for about three days
# Quoted spans by pair; a single-quote span must not be an apostrophe (letters on both sides).
_QUOTED = re.compile(
    r"«(?P<guillemets>[^«»]+)»"
    r"|“(?P<english>[^“”„]+)[”“]"
    r"|„(?P<low>[^„“”]+)[“”]"
    r'|"(?P<straight>[^"]+)"'
    r"|‹(?P<single_guillemets>[^‹›]+)›"
    r"|(?<!\w)‘(?P<single_curly>.+?)’(?!\w)"
    r"|(?<!\w)'(?P<single_straight>.+?)'(?!\w)",
    re.S,
)
_NUMBER = re.compile(r"\d{1,3}(?:[ \u00a0]\d{3})+(?!\d)|\d+(?:[.,]\d+)*")
_THOUSANDS = re.compile(r"[.,\u00a0 ](?=\d{3}(?:\D|$))")


@dataclass(frozen=True, kw_only=True, slots=True)
class StatementReport:
    """One outlet's report of something said: the quote, who said it, what it is about."""

    id: str  # the caller's id, e.g. a stance observation's
    document_id: str
    quote_text: str
    speaker_id: str | None
    entity_ids: frozenset[str] = frozenset()
    published_at: datetime | None = None
    language: str = "und"


@dataclass(frozen=True, kw_only=True, slots=True)
class Statement:
    """A quote or claim with how many documents echo it and when it was first seen."""

    id: str
    key: str
    speaker_id: str | None
    text: str  # the first report's quote
    first_seen: datetime | None
    first_document_id: str
    echo_count: int  # distinct documents
    document_ids: tuple[str, ...]
    report_ids: tuple[str, ...]
    languages: tuple[str, ...]


def statement_key(
    quote_text: str,
    *,
    speaker_id: str | None,
    entity_ids: Collection[str],
    published_at: datetime | None = None,
) -> str | None:
    """Return the id shared by every report of this statement, in any language (rule above).

    With `published_at`, the key ends in the UTC day (`@YYYYMMDD`): the same words said again
    another day are another statement. Pass it when the id is used as is to count once.
    """
    key = _content_key(quote_text, speaker_id=speaker_id, entity_ids=entity_ids)
    if key is None or published_at is None:
        return key
    return f"{key}@{_aware(published_at).astimezone(UTC):%Y%m%d}"


def _content_key(
    quote_text: str, *, speaker_id: str | None, entity_ids: Collection[str]
) -> str | None:
    """Return the statement key without a day: speaker + anchors, else the quote fingerprint."""
    speaker = speaker_token(speaker_id) if speaker_id else ""
    quoted = " ".join(quoted_spans(quote_text)) or quote_text
    anchors = sorted({e for e in entity_ids if e and e != speaker_id} - {speaker})
    figures = numbers_and_dates(quoted)
    if speaker and (anchors or figures):
        return f"{speaker}:{_digest('|'.join(anchors) + '#' + '|'.join(figures))}"
    fingerprint = quote_fingerprint(quote_text)
    if fingerprint is None:
        return None
    return f"{speaker or 'anon'}:q{fingerprint}"


def quoted_spans(text: str) -> list[str]:
    """Return the texts inside quotation marks of any style, in order."""
    spans = []
    for match in _QUOTED.finditer(text):
        span = next(group for group in match.groups() if group is not None).strip()
        if span:
            spans.append(span)
    return spans


def quote_fingerprint(quote_text: str) -> str | None:
    """Return a hash of the quoted words (or of the whole text if unquoted); None if too short."""
    words = _ascii_words(" ".join(quoted_spans(quote_text)) or quote_text)
    if len(words) < MIN_QUOTE_WORDS:
        return None
    return _digest(" ".join(words))


def speaker_token(speaker: str) -> str:
    """Return a speaker id or name as its transliterated, case-folded last word."""
    words = re.findall(r"[a-z0-9]+", anyascii(speaker).casefold())
    return words[-1] if words else ""


def numbers_and_dates(text: str) -> list[str]:
    """Return the numbers and month-day dates in `text`, normalized and sorted."""
    folded = normalize_for_hash(text)
    dates, used = _dates(folded)
    numbers = [
        _THOUSANDS.sub("", match.group()).replace(",", ".")
        for match in _NUMBER.finditer(folded)
        if match.span() not in used
    ]
    return sorted(set(dates) | set(numbers))


def group_statements(
    reports: Iterable[StatementReport], *, window: timedelta = WINDOW
) -> list[Statement]:
    """Return the statements the reports make up, each with its echo count and first sighting."""
    ordered = sorted(reports, key=_when)
    keyed = [(report, _report_keys(report)) for report in ordered]
    chains: list[list[StatementReport]] = []
    latest: dict[str, tuple[int, datetime | None]] = {}  # key -> (chain, last report time)
    for report, keys in keyed:
        if not keys:
            chains.append([report])
            continue
        chain = _open_chain(keys, latest, report.published_at, window)
        if chain is None:
            chain = len(chains)
            chains.append([])
        chains[chain].append(report)
        for key in keys:
            latest[key] = (chain, report.published_at)
    return _statements(chains)


def collapse_echoes(
    observations: Iterable[StanceObservation], *, window: timedelta = WINDOW
) -> list[StanceObservation]:
    """Return one observation per echoed statement, so a quote repeated by ten outlets counts once.

    Observations echo each other when they share `statement_id`, party, demand and stance and
    each is published within `window` of the previous one. The stance is part of it so a
    reversal is never absorbed; the window so the same words said again later count again.
    The one kept is the first published, not machine-translated preferred. Observations
    without a statement id are all kept.
    """
    kept: list[StanceObservation] = []
    latest: dict[tuple[str, str, str, str], tuple[int, datetime | None]] = {}
    for observation in sorted(observations, key=_observation_order):
        if observation.statement_id is None:
            kept.append(observation)
            continue
        group = (
            observation.statement_id,
            observation.party_id,
            observation.demand_id,
            str(observation.stance),
        )
        found = latest.get(group)
        when = observation.published_at
        if found is not None and _within(found[1], when, window):
            latest[group] = (found[0], when or found[1])
            continue
        latest[group] = (len(kept), when)
        kept.append(observation)
    return kept


def _observation_order(observation: StanceObservation) -> tuple[bool, datetime, bool, str, int]:
    """Return a sort key: dated first by time, originals before translations, then stably."""
    when = observation.published_at
    moment = _aware(when) if when else datetime.max.replace(tzinfo=UTC)
    return (when is None, moment, observation.machine_translated, observation.document_id,
            observation.evidence_start)  # fmt: skip


def _within(last: datetime | None, when: datetime | None, window: timedelta) -> bool:
    """Return whether `when` continues a chain last seen at `last` (undated always does)."""
    return when is None or last is None or _aware(when) - _aware(last) <= window


def _report_keys(report: StatementReport) -> list[str]:
    """Return the keys a report can be matched by: its statement key and quote fingerprint."""
    keys = []
    key = _content_key(
        report.quote_text, speaker_id=report.speaker_id, entity_ids=report.entity_ids
    )
    if key is not None:
        keys.append(key)
    fingerprint = quote_fingerprint(report.quote_text)
    if fingerprint is not None and quoted_spans(report.quote_text):
        keys.append(f"quote:{fingerprint}")
    return keys


def _open_chain(
    keys: list[str],
    latest: dict[str, tuple[int, datetime | None]],
    when: datetime | None,
    window: timedelta,
) -> int | None:
    """Return the chain a report with these keys continues, or None to start a new one."""
    for key in keys:
        found = latest.get(key)
        if found is None:
            continue
        chain, last = found
        if _within(last, when, window):
            return chain
    return None


def _statements(chains: list[list[StatementReport]]) -> list[Statement]:
    """Return one `Statement` per chain; repeated keys after a silence get a dated id."""
    statements = []
    for chain in chains:
        first = chain[0]
        key = _chain_key(chain)
        when = first.published_at
        statement_id = key if when is None else f"{key}@{_aware(when).astimezone(UTC):%Y%m%d}"
        documents = tuple(dict.fromkeys(r.document_id for r in chain))
        statements.append(
            Statement(
                id=statement_id,
                key=key,
                speaker_id=next((r.speaker_id for r in chain if r.speaker_id), None),
                text=first.quote_text,
                first_seen=when,
                first_document_id=first.document_id,
                echo_count=len(documents),
                document_ids=documents,
                report_ids=tuple(r.id for r in chain),
                languages=tuple(sorted({r.language for r in chain})),
            )
        )
    return statements


def _chain_key(chain: Sequence[StatementReport]) -> str:
    """Return the statement key of a chain: its first report's key that is not None."""
    for report in chain:
        key = _content_key(
            report.quote_text, speaker_id=report.speaker_id, entity_ids=report.entity_ids
        )
        if key is not None:
            return key
    return f"report:{chain[0].id}"


def _when(report: StatementReport) -> tuple[bool, datetime, str]:
    """Return a sort key: dated reports by time first, undated after, ties by id."""
    moment = (
        _aware(report.published_at) if report.published_at else datetime.max.replace(tzinfo=UTC)
    )
    return (report.published_at is None, moment, report.id)


def _aware(moment: datetime) -> datetime:
    """Return `moment` with UTC assumed when it has no zone."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _ascii_words(text: str) -> list[str]:
    """Return `text`'s words, folded and transliterated (so "ё"/"е", "ї"/"i" cannot differ)."""
    return [anyascii(word) for word in tokenize(text)]


def _digest(text: str) -> str:
    """Return a short stable hash of `text` for ids."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _month(word: str) -> int | None:
    """Return the month a (folded) word names, if any."""
    return month_number(word)


_DAY_MONTH = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\.? (?:of )?([^\W\d_]+)")
_MONTH_DAY = re.compile(r"\b([^\W\d_]+)\.? (\d{1,2})(?:st|nd|rd|th)?\b")


def _dates(folded: str) -> tuple[list[str], set[tuple[int, int]]]:
    """Return "MM-DD" dates in `folded` text and the spans of the day numbers they used."""
    dates, used = [], set()
    for pattern, day_group, month_group in ((_DAY_MONTH, 1, 2), (_MONTH_DAY, 2, 1)):
        for match in pattern.finditer(folded):
            month, day = _month(match.group(month_group)), int(match.group(day_group))
            if month and 1 <= day <= 31 and match.span(day_group) not in used:
                dates.append(f"{month:02d}-{day:02d}")
                used.add(match.span(day_group))
    return dates, used
