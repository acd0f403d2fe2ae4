"""Generic cue lexicons: YAML files per language under analysis/lexicons/, compiled once.

A lexicon file is named `<name>.<lang>.yaml` (`speech.en.yaml`, `stance.ru.yaml`). Entries are
phrases in a small syntax shared by every lexicon:

- words separated by spaces match words separated by whitespace or a dash;
- a word ending in `*` matches any continuation of it (inflection: `настаива*` → настаивает);
- `...` stands for up to three arbitrary words (`ready ... to discuss`);
- `!flag` words are not matched; they travel with the entry (`should !speaker`).

Matching ignores case and treats ё as е and typographic apostrophes as `'`; the text is folded
character for character, so offsets stay those of the document. All languages of a lexicon are
merged into one pattern: the scripts and spellings rarely collide, and a sentence whose language
detection failed still finds its cues.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import yaml

from shiftwatch.analysis import LEXICON_DIR
from shiftwatch.errors import ConfigError

LANGUAGES = ("en", "ru", "uk")
_FOLD = str.maketrans({"ё": "е", "Ё": "Е", "’": "'", "ʼ": "'", "‘": "'", "`": "'", "´": "'"})
_WORD_GAP = r"(?:\s+|\s*[-‐‑‒–—]\s*)"
_ANY_WORDS = r"(?:\W+\w+){0,3}?"
_WORD = re.compile(r"\w+")
FORM_CACHE = 50_000  # word forms remembered per phrase set (news repeats its vocabulary)
ANY_OF_MIN = 3  # phrases starting at one word form from which one alternation tries them first
ANY_OF_BLOCK = 8  # phrases per block behind an alternation of their own, when more start there

T = TypeVar("T")


def fold_text(text: str) -> str:
    """Return `text` with ё and apostrophes folded, same length, so offsets carry over."""
    return text.translate(_FOLD)


@functools.cache
def load_lexicon(name: str) -> dict[str, dict[str, Any]]:
    """Return `{lang: data}` for every `name.<lang>.yaml` file (read once per process)."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(LEXICON_DIR.glob(f"{name}.*.yaml")):
        lang = path.name[len(name) + 1 : -len(".yaml")]
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ConfigError(f"lexicon {path} must be a mapping")
        found[lang] = data
    if not found:
        raise ConfigError(f"no lexicon files named {name}.<lang>.yaml under {LEXICON_DIR}")
    return found


def merged_list(name: str, key: str) -> list[str]:
    """Return the phrases listed under `key` in every language of lexicon `name`."""
    out: list[str] = []
    for data in load_lexicon(name).values():
        out.extend(str(item) for item in data.get(key) or ())
    return out


def merged_weighted(name: str, key: str) -> list[tuple[str, float]]:
    """Return `(phrase, weight)` from `key: {weight: [phrases]}` mappings in every language."""
    out: list[tuple[str, float]] = []
    for data in load_lexicon(name).values():
        groups: Mapping[Any, Any] = data.get(key) or {}
        for weight, phrases in groups.items():
            out.extend((str(p), float(weight)) for p in phrases or ())
    return out


def split_flags(phrase: str) -> tuple[str, frozenset[str]]:
    """Return the phrase without its `!flag` words, and those flags."""
    words = phrase.split()
    flags = frozenset(w[1:] for w in words if w.startswith("!") and len(w) > 1)
    return " ".join(w for w in words if not w.startswith("!")), flags


def phrase_pattern(phrase: str) -> str:
    """Return the regex source for one lexicon phrase (see the module docstring)."""
    return "".join(pattern_pieces(phrase))


def pattern_pieces(phrase: str) -> tuple[str, ...]:
    """Return the regex pieces of one lexicon phrase, in order: its head (a lookbehind or
    nothing), each word and each separator, its tail (a lookahead or nothing)."""
    parts: list[str] = []
    for word in phrase.split():
        if word == "...":
            parts.append(_ANY_WORDS)
            continue
        stem = word.endswith("*") and len(word) > 1
        body = fold_text(word.rstrip("*") if stem else word)
        parts.append(re.escape(body) + (r"\w*" if stem else ""))
    suffix_like = re.match(r"n'\w", fold_text(phrase))  # "n't" ends a word: wasn't
    head = r"(?<!\w)" if re.match(r"\w", fold_text(phrase)[:1]) and not suffix_like else ""
    pieces = [head]
    for i, piece in enumerate(parts):
        if i and piece != _ANY_WORDS and parts[i - 1] != _ANY_WORDS:
            pieces.append(_WORD_GAP)
        elif i and parts[i - 1] == _ANY_WORDS:
            pieces.append(r"\W+")
        pieces.append(piece)
    pieces.append(r"(?!\w)" if re.search(r"[\w*]$", phrase) else "")
    return tuple(pieces)


