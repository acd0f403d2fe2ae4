"""Mentions: where a document names a tracked party, actor, demand or venue.

The watchlist is compiled once into a token-level matcher: every alias becomes a sequence
of word patterns (exact, or a stem taking up to `MAX_SUFFIX` more letters when written with
a trailing `*`), indexed by its first token. A document costs one tokenizing pass plus a few
dictionary probes per token, whatever the size of the watchlist.

Matching folds case and ё/е; the text between two alias words must match the alias's
separator up to whitespace and dashes ("NATO-Russia Council" = "NATO Russia Council",
"Россия – НАТО" = "Россия-НАТО") and never crosses sentence punctuation. A one-token alias
of three or fewer capitals ("US") only matches in capitals, so "us" is not the United States.
Overlapping candidates resolve leftmost-longest.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from shiftwatch.analysis.extract.alias_bags import AliasBags
from shiftwatch.analysis.extract.lemmas import LemmaPhrases
from shiftwatch.records import Entity, EntityKind, Mention

MAX_SUFFIX = 3  # letters an inflected ending may add to a `*` stem (Рябков* → Рябковым)
MEMO_FORMS = 200_000  # word forms whose candidate aliases a matcher remembers (a few MB)
_TOKEN = re.compile(r"\w+")
_GAP_DROP = re.compile(r"[\s\-‐‑‒–—―]+")
_GAP_APOSTROPHES = str.maketrans({"’": "'", "ʼ": "'", "‘": "'", "`": "'", "´": "'"})
_GAP_ALLOWED = re.compile(r"^[\s\-‐‑‒–—―'’ʼ‘`´.&/]*$")


# A sentinel entity for stop phrases: matched like any alias, never reported.
_STOP = Entity(kind=EntityKind.PARTY, id="__stop__", name="__stop__")


@dataclass(frozen=True, slots=True)
class _Word:
    form: str  # folded form, or the stem of a `*` word
    stem: bool
    exact_case: str | None  # the original spelling when case must match


@dataclass(frozen=True, slots=True)
class _Alias:
    entity: Entity
    words: tuple[_Word, ...]
    gaps: tuple[str, ...]  # normalized separators between consecutive words
    text: str
    bag: bool = False  # named in other words (alias_bags.py): `text` is the alias


def fold(token: str) -> str:
    """Return the case- and ё-folded form used for matching."""
    return token.lower().replace("ё", "е")


def _normalize_gap(gap: str) -> str:
    return _GAP_DROP.sub("", gap.translate(_GAP_APOSTROPHES))


def _case_sensitive(alias: str) -> bool:
    """Return True for a short all-capitals alias ("US", "ПРО"): it matches only as written,
    never in lower case ("us", "про") and never through lemmas."""
    body = alias.strip().rstrip("*").strip()
    return len(list(_TOKEN.finditer(body))) == 1 and body.isupper() and len(body) <= 3


def _compile_alias(entity: Entity, alias: str) -> _Alias | None:
    alias = alias.strip()
    stem_last = alias.endswith("*")
    body = alias.rstrip("*").strip()
    tokens = list(_TOKEN.finditer(body))
    if not tokens:
        return None
    case_sensitive = _case_sensitive(body)
    words = []
    for i, tok in enumerate(tokens):
        stem = (i == len(tokens) - 1 and stem_last) or body[tok.end() : tok.end() + 1] == "*"
        exact = tok.group() if case_sensitive else None
        words.append(_Word(form=fold(tok.group()), stem=stem, exact_case=exact))
    gaps = tuple(
        _normalize_gap(body[a.end() : b.start()].replace("*", "")) for a, b in pairwise(tokens)
    )
    return _Alias(entity=entity, words=tuple(words), gaps=gaps, text=alias)


class Matcher:
    """A watchlist compiled for one-pass matching; build once, use for every document."""

    def __init__(self, entities: Iterable[Entity], stop_phrases: Iterable[str] = ()) -> None:
        self._exact: dict[str, list[_Alias]] = defaultdict(list)
        self._stems: dict[str, list[_Alias]] = defaultdict(list)
        self._memo: dict[str, tuple[_Alias, ...]] = {}
        self.entities: dict[tuple[EntityKind, str], Entity] = {}
        for entity in entities:
            self.entities[(entity.kind, entity.id)] = entity
            for forms in (*entity.aliases.values(), *entity.opposite.values(), (entity.name,)):
                for form in forms:
                    self._add(_compile_alias(entity, form))
        for phrase in stop_phrases:
            self._add(_compile_alias(_STOP, phrase))
        # Demands are named in running prose, inflected ("недопущения расширения НАТО",
        # "розширенню Альянсу"): their aliases also match on lemmas, word for word.
        self._lemma_aliases = LemmaPhrases(
            (
                (lang, form, entity)
                for entity in self.entities.values()
                if entity.kind == EntityKind.DEMAND
                for lang, forms in entity.aliases.items()
                for form in forms
                if "*" not in form and not _case_sensitive(form)
            ),
            gap=0,
        )
        self._bags = AliasBags(
            (e for e in self.entities.values() if e.kind == EntityKind.DEMAND),
            (e for e in self.entities.values() if e.kind == EntityKind.PARTY),
        )

    def _add(self, alias: _Alias | None) -> None:
        if alias is None:
            return
        first = alias.words[0]
        index = self._stems if first.stem else self._exact
        if alias not in index[first.form]:
            index[first.form].append(alias)

    def _candidates(self, folded: str) -> tuple[_Alias, ...]:
        """Return the aliases that may start at a word of this form, remembered per form: news
        repeats a few thousand forms, and most of them start no alias at all."""
        found = self._memo.get(folded)
        if found is None:
            found = tuple(self._lookup(folded))
            if len(self._memo) < MEMO_FORMS:
                self._memo[folded] = found
        return found

    def _lookup(self, folded: str) -> Iterable[_Alias]:
        yield from self._exact.get(folded, ())
        for cut in range(MAX_SUFFIX + 1):
            if len(folded) - cut < 2:
                break
            yield from self._stems.get(folded[: len(folded) - cut] if cut else folded, ())

    def find(self, document_id: str, text: str, lang: str | None = None) -> list[Mention]:
        """Return the mentions in `text`, leftmost-longest, in order of position; demand
        aliases also match on the lemmas of `lang` (every watchlist language when None)."""
        tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
        folded = [fold(t[2]) for t in tokens]
        found: list[tuple[int, int, _Alias]] = []
        for i, form in enumerate(folded):
            for alias in self._candidates(form):
                end = _match_at(alias, tokens, folded, i, text)
                if end is not None:
                    found.append((tokens[i][0], end, alias))
        if self._lemma_aliases.languages:
            found += self._by_lemma(text, lang or "", found)
        if self._bags.languages:
            found += self._by_bag(text, lang or "", found)
        return [
            Mention(
                document_id=document_id,
                kind=a.entity.kind,
                entity_id=a.entity.id,
                text=text[s:e],
                start=s,
                end=e,
                wording=a.text if a.bag else "",
            )
            for s, e, a in _leftmost_longest(found)
            if a.entity is not _STOP
        ]

    def _by_lemma(
        self, text: str, lang: str, found: Sequence[tuple[int, int, _Alias]]
    ) -> list[tuple[int, int, _Alias]]:
        """Return demand aliases matched on lemmas where no exact match overlaps them."""
        taken = _Occupied((s, e) for s, e, _ in found)
        out = []
        for hit in self._lemma_aliases.finditer(text, lang):
            if not taken.overlaps(hit.start, hit.end):
                out.append(
                    (hit.start, hit.end, _Alias(hit.value, (), (), text[hit.start : hit.end]))
                )
        return out

    def _by_bag(
        self, text: str, lang: str, found: Sequence[tuple[int, int, _Alias]]
    ) -> list[tuple[int, int, _Alias]]:
        """Return demand aliases named in other words (alias_bags.py) where no demand
        mention found so far overlaps them."""
        parties = [(s, e, a.entity.id) for s, e, a in found if a.entity.kind == EntityKind.PARTY]
        demands = _Occupied((s, e) for s, e, a in found if a.entity.kind == EntityKind.DEMAND)
        return [
            (s, e, _Alias(bag.entity, (), (), bag.alias, bag=True))
            for s, e, bag in self._bags.finditer(text, lang, parties)
            if not demands.overlaps(s, e)
        ]


class _Occupied:
    """Character spans already taken, merged, for overlap tests in O(log n): a text that
    repeats an alias 20,000 times must not cost 20,000 x 20,000 comparisons."""

    def __init__(self, spans: Iterable[tuple[int, int]]) -> None:
        merged: list[list[int]] = []
        for start, end in sorted(spans):
            if merged and start < merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self._starts = [m[0] for m in merged]
        self._ends = [m[1] for m in merged]

    def overlaps(self, start: int, end: int) -> bool:
        """Return True when [start, end) shares a character with a taken span."""
        i = bisect.bisect_left(self._starts, end) - 1
        return i >= 0 and self._ends[i] > start


def _word_matches(word: _Word, token: str, folded: str) -> bool:
    if word.exact_case is not None and token != word.exact_case:
        return False
    if word.stem:
        return folded.startswith(word.form) and len(folded) - len(word.form) <= MAX_SUFFIX
    return folded == word.form


def _match_at(
    alias: _Alias, tokens: Sequence[tuple[int, int, str]], folded: Sequence[str], i: int, text: str
) -> int | None:
    """Return the end offset when `alias` matches the tokens starting at index `i`."""
    if i + len(alias.words) > len(tokens):
        return None
    for k, word in enumerate(alias.words):
        start, _end, token = tokens[i + k]
        if not _word_matches(word, token, folded[i + k]):
            return None
        if k:
            gap = text[tokens[i + k - 1][1] : start]
            if not _GAP_ALLOWED.match(gap) or _normalize_gap(gap) != alias.gaps[k - 1]:
                return None
    return tokens[i + len(alias.words) - 1][1]


def _leftmost_longest(found: list[tuple[int, int, _Alias]]) -> list[tuple[int, int, _Alias]]:
    """Keep non-overlapping matches, longest first at each start; equal spans all stay."""
    found.sort(key=lambda f: (f[0], -(f[1] - f[0])))
    kept: list[tuple[int, int, _Alias]] = []
    seen: set[tuple[int, int, EntityKind, str]] = set()
    for start, end, alias in found:
        key = (start, end, alias.entity.kind, alias.entity.id)
        if key in seen:
            continue
        if kept and start < kept[-1][1] and (start, end) != kept[-1][:2]:
            continue
        seen.add(key)
        kept.append((start, end, alias))
    return kept


def compile_matcher(entities: Iterable[Entity], stop_phrases: Iterable[str] = ()) -> Matcher:
    """Return a `Matcher` for `entities` (the watchlist, compiled once per run)."""
    return Matcher(entities, stop_phrases)
