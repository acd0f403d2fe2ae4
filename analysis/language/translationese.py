"""Evidence of machine translation that no notice states: the traces of the pipeline and of the
source language's grammar. Each finder returns `MTArtifact`s for `translation.find_mt_artifacts`,
which scores them with the others (capped noisy-OR per kind, see translation.py).

- ``profile``: function words and punctuation far from the language's news norm
  (`profile.profile_distance`, root mean square z-score at least `PROFILE_MIN`); weight
  `PROFILE_WEIGHT`, `PROFILE_STRONG_WEIGHT` from `PROFILE_STRONG`. Weak by design: human texts of
  unusual form (a list of tweets, a transcript, a wire round-up) sit as far from the norm as the
  machine-translated texts measured (RMS 1.2-1.4 for both); it only tips a text that has other
  evidence. Profiles: en, ru, uk, de (bench/news_profile.py). Fired on human text, dev split
  (branch mt3): 2 of 58 corpus texts (both en; the profiles are built from the dev human texts,
  so this is in-sample); on the stance corpus's dev passages joined per page (quote-heavy
  excerpts, an unusual form, out of sample): 36 of 242 pages. Hence the weight: never more than
  a tie-breaker.
- ``mixed_script``: one word spelled with Latin and Cyrillic letters together ("Оur" with a
  Cyrillic О) in a Latin-script text, which a keyboard never produces and a transliterating
  pipeline does. Not read in Cyrillic text: there a Latin С typed on the same key of the other
  layout is a human slip («Cовете», a human Russian page of the stance corpus).
- ``source_typography``: in English, a source language's typography carried over: dialogue
  dashes ("– There are major differences – he stressed"), guillemets around English words, a
  Russian agency dateline rendered word for word ("Washington. 1st of February. INTERFAX",
  "MOSCOW, January 26 - RIA Novosti"), a Japanese gloss with an equals sign ("G7 = seven
  major countries"), a quotation closed with a full stop before its speech
  tag ('… look forward to." he says': Russian ends the quoted sentence, English puts a comma).
  Every dialogue dash is evidence (distinct lines count
  apart, up to the kind's cap), one match of each other convention. In the other Latin-script
  languages: a speech tag after a dash behind the quotation ('geschah dies "- zitierte der
  Pressesprecher'). Fired on human text, dev (branch mt3): 0 of 58 corpus texts, 1 of 242
  stance-corpus pages, 3 of 72 copy-pair pages (non-native English of Russian and Georgian
  outlets); one such page is flagged with a name variant, as before; 8 of 39 machine
  translations.
- ``mixed_quotes``: in a Latin-script language, a quotation opened with one kind of mark and
  closed with another on one line ('«wird Moskau … darstellen"', '"Ohne sie … zu führen»'): a
  pipeline converts the source's guillemets one at a time. A line whose « and » do not pair
  up and that also holds a straight or curly double quote. Fired on human text, dev split:
  0 of 40 corpus texts, 0 of 57 copy-pair pages, 0 of 171 stance-corpus pages (en, ru, uk);
  2 of 26 machine translations without a notice (both German).
- ``quote_styles``: in a Latin-script language, whole quotations in two styles in one text
  ('„…“' and '"…"', '«…»' and '"…"'): an outlet keeps one house style, a pipeline keeps the
  source's marks for some quotations and converts others. Quotations in lines of another
  language and threads of posts are not read. Fired on human text, dev split (branch mt3):
  0 of 58 corpus texts, 0 of 72 copy-pair pages, 0 of 242 stance-corpus pages, 0 of 4 human
  seeds; 3 of 39 machine translations (two German, one French).
- ``glued_sentences``: in a Latin-script language, at least two sentence ends with no space
  before the next sentence ("24.Lavrov also said", "statement.NATO secretary"), as a pipeline
  re-joining translated segments leaves them. Site markup does it too: 2 of 58 human corpus
  texts in Russian (hence not read in Cyrillic text), and hand-typed posts (the human
  tweet-thread seed; threads of posts are not read). Latin-script human text, dev: 0 of 58
  corpus texts, 0 of 72 pair pages, 0 of 242 stance pages; 3 of 39 machine translations.
- ``broken_agreement``: in Russian and Ukrainian, adjacent adjectives and nouns that no reading
  makes agree, frequent enough not to be a typo (analysis/language/agreement.py).
- ``acronym_variants``: one organisation's acronym written with its letters in another order in
  the same text ("OSCE" and "OBSE", "CPC" and "CCP"), as engines do from languages with another
  word order.

False-positive rates on human text and recall on machine-translated text are in
bench/results.md (`python bench/mt_corpus.py --split dev`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable

from shiftwatch.analysis.language.agreement import find_broken_agreement
from shiftwatch.analysis.language.profile import profile_distance
from shiftwatch.records import MTArtifact

PROFILE_MIN = 1.3  # RMS z-score from which a text's profile counts as evidence
PROFILE_STRONG = 1.8
PROFILE_WEIGHT = 0.2  # at most what a human transcript may score (tests)
PROFILE_STRONG_WEIGHT = 0.25
MIXED_SCRIPT_WEIGHT = 0.4  # 0 of 349 human Latin-script dev pages (module doc)
ACRONYM_WEIGHT = 0.3
TYPOGRAPHY_WEIGHT = 0.35
MIXED_QUOTES_WEIGHT = 0.4  # as a distinctive calque: it never fired on human text (module doc)
QUOTE_STYLES_WEIGHT = 0.3  # 0 of 201 human Latin-script dev pages (module doc)
GLUED_WEIGHT = 0.15  # each join; the kind's cap (0.3) keeps it a tie-breaker
GLUED_MIN = 2  # one join is a typo or a brand ("bbabo.Net"); a pipeline leaves several
SOCIAL_MARKS = 3  # hashtags or @handles from which a text is a thread of posts, typed by hand
_LATIN_LANGUAGES = frozenset(
    "en de fr it es pt nl sv no da fi pl cs sk sl hr ro hu tr lt lv et".split()  # noqa: SIM905
)
_DOUBLE_QUOTES = ('"', "“", "”", "„")

_LATIN = "A-Za-z"
_CYRILLIC = "А-Яа-яЁёІіЇїЄєҐґ"
_MIXED_RE = re.compile(
    f"\\b(?=[{_LATIN}{_CYRILLIC}]*[{_LATIN}])(?=[{_LATIN}{_CYRILLIC}]*[{_CYRILLIC}])"
    f"[{_LATIN}{_CYRILLIC}]{{2,}}\\b"
)
# a word ending in lower case, a sentence end and the next sentence's capital with no space between;
# the word must not follow a dot, slash or @ (domains, paths, addresses)
_GLUED_RE = re.compile(r"(?<![\w.@/:])[^\W\d_][^\W\d_A-ZÀ-Þ]+[.!?](?=[A-ZÀ-Þ«\"“„(][^\W\d_])")
# whole quotations in each style a Latin-script text may use; a writer or an outlet keeps one
_QUOTE_STYLES = {
    "«…»": re.compile(r"«[^«»\n]{2,}»"),
    "„…“": re.compile(r"„[^„“”\n]{2,}[“”]"),
    "“…”": re.compile(r"(?<!„)“[^“”\n]{2,}”"),
    '"…"': re.compile(r'"[^"\n]{2,}"'),
}
_SOCIAL_RE = re.compile(r"(?<!\w)[#@]\w")
_ACRONYM_RE = re.compile(r"\b[A-Z]{3,6}\b")
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_DIALOGUE_RE = re.compile(
    r"(?m)^[–—] [A-Z]|[.!?,] [–—] [A-Z][a-z]|"
    r"[”\"»]\s*[,.]?\s*[–—-]\s*(?:said|added|stressed|noted|he|she)\b"
)
_TYPOGRAPHY = (
    (_DIALOGUE_RE, "dialogue dash (Slavic typography)"),
    (re.compile(r"«[A-Za-z][^»\n]{0,200}»"), "guillemets around English words"),
    (
        re.compile(r"[.!?][\"”] (?:he|she|they) (?:said|says|added|adds|noted|stressed)\b"),
        "sentence closed inside the quotation before its speech tag",
    ),
    (
        re.compile(
            rf"\b[A-Z][A-Za-z]+\. \d{{1,2}}(?:st|nd|rd|th)? of (?:{_MONTHS})\. [A-Z]{{4,}}|"
            rf"\b[A-Z]{{3,}}, (?:{_MONTHS}) \d{{1,2}} [-–] (?:RIA Novosti|TASS|Interfax)\b"
        ),
        "Russian agency dateline rendered word for word",
    ),
    (
        re.compile(r"\b[A-Z][A-Z0-9]{1,6} ?[=＝] ?[A-Za-z][a-z]"),
        "an acronym glossed with an equals sign (Japanese news: G7＝主要7か国)",
    ),
)

# «…», — сказал он as a pipeline carries it into German, French...: a closing quote, a dash and
# the speech verb in lower case ('Leider geschah dies "- zitierte der Pressesprecher')
_QUOTE_DASH = (
    (
        re.compile(r"[^\s\d]\s?[”\"“»],?\s?[-–—]\s?[a-zß-ÿ]{3,}"),
        "speech tag after a dash behind the quotation (Slavic typography)",
    ),
)


def find_translationese(
    text: str, language: str, foreign: Callable[[int, int], bool] = lambda start, end: False
) -> list[MTArtifact]:
    """Return the pipeline and grammar traces in `text` (see the module doc); `foreign(start,
    end)` says whether a span lies in a line of another language, quoted as it was said."""
    return [
        *find_profile(text, language),
        *(find_mixed_script(text) if language in _LATIN_LANGUAGES else []),
        *find_acronym_variants(text),
        *find_source_typography(text, language),
        *(find_mixed_quotes(text) if language in _LATIN_LANGUAGES else []),
        *(find_glued_sentences(text) if language in _LATIN_LANGUAGES else []),
        *(find_quote_styles(text, foreign) if language in _LATIN_LANGUAGES else []),
        *find_broken_agreement(text, language),
    ]


def find_profile(text: str, language: str) -> list[MTArtifact]:
    """Return one artifact when the text's function words and punctuation are off the norm."""
    found = profile_distance(text, language)
    if found is None or found[0] < PROFILE_MIN:
        return []
    distance, farthest = found
    weight = PROFILE_STRONG_WEIGHT if distance >= PROFILE_STRONG else PROFILE_WEIGHT
    detail = ", ".join(f"{name} z={z:+.1f}" for name, z in farthest)
    end = _first_line_end(text)
    return [
        MTArtifact(
            kind="profile",
            evidence=text[:end],
            start=0,
            end=end,
            weight=weight,
            detail=f"distance {distance:.2f} from the {language} news profile: {detail}",
        )
    ]


