"""Month names per language, from the generic lexicon `lexicons/months.yaml`.

One loader for every reader of dates in text: statements (to tell "12 January" from
"14 January") and documents (datelines such as "27 января 2022 г.").
"""

from __future__ import annotations

from functools import cache

import yaml

from shiftwatch.analysis import LEXICON_DIR

MONTHS_LEXICON = LEXICON_DIR / "months.yaml"
MAX_SUFFIX = 7  # an inflected form is its stem plus at most this many letters


@cache
def month_stems() -> tuple[tuple[str, int], ...]:
    """Return (case-folded stem, month number) pairs from the lexicon, longest stems first."""
    data = yaml.safe_load(MONTHS_LEXICON.read_text(encoding="utf-8"))
    pairs = {
        (stem.casefold(), number)
        for months in data.values()
        for number, alternatives in enumerate(months, start=1)
        for stem in str(alternatives).split("|")
    }
    return tuple(sorted(pairs, key=lambda pair: (-len(pair[0]), pair)))


@cache
def month_number(word: str) -> int | None:
    """Return the month a word names ("января", "January", "Jan."), in any listed language."""
    folded = word.casefold().rstrip(".")
    for stem, number in month_stems():
        if folded.startswith(stem) and len(folded) <= len(stem) + MAX_SUFFIX:
            return number
    return None
