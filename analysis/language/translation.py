"""Evidence that a text is a machine translation, and a score from that evidence.

`find_mt_artifacts(text, language=...)` reports each piece of evidence with its span:

- ``disclaimer``: the page says so ("automatically translated … by Google Translate", "Переклад …
  автоматично здійснено", "avtomatik olaraq … tərcümə"...), in any language
  (lexicons/disclaimers.yaml), or a notice by meaning (lexicons/mt_notices.yaml): a
  machine-translation term, or a machine word near a translation word ("Übersetzung wurde
  maschinell erstellt"), in an edge line that refers to the text;
- ``mojibake``: mis-decoded text left in (analysis/mojibake.py);
- ``calque``: an idiom rendered word for word ("reinforced concrete … guarantees" for
  железобетонные гарантии), from one data file per source language (lexicons/mt/<lang>.yaml),
  looked up by the text's own language;
- ``name_variants``: one person spelled two ways (Charap/Sharap), or a watchlist name spelled in a
  way no alias has, compared after a transliteration-aware key (sh/ch/tch, y/i, kh/h... folded);
- ``untranslated_fragment``: a few words of another script left inside target-language prose
  (quoted, bracketed, glossed, hashtagged or capitalised runs, and whole lines in another
  language, are legitimate and skipped); in Ukrainian, words with Russian-only letters;
- ``punctuation_spacing``: a space before , . ; : ! ? ” » as MT engines leave it;
- ``profile``, ``mixed_script``, ``acronym_variants``, ``source_typography``, ``mixed_quotes``,
  ``quote_styles``, ``glued_sentences``, ``broken_agreement``: translationese without a notice
  (analysis/language/translationese.py): function words and punctuation off the language's news
  norm, Latin and Cyrillic letters in one word, one acronym in two letter orders, a source
  language's typography (dialogue dashes, guillemets, a Russian agency dateline, a Japanese
  equals-sign gloss; a speech tag after a dash in other Latin-script languages), quotations in
  two styles, sentences joined without a space, adjectives that agree with no noun.

Score. Each artifact has a weight w in (0, 1). Repeats of the same evidence text count once.
Within a kind k the distinct weights combine by noisy-OR and are capped, so that no amount of
weak evidence of one kind (stray spaces, say) convicts a text alone; the kinds combine by
noisy-OR again:

    s_k   = min(CAP_k, 1 - prod_{distinct e in k} (1 - w_e))
    score = 1 - prod_k (1 - s_k)

Weights: disclaimer 0.9 (0.5 when buried in a long paragraph), calque 0.2-0.45 per lexicon entry,
untranslated_fragment 0.3, mojibake 0.3, name_variants 0.25 (two spellings in the text) or 0.12
(one spelling unlike every watchlist alias, English only), punctuation_spacing 0.08 each. Caps:
disclaimer 0.95, calque 0.85, untranslated_fragment 0.6, mojibake 0.3, name_variants 0.25,
punctuation_spacing 0.25; profile 0.2 (0.25 far off the norm, cap 0.25), mixed_script 0.4 (cap
0.45), acronym_variants 0.3, source_typography 0.35 (cap 0.4), broken_agreement 0.3 per pair (cap
0.45), mixed_quotes 0.4 (cap 0.45), quote_styles 0.3, glued_sentences 0.15 per join from two
(cap 0.3). Any two of the translationese kinds that never fired on the human dev pages
(bench/results.md) reach 0.5 together; none does alone.

A text is flagged (`MTResult.flagged`) when score >= MT_THRESHOLD (0.5): one disclaimer does it;
one calque never does alone, two distinctive ones do, and so does a calque with evidence of
another kind. The weak kinds (spacing, name spellings, mojibake: careless humans and broken
pipelines produce them too) stay below 0.5 two by two (at most 0.475) and need a third kind.
Everything is data-driven (lexicons/*.yaml) and loaded once per process.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ahocorasick
import yaml
from anyascii import anyascii

from shiftwatch.analysis import LEXICON_DIR
from shiftwatch.analysis.language.mojibake import find_mojibake
from shiftwatch.analysis.language.translationese import find_translationese
from shiftwatch.records import MTArtifact, Segment

MT_THRESHOLD = 0.5

# kind -> cap on its combined weight
CAPS: dict[str, float] = {
    "disclaimer": 0.95,
    "calque": 0.85,
    "untranslated_fragment": 0.6,
    "mojibake": 0.3,
    "name_variants": 0.25,
    "punctuation_spacing": 0.25,
    "profile": 0.25,
    "mixed_script": 0.45,
    "acronym_variants": 0.3,
    "source_typography": 0.4,
    "broken_agreement": 0.45,
    "mixed_quotes": 0.45,
    "glued_sentences": 0.3,
    "quote_styles": 0.3,
}
DISCLAIMER_WEIGHT = 0.9  # a notice on a line of its own (at most DISCLAIMER_LINE characters)
EMBEDDED_DISCLAIMER_WEIGHT = 0.5  # the same words inside a long paragraph
DISCLAIMER_LINE = 400
EDGE_LINES = 3  # lines at the top and at the bottom where a notice stands
NOTICE_WORDS = 8  # a line this short, unpunctuated, with a machine-translation term is a notice
CALQUE_WEIGHT = 0.35  # default for lexicon entries without a weight (at most 0.45 each)
FRAGMENT_WEIGHT = 0.3
SPACING_WEIGHT = 0.08
NAME_PAIR_WEIGHT = 0.25  # two spellings of one name in the document
NAME_OFF_WATCHLIST_WEIGHT = 0.12  # one spelling, unlike every watchlist alias
MIN_NAME_KEY = 5  # names shorter than this (after folding) are not compared

_LATIN_TARGETS = frozenset(  # languages written in Latin script, where Cyrillic words stand out
    "en de fr it es pt nl sv no da fi pl cs sk sl hr ro hu tr az lt lv et ga".split()  # noqa: SIM905
)


@dataclass(frozen=True, kw_only=True, slots=True)
class MTResult:
    """What `find_mt_artifacts` found: a score 0..1 and the evidence behind it."""

    score: float
    artifacts: tuple[MTArtifact, ...]

    @property
    def flagged(self) -> bool:
        """Return whether the evidence reaches `MT_THRESHOLD`."""
        return self.score >= MT_THRESHOLD

    @property
    def kinds(self) -> frozenset[str]:
        """Return the kinds of evidence found."""
        return frozenset(artifact.kind for artifact in self.artifacts)


def find_mt_artifacts(
    text: str,
    *,
    language: str,
    segments: Sequence[Segment] = (),
    names: Collection[str] = (),
) -> MTResult:
    """Return the machine-translation evidence in `text` (written in `language`) and its score."""
    foreign = _ForeignSpans(segments, language)
    lowered = lower_in_place(text)
    mojibake = find_mojibake(text)
    artifacts = [
        *find_disclaimers(text, lowered),
        *find_notices(text, lowered),
        *mojibake,
        *find_calques(text, language, foreign, lowered),
        *find_name_variants(text, names, language=language, foreign=foreign),
        *find_untranslated(text, language, foreign, mojibake),
        *find_spacing(text, language, foreign),
        *find_translationese(text, language, foreign.covers),
    ]
    artifacts.sort(key=lambda artifact: (artifact.start or 0, artifact.kind))
    return MTResult(score=score_artifacts(artifacts), artifacts=tuple(artifacts))


def score_artifacts(artifacts: Sequence[MTArtifact]) -> float:
    """Return the documented score: capped noisy-OR per kind, then noisy-OR across kinds."""
    seen: set[tuple[str, str]] = set()
    misses: dict[str, float] = {}
    for artifact in artifacts:
        key = (artifact.kind, artifact.evidence.casefold())
        if key in seen:
            continue
        seen.add(key)
        misses[artifact.kind] = misses.get(artifact.kind, 1.0) * (1.0 - artifact.weight)
    remaining = 1.0
    for kind, miss in misses.items():
        remaining *= 1.0 - min(CAPS.get(kind, 0.5), 1.0 - miss)
    return round(1.0 - remaining, 4)


_LENGTH_CHANGING = {ord("İ"): "I"}  # the one character whose lower() is two characters


def lower_in_place(text: str) -> str:
    """Return `text` lowercased with every offset unchanged (İ becomes i, not i + dot)."""
    lowered = text.lower()
    return lowered if len(lowered) == len(text) else text.translate(_LENGTH_CHANGING).lower()


class _ForeignSpans:
    """Segments in a language other than the text's: whole lines legitimately quoted."""

    def __init__(self, segments: Sequence[Segment], language: str) -> None:
        spans = sorted((s.start, s.end) for s in segments if s.lang not in (language, "und"))
        self._starts = [start for start, _ in spans]
        self._spans = spans

    def covers(self, start: int, end: int) -> bool:
        """Return whether [start, end) lies inside a foreign-language segment."""
        index = bisect.bisect_right(self._starts, start) - 1
        return index >= 0 and self._spans[index][1] >= end


