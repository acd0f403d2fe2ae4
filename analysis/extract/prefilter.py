"""A cheap necessary condition in front of a lexicon `PhraseSet`, so most ranges cost one scan.

Cue lexicons are scanned sentence by sentence and paragraph by paragraph, a dozen times per
document, and most scans find nothing: a `PhraseSet` still pays a dictionary probe per word
and, at common first words ("the" starts 69 role phrases), a regex attempt per phrase. Every
hit of a phrase contains the phrase's own longest word, matched case-insensitively as written
(`lexicon.phrase_pattern` escapes each word and adds only separators around it), so when no
such word occurs in a range the set cannot match there and the scan is skipped. The words are
compiled into one prefix-tree regex, which costs a few microseconds per sentence. Results are
those of the `PhraseSet` itself, hit for hit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any, Generic, TypeVar

from shiftwatch.analysis.extract.lexicon import Hit, PhraseSet, fold_text

T = TypeVar("T")
_ANY_WORDS = "..."  # the lexicon syntax for up to three arbitrary words


def required_word(phrase: str) -> tuple[str, bool, bool] | None:
    """Return the longest literal word of a lexicon phrase as its pattern matches it (folded,
    without a stem's `*`) and whether a match of the phrase puts a non-word character (or the
    text's edge) right before and right after it; None when the phrase has no literal word."""
    folded = fold_text(phrase)
    words = phrase.split()
    head = re.match(r"\w", folded[:1]) is not None and re.match(r"n'\w", folded) is None
    tail = re.search(r"[\w*]$", phrase) is not None
    best: tuple[str, bool, bool] | None = None
    for i, word in enumerate(words):
        if word == _ANY_WORDS:
            continue
        stem = word.endswith("*") and len(word) > 1
        body = fold_text(word.rstrip("*") if stem else word)
        if not body or (best is not None and len(body) <= len(best[0])):
            continue
        # Between two words the pattern puts whitespace, a dash or \W+; the phrase's own edges
        # get (?<!\w) / (?!\w) as `lexicon.phrase_pattern` decides; a stem runs on (\w*).
        before = re.match(r"\w", body) is not None and (i > 0 or head)
        after = re.search(r"\w$", body) is not None and not stem and (i < len(words) - 1 or tail)
        best = (body, before, after)
    return best


def _trie(words: Iterable[str], whole: bool) -> dict[str, Any]:
    """Return a prefix tree of `words`; unless `whole`, a word's presence makes any longer word
    it starts redundant, and the tree stops there."""
    root: dict[str, Any] = {}
    for word in sorted(words):
        node = root
        for char in word:
            if "" in node and not whole:
                break
            node = node.setdefault(char, {})
        else:
            if not whole:
                node.clear()
            node[""] = {}
    return root


def _pattern(node: dict[str, Any]) -> str:
    branches = [re.escape(char) + _pattern(child) for char, child in node.items() if char]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if "" in node else body


def word_gate(phrases: Iterable[str]) -> re.Pattern[str] | None:
    """Return a regex that finds, case-insensitively, some phrase's required word (as a whole
    word where the phrase makes it one); None when a phrase has none (nothing can be skipped)."""
    groups: dict[tuple[bool, bool], set[str]] = {}
    for phrase in phrases:
        if not phrase.strip():
            continue
        found = required_word(phrase.strip())
        if found is None:
            return None
        word, before, after = found
        groups.setdefault((before, after), set()).add(word)
    if not groups:
        return None
    alternatives = []
    for (before, after), words in sorted(groups.items()):
        body = _pattern(_trie(words, whole=after))
        alternatives.append(
            (r"(?<!\w)" if before else "") + f"(?:{body})" + (r"(?!\w)" if after else "")
        )
    return re.compile("|".join(alternatives), re.IGNORECASE)


class GatedPhrases(Generic[T]):
    """A `PhraseSet` whose scans are skipped where none of its phrases' words occur."""

    def __init__(self, entries: Iterable[tuple[str, T]]) -> None:
        listed = list(entries)
        self.phrases: PhraseSet[T] = PhraseSet(listed)
        self.gate = word_gate(phrase for phrase, _ in listed)

    def finditer(self, folded: str, start: int = 0, end: int | None = None) -> Iterator[Hit[T]]:
        """Yield what `PhraseSet.finditer` yields for the same range."""
        stop = len(folded) if end is None else end
        if self.gate is not None and self.gate.search(folded, start, stop) is None:
            return iter(())
        return self.phrases.finditer(folded, start, end)

    def __bool__(self) -> bool:
        return bool(self.phrases)
