"""Broken agreement: an adjective next to a noun it does not agree with, in Russian or Ukrainian.

A Russian or Ukrainian writer makes an adjective agree with its noun in gender, number and case
without thinking; a machine translation (or a machine-rewritten copy) that assembles phrases from
another language's word order slips, leaving "тимчасового майданчику" (genitive adjective,
dative noun) where a human writes one case. `find_broken_agreement(text, language)` counts the
adjacent adjective + noun pairs (a space between them, nothing else) that no reading of the two
words makes agree, per 1,000 words, with pymorphy3 and its OpenCorpora-derived dictionaries.

Only pairs the dictionary is sure of are judged: both words known to the dictionary (no guessed
paradigm), every reading of the first word a full adjective (`ADJF`), every reading of the second
a noun, neither indeclinable nor an abbreviation. Left out because they legitimately stand next
to a noun they do not modify: pronominal adjectives (`Apro`: "которую Запад", the relative
pronoun is the object, the noun the subject) and participles (`PRTF`: "обеспечивающих перевод",
the participle governs its own object).

Evidence: at least `MIN_PAIRS` disagreeing pairs and `MIN_RATE` of them per 1,000 words (one slip
is a typo; a human text has none or one). Weight `WEIGHT`: it tips a text with other evidence
and never flags alone (capped at `translation.CAPS["broken_agreement"]`).

Measured on tests/corpus/mt (dev split), rate of disagreeing pairs per 1,000 words:
human ru 0.0 on 11 of 11 texts after the exclusions above (before: 2 texts at 10-12, one
disagreeing pair each); human uk 1 of 4 texts at 12.5 (one pair, a real slip in a human text);
evidence fired on 0 of 15 human ru/uk texts (false-positive rate 0 %). The one machine
translation into Ukrainian of the dev split (a ru→uk aggregator) has no disagreeing pair: good
engines agree adjacent words, so this signal catches cruder pipelines and is weak on recall.
"""

from __future__ import annotations

import functools
import itertools
import re

from shiftwatch.analysis.extract.lemmas import parses
from shiftwatch.records import MTArtifact

LANGUAGES = frozenset({"ru", "uk"})
MIN_PAIRS = 2  # disagreeing pairs in the text, at least
MIN_RATE = 8.0  # disagreeing pairs per 1,000 words, at least
WEIGHT = 0.3
_WORD = re.compile(r"[А-Яа-яЁёІіЇїЄєҐґ'’ʼ]+(?:-[А-Яа-яЁёІіЇїЄєҐґ]+)*")
_CASES = {"gen2": "gent", "acc2": "accs", "loc2": "loct", "voct": "nomn", "gen1": "gent"}
Features = tuple[str | None, str | None, str | None]  # number, gender, case


@functools.lru_cache(maxsize=200_000)
def _readings(word: str, lang: str) -> tuple[tuple[str, Features, bool], ...]:
    """Return each reading of `word` as (part of speech, features, judged-safe): safe when the
    dictionary knows the word and it is neither indeclinable, an abbreviation nor pronominal."""
    out = []
    for parse in parses(word, lang):
        tag = parse.tag
        known = type(parse.methods_stack[0][0]).__name__ == "DictionaryAnalyzer"
        grammemes = str(tag).replace(" ", ",").split(",")
        safe = known and not {"Fixd", "Abbr", "Apro", "Name", "Surn", "Patr"} & set(grammemes)
        out.append((str(tag.POS), _features(tag, grammemes), safe))
    return tuple(out)


def _features(tag: object, grammemes: list[str]) -> Features:
    """Return (number, gender, case) of a reading; a singular Ukrainian adjective carries its
    gender but no number, and a common-gender noun ("ms-f") no gender."""
    case = getattr(tag, "case", None)
    gender = getattr(tag, "gender", None)
    gender = None if gender is None or "ms-f" in (g.lower() for g in grammemes) else str(gender)
    number = getattr(tag, "number", None)
    number = str(number) if number else ("sing" if gender else None)
    return number, gender, _CASES.get(str(case), str(case) if case else None)


def _agree(adjective: Features, noun: Features) -> bool:
    """Return whether an adjective reading and a noun reading agree (unknown values match)."""
    (a_number, a_gender, a_case), (n_number, n_gender, n_case) = adjective, noun
    if a_case != n_case or (a_number and n_number and a_number != n_number):
        return False
    return not (a_number == "sing" and a_gender and n_gender and a_gender != n_gender)


def _judged(first: str, second: str, lang: str) -> bool | None:
    """Return whether an adjacent pair agrees, or None when it is not an adjective + noun pair
    the dictionary is sure of."""
    left, right = _readings(first.lower(), lang), _readings(second.lower(), lang)
    if not left or not right or not all(safe for _, _, safe in (*left, *right)):
        return None
    if any(pos != "ADJF" for pos, _, _ in left) or any(pos != "NOUN" for pos, _, _ in right):
        return None
    return any(_agree(a, n) for _, a, _ in left for _, n, _ in right)


def broken_pairs(text: str, language: str) -> tuple[list[re.Match[str]], int]:
    """Return the first word of each adjacent adjective + noun pair that disagrees, and the
    text's word count."""
    words = list(_WORD.finditer(text))
    found = []
    for first, second in itertools.pairwise(words):
        if text[first.end() : second.start()] != " ":
            continue
        if _judged(first.group(), second.group(), language) is False:
            found.append(first)
    return found, len(text.split())


def find_broken_agreement(text: str, language: str) -> list[MTArtifact]:
    """Return one artifact per disagreeing pair when they are frequent enough (module doc)."""
    if language not in LANGUAGES:
        return []
    found, words = broken_pairs(text, language)
    if len(found) < MIN_PAIRS or 1000 * len(found) / max(words, 1) < MIN_RATE:
        return []
    rate = 1000 * len(found) / max(words, 1)
    return [
        MTArtifact(
            kind="broken_agreement",
            evidence=text[match.start() : _pair_end(text, match)],
            start=match.start(),
            end=_pair_end(text, match),
            weight=WEIGHT,
            detail=f"adjective and noun disagree ({len(found)} pairs, {rate:.1f} per 1,000 words)",
        )
        for match in found
    ]


def _pair_end(text: str, match: re.Match[str]) -> int:
    """Return where the noun after the adjective `match` ends."""
    following = _WORD.search(text, match.end())
    return following.end() if following else match.end()