# --- disclaimers ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Disclaimers:
    stems: re.Pattern[str]
    pattern: re.Pattern[str]


@functools.cache
def _disclaimers() -> _Disclaimers:
    """Return the disclaimer patterns of every language, compiled into one expression."""
    data = _load_yaml(LEXICON_DIR / "disclaimers.yaml")
    stems = re.compile("|".join(re.escape(stem.lower()) for stem in data["stems"]))
    patterns = [
        f"(?P<{lang}_{index}>{pattern})"
        for lang, entries in data["patterns"].items()
        for index, pattern in enumerate(entries)
    ]
    flags = re.IGNORECASE | re.MULTILINE
    return _Disclaimers(stems=stems, pattern=re.compile("|".join(patterns), flags))


def find_disclaimers(text: str, lowered: str | None = None) -> Iterator[MTArtifact]:
    """Yield each notice that the text was machine-translated, with its whole line."""
    table = _disclaimers()
    lines = set()
    for hit in table.stems.finditer(lowered or lower_in_place(text)):  # case-blind: 6x slower
        end = text.find("\n", hit.end())
        lines.add((text.rfind("\n", 0, hit.start()) + 1, len(text) if end == -1 else end))
    for line_start, line_end in sorted(lines):
        match = table.pattern.search(text, line_start, line_end)  # the long alternation: rare
        if match:
            yield _disclaimer(text, match)


