"""Mis-decoded text: repaired with ftfy where it can be, detected where it cannot.

`repair_text` is the one ftfy entry point for the pipeline (the normalize step calls it): it fixes
mojibake such as "dealâ€™s" or unspaced "РєР°РЅР°Р»" and reports each line it re-decoded, but
leaves typography alone (curly quotes, full-width characters, ligatures and HTML entities stay as
the source wrote them; the MT detector reads spacing before ” as evidence).

`find_mojibake` reports what is left: UTF-8 Cyrillic that was read as cp1251 (or cp1252) and then
had spaces inserted ("РєР ° РЅР ° Р »РІ", which was "канал"), which ftfy cannot undo, and any
sequence ftfy's badness heuristic still flags.
"""

from __future__ import annotations

import functools
import re

import ftfy
from ftfy.badness import BADNESS_RE, is_bad

from shiftwatch.records import MTArtifact

KIND = "mojibake"
REPAIRED_WEIGHT = 0.2  # repaired mis-decoding: a sloppy pipeline upstream, weak MT evidence
UNREPAIRED_WEIGHT = 0.3  # mis-decoding still in the text: an unreviewed automatic pipeline
EVIDENCE_CHARS = 80

# ftfy without its typographic clean-ups: only encoding repairs, control characters, line breaks
# and NFC, so offsets move only where something was actually broken.
REPAIR_CONFIG = ftfy.TextFixerConfig(
    unescape_html=False,
    uncurl_quotes=False,
    fix_character_width=False,
    fix_latin_ligatures=False,
    explain=True,
)
_ENCODING_STEPS = frozenset(
    {"encode", "decode", "transcode", "decode_inconsistent_utf8", "restore_byte_a0"}
    | {"replace_lossy_sequences", "fix_c1_controls", "fix_surrogates"}
)
_PLAIN_LINE_RE = re.compile(r"[\x20-\x7e\t]*\n?")


def _tail_class(codec: str) -> str:
    """Return a character class of what bytes 0x80-0xBF (UTF-8 continuation bytes) read as."""
    chars = bytes(range(0x80, 0xC0)).decode(codec, errors="ignore")
    return "[" + re.escape(chars) + "]"


# A UTF-8 Cyrillic letter is D0/D1 + a continuation byte; read as cp1251 that is Р or С followed by
# one of the characters below, read as cp1252/latin-1 it is Ð or Ñ followed by one. Three such
# pairs in a row, spaces allowed between and inside them, never occur in real text.
_PAIR_1251 = "[РС] ?" + _tail_class("cp1251")
_PAIR_1252 = "[ÐÑ] ?" + _tail_class("cp1252")
_SPACED_RE = re.compile(
    f"(?:{_PAIR_1251})(?: ?(?:{_PAIR_1251})){{2,}}|(?:{_PAIR_1252})(?: ?(?:{_PAIR_1252})){{2,}}"
)


def repair_text(text: str) -> tuple[str, list[MTArtifact]]:
    """Return `text` with mojibake repaired, and one artifact per line ftfy re-decoded.

    Artifact offsets point into the text as given; the repaired text may be shorter.
    """
    pieces: list[str] = []
    artifacts: list[MTArtifact] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        if _PLAIN_LINE_RE.fullmatch(line):
            pieces.append(line)
        else:
            fixed, steps = ftfy.fix_and_explain(line, REPAIR_CONFIG)
            pieces.append(fixed)
            if any(step in _ENCODING_STEPS for pair in steps or () for step in pair):
                artifacts.append(_repaired(line, fixed, offset))
        offset += len(line)
    return "".join(pieces), artifacts


