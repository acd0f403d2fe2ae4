"""Common words that a cue stem once matched by accident: each made stances out of nothing
(«в настоящий момент» read as «настоять») or killed real ones («вместе с тем» read as a topic).
A stem in `stance.<lang>.yaml` must not match any of them again."""

from __future__ import annotations

import pytest

from shiftwatch.analysis.extract.lexicon import fold_text
from shiftwatch.analysis.extract.stance import _stance_cues

FALSE_FRIENDS = [
    "настоящий",  # present (настоять: to insist)
    "настоящее",
    "тем",  # вместе с тем, тем не менее (тема: a topic)
    "стремительно",  # rapidly (стремиться: to strive)
    "хоча",  # although (хотіти: to want)
    "надалі",  # henceforth (надати: to give)
    "зберігання",  # storage, of grain (зберігати: to preserve)
    "opposite",  # (oppose)
]


@pytest.mark.parametrize("word", FALSE_FRIENDS)
def test_a_common_word_is_no_cue(word: str) -> None:
    text = fold_text(f" {word} ")
    assert [text[h.start : h.end] for h in _stance_cues().cues.finditer(text)] == []
