"""Build the news-language profiles (analysis/lexicons/profiles/<lang>.yaml) from real human text.

Run: `python bench/news_profile.py [--check]`.

The profile of a language is the mean and standard deviation, over real human-written news texts,
of the rate (per word) of each of its most frequent function words and punctuation marks, and of
the mean sentence length. Sources: the human texts of the corpus's dev split
(tests/corpus/mt/texts.jsonl) and both sides of its dev pairs, except pages of sites that
machine-rewrite or machine-translate agency copy (`mt_corpus.MACHINE_MADE`). The test split is
never read, so that false-positive rates measured on it are honest. Languages with few human
texts in the corpus (uk, de) also draw on `news_profile_extra.jsonl`: the feature rates (not
the text) of human news pages found with the search tool's `pages` corpus, each with its URL,
all of them in the dev split by the corpus's URL hash (`mt_corpus.split_of`). `--check`
rebuilds in memory and fails if the stored files differ.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import mt_corpus  # noqa: E402

OUT = ROOT / "analysis" / "lexicons" / "profiles"
EXTRA = ROOT / "bench" / "news_profile_extra.jsonl"
LANGUAGES = ("en", "ru", "uk", "de")
MIN_TEXTS = 8  # a language with fewer human texts gets no profile


def human_texts() -> dict[str, list[str]]:
    """Return the dev split's human-written texts by language."""
    by_lang: dict[str, list[str]] = defaultdict(list)
    for record in mt_corpus.load("texts", "dev"):
        if record["label"] == "human":
            by_lang[record["lang"]].append(record["text"])
    for pair in mt_corpus.load("pairs", "dev"):
        for side in (pair["a"], pair["b"]):
            if not any(host in side["url"] for host in mt_corpus.MACHINE_MADE):
                by_lang[side["lang"]].append(side["text"])
    return by_lang


def measured_texts() -> dict[str, list[tuple[dict[str, float], int]]]:
    """Return the (rates, words) of the extra human pages by language (dev-split URLs only)."""
    by_lang: dict[str, list[tuple[dict[str, float], int]]] = defaultdict(list)
    for line in EXTRA.read_text("utf-8").splitlines():
        record = json.loads(line)
        if mt_corpus.split_of(record["url"]) == "dev":
            by_lang[record["lang"]].append((record["rates"], record["words"]))
    return by_lang


def build() -> dict[str, dict]:
    """Return the profile of each language with enough texts."""
    from shiftwatch.analysis.language.profile import MIN_WORDS, build_profile, text_rates

    profiles = {}
    extra = measured_texts()
    for lang in LANGUAGES:
        texts = sorted(set(human_texts().get(lang, [])))
        measured = extra.get(lang, [])
        found = [*(text_rates(t, lang) for t in texts), *measured]
        if sum(words >= MIN_WORDS for _, words in found) < MIN_TEXTS:
            continue
        source = "human news texts of tests/corpus/mt (dev split)"
        if measured:
            source += f" and {len(measured)} pages of bench/news_profile_extra.jsonl"
        profiles[lang] = build_profile(lang, texts, measured, source + "; bench/news_profile.py")
    return profiles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the stored files differ")
    args = parser.parse_args(argv)
    profiles = build()
    OUT.mkdir(parents=True, exist_ok=True)
    for lang, profile in profiles.items():
        path = OUT / f"{lang}.yaml"
        text = yaml.safe_dump(profile, allow_unicode=True, sort_keys=False)
        if args.check:
            if yaml.safe_load(path.read_text("utf-8")) != yaml.safe_load(text):
                print(f"{path} is stale: run python bench/news_profile.py")
                return 1
            continue
        path.write_text(text, encoding="utf-8")
        print(f"{path}: {profile['texts']} texts, {profile['words']} words")
    print(json.dumps({lang: p["texts"] for lang, p in profiles.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