@dataclass(frozen=True, slots=True)
class _Notices:
    terms: tuple[str, ...]
    self_refs: tuple[str, ...]
    human: tuple[str, ...]
    pair: re.Pattern[str]  # a machine word near a translation word, either order

    def names_mt(self, line: str) -> bool:
        """Return whether a lower-cased line names machine translation."""
        return any(term in line for term in self.terms) or self.pair.search(line) is not None


NOTICE_PAIR_REACH = 60  # characters between a machine word and a translation word


@functools.cache
def _notices() -> _Notices:
    """Return the meaning-based notice lexicon (lexicons/mt_notices.yaml), every language."""
    data = _load_yaml(LEXICON_DIR / "mt_notices.yaml")

    def merged(key: str) -> tuple[str, ...]:
        return tuple(sorted({str(p).lower() for ps in data[key].values() for p in ps}))

    machine = "|".join(map(re.escape, merged("machine")))
    translation = "|".join(map(re.escape, merged("translation")))
    reach = f".{{0,{NOTICE_PAIR_REACH}}}?"
    pair = re.compile(
        f"(?:{machine}){reach}(?:{translation})|(?:{translation}){reach}(?:{machine})"
    )
    return _Notices(
        terms=merged("terms"), self_refs=merged("self_refs"), human=merged("human"), pair=pair
    )


def find_notices(text: str, lowered: str | None = None) -> Iterator[MTArtifact]:
    """Yield a machine-translation notice however it is worded: a term of the lexicon in one
    of the first or last `EDGE_LINES` lines, in a line that refers to this text or is short
    enough to be a notice on its own, not crediting a human translator. Nothing when two
    different lines name machine translation: it is the text's topic, not a notice.
    Lines the exact patterns (`find_disclaimers`) already caught are left to them."""
    table = _notices()
    lowered = lowered or lower_in_place(text)
    if not table.names_mt(lowered):
        return
    lines = [(m.start(), m.end()) for m in re.finditer(r"[^\n]*\S[^\n]*", text)]
    edges = lines[:EDGE_LINES] + lines[max(EDGE_LINES, len(lines) - EDGE_LINES) :]
    with_term = {lowered[a:b].strip() for a, b in lines if table.names_mt(lowered[a:b])}
    if len(with_term) > 1:
        return  # machine translation is what the text is about, not how it was made
    known = {(a.start, a.end) for a in find_disclaimers(text, lowered)}
    for start, end in edges:
        line = lowered[start:end]
        if not table.names_mt(line) or any(h in line for h in table.human):
            continue
        if (_notice_form(line) or any(ref in line for ref in table.self_refs)) and (
            start,
            end,
        ) not in known:
            yield MTArtifact(
                kind="disclaimer",
                evidence=text[start:end].strip(),
                start=start,
                end=end,
                weight=DISCLAIMER_WEIGHT
                if end - start <= DISCLAIMER_LINE
                else EMBEDDED_DISCLAIMER_WEIGHT,
                detail="notice by meaning",
            )


def _notice_form(line: str) -> bool:
    """Return True when a line is shaped like a notice rather than a sentence about machine
    translation: bracketed ("(Automatic translation from Chinese)"), or a few words with no
    closing full stop ("Machine translation: DeepL")."""
    text = line.strip()
    bracketed = text[:1] in "([" and text[-1:] in ")]"
    return bracketed or (len(text.split()) <= NOTICE_WORDS and not text.endswith("."))


def _disclaimer(text: str, match: re.Match[str]) -> MTArtifact:
    """Return the artifact for one notice: its whole line when the line is short."""
    start, end = _line_bounds(text, match.start(), match.end())
    own_line = end - start <= DISCLAIMER_LINE
    if not own_line:
        start, end = match.start(), match.end()
    return MTArtifact(
        kind="disclaimer",
        evidence=text[start:end],
        start=start,
        end=end,
        weight=DISCLAIMER_WEIGHT if own_line else EMBEDDED_DISCLAIMER_WEIGHT,
        detail=f"notice in {(match.lastgroup or 'und').split('_')[0]}",
    )


