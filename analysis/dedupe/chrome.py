"""The article body under a page's chrome, its prose outside quotations, and its opening.

Copies of one story on two sites differ mostly in what surrounds the story: menus, bylines and
timestamps, tag lists, "READ MORE" / "ALSO READ" lists, weather and currency widgets, photo
captions and credits, share prompts, licence footers. HTML pages lose most of it to trafilatura
at ingestion (`analysis/text/documents.py`); what remains, and all of it in plain-text sources, is
dropped here line by line before shingling:

- a line of at most `SHORT_LINE_WORDS` words that does not end a sentence (menus, tags,
  counters, bylines, dates, "Loading...", "partly-cloudy", "°C,");
- a photo caption or credit line (`CREDIT_RE`: "(AP Photo/...)", "via AP", "Getty Images",
  "Image source:", "©", "Фото:", ...), whatever its length;
- a line of fields set apart by "|" (bylines, timestamps, menus), or cut off mid-word with "..."
  (a teaser or a truncated caption);
- a timestamp line: at most `STAMP_MAX_WORDS` words with a clock time and no sentence end
  ("Apr 13, 2022, 7:39 AM | Updated: 7:49 am");
- a line of boilerplate (`BOILERPLATE_RE`: "READ MORE", "ALSO READ", "Share your thoughts",
  "Leave a Reply", "DMCA", licence footers, "Читайте также", ...).

Lines repeated across one source's documents are chrome too; `repeated_lines` finds them for a
caller that has a source's recent texts, and `strip_chrome(text, chrome=...)` drops them.

Two more views feed the edited-copy rule of `clustering.is_edited_copy`:

- `prose`: the body with quotations removed. Two stories on one event share what a speaker said;
  two copies of one story share the reporter's sentences as well.
- `opening`: the first `OPENING_SENTENCES` sentences of the body, where a copy keeps the wire
  story's lead and a follow-up has its own.

Measured on the real pairs (tests/corpus/mt/pairs.jsonl, dev split; bench/results.md).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable

SHORT_LINE_WORDS = 6
CAPTION_MAX_WORDS = 80  # a longer line is story text, whatever credit or teaser it holds
WRAP_MIN_CHARS = 35  # a line this long that stops mid-sentence was wrapped, not set apart
OPENING_SENTENCES = 3
OPENING_MIN_WORDS = 8  # a line shorter than this is not where a story opens (a dateline, a kicker)
STAMP_MAX_WORDS = 12  # a timestamp line with a clock time is at most this long
REPEATED_MIN_DOCS = 3  # a line in this many documents of one source is that source's chrome

_CLOCK_RE = re.compile(r"\b\d{1,2}:\d{2}\b")
# A wire dateline opening a paragraph: "HELSINKI (AP) — ", "MOSCOW, Jan 26 (Reuters) - ".
_DATELINE_RE = re.compile(
    r"[A-ZА-ЯЁ]{3,}[A-ZА-ЯЁ .'-]*(?:,[^\n()]{1,30})?\s*(?:\([^)\n]{1,40}\))?\s*[—–-]\s"
)
_TEASER_RE = re.compile(r"\w(?:\.\.\.|…)$")  # "... pose for p..." (not "...", not "etc. ...")
_SENTENCE_END_RE = re.compile(r"[.!?…:;][\"'”’»)\]]*$")
CREDIT_RE = re.compile(
    r"\((?:AP|Reuters|AFP|EPA|TASS|Xinhua)?\s*Photo\b|\bvia AP\b|Getty Images|\(Image: |"
    r"\bImage (?:credit|source|for the title)\b|^FILE - |©|\bPhoto: |\bPHOTO: |Фото: |"
    r"Фото з відкритих джерел|Перейти в фотобанк|/AFP\)|\bTT News Agency\b|\(Photo: ",
    re.IGNORECASE,
)
BOILERPLATE_RE = re.compile(
    r"^\W*(?:read more|also read|related|more stories from|more related news|share your "
    r"thoughts|share this|leave a reply|leave a comment|sign up|subscribe|advertisement|"
    r"sponsored|dmca|loading|read on the website|читайте также|читать (?:далее|подробнее|на)|"
    r"подписаться|подписывайтесь|поделиться|читайте на:|приєднуйтесь|дивіться також)\b|"
    r"this story has not been edited by|is auto-generated from a syndicated feed|"
    r"the rights to this material belong to|placed by the copyright holder|"
    r"do you want to leave a comment|please enter your (?:comment|name)",
    re.IGNORECASE,
)
# Words every match of the expressions above contains (lower case): a cheap test first.
_CREDIT_MARKERS = ("photo", "via ap", "getty", "image", "file - ", "©", "фото", "tt news")
_BOILERPLATE_MARKERS = (
    "read", "related", "more stories", "share", "leave a", "sign up", "subscribe", "advert",
    "sponsored", "dmca", "loading", "чита", "подпис", "подел", "приєдн", "дивіться", "edited by",
    "auto-generated", "rights to this material", "copyright holder", "leave a comment",
    "please enter",
)  # fmt: skip
_QUOTE_RE = re.compile(
    r'"[^"\n]{1,800}"|“[^”\n]{1,800}”|«[^»\n]{1,800}»|„[^“”\n]{1,800}[“”]|'
    r"‘[^’\n]{1,800}’|‹[^›\n]{1,800}›"
)
_SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?…])[\"'”’»)]*\s+(?=[\"“«(]?[A-ZÀ-ÖØ-ÞА-ЯЁІЇЄҐ])")


def is_chrome_line(line: str) -> bool:
    """Return whether one line is page chrome rather than story text (see the module doc)."""
    text = line.strip()
    if not text:
        return True
    return _is_short_fragment(text) or _is_marked_chrome(text)


def _is_short_fragment(text: str) -> bool:
    """Return whether a line is a few words that do not end a sentence (a menu item, a tag)."""
    return len(text.split()) <= SHORT_LINE_WORDS and not _SENTENCE_END_RE.search(text)


def _is_marked_chrome(text: str) -> bool:
    """Return whether a line is a credit, boilerplate, a "|"-separated byline or a teaser."""
    if len(text.split()) > CAPTION_MAX_WORDS:
        return False  # a paragraph of story text that mentions a photo or ends in "..."
    if text.count("|") >= 2 or _TEASER_RE.search(text) is not None or _is_timestamp(text):
        return True
    lowered = text.lower()  # the expressions are slow on long lines: test their words first
    if any(marker in lowered for marker in _CREDIT_MARKERS) and CREDIT_RE.search(text):
        return True
    return any(marker in lowered for marker in _BOILERPLATE_MARKERS) and bool(
        BOILERPLATE_RE.search(text)
    )


def _is_timestamp(text: str) -> bool:
    """Return whether a line is a publication or update time rather than a sentence."""
    return (
        len(text.split()) <= STAMP_MAX_WORDS
        and _CLOCK_RE.search(text) is not None
        and not _SENTENCE_END_RE.search(text)
    )


def line_key(line: str) -> str:
    """Return the form a line is compared in across documents (case and spacing folded)."""
    return " ".join(line.casefold().split())


def strip_chrome(text: str, chrome: Collection[str] = ()) -> str:
    """Return `text` without its chrome lines, nor lines whose `line_key` is in `chrome`.

    Credits, boilerplate and bylines go first; then hard-wrapped paragraphs are joined
    (`unwrap`), so that a wrapped line is never mistaken for a short line of chrome.
    """
    marked = [
        line
        for line in text.splitlines()
        if not _is_marked_chrome(line.strip()) and (not chrome or line_key(line) not in chrome)
    ]
    kept = [line for line in unwrap("\n".join(marked)) if line and not _is_short_fragment(line)]
    return "\n".join(kept)


def unwrap(text: str) -> list[str]:
    """Return the lines of `text` with hard-wrapped paragraphs joined into one line each.

    A line continues the one before it when that one is at least `WRAP_MIN_CHARS` long and does
    not end a sentence, or when it starts in lower case after a line that does not end one.
    A blank line always ends a paragraph, and so does a wire dateline ("HELSINKI (AP) —"): the
    line before it is a headline, which another outlet sets apart.
    """
    lines: list[str] = []
    unfinished = long_line = False  # about the last line kept
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            unfinished = False
            lines.append("")
            continue
        joins = long_line and not _DATELINE_RE.match(line)
        if lines and unfinished and (joins or line[:1].islower()):
            lines[-1] = f"{lines[-1]} {line}"
        else:
            lines.append(line)
        unfinished = not _SENTENCE_END_RE.search(lines[-1])
        long_line = len(line) >= WRAP_MIN_CHARS or line[-1:] in ",-"
    return lines


def repeated_lines(texts: Iterable[str], min_docs: int = REPEATED_MIN_DOCS) -> frozenset[str]:
    """Return the keys of lines found in at least `min_docs` of one source's `texts`."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update({line_key(line) for line in text.splitlines() if line.strip()})
    return frozenset(key for key, seen in counts.items() if seen >= min_docs)


def prose(body: str) -> str:
    """Return `body` (chrome already stripped) with its quotations cut out."""
    return _QUOTE_RE.sub(" ", body)


def opening(body: str, sentences: int = OPENING_SENTENCES) -> str:
    """Return the first `sentences` sentences of `body` (chrome already stripped)."""
    found: list[str] = []
    for line in body.splitlines():
        if len(line.split()) < OPENING_MIN_WORDS:
            continue
        found.extend(part for part in _SENTENCE_SPLIT_RE.split(line) if len(part.split()) >= 5)
        if len(found) >= sentences:
            break
    return " ".join(found[:sentences])


def head(body: str, share: float = 0.5, min_chars: int = 400) -> str:
    """Return the first `share` of `body` (at least `min_chars` characters)."""
    return body[: max(int(len(body) * share), min_chars)]