def _repaired(line: str, fixed: str, offset: int) -> MTArtifact:
    """Return the artifact for one repaired line: the span that changed, and what it reads."""
    head = 0
    while head < min(len(line), len(fixed)) and line[head] == fixed[head]:
        head += 1
    tail = 0
    while tail < min(len(line), len(fixed)) - head and line[-1 - tail] == fixed[-1 - tail]:
        tail += 1
    start, end = head, max(head + 1, len(line) - tail)
    reading = fixed[head : len(fixed) - tail]
    return MTArtifact(
        kind=KIND,
        evidence=line[start:end][:EVIDENCE_CHARS],
        start=offset + start,
        end=offset + min(end, start + EVIDENCE_CHARS),
        weight=REPAIRED_WEIGHT,
        detail=f"repaired, reads: {reading[:EVIDENCE_CHARS]}",
    )


# Mojibake always holds a lead character followed by what a continuation byte decodes to; text
# without such a pair is not handed to ftfy's (much slower) badness check. Cyrillic pairs must
# come two in a row ("Сі" is a Ukrainian syllable; "РєР°" is not). The expression opens with one
# character class so that the regex engine skips ahead by it: 30 us for 6 kB instead of 400.
_TAIL_1251 = _tail_class("cp1251")
_TAIL_1252 = _tail_class("cp1252")
_HINT_RE = re.compile(
    "[РСÐÑÃÂâÅÄ](?:"
    f"(?<=[РС]) ?{_TAIL_1251}[РС] ?{_TAIL_1251}"
    f"|(?<=[ÐÑ]) ?{_TAIL_1252}[ÐÑ] ?{_TAIL_1252}"
    "|(?<=[ÃÂâÅÄ])[\u0080-\u00bf\u0152-\u0192\u2013-\u20ac])"
)


def find_mojibake(text: str) -> list[MTArtifact]:
    """Return the mis-decoded spans left in `text`, each with its best reading."""
    if text.isascii() or not _HINT_RE.search(text):
        return []
    found = [_unrepairable(match) for match in _SPACED_RE.finditer(text)]
    if is_bad(text):
        taken = [(a.start or 0, a.end or 0) for a in found]
        found.extend(_flagged_by_ftfy(text, taken))
    return sorted(found, key=lambda artifact: artifact.start or 0)


def _unrepairable(match: re.Match[str]) -> MTArtifact:
    """Return the artifact for spaced cp1251/cp1252 mojibake, read with its spaces removed."""
    return MTArtifact(
        kind=KIND,
        evidence=match.group(),
        start=match.start(),
        end=match.end(),
        weight=UNREPAIRED_WEIGHT,
        detail=f"reads: {read_spaced(match.group())}",
    )


@functools.lru_cache(maxsize=256)
def read_spaced(garbled: str) -> str:
    """Return what spaced mojibake most likely said (spaces inside it dropped), or "?"."""
    compact = garbled.replace(" ", "")
    codec = "cp1251" if compact[:1] in "РС" else "cp1252"
    try:
        return compact.encode(codec).decode("utf-8")
    except UnicodeError:
        return "?"


def _flagged_by_ftfy(text: str, taken: list[tuple[int, int]]) -> list[MTArtifact]:
    """Return spans ftfy's badness heuristic flags, outside those already reported."""
    artifacts = []
    for match in BADNESS_RE.finditer(text):
        start, end = _widen(text, match.start(), match.end())
        if any(start < t_end and t_start < end for t_start, t_end in taken):
            continue
        taken.append((start, end))
        fixed = ftfy.fix_text(text[start:end], REPAIR_CONFIG)
        detail = f"reads: {fixed}" if fixed != text[start:end] else "unreadable"
        artifacts.append(
            MTArtifact(
                kind=KIND,
                evidence=text[start:end],
                start=start,
                end=end,
                weight=UNREPAIRED_WEIGHT,
                detail=detail,
            )
        )
    return artifacts


def _widen(text: str, start: int, end: int) -> tuple[int, int]:
    """Return (start, end) widened to whole words, at most `EVIDENCE_CHARS` long."""
    while start > 0 and not text[start - 1].isspace() and end - start < EVIDENCE_CHARS:
        start -= 1
    while end < len(text) and not text[end].isspace() and end - start < EVIDENCE_CHARS:
        end += 1
    return start, end
