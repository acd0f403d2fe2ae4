"""The word gate in front of lexicon scans changes no hit: gated and plain scans agree on every
sentence and paragraph of the seeds and the stance fixtures, and on awkward casing."""

from __future__ import annotations

import pytest
import yaml
from conftest import FIXTURES, SEEDS

from shiftwatch.analysis.extract.lexicon import fold_text, merged_list
from shiftwatch.analysis.extract.prefilter import GatedPhrases, required_word, word_gate
from shiftwatch.analysis.text.normalize import normalize_text, split_paragraphs, split_sentences

LISTS = [
    ("speech", "verbs"),
    ("speech", "according"),
    ("speech", "complementizers"),
    ("speech", "commentator_plurals"),
    ("speech", "official_roles"),
    ("speech", "person_pronouns"),
    ("comments", "chrome"),
    ("comments", "informal"),
    ("comments", "reply_openers"),
    ("comments", "contractions"),
    ("stance", "negations"),
    ("stance", "hedges"),
    ("stance", "intensifiers"),
    ("stance", "irrealis"),
]


def _texts() -> list[str]:
    texts = [normalize_text(p.read_text(encoding="utf-8")) for p in sorted(SEEDS.glob("*.txt"))]
    for path in sorted((FIXTURES / "stance").glob("corpus.*.yaml")):
        cases = yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]
        texts.append("\n".join(case["text"] for case in cases))
    texts.append("The MİNİSTER said ſo. Kremlin’s KELVIN \u212aelvin isn't here — \"we're\" SAID")
    return texts


def _ranges(text: str) -> list[tuple[int, int]]:
    return [*split_sentences(text), *split_paragraphs(text), (0, len(text)), (3, 40)]


@pytest.mark.parametrize(("lexicon", "key"), LISTS)
def test_gated_scans_find_exactly_what_plain_scans_find(lexicon, key):
    phrases = [(p, i) for i, p in enumerate(merged_list(lexicon, key))]
    if key == "official_roles":  # as speakers.py builds them: after a determiner
        phrases = [(f"the ... {p}", i) for p, i in phrases] + phrases
    gated = GatedPhrases(phrases)
    for text in _texts():
        folded = fold_text(text)
        for start, end in _ranges(text):
            assert list(gated.finditer(folded, start, end)) == list(
                gated.phrases.finditer(folded, start, end)
            ), (lexicon, key, folded[start:end])


def test_required_word_is_the_longest_literal_and_knows_its_edges():
    assert required_word("the ... minister") == ("minister", True, True)
    assert required_word("настаива*") == ("настаива", True, False)
    assert required_word("n't") == ("n't", False, True)
    assert required_word("...") is None


def test_a_phrase_without_a_literal_word_disables_the_gate():
    assert word_gate(["said", "..."]) is None
