"""Normalization: repaired, tidy text whose offsets every later stage shares.

Paragraph breaks are kept (segments are per line); runs of spaces inside a line collapse;
control characters, NULs and zero-width marks go. ftfy repairs mojibake it can prove.
"""

from __future__ import annotations

import re

from shiftwatch.analysis.language.mojibake import repair_text

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200d\u2060\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def normalize_text(text: str, *, repair: bool = True) -> str:
    """Return `text` (mojibake repaired unless done already) with tidy newlines and spaces."""
    if repair:
        text = repair_text(text)[0]
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n")
    text = _CONTROL.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def split_paragraphs(text: str) -> list[tuple[int, int]]:
    """Return the (start, end) offsets of each non-empty line of `text`."""
    spans = []
    pos = 0
    for line in text.split("\n"):
        if line.strip():
            spans.append((pos, pos + len(line)))
        pos += len(line) + 1
    return spans


# A sentence ends at . ! ? … (optionally followed by closing quotes/brackets) before
# whitespace and an opening capital, digit or quote; abbreviations below do not end one.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s+[\"'“‘«(\[]?[\w\d#@])")
_ABBREVIATIONS = frozenset(
    [
        "u.s",
        "u.k",
        "u.n",
        "mr",
        "mrs",
        "ms",
        "dr",
        "st",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "gen",
        "col",
        "lt",
        "sgt",
        "prof",
        "no",
        "vs",
        "etc",
        "inc",
        "corp",
        "co",
        "jr",
        "sr",
        "e.g",
        "i.e",
        "т.е",
        "т.д",
        "т.п",
        "г",
        "им",
        "ул",
        "св",
        "ген",
        "проф",
        "пол",
        "д.м.н",
    ]
)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Return (start, end) offsets of sentences; line breaks always end a sentence."""
    spans: list[tuple[int, int]] = []
    for p_start, p_end in split_paragraphs(text):
        para = text[p_start:p_end]
        start = 0
        for match in _SENTENCE_END.finditer(para):
            if _ends_with_abbreviation(para[start : match.start() + 1]):
                continue
            spans.append((p_start + start, p_start + match.end()))
            start = match.end()
            while start < len(para) and para[start].isspace():
                start += 1
        if start < len(para):
            spans.append((p_start + start, p_end))
    return spans


def _ends_with_abbreviation(chunk: str) -> bool:
    """Return True when the period closing `chunk` belongs to an abbreviation or initial."""
    if not chunk.endswith("."):
        return False
    word = chunk[:-1].rsplit(None, 1)[-1].lstrip("(\"'“«").lower() if chunk[:-1].strip() else ""
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())