def union_pattern(phrases: Iterable[tuple[str, ...]]) -> str:
    """Return one regex source matching where any of the phrases (as `pattern_pieces`) matches,
    their shared leading pieces written once: "the ... minister" and "the ... spokesman"
    backtrack over "the ..." once, not once per role noun."""
    tree: dict[str | None, Any] = {}
    for pieces in phrases:
        node = tree
        for piece in (*pieces, None):  # None: the phrase ends here
            node = node.setdefault(piece, {})
    return _union_source(tree)


def _union_source(node: dict[str | None, Any]) -> str:
    branches = [
        "" if piece is None else piece + _union_source(rest) for piece, rest in node.items()
    ]
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"


@dataclass(frozen=True, slots=True)
class Hit(Generic[T]):
    start: int
    end: int
    value: T


# The phrases that may start at one word form: one alternation of them all (or None), and the
# phrases themselves in blocks, each with an alternation of its own (or None).
_Block = tuple[re.Pattern[str] | None, tuple[tuple[re.Pattern[str], T], ...]]
_Starts = tuple[re.Pattern[str] | None, tuple[_Block[T], ...]]


class PhraseSet(Generic[T]):
    """Phrases indexed by their first word: a text costs one pass over its words plus a few
    anchored matches per word that starts a phrase (a big alternation would try every phrase at
    every offset). Each hit carries the value of its entry."""

    def __init__(self, entries: Iterable[tuple[str, T]]) -> None:
        unique: dict[str, T] = {}
        for phrase, value in entries:
            if phrase.strip():
                unique.setdefault(phrase.strip(), value)
        self._exact: dict[str, list[tuple[re.Pattern[str], T]]] = {}
        self._stems: dict[str, list[tuple[re.Pattern[str], T]]] = {}
        self._pieces: dict[str, tuple[str, ...]] = {}
        loose: list[tuple[str, T]] = []
        for phrase, value in unique.items():
            first = fold_text(phrase.split()[0]).lower()
            if not re.fullmatch(r"\w+\*?", first) or re.match(r"n'\w", fold_text(phrase)):
                loose.append((phrase, value))
                continue
            pieces = pattern_pieces(phrase)
            compiled = (re.compile("".join(pieces), re.IGNORECASE), value)
            self._pieces[compiled[0].pattern] = pieces
            index = self._stems if first.endswith("*") else self._exact
            index.setdefault(first.rstrip("*"), []).append(compiled)
        self._values: list[T] = [value for _, value in loose]
        alternatives = [f"(?P<p{i}>{phrase_pattern(p)})" for i, (p, _) in enumerate(loose)]
        self._loose = re.compile("|".join(alternatives), re.IGNORECASE) if alternatives else None
        self._stem_lengths = sorted({len(k) for k in self._stems}, reverse=True)
        self._size = len(unique)
        self._by_form: dict[str, _Starts[T]] = {}
        self._alternations: dict[tuple[str, ...], re.Pattern[str]] = {}

    def finditer(self, folded: str, start: int = 0, end: int | None = None) -> Iterator[Hit[T]]:
        """Yield the non-overlapping hits in `folded[start:end]`, leftmost-longest."""
        stop = len(folded) if end is None else end
        found = list(self._word_hits(folded, start, stop))
        if self._loose is not None:
            for match in self._loose.finditer(folded, start, stop):
                group = match.lastgroup or "p0"
                found.append(Hit(match.start(), match.end(), self._values[int(group[1:])]))
        found.sort(key=lambda h: (h.start, -(h.end - h.start)))
        last = -1
        for hit in found:
            if hit.start >= last and hit.end > hit.start:
                last = hit.end
                yield hit

    def _word_hits(self, folded: str, start: int, stop: int) -> Iterator[Hit[T]]:
        """Yield every phrase match that starts at a word of `folded[start:stop]`."""
        for w_start, form in self._starting_words(folded, start, stop):
            any_of, blocks = self._candidates(form)
            if any_of is not None and any_of.match(folded, w_start, stop) is None:
                continue
            best: Hit[T] | None = None
            for block_any, block in blocks:
                if block_any is not None and block_any.match(folded, w_start, stop) is None:
                    continue
                for pattern, value in block:
                    match = pattern.match(folded, w_start, stop)
                    if match and (best is None or match.end() > best.end):
                        best = Hit(match.start(), match.end(), value)
            if best is not None:
                yield best

    def _candidates(self, form: str) -> _Starts[T]:
        """Return the patterns of the phrases that may start at a word `form` (lower case),
        looked up once per form (most forms start none). When they are many, one alternation
        of them all (`union_pattern`) comes first: it fails where each of them fails, in one
        attempt ("the" starts 69 role phrases and almost never one of them); and where it
        matches, the phrases are tried in blocks of `ANY_OF_BLOCK`, each behind its own."""
        found = self._by_form.get(form)
        if found is not None:
            return found
        candidates = list(self._exact.get(form, ()))
        for length in self._stem_lengths:
            if length <= len(form):
                candidates.extend(self._stems.get(form[:length], ()))
        if len(candidates) > ANY_OF_BLOCK:
            parts = [
                candidates[i : i + ANY_OF_BLOCK] for i in range(0, len(candidates), ANY_OF_BLOCK)
            ]
            blocks = tuple((self._any_of(part), tuple(part)) for part in parts)
        else:
            blocks = ((None, tuple(candidates)),) if candidates else ()
        found = (self._any_of(candidates), blocks)
        if len(self._by_form) < FORM_CACHE:
            self._by_form[form] = found
        return found

    def _any_of(self, candidates: list[tuple[re.Pattern[str], T]]) -> re.Pattern[str] | None:
        """Return one alternation of `candidates`' patterns (compiled once per list), or None
        for lists too short to gain from it."""
        if len(candidates) < ANY_OF_MIN:
            return None
        sources = tuple(pattern.pattern for pattern, _ in candidates)
        found = self._alternations.get(sources)
        if found is None:
            union = union_pattern(self._pieces[source] for source in sources)
            found = re.compile(union, re.IGNORECASE)
            self._alternations[sources] = found
        return found

    def _starting_words(self, folded: str, start: int, stop: int) -> Iterator[tuple[int, str]]:
        """Yield (start, lower-case form) of the words of `folded[start:stop]` that may start
        a phrase here, as `_WORD.finditer(folded, start, stop)` finds them (a word cut by the
        range is cut here too). The words inside are picked in one comprehension over the
        text's word list (`_tokens`): a range costs a dictionary probe per word."""
        if stop <= start:
            return
        starts, ends, forms = _tokens(folded)
        first = bisect.bisect_right(ends, start)
        last = bisect.bisect_left(starts, stop)  # words [first, last) begin before `stop`
        if first >= last:
            return
        if starts[first] < start:  # cut at the start (and maybe at the end too)
            form = folded[start : min(ends[first], stop)].lower()
            if self._candidates(form)[1]:
                yield start, form
            first += 1
        tail_cut = first < last and ends[last - 1] > stop
        inner = last - 1 if tail_cut else last
        memo, lookup = self._by_form, self._candidates
        for i in [i for i in range(first, inner) if (memo.get(forms[i]) or lookup(forms[i]))[1]]:
            yield starts[i], forms[i]
        if tail_cut:
            form = folded[starts[last - 1] : stop].lower()
            if self._candidates(form)[1]:
                yield starts[last - 1], form

    def __bool__(self) -> bool:
        return self._size > 0


@functools.lru_cache(maxsize=8)
def _tokens(folded: str) -> tuple[list[int], list[int], list[str]]:
    """Return the starts, ends and lower-case forms of `folded`'s words (a text is scanned by
    a dozen phrase sets, sentence by sentence: it is split into words once; the last few texts
    are kept, so no text outlives the next documents)."""
    starts: list[int] = []
    ends: list[int] = []
    forms: list[str] = []
    for word in _WORD.finditer(folded):
        starts.append(word.start())
        ends.append(word.end())
        forms.append(word.group().lower())
    return starts, ends, forms