def _line_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """Return the bounds of the line(s) holding [start, end), without surrounding space."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end == -1 else line_end
    while line_start < line_end and text[line_start].isspace():
        line_start += 1
    while line_end > line_start and text[line_end - 1].isspace():
        line_end -= 1
    return line_start, line_end


# --- calques -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Calque:
    pattern: re.Pattern[str]
    anchors: tuple[tuple[str, ...], ...]  # see `anchors_of`: most patterns are never run
    weight: float
    detail: str


# A rendering's words may be split by spaces, hyphens or line breaks; "…" bridges up to three
# other words within a sentence.
_SPACE = r"[\s\-]+"
_GAP = r"[^\w.!?]+(?:[\w'’\-]+[^\w.!?]+){0,3}?"
_TOKEN_RE = re.compile(r"\s*(?:…|\.\.\.)\s*|\s+|[()|?*']|[^\s()|?*'…]+")


def compile_rendering(rendering: str) -> re.Pattern[str]:
    """Return the expression for one rendering in the lexicon syntax (see lexicons/mt/ru.yaml)."""
    parts = []
    for token in _TOKEN_RE.findall(rendering):
        if token.strip() in ("…", "..."):
            parts.append(_GAP)
        elif token.isspace():
            parts.append(_SPACE)
        elif token == "(":
            parts.append("(?:")
        elif token in (")", "|", "?"):
            parts.append(token)
        elif token == "*":
            parts.append(r"\w*")
        elif token == "'":
            parts.append("['’]")
        else:
            parts.append(re.escape(token))
    return re.compile(r"(?<!\w)" + "".join(parts) + r"(?!\w)", re.IGNORECASE)


def anchors_of(rendering: str) -> tuple[tuple[str, ...], ...]:
    """Return what every match contains: per required part, the words one of which must occur.

    A plain word (or the stem before `*`) gives a one-word set; a required group "(a|b)" gives
    the longest word of each alternative; optional groups give nothing. A document lacking a set
    is not searched: a case-insensitive regex scan costs about 20 ns a character, a substring
    test almost nothing. Raises ValueError for a rendering without any, which would be run over
    every document.
    """
    sets: list[tuple[str, ...]] = []
    tokens = _ANCHOR_TOKEN_RE.findall(rendering)
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token == "(":
            close = _closing(tokens, index)
            optional = close + 1 < len(tokens) and tokens[close + 1] == "?"
            choices = _group_words(tokens[index + 1 : close])
            if not optional and choices:
                sets.append(choices)
            index = close + 1
            continue
        stem = token.removesuffix("*")
        if re.fullmatch(r"\w+", stem):
            sets.append((stem.lower(),))
        index += 1
    if not sets:
        raise ValueError(f"calque rendering {rendering!r} has no word every match must contain")
    return tuple(sorted(set(sets), key=lambda choice: -min(map(len, choice))))


_ANCHOR_TOKEN_RE = re.compile(r"[()?|]|[^\s()?|\-']+")


def _closing(tokens: list[str], index: int) -> int:
    """Return the index of the bracket closing the one at `index`."""
    depth = 0
    for position in range(index, len(tokens)):
        depth += {"(": 1, ")": -1}.get(tokens[position], 0)
        if depth == 0:
            return position
    raise ValueError("unbalanced brackets in a calque rendering")


def _group_words(tokens: list[str]) -> tuple[str, ...]:
    """Return the longest plain word of each alternative in a group, or () if one has none."""
    choices: list[str] = []
    alternative: list[str] = []
    for token in [*tokens, "|"]:
        if token != "|":
            alternative.append(token)
            continue
        words = [t.removesuffix("*").lower() for t in alternative if re.fullmatch(r"\w+\*?", t)]
        if not words or "(" in alternative:
            return ()
        choices.append(max(words, key=len))
        alternative = []
    return tuple(choices)


@functools.cache
def _lexicons() -> tuple[dict[str, Any], ...]:
    """Return every source-language calque lexicon, read once per process."""
    return tuple(_load_yaml(path) for path in sorted((LEXICON_DIR / "mt").glob("*.yaml")))


@dataclass(frozen=True, slots=True)
class _CalqueIndex:
    """The renderings into one language, indexed by anchor word for a one-pass prefilter."""

    calques: tuple[_Calque, ...]
    automaton: Any  # ahocorasick.Automaton over the index words (None: no index words)
    by_word: dict[str, tuple[int, ...]]  # index word -> calques whose best anchor set holds it
    always: tuple[int, ...]  # calques without an anchor set of long words: always checked

    def candidates(self, lowered: str) -> list[int]:
        """Return the calques whose index word occurs in `lowered` (plus the unindexed ones)."""
        chosen = set(self.always)
        if self.automaton is not None:
            for _, word in self.automaton.iter(lowered):
                chosen.update(self.by_word[word])
        return sorted(chosen)


INDEX_WORD = 4  # anchor words shorter than this ("the", "in") occur everywhere: not indexed


@functools.cache
def _calques(language: str) -> _CalqueIndex:
    """Return the compiled renderings into `language` from every source-language lexicon."""
    calques = []
    for data in _lexicons():
        source = data["language"]
        for entry in data["entries"]:
            detail = f"{source}: {entry['source']} ({entry['meaning']})"
            weight = float(entry.get("weight", CALQUE_WEIGHT))
            for rendering in entry.get(language, ()):
                pattern = compile_rendering(rendering)
                calques.append(_Calque(pattern, anchors_of(rendering), weight, detail))
    return _index(tuple(calques))


def _index(calques: tuple[_Calque, ...]) -> _CalqueIndex:
    """Return the calques indexed by the words of their longest-worded anchor set."""
    by_word: dict[str, list[int]] = {}
    always = []
    for number, calque in enumerate(calques):
        best = calque.anchors[0]  # sorted: the set whose shortest word is longest
        if min(map(len, best)) < INDEX_WORD:
            always.append(number)
            continue
        for word in best:
            by_word.setdefault(word, []).append(number)
    automaton = None
    if by_word:
        automaton = ahocorasick.Automaton()
        for word in by_word:
            automaton.add_word(word, word)
        automaton.make_automaton()
    frozen = {word: tuple(numbers) for word, numbers in by_word.items()}
    return _CalqueIndex(calques, automaton, frozen, tuple(always))


@functools.cache
def _gloss_markers(language: str) -> re.Pattern[str] | None:
    """Return the expression for words that mark a literal translation as deliberate."""
    markers = _load_yaml(LEXICON_DIR / "glosses.yaml").get(language)
    if not markers:
        return None
    alternatives = "|".join(re.escape(marker).replace(r"\ ", r"\s+") for marker in markers)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def _glossed(text: str, start: int, end: int, markers: re.Pattern[str] | None) -> bool:
    """Return whether the sentence around [start, end) says it is translating literally."""
    if markers is None:
        return False
    left = max(text.rfind(stop, 0, start) for stop in (". ", "\n", "! ", "? ")) + 1
    right = min((i for i in (text.find(stop, end) for stop in (". ", "\n")) if i != -1), default=-1)
    return (
        markers.search(text, max(left, start - 80), right if right != -1 else end + 80) is not None
    )


def find_calques(
    text: str, language: str, foreign: _ForeignSpans, lowered: str | None = None
) -> list[MTArtifact]:
    """Return the word-for-word idioms in `text`, one per span (the heaviest entry wins)."""
    index = _calques(language)
    if not index.calques:
        return []
    lowered = lowered or lower_in_place(text)
    markers = _gloss_markers(language)
    found: list[MTArtifact] = []
    for number in index.candidates(lowered):
        calque = index.calques[number]
        if not all(any(word in lowered for word in choice) for choice in calque.anchors):
            continue
        for match in _matches_near(text, lowered, calque):
            if foreign.covers(match.start(), match.end()):
                continue
            if _glossed(text, match.start(), match.end(), markers):
                continue
            found.append(
                MTArtifact(
                    kind="calque",
                    evidence=match.group(),
                    start=match.start(),
                    end=match.end(),
                    weight=calque.weight,
                    detail=calque.detail,
                )
            )
    return _without_overlaps(found)


CALQUE_REACH = 120  # characters around an anchor word searched for the whole rendering


def _matches_near(text: str, lowered: str, calque: _Calque) -> Iterator[re.Match[str]]:
    """Yield the rendering's matches, searching only around its anchor words.

    A case-insensitive scan of a whole document costs about 20 ns a character; windows of
    2 x CALQUE_REACH around each occurrence of the rarest anchor cost a fraction of that.
    """
    windows: list[list[int]] = []
    for word in calque.anchors[0]:
        position = lowered.find(word)
        while position != -1:
            windows.append([max(0, position - CALQUE_REACH), position + CALQUE_REACH])
            position = lowered.find(word, position + 1)
    windows.sort()
    merged: list[list[int]] = []
    for window in windows:
        if merged and window[0] <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], window[1])
        else:
            merged.append(window)
    seen = -1
    for start, end in merged:
        for match in calque.pattern.finditer(text, start, end):
            if match.start() > seen:
                seen = match.start()
                yield match


def _without_overlaps(artifacts: list[MTArtifact]) -> list[MTArtifact]:
    """Return the artifacts with overlapping spans reduced to the heaviest."""
    kept: list[MTArtifact] = []
    for artifact in sorted(artifacts, key=lambda a: (-a.weight, a.start or 0)):
        if all(
            (artifact.end or 0) <= (other.start or 0) or (other.end or 0) <= (artifact.start or 0)
            for other in kept
        ):
            kept.append(artifact)
    return kept


# --- name variants -------------------------------------------------------------------------

# Capitalised words (not all-caps, not @handles, #hashtags or parts of URLs), Latin or Cyrillic.
_UPPER = "A-ZÀ-ÖØ-ÞĆČĎĐĘĚŁŃŇŐŘŚŞŠŢŤŮŰŹŻŽА-ЯЁІЇЄҐЎ"
_LOWER = "a-zß-öø-ÿ\u0100-\u017fа-яёіїєґў"
_NAME_RE = re.compile(f"(?<![\\w@#/.-])[{_UPPER}][{_LOWER}]+(?:-[{_UPPER}][{_LOWER}]+)?(?![\\w@])")
# Spellings that transliteration makes interchangeable, folded in this order.
_FOLDS = (
    ("shch", "s"),
    ("tsch", "s"),
    ("sch", "s"),
    ("tch", "s"),
    ("ch", "s"),
    ("sh", "s"),
    ("zh", "z"),
    ("kh", "h"),
    ("ts", "c"),
    ("tz", "c"),
    ("ph", "f"),
    ("ck", "k"),
    ("q", "k"),
    ("w", "v"),
    ("x", "ks"),
    ("j", "i"),
    ("y", "i"),
    ("'", ""),
    ("’", ""),
)
_DOUBLE_RE = re.compile(r"(.)\1+")


@functools.lru_cache(maxsize=65536)
def name_key(name: str) -> str:
    """Return a transliteration-aware key: Charap and Sharap, Zelensky and Zelenskyy share one."""
    key = anyascii(name).lower()
    for spelling, folded in _FOLDS:
        key = key.replace(spelling, folded)
    key = _DOUBLE_RE.sub(r"\1", key)
    return "e" + key[2:] if key.startswith("ie") else key


def _script_of(word: str) -> str:
    """Return "Cyrl" or "Latn" for a capitalised word."""
    return "Cyrl" if "\u0400" <= word[0] <= "\u04ff" else "Latn"


def find_name_variants(
    text: str,
    names: Collection[str] = (),
    *,
    language: str = "en",
    foreign: _ForeignSpans | None = None,
) -> list[MTArtifact]:
    """Return names spelled two ways here, or (in English) spelled unlike every watchlist alias.

    Other languages have their own transliterations (Rjabkow, Riabkov, Şerman), so there only two
    spellings inside one document count.
    """
    foreign = foreign or _ForeignSpans((), language)
    occurrences: dict[str, list[int]] = {}
    for match in _NAME_RE.finditer(text):
        occurrences.setdefault(match.group(), []).append(match.start())
    aliases = _alias_keys(names)
    groups: dict[tuple[str, str], list[str]] = {}
    for word in occurrences:
        key = name_key(word)
        if len(key) >= MIN_NAME_KEY:
            groups.setdefault((_script_of(word), key), []).append(word)
    artifacts = []
    for group_key, words in groups.items():
        known = aliases.get(group_key, set())
        if len(words) > 1 and _inflections(words):
            continue
        if len(words) > 1 and all(_in_prose(text, occurrences[w], foreign) for w in words):
            artifacts.extend(_pair_artifacts(words, occurrences, known))
        elif known and words[0] not in known and language == "en":
            first = occurrences[words[0]][0]
            artifacts.append(_name_artifact(words[0], first, known, NAME_OFF_WATCHLIST_WEIGHT))
    return artifacts


INFLECTION_LETTERS = 2  # Cyrillic words alike but for this many final letters are case forms


def _inflections(words: list[str]) -> bool:
    """Return whether Cyrillic spellings differ only in their endings (Україні / України): one
    name declined, not spelled two ways; Cyrillic has one spelling per name, Latin script has
    several transliterations (Peskov / Peskow), so this holds for Cyrillic only."""
    if _script_of(words[0]) != "Cyrl":
        return False
    stem = min(len(word) for word in words) - INFLECTION_LETTERS
    return len({word[:stem].lower() for word in words}) == 1


def _in_prose(text: str, starts: list[int], foreign: _ForeignSpans) -> bool:
    """Return whether a word is ever used in running prose.

    Running prose: mid-sentence (not a sentence's or headline's first word), outside quotations
    and outside lines in another language, where a name takes that language's spelling.
    """
    for start in starts:
        if not _mid_sentence(text, start) or foreign.covers(start, start + 1):
            continue
        if not _inside_quote(text, text.rfind("\n", 0, start) + 1, start):
            return True
    return False


def _mid_sentence(text: str, start: int) -> bool:
    """Return whether the word at `start` follows a word or comma in the same sentence."""
    before = text[max(0, start - 3) : start].rstrip(" ")
    return bool(before) and (before[-1].isalnum() or before[-1] in ",;")


def _alias_keys(names: Collection[str]) -> dict[tuple[str, str], set[str]]:
    """Return the watchlist's surnames by (script, key).

    Only an alias's last word counts: first names have several accepted spellings (Sergei,
    Sergey) that humans mix, surnames rarely.
    """
    keys: dict[tuple[str, str], set[str]] = {}
    for name in names:
        words = _NAME_RE.findall(name)
        if not words:
            continue
        key = name_key(words[-1])
        if len(key) >= MIN_NAME_KEY:
            keys.setdefault((_script_of(words[-1]), key), set()).add(words[-1])
    return keys


def _pair_artifacts(
    words: list[str], occurrences: dict[str, list[int]], known: set[str]
) -> list[MTArtifact]:
    """Return one artifact per spelling that differs from the watchlist's (or the first seen)."""
    reference = next((word for word in words if word in known), None)
    others = [word for word in words if word != reference] if reference else words[1:]
    return [
        _name_artifact(word, occurrences[word][0], set(words) - {word}, NAME_PAIR_WEIGHT)
        for word in others
    ]


