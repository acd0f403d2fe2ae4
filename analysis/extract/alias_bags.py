"""Demand aliases read as bags of word families, for watchlists that list a few wordings.

A watchlist names a demand in a few words ("NATO enlargement", «расширение НАТО»); reporters
and negotiators name it in many: "enlargement of NATO", "NATO's further eastward enlargement",
"NATO will not enlarge", "the enlargement of the Alliance", «НАТО не должно расширяться»,
«расширения альянса». Exact and lemma matching (mentions.py) find the first kind; this module
finds the others, from the aliases the watchlist already has:

- each alias word becomes its family: the first `FAMILY` letters of its lemma (so "enlargement"
  and "enlarge", «расширение» and «расширяться» are one family); a `*` stem stays a prefix;
- an alias word that is a tracked party's one-word alias ("NATO") becomes that party, so any
  alias of the party stands for it ("the Alliance", «альянс»);
- function words of the alias are dropped (lexicon `alias_words.<lang>.yaml`, `glue`);
- a text names the alias where all its families occur in one run of words that holds nothing
  else than them and at most `MAX_GLUE` glue words (in Russian and Ukrainian also adjectives
  and participles), in any order, within one clause (no comma or sentence punctuation).

Only aliases of at least two families, one of them not a party, are read this way: a single
word is the exact matcher's. Pure: text and party spans in, hits out.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from shiftwatch.analysis.extract.lemmas import is_adjective, lemma
from shiftwatch.analysis.extract.lexicon import load_lexicon
from shiftwatch.records import Entity

FAMILY = 5  # letters of a lemma that name its word family (enlargement/enlarge: "enlar")
MAX_GLUE = 3  # glue words allowed inside one run
_TOKEN = re.compile(r"\w+")
_BREAK = re.compile(r"[,.!?;:()\[\]\n«»\"“”]")
_NEXT = re.compile(r"[ \t]+(\w+)")
_PARTY = "@"  # prefix of a party key
_STEM = "~"  # prefix of a `*` stem key


@dataclass(frozen=True, slots=True)
class Bag:
    entity: Entity
    keys: frozenset[str]
    alias: str  # the watchlist's wording


@functools.cache
def glue_words(lang: str) -> frozenset[str]:
    """Return the words of `lang` that may stand inside an alias (empty for other languages)."""
    data = load_lexicon("alias_words").get(lang) or {}
    return frozenset(str(w).lower() for w in data.get("glue") or ())


@functools.cache
def _own_family(lang: str) -> tuple[str, ...]:
    data = load_lexicon("alias_words").get(lang) or {}
    return tuple(str(w).lower() for w in data.get("own_family") or ())


@functools.lru_cache(maxsize=200_000)
def family(word: str, lang: str) -> str:
    """Return the family key of one word: the first letters of its lemma (the whole lemma
    for endings that make a family of their own, "membership")."""
    lem = lemma(word, lang)
    if len(lem) <= FAMILY or lem.endswith(_own_family(lang)):
        return lem
    return lem[:FAMILY]


class AliasBags:
    """Demand aliases as family bags, per language; build once per watchlist."""

    def __init__(self, demands: Iterable[Entity], parties: Iterable[Entity]) -> None:
        self._parties: dict[str, dict[str, str]] = defaultdict(dict)  # lang -> word -> party
        for party in parties:
            for lang, forms in party.aliases.items():
                for form in forms:
                    words = _TOKEN.findall(form.rstrip("*"))
                    if len(words) == 1 and not form.endswith("*"):
                        self._parties[lang][words[0].lower()] = party.id
        self._bags: dict[str, list[Bag]] = defaultdict(list)
        self._by_key: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        for demand in demands:
            for lang, forms in demand.aliases.items():
                for form in forms:
                    self._add(lang, demand, form)

    def _add(self, lang: str, demand: Entity, alias: str) -> None:
        keys = self._keys(alias, lang)
        if len(keys) < 2 or all(k.startswith(_PARTY) for k in keys):
            return
        bag = Bag(demand, keys, alias)
        if any(b.entity == demand and b.keys == keys for b in self._bags[lang]):
            return
        self._bags[lang].append(bag)
        for key in keys:
            self._by_key[lang][key].append(len(self._bags[lang]) - 1)

    def _keys(self, alias: str, lang: str) -> frozenset[str]:
        """Return the family keys of one alias (function words dropped)."""
        glue, parties = glue_words(lang), self._parties.get(lang, {})
        keys = set()
        for m in re.finditer(r"\w+\*?", alias):
            word = m.group().lower()
            if word.endswith("*"):
                keys.add(_STEM + word[:-1][:FAMILY])
            elif word in parties:
                keys.add(_PARTY + parties[word])
            elif word not in glue:
                keys.add(family(word, lang))
        return frozenset(keys)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(lang for lang, bags in self._bags.items() if bags)

    @functools.cache  # noqa: B019 (one AliasBags per compiled watchlist, kept for the run)
    def _heads(self, lang: str) -> frozenset[str]:
        return frozenset(k[:3] for k in self._by_key[lang] if not k.startswith(_PARTY))

    def finditer(
        self, text: str, lang: str, parties: Sequence[tuple[int, int, str]]
    ) -> Iterator[tuple[int, int, Bag]]:
        """Yield (start, end, demand) for every bag named in `text`; `parties` are the party
        mentions already found (start, end, party id)."""
        langs = [lang] if lang in self.languages else list(self.languages)
        folded = text.lower().replace("ё", "е")
        for code in langs:
            for lo, hi in self._clauses(folded, code, parties):
                tokens = self._tokens(text, code, parties, lo, hi)
                for run in _runs(text, tokens):
                    for start, end, bag in self._in_run(run, code):
                        if not self._in_compound(text, end, code, parties):
                            yield start, end, bag

    @functools.cache  # noqa: B019 (one AliasBags per compiled watchlist, kept for the run)
    def _head_pattern(self, lang: str) -> re.Pattern[str]:
        heads = sorted(self._heads(lang), key=len, reverse=True)
        return re.compile(r"\b(?:" + "|".join(re.escape(h) for h in heads) + ")")

    def _clauses(
        self, folded: str, lang: str, parties: Sequence[tuple[int, int, str]]
    ) -> list[tuple[int, int]]:
        """Return the clauses worth reading word by word: those holding a word that may start
        an alias word and one more candidate (such a word or a party). Found with one regular
        expression over the text: most clauses of a news text name no demand."""
        cuts = [m.start() for m in _BREAK.finditer(folded)]
        bounds = [-1, *cuts, len(folded)]
        heads: dict[int, int] = defaultdict(int)
        for m in self._head_pattern(lang).finditer(folded):
            heads[bisect.bisect_left(cuts, m.start())] += 1
        if not heads:
            return []
        names: dict[int, int] = defaultdict(int)
        for start, _, _ in parties:
            names[bisect.bisect_left(cuts, start)] += 1
        return [
            (bounds[i] + 1, bounds[i + 1])
            for i, n in sorted(heads.items())
            if n + names.get(i, 0) >= 2
        ]

    def _in_compound(
        self, text: str, end: int, lang: str, parties: Sequence[tuple[int, int, str]]
    ) -> bool:
        """Return True when English-like words read as an alias go on into a longer noun
        ("NATO member states"): a word of its own, then a word that is not glue."""
        data = load_lexicon("alias_words").get(lang) or {}
        if not data.get("compounds") or any(s < end <= e for s, e, _ in parties):
            return False
        nxt = _NEXT.match(text, end)
        if not nxt:
            return False
        word = nxt.group(1).lower()
        if word.endswith(tuple(data.get("verb_endings") or ())):
            return False  # "sanctions imposed against Iran": a participle, no compound
        return word not in glue_words(lang) and word not in (data.get("phrase_ends") or ())

    def _tokens(
        self, text: str, lang: str, parties: Sequence[tuple[int, int, str]], lo: int, hi: int
    ) -> list[tuple[int, int, frozenset[str], bool]]:
        """Return each word with its keys and whether it is glue (only asked, at some cost for
        Russian and Ukrainian adjectives, right after a key or glue word: a run never starts
        with glue)."""
        heads, glue = self._heads(lang), glue_words(lang)
        slavic = lang in ("ru", "uk")
        spans = sorted(parties)
        at = 0  # the first party span that may still hold a word
        out = []
        open_run = False
        for m in _TOKEN.finditer(text, lo, hi):
            start, end = m.span()
            while at < len(spans) and spans[at][1] <= start:
                at += 1
            keys: set[str] = set()
            for s, e, pid in spans[at : at + 3]:
                if s <= start and end <= e:
                    keys.add(_PARTY + pid)
            low = m.group().lower().replace("ё", "е")
            if low[:3] in heads:
                fam = family(low, lang)
                keys.add(fam)
                keys.update(_STEM + fam[:n] for n in range(3, FAMILY + 1))
            is_glue = (
                open_run and not keys and (low in glue or (slavic and is_adjective(low, lang)))
            )
            open_run = bool(keys) or is_glue
            out.append((start, end, frozenset(keys), is_glue))
        return out

    def _in_run(
        self, run: Sequence[tuple[int, int, frozenset[str], bool]], lang: str
    ) -> Iterator[tuple[int, int, Bag]]:
        """Yield the bags whose keys all lie in one run of key and glue words."""
        index, bags = self._by_key[lang], self._bags[lang]
        present = {k for t in run for k in t[2]}
        counts: dict[int, int] = defaultdict(int)
        for key in present:
            for i in index.get(key, ()):
                counts[i] += 1
        for i, n in sorted(counts.items()):  # the first listed alias wins, whatever the hash seed
            bag = bags[i]
            if n == len(bag.keys):
                span = _tightest(run, bag.keys)
                if span is not None:
                    yield span[0], span[1], bag


def _runs(
    text: str, tokens: list[tuple[int, int, frozenset[str], bool]]
) -> Iterator[list[tuple[int, int, frozenset[str], bool]]]:
    """Split the words into runs of key and glue words with at most MAX_GLUE glue words in
    a row, cut at other words and at clause punctuation."""
    run: list[tuple[int, int, frozenset[str], bool]] = []
    glue = 0
    for tok in tokens:
        broken = run and _BREAK.search(text, run[-1][1], tok[0])
        if broken or not (tok[2] or tok[3]) or (tok[3] and glue >= MAX_GLUE):
            if sum(1 for t in run if t[2]) >= 2:
                yield run
            run, glue = [], 0
            if not (tok[2] or tok[3]) or tok[3]:
                continue
        glue = glue + 1 if tok[3] else 0
        run.append(tok)
    if sum(1 for t in run if t[2]) >= 2:
        yield run


def _tightest(
    run: Sequence[tuple[int, int, frozenset[str], bool]], keys: frozenset[str]
) -> tuple[int, int] | None:
    """Return the shortest span of the run that holds every key, with at most MAX_GLUE glue
    words in it."""
    best: tuple[int, int] | None = None
    for i, first in enumerate(run):
        if not first[2] & keys:
            continue
        missing, glue = set(keys), 0
        for tok in itertools.islice(run, i, None):
            glue += tok[3]
            if glue > MAX_GLUE or not (tok[3] or tok[2] & keys):
                break  # too loose, or a word of another alias: not this alias's wording
            missing -= tok[2]
            if not missing:
                span = (first[0], tok[1])
                if best is None or span[1] - span[0] < best[1] - best[0]:
                    best = span
                break
    return best
