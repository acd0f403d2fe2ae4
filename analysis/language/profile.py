"""How far a text's function words and punctuation lie from its language's news norm.

Machine translation carries the source language's grammar into the target: English from Russian
or Japanese drops or misplaces articles and strings genitives ("the expansion of NATO to the
east"), German from Russian piles up "des"/"der", sentences run long or break short. A human news
text keeps close to its language's habits. The habits are a profile (lexicons/profiles/<lang>.yaml,
built by bench/news_profile.py from real human news text): for each of the language's most
frequent function words and punctuation marks, the mean and standard deviation of its rate per
word over the texts, and of the mean sentence length.

`profile_distance(text, language)` returns the root mean square of the features' z-scores
(each clipped at `Z_CLIP`, each standard deviation floored at `STD_FLOOR` of its mean, so that one
rare word cannot dominate), or None for a language without a profile or a text under
`MIN_WORDS` words (too short for rates to mean anything).

Features that mark a genre rather than a translation are left out: question marks, colons and
first- and second-person pronouns set transcripts, interviews and notices apart from reports,
whoever wrote them.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from shiftwatch.analysis import LEXICON_DIR

PROFILE_DIR = LEXICON_DIR / "profiles"
MIN_WORDS = 60
Z_CLIP = 4.0
STD_FLOOR = 0.25  # a feature's standard deviation is at least this share of its mean


def _words(text: str) -> tuple[str, ...]:
    """Return the space-separated words of a string literal."""
    return tuple(text.split())


FUNCTION_WORDS: dict[str, tuple[str, ...]] = {
    "en": _words(
        "the a an of to in on for with by at from as and or but that which who this it is was "
        "were be been has have had will would said not its their his"
    ),
    "ru": _words(
        "и в на с по что не о к за из для от как это а но он его также который был была было "
        "были будет заявил при до об у"
    ),
    "uk": _words(
        "і й в у на з що не до за про від як це а але він його також який було був була буде "
        "заявив та для щодо із"
    ),
    "de": _words(
        "der die das und in von zu den mit sich des auf für ist im dem nicht ein eine als auch "
        "es an werden aus er hat dass sie nach wird bei einer um am sind noch wie über"
    ),
}
PUNCTUATION = {
    "comma": ",",
    "period": ".",
    "semicolon": ";",
    "quote": '"“”«»„‘’',
    "paren": "()",
    "dash": "–—",
}
_WORD_RE = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_SENTENCE_RE = re.compile(r"[.!?…]+(?=\s|$)")


@dataclass(frozen=True, slots=True)
class Profile:
    language: str
    means: dict[str, float]
    stds: dict[str, float]


def text_rates(text: str, language: str) -> tuple[dict[str, float], int]:
    """Return a text's feature rates per word and its word count."""
    words = [w.lower() for w in _WORD_RE.findall(text)]
    count = max(len(words), 1)
    rates: dict[str, float] = {}
    frequencies: dict[str, int] = {}
    for word in words:
        frequencies[word] = frequencies.get(word, 0) + 1
    for word in FUNCTION_WORDS.get(language, ()):
        rates[f"w:{word}"] = frequencies.get(word, 0) / count
    for name, marks in PUNCTUATION.items():
        rates[f"p:{name}"] = sum(text.count(mark) for mark in marks) / count
    sentences = max(len(_SENTENCE_RE.findall(text)), 1)
    rates["sentence_words"] = len(words) / sentences
    return rates, len(words)


def build_profile(
    language: str,
    texts: Sequence[str],
    measured: Sequence[tuple[dict[str, float], int]] = (),
    source: str = "human news texts of tests/corpus/mt (dev split); bench/news_profile.py",
) -> dict:
    """Return the profile data of `language` from human-written `texts` and from `measured`
    ones ((rates, word count) of texts kept as their rates only) (for the YAML file)."""
    found = [*(text_rates(text, language) for text in texts), *measured]
    samples = [rates for rates, words in found if words >= MIN_WORDS]
    features: dict[str, dict[str, float]] = {}
    for name in samples[0] if samples else ():
        values = [rates[name] for rates in samples]
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / max(len(values) - 1, 1))
        features[name] = {"mean": round(mean, 6), "std": round(std, 6)}
    return {
        "language": language,
        "texts": len(samples),
        "words": sum(words for _, words in found),
        "source": source,
        "features": features,
    }


@functools.cache
def load_profile(language: str) -> Profile | None:
    """Return the stored profile of `language`, or None."""
    path = Path(PROFILE_DIR / f"{language}.yaml")
    if not path.is_file():
        return None
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    features = data["features"]
    means = {name: float(f["mean"]) for name, f in features.items()}
    stds = {name: float(f["std"]) for name, f in features.items()}
    return Profile(language=language, means=means, stds=stds)


def profile_distance(text: str, language: str) -> tuple[float, list[tuple[str, float]]] | None:
    """Return the RMS z-score of `text` against its language's profile, with the features that
    lie farthest (name, z), or None when there is no profile or the text is too short."""
    profile = load_profile(language)
    if profile is None:
        return None
    rates, words = text_rates(text, language)
    if words < MIN_WORDS:
        return None
    return _distance(rates, profile)


def _distance(rates: dict[str, float], profile: Profile) -> tuple[float, list[tuple[str, float]]]:
    scores = []
    for name, mean in profile.means.items():
        std = max(profile.stds[name], STD_FLOOR * mean, 1e-6)
        z = max(-Z_CLIP, min(Z_CLIP, (rates.get(name, 0.0) - mean) / std))
        scores.append((name, z))
    rms = math.sqrt(sum(z * z for _, z in scores) / max(len(scores), 1))
    scores.sort(key=lambda item: -abs(item[1]))
    return rms, scores[:3]


def distances(texts: Iterable[str], language: str) -> list[float]:
    """Return `profile_distance` of each text long enough to have one (for benches)."""
    found = (profile_distance(text, language) for text in texts)
    return [result[0] for result in found if result is not None]