def _name_artifact(word: str, start: int, versus: set[str], weight: float) -> MTArtifact:
    """Return the artifact for one variant spelling at its first occurrence."""
    return MTArtifact(
        kind="name_variants",
        evidence=word,
        start=start,
        end=start + len(word),
        weight=weight,
        detail="also spelled " + " / ".join(sorted(versus)),
    )


# --- untranslated fragments ----------------------------------------------------------------

_NON_LATIN = r"[^\W\d_A-Za-z\u00c0-\u024f\u0259\u1e00-\u1eff]"
_FRAGMENT_RE = re.compile(f"{_NON_LATIN}+(?:[ \\-]{_NON_LATIN}+)*")
_NON_LATIN_RE = re.compile(_NON_LATIN)
_LATIN_LETTER_RE = re.compile(r"[A-Za-z\u00c0-\u024f]")
_RUSSIAN_ONLY_RE = re.compile(r"(?<!\w)[а-яёіїєґ'’]*[ыэъё][а-яёіїєґ'’]*(?!\w)")
_UKRAINIAN_ONLY_RE = re.compile(r"(?<!\w)[а-яёіїєґ'’]*[іїєґ][а-яёіїєґ'’]*(?!\w)")
_OPENERS = "\"“„«‹'‘([{<#@/"
_CLOSERS = "\"”»›'’)]}>"