def _first_line_end(text: str, limit: int = 200) -> int:
    """Return where the text's first line ends (at most `limit` characters in): the span a
    whole-text artifact points at."""
    end = text.find("\n")
    return min(len(text) if end == -1 else end, limit)


def find_mixed_script(text: str) -> list[MTArtifact]:
    """Return each word that mixes Latin and Cyrillic letters."""
    return [
        MTArtifact(
            kind="mixed_script",
            evidence=match.group(),
            start=match.start(),
            end=match.end(),
            weight=MIXED_SCRIPT_WEIGHT,
            detail="Latin and Cyrillic letters in one word",
        )
        for match in _MIXED_RE.finditer(text)
    ]


def find_acronym_variants(text: str) -> list[MTArtifact]:
    """Return acronyms written with the same letters in another order in the same text."""
    spellings: dict[str, dict[str, int]] = defaultdict(dict)
    for match in _ACRONYM_RE.finditer(text):
        spellings["".join(sorted(match.group()))].setdefault(match.group(), match.start())
    found = []
    for variants in spellings.values():
        if len(variants) < 2:
            continue
        (first, _), *others = sorted(variants.items(), key=lambda item: item[1])
        for word, start in others:
            found.append(
                MTArtifact(
                    kind="acronym_variants",
                    evidence=word,
                    start=start,
                    end=start + len(word),
                    weight=ACRONYM_WEIGHT,
                    detail=f"also written {first}",
                )
            )
    return found


