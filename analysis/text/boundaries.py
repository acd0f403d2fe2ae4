"""Where an article's body ends: reader comments and page chrome are not news.

Every paragraph gets a score in [0, 1], how much it reads like a reader comment or page chrome
rather than reporting. A paragraph starts at `BASELINE` and gains for first/second person,
questions, reply openers ("Yes,", "Well said"), sign-offs ("best-donna", "— Mike"), chat words,
*emphasis* or SHOUTING and contractions, all outside quotes; it loses for attribution (a speech
verb beside a capitalised name: reporting). Page chrome ("Also read", "Back to top",
"Subscribe", "Comments") scores 1.

The body ends at the change point that best separates a low-scoring head from a high-scoring
tail (the split minimising the squared-free cost sum(head c) + sum(tail 1 - c)), accepted only
when the tail is clearly different: mean score >= `TAIL_MIN`, at least `BASELINE_GAP` above the
head, and made of page chrome or of at least two comment-like paragraphs. One odd paragraph
never ends an article. Cue words live in `lexicons/comments.<lang>.yaml` and
`lexicons/speech.<lang>.yaml`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from shiftwatch.analysis.extract.lexicon import PhraseSet, fold_text, merged_list
from shiftwatch.analysis.extract.prefilter import GatedPhrases
from shiftwatch.analysis.extract.speakers import find_quotes
from shiftwatch.analysis.text.normalize import split_paragraphs

BASELINE = 0.45  # a paragraph with no cue either way
TAIL_MIN = 0.55  # mean score a tail must reach to be cut off
BASELINE_GAP = 0.2  # how much the tail must out-score the head
COMMENT_LIKE = 0.6  # a paragraph at or above this reads like a comment
REPORTING = 0.15  # a paragraph at or below this is attributed reporting
CHROME_MAX_WORDS = 8  # a short paragraph holding a chrome phrase is chrome
_WORD = re.compile(r"\w+")
_SIGN_OFF = re.compile(r"(?:[-–—~]\s*[A-Za-zА-Яа-яЁёІіЇїЄєҐґ]{2,15}\s*$)|(?:\bbest[-–—]\w+)", re.I)
_EMPHASIS = re.compile(r"\*\w[^*]{0,40}\*|\b[A-ZА-ЯІЇЄҐ]{3,}\s+[A-ZА-ЯІЇЄҐ]{3,}\b")
_CAPITALISED = re.compile(r"\b[A-ZА-ЯЁІЇЄҐ][\w'’-]+")
_NUMBERED = re.compile(r"^\s*\d{1,2}\s*[/.)]\s*\S", re.M)
_SLASH_NUMBERED = re.compile(r"^\s*\d{1,2}/", re.M)
_TAGS = re.compile(r"(?<!\w)[#@]\w+")
_LEAD = re.compile(r"^[\s•*·\-–—>|]+")


@dataclass(frozen=True, slots=True)
class _CommentCues:
    chrome: GatedPhrases[str]
    informal: GatedPhrases[str]
    openers: GatedPhrases[str]
    contractions: GatedPhrases[str]
    persons: GatedPhrases[str]
    verbs: PhraseSet[str]  # "said" is in most paragraphs: a gate would cost more than it saves


@functools.cache
def _comment_cues() -> _CommentCues:
    """Return the comment and chrome lexicons of every language, compiled once."""
    persons = [
        *merged_list("speech", "first_person_singular"),
        *merged_list("speech", "first_person_plural"),
        *merged_list("speech", "second_person"),
    ]
    return _CommentCues(
        chrome=GatedPhrases((c, "chrome") for c in merged_list("comments", "chrome")),
        informal=GatedPhrases((c, "informal") for c in merged_list("comments", "informal")),
        openers=GatedPhrases((c, "opener") for c in merged_list("comments", "reply_openers")),
        contractions=GatedPhrases(
            (c, "contraction") for c in merged_list("comments", "contractions")
        ),
        persons=GatedPhrases((p, "person") for p in persons),
        verbs=PhraseSet((v, "verb") for v in merged_list("speech", "verbs")),
    )


VOICE_MAX = 0.95  # the highest score comment-like voice alone gives (chrome gives 1.0)


def comment_score(paragraph: str) -> float:
    """Return how much one paragraph reads like a reader comment or page chrome (0..1)."""
    cues = _comment_cues()
    text = _LEAD.sub("", paragraph)
    folded = fold_text(text)
    if _is_chrome(folded, cues):
        return 1.0
    outside = _outside_quotes(folded)
    score = BASELINE
    persons = sum(1 for _ in cues.persons.finditer(outside))
    score += min(0.5, 0.25 * persons)
    if "?" in outside:
        score += 0.15
    if _opens_reply(outside, cues):
        score += 0.25
    if any(True for _ in cues.informal.finditer(outside)):
        score += 0.3
    if _SIGN_OFF.search(text.rstrip(" .!")):
        score += 0.4
    if _EMPHASIS.search(outside):
        score += 0.1
    if any(True for _ in cues.contractions.finditer(outside)):
        score += 0.1
    if _attributes(outside, cues):
        score -= 0.4
    # 1.0 is kept for chrome: one paragraph of a transcript ("as you've heard, we ...") may
    # pile up comment-like voice, but a single such paragraph is not a comment section.
    return max(0.0, min(VOICE_MAX, score))


def _is_chrome(folded: str, cues: _CommentCues) -> bool:
    """Return True for a paragraph that starts with page chrome, or is short and holds it."""
    for hit in cues.chrome.finditer(folded):
        if hit.start == 0 or len(_WORD.findall(folded)) <= CHROME_MAX_WORDS:
            return True
    return False


def _outside_quotes(text: str) -> str:
    """Return `text` with quoted passages blanked (same length)."""
    chars = list(text)
    for start, end in find_quotes(text):
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _opens_reply(text: str, cues: _CommentCues) -> bool:
    """Return True when a paragraph opens like a reply ("Yes, …", "Well said!")."""
    for hit in cues.openers.finditer(text, 0, min(len(text), 20)):
        return hit.start == 0 and text[hit.end : hit.end + 1] in (",", "!", ".", "")
    return False


def _attributes(text: str, cues: _CommentCues) -> bool:
    """Return True when a speech verb stands next to a capitalised name (reporting voice)."""
    for hit in cues.verbs.finditer(text):
        window = text[max(0, hit.start - 60) : hit.end + 40]
        names = [m for m in _CAPITALISED.finditer(window) if m.start() > 0]
        if names:
            return True
    return False


# Asked twice per document (by the analyzer, then by stance when the whole text is body): the
# last answer is kept. One entry only, so no text outlives the next document.
@functools.lru_cache(maxsize=1)
def find_body_end(text: str) -> int | None:
    """Return the offset where reader comments or page chrome take over, or None when the
    whole text is the body (see the module docstring)."""
    paragraphs = split_paragraphs(text)
    if len(paragraphs) < 3:
        return None
    scores = [comment_score(text[s:e]) for s, e in paragraphs]
    cut = _change_point(scores)
    if cut is None:
        return None
    return paragraphs[cut][0]


def _change_point(scores: Sequence[float]) -> int | None:
    """Return the index of the first tail paragraph, or None when no tail stands out."""
    best, best_cost = None, 0.0
    suffix = 0.0
    for i in range(len(scores) - 1, 0, -1):
        suffix += 1.0 - 2.0 * scores[i]
        if suffix < best_cost:
            best, best_cost = i, suffix
    if best is None:
        return None
    head, tail = scores[:best], scores[best:]
    tail_mean = sum(tail) / len(tail)
    head_mean = sum(head) / len(head)
    chrome = any(s >= 1.0 for s in tail)
    comment_like = sum(1 for s in tail if s >= COMMENT_LIKE)
    if tail_mean < TAIL_MIN or tail_mean - head_mean < BASELINE_GAP:
        return None
    if not chrome and comment_like < 2:
        return None
    return _past_reporting(scores, best)


def _past_reporting(scores: Sequence[float], cut: int) -> int | None:
    """Return the cut moved past any attributed paragraph left in the tail: reporting after a
    mid-article "You may be interested in" is still the article."""
    last_report = max((i for i in range(cut, len(scores)) if scores[i] <= REPORTING), default=None)
    if last_report is None:
        return cut
    rest = scores[last_report + 1 :]
    if not rest or (not any(s >= 1.0 for s in rest) and sum(s >= COMMENT_LIKE for s in rest) < 2):
        return None
    return last_report + 1


def looks_like_thread(text: str) -> bool:
    """Return True for a social-media thread (numbered posts, hashtags, handles): its author's
    own words are commentary, only what it quotes a named speaker saying is news."""
    head = text[:4000]
    numbered = len(_NUMBERED.findall(head))
    tags = len(_TAGS.findall(head))
    return len(_SLASH_NUMBERED.findall(head)) >= 2 or (numbered >= 3 and tags >= 4)