@functools.cache
def _autonyms() -> frozenset[str]:
    """Return language names as written in their own language (links in language switchers)."""
    data = _load_yaml(LEXICON_DIR / "autonyms.yaml")
    return frozenset(name.casefold() for name in data["autonyms"])


def find_untranslated(
    text: str, language: str, foreign: _ForeignSpans, mojibake: Sequence[MTArtifact] = ()
) -> list[MTArtifact]:
    """Return source-language words left inside prose of the target language."""
    if language in _LATIN_TARGETS:
        candidates = _FRAGMENT_RE.finditer(text)
        embedded = _embedded_in_latin
    elif language == "uk":
        candidates, embedded = _RUSSIAN_ONLY_RE.finditer(text), _embedded_in_cyrillic
    elif language == "ru":
        candidates, embedded = _UKRAINIAN_ONLY_RE.finditer(text), _embedded_in_cyrillic
    else:
        return []
    garbled = [(a.start or 0, a.end or 0) for a in mojibake]
    found = []
    for match in candidates:
        start, end = match.span()
        if foreign.covers(start, end) or any(s < end and start < e for s, e in garbled):
            continue
        if embedded(text, start, end):
            found.append(
                MTArtifact(
                    kind="untranslated_fragment",
                    evidence=match.group(),
                    start=start,
                    end=end,
                    weight=FRAGMENT_WEIGHT,
                    detail=f"left untranslated in {language} text",
                )
            )
    return found