def find_source_typography(text: str, language: str = "en") -> list[MTArtifact]:
    """Return the source language's typography found in a Latin-script text: in English each
    dialogue dash (a text that sets every quotation that way carries it over, one stray dash is
    a habit) and one match of each other convention; elsewhere a speech tag after a dash."""
    if language not in _LATIN_LANGUAGES:
        return []
    found = []
    for pattern, detail in _TYPOGRAPHY if language == "en" else _QUOTE_DASH:
        matches = pattern.finditer(text) if pattern is _DIALOGUE_RE else [pattern.search(text)]
        for match in filter(None, matches):
            end = _evidence_end(text, match)
            found.append(
                MTArtifact(
                    kind="source_typography",
                    evidence=text[match.start() : end],
                    start=match.start(),
                    end=end,
                    weight=TYPOGRAPHY_WEIGHT,
                    detail=detail,
                )
            )
    return found


def _evidence_end(text: str, match: re.Match[str], context: int = 40) -> int:
    """Return where a typography match's evidence ends: the match and the words after it, up to
    the line's end (two dialogue dashes match alike, "– T"; their lines tell them apart)."""
    line_end = text.find("\n", match.end())
    line_end = len(text) if line_end == -1 else line_end
    return max(match.end(), min(line_end, match.end() + context))


