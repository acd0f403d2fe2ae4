"""Lemmas: a word's dictionary form, so one cue matches every inflection.

Russian and Ukrainian go through pymorphy3 with its OpenCorpora-derived dictionaries
("приостановила" -> "приостановить", "призупинила" -> "призупинити"); other languages through
simplemma's lookup tables ("suspending" -> "suspend"). A phrase is a sequence of lemmas; it
matches a text when its lemmas occur in order with at most `MAX_GAP` other words between two of
them ("suspend its participation" matches "suspend participation"). Lemmas are cached per
(language, word): news text repeats its vocabulary, so a run pays each word once.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from shiftwatch.analysis.extract.lexicon import Hit

T = TypeVar("T")
MAX_GAP = 2  # other words allowed between two words of a phrase
HEAD = 3  # letters a word shares with its lemma, for the gate (suppletive forms are rare)
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_MORPH_LANGS = ("ru", "uk")
_STOPS = re.compile(r"[.!?;:()\[\]\n]")


@functools.cache
def _morph(lang: str):  # -> pymorphy3.MorphAnalyzer
    import pymorphy3

    return pymorphy3.MorphAnalyzer(lang=lang)


def parses(word: str, lang: str) -> list:  # -> list[pymorphy3 Parse]
    """Return pymorphy3's readings of a Russian or Ukrainian word, best first; none for a
    word it cannot read (a character without a Unicode name makes its shape check raise)."""
    try:
        return _morph(lang).parse(word)
    except (KeyError, ValueError):
        return []


def _parse(word: str, lang: str):  # -> pymorphy3 Parse | None
    found = parses(word, lang)
    return found[0] if found else None


@functools.lru_cache(maxsize=200_000)
def lemma(word: str, lang: str) -> str:
    """Return the dictionary form of one word (lower case); unknown words stay as they are."""
    lower = word.lower().replace("ё", "е").replace("’", "'")
    if lang in _MORPH_LANGS:
        parsed = _parse(lower, lang)
        return parsed.normal_form.replace("ё", "е") if parsed else lower
    import simplemma

    try:
        return simplemma.lemmatize(lower, lang=lang).lower()
    except ValueError:  # a language simplemma has no table for
        return lower


@dataclass(frozen=True, slots=True)
class _Phrase(Generic[T]):
    words: tuple[str, ...]
    value: T


class LemmaPhrases(Generic[T]):
    """Phrases per language, matched on lemmas; build once, scan many sentences."""

    def __init__(self, entries: Iterable[tuple[str, str, T]], gap: int = MAX_GAP) -> None:
        """`entries`: (language, phrase, value); `gap`: other words allowed between two words
        of a phrase (0: contiguous, as for names)."""
        self.gap = gap
        self._by_first: dict[str, dict[str, list[_Phrase[T]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for lang, phrase, value in entries:
            words = tuple(lemma(w, lang) for w in _WORD.findall(phrase))
            if words:
                self._by_first[lang][words[0]].append(_Phrase(words, value))

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self._by_first)

    def finditer(
        self, text: str, lang: str, start: int = 0, end: int | None = None
    ) -> Iterator[Hit[T]]:
        """Yield every phrase of `lang` found in `text[start:end]` (all languages when the
        text's language has no phrases: an undetermined language still gets matched).

        A word is lemmatized only when its first letters could start a phrase (inflection
        changes endings, not beginnings), and a phrase's later words only when reached: most
        words of a text are never looked up."""
        stop = len(text) if end is None else end
        langs = [lang] if lang in self._by_first else list(self._by_first)
        for code in langs:
            index = self._by_first[code]
            heads = self._heads(code)
            words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text, start, stop)]
            for i, (w_start, _, form) in enumerate(words):
                if form[:HEAD].lower().replace("ё", "е") not in heads:
                    continue
                for phrase in index.get(lemma(form, code), ()):
                    last = _match_rest(text, words, i, phrase.words, self.gap, code)
                    if last is not None:
                        yield Hit(w_start, words[last][1], phrase.value)

    @functools.cache  # noqa: B019 (one LemmaPhrases per compiled watchlist, kept for the run)
    def _heads(self, lang: str) -> frozenset[str]:
        """Return the first letters of every phrase's first lemma in `lang`."""
        return frozenset(first[:HEAD] for first in self._by_first[lang])


def _match_rest(
    text: str,
    words: list[tuple[int, int, str]],
    i: int,
    wanted: tuple[str, ...],
    gap: int,
    lang: str,
) -> int | None:
    """Return the index of the phrase's last word when `wanted[1:]` follows word `i`, never
    across sentence or clause punctuation."""
    at = i
    for lem in wanted[1:]:
        nxt = None
        for j in range(at + 1, min(at + 2 + gap, len(words))):
            if _STOPS.search(text, words[j - 1][1], words[j][0]):
                return None
            if lemma(words[j][2], lang) == lem:
                nxt = j
                break
        if nxt is None:
            return None
        at = nxt
    return at


@functools.lru_cache(maxsize=50_000)
def is_noun(word: str, lang: str) -> bool:
    """Return True when a word reads first as a noun: pymorphy3's tag in Russian and
    Ukrainian, a nominal ending (-ion, -ment, -al) elsewhere ("extension", «продлении»)."""
    low = word.lower()
    if lang not in _MORPH_LANGS:
        return low.endswith(("ion", "ions", "ment", "ments", "al", "als"))
    parsed = _parse(low, lang)
    return bool(parsed) and parsed.tag.POS == "NOUN"


@functools.lru_cache(maxsize=50_000)
def is_adjective(word: str, lang: str) -> bool:
    """Return True when a Russian or Ukrainian word reads first as an adjective or participle
    ("новая", "ядерну"); False for other languages, which mark this by word order."""
    if lang not in _MORPH_LANGS:
        return False
    parsed = _parse(word.lower(), lang)
    return bool(parsed) and parsed.tag.POS in ("ADJF", "PRTF")