def _embedded_in_latin(text: str, start: int, end: int) -> bool:
    """Return whether a run of another script sits inside Latin prose, unquoted and lowercase.

    Caseless scripts (Georgian, Arabic, CJK) cannot tell a name from a word and are left alone.
    """
    fragment = text[start:end]
    if not any(word[:1].islower() and len(word) >= 3 for word in fragment.split()):
        return False
    if fragment.casefold() in _autonyms() or _fenced(text, start, end):
        return False
    line = text[slice(*_line_bounds(text, start, end))]
    if len(_NON_LATIN_RE.findall(line)) * 2 > len(_LATIN_LETTER_RE.findall(line)):
        return False  # a third of the line or more: a line in another language, not a fragment
    before = text[max(0, start - 40) : start]
    after = text[end : end + 40]
    latin_before = re.search(r"[A-Za-z]{2,}[ ]+$", before) is not None
    latin_after = re.match(r"^[ ]+[A-Za-z]{2,}", after) is not None
    glossed = re.match(r"^\s*\(", after) is not None
    return (latin_before or latin_after) and not glossed


def _embedded_in_cyrillic(text: str, start: int, end: int) -> bool:
    """Return whether a word of the other East Slavic language sits in prose, lowercase."""
    word = text[start:end]
    if not word[:1].islower() or len(word) < 3 or _fenced(text, start, end):
        return False
    line_start, line_end = _line_bounds(text, start, end)
    if _inside_quote(text, line_start, start):
        return False
    line = text[line_start:line_end]
    pattern = _RUSSIAN_ONLY_RE if _RUSSIAN_ONLY_RE.fullmatch(word) else _UKRAINIAN_ONLY_RE
    others = len(pattern.findall(line))
    return others * 8 <= len(line.split())  # more than one word in eight: a quoted line