def find_mixed_quotes(text: str) -> list[MTArtifact]:
    """Return each line whose guillemets do not pair up while it also uses double quotes: one
    quotation opened with one kind of mark and closed with another."""
    found = []
    start = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        if body.count("«") != body.count("»") and any(q in body for q in _DOUBLE_QUOTES):
            at = start + min(i for i in (body.find("«"), body.find("»")) if i >= 0)
            end = min(at + 60, start + len(body))
            found.append(
                MTArtifact(
                    kind="mixed_quotes",
                    evidence=text[at:end],
                    start=at,
                    end=end,
                    weight=MIXED_QUOTES_WEIGHT,
                    detail="quotation opened and closed with different marks",
                )
            )
        start += len(line)
    return found


def find_glued_sentences(text: str) -> list[MTArtifact]:
    """Return each sentence joined to the next without a space ("24.Lavrov also said"), when
    there are at least `GLUED_MIN`: a pipeline that re-joins translated segments drops them.
    Posts typed by hand do it too (the human tweet-thread seed): not read in a thread."""
    if _is_post_thread(text):
        return []
    found = [
        MTArtifact(
            kind="glued_sentences",
            evidence=text[match.start() : match.end() + 20],
            start=match.start(),
            end=match.end(),
            weight=GLUED_WEIGHT,
            detail="no space after a sentence end",
        )
        for match in _GLUED_RE.finditer(text)
    ]
    return found if len(found) >= GLUED_MIN else []


def find_quote_styles(
    text: str, foreign: Callable[[int, int], bool] = lambda start, end: False
) -> list[MTArtifact]:
    """Return one artifact when whole quotations stand in two styles ("«…»" and '"…"'): a
    writer keeps the house style, a pipeline keeps the source's marks for some quotations and
    converts others. Quotations in another language's lines keep that language's marks; a
    thread of posts gathers several hands: neither counts."""
    if _is_post_thread(text):
        return []
    found = []
    for style, pattern in _QUOTE_STYLES.items():
        own = (m for m in pattern.finditer(text) if not foreign(m.start(), m.end()))
        match = next(own, None)
        if match:
            found.append((match.start(), match, style))
    found.sort(key=lambda item: item[0])
    if len(found) < 2:
        return []
    _, second, style = found[1]
    return [
        MTArtifact(
            kind="quote_styles",
            evidence=second.group()[:60],
            start=second.start(),
            end=second.end(),
            weight=QUOTE_STYLES_WEIGHT,
            detail=f"quotations in {found[0][2]} and {style}",
        )
    ]


def _is_post_thread(text: str) -> bool:
    """Return whether a text is a thread of social posts (`SOCIAL_MARKS` hashtags or handles),
    typed by hand, where spacing and quotation marks follow no house style."""
    return len(_SOCIAL_RE.findall(text)) >= SOCIAL_MARKS