def _fenced(text: str, start: int, end: int) -> bool:
    """Return whether a span is quoted, bracketed, a hashtag or handle."""
    before = text[max(0, start - 2) : start].rstrip(" ")
    after = text[end : end + 2].lstrip(" ")
    return (bool(before) and before[-1] in _OPENERS) or (bool(after) and after[0] in _CLOSERS)


def _inside_quote(text: str, line_start: int, position: int) -> bool:
    """Return whether `position` falls inside an open «…», “…” or „…“ quotation on its line
    (German closes „ with “, which opens a quotation in English)."""
    head = text[line_start:position]
    if head.count("«") > head.count("»"):
        return True
    if "„" in head:
        return head.count("„") > head.count("“") + head.count("”")
    return head.count("“") > head.count("”")


# --- punctuation spacing -------------------------------------------------------------------

# A space before , ; : ! ? or a sentence-final period (not "...", not ".45"), a doubled ". .",
# and a space before a closing quote after punctuation (", ”she said"). French sets ; : ! ? and
# guillemets off with spaces by rule, Swedish opens quotes with ”, German may open with »: the
# rules that would misfire there are left out for those languages.
# Each rule continues after a first space: the expression opens with that one character class
# so the regex engine skips ahead to spaces, and a two-character lookbehind checks what precedes.
_SPACE_BEFORE = r"(?<=[^\W_][ \u00a0])[ \u00a0]*[,;:!?.](?=\s|$)"
_DOUBLE_PERIOD = r"(?<=\.[ ])[ ]*\.(?=\s|$)"
_QUOTE_AFTER_PUNCT = r"(?<=[,.!?][ ])[ ]*[”»](?=\w)"
_QUOTE_BEFORE_END = r"(?<=[^\W_][ ])[ ]*[”»](?=[\s.,;:!?]|$)"
_DE_CLOSE_SPACED = r"(?<=[^\W_][ ])[ ]*“(?=[,.;:!?])"  # „…“ closed after a space: 'besetzen “,'


@functools.cache
def _spacing_pattern(language: str) -> re.Pattern[str]:
    """Return the spacing expression that fits `language`'s typography."""
    if language == "fr":
        rules = [r"(?<=[^\W_][ ])[ ]*[,.](?=\s|$)", _DOUBLE_PERIOD]
    elif language in ("sv", "fi"):
        rules = [_SPACE_BEFORE, _DOUBLE_PERIOD, r"(?<=[^\W_][ ])[ ]*»(?=[\s.,;:!?]|$)"]
    elif language == "de":
        rules = [_SPACE_BEFORE, _DOUBLE_PERIOD, r"(?<=[,.!?][ ])[ ]*”(?=\w)", _DE_CLOSE_SPACED]
    else:
        rules = [_SPACE_BEFORE, _DOUBLE_PERIOD, _QUOTE_AFTER_PUNCT, _QUOTE_BEFORE_END]
    return re.compile("[ \u00a0](?:" + "|".join(rules) + ")", re.MULTILINE)


_SPACED_MARKS = (" ,", " .", " ;", " :", " !", " ?", " ”", " »", " “", "\u00a0,", "\u00a0.")


def find_spacing(text: str, language: str, foreign: _ForeignSpans) -> list[MTArtifact]:
    """Return each space an MT engine left before punctuation, with the word before it."""
    if not any(mark in text for mark in _SPACED_MARKS):
        return []  # most texts: a handful of substring tests instead of a regex scan
    found = []
    for match in _spacing_pattern(language).finditer(text):
        start = _word_start(text, match.start())
        if foreign.covers(start, match.end()):
            continue
        found.append(
            MTArtifact(
                kind="punctuation_spacing",
                evidence=text[start : match.end()],
                start=start,
                end=match.end(),
                weight=SPACING_WEIGHT,
                detail="space before punctuation",
            )
        )
    return found


def _word_start(text: str, position: int) -> int:
    """Return where the word (with its punctuation) before `position` starts."""
    start = position
    while start > 0 and start > position - 30 and not text[start - 1].isspace():
        start -= 1
    return start


# --- data ----------------------------------------------------------------------------------


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 10x faster


def _load_yaml(path: Path) -> Any:
    """Return a lexicon file's data."""
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_YAML_LOADER)
