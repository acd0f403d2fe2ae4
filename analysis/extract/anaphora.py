"""Short names for an agreement already named: "the Black Sea Grain Initiative ... the deal".

Reports name an agreement in full once and then say "the deal", "the initiative", "сделка",
"угода". Those later short names are mentions of the same demand when (all must hold):

- the demand was named before, with an alias whose last word is a head noun of the lexicon
  (`anaphora.<lang>.yaml`: groups of nouns used for one another: deal, agreement, initiative);
- no other demand named in the document claims a noun of the same group (two agreements in
  one text: a short name would be a guess, so none is taken);
- in English the noun follows a definite determiner right before it ("the deal", not "a
  deal"); in Russian and Ukrainian no adjective other than a demonstrative stands right before
  it ("новая сделка" is another deal).

A demand taken up again as an issue ("open to talks on this issue", «по этому вопросу») refers
to the one demand named in the words just before it (`ISSUE_REACH` characters; none when two
are named there) and names it as a topic (`ISSUE_WORDING`: no lean of its own).

Pure: text and mentions in, extra mentions out.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from shiftwatch.analysis.extract.lemmas import is_adjective, lemma
from shiftwatch.analysis.extract.lexicon import PhraseSet, fold_text, load_lexicon
from shiftwatch.records import EntityKind, Mention

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
ISSUE_REACH = 300  # characters before "this issue" where its demand must be named
ISSUE_WORDING = "(the issue)"  # the wording of a back-reference: a topic, no lean


@functools.cache
def _groups(lang: str) -> tuple[dict[str, int], frozenset[str]]:
    """Return `{head lemma: group}` and the determiners of one language (empty when none)."""
    data = load_lexicon("anaphora").get(lang)
    if not data:
        return {}, frozenset()
    heads = {
        lemma(noun, lang): i for i, group in enumerate(data.get("heads") or ()) for noun in group
    }
    dets = frozenset(lemma(d, lang) for d in data.get("determiners") or ())
    return heads, dets


def find_short_names(text: str, mentions: Sequence[Mention], lang: str) -> list[Mention]:
    """Return the later short names of demands named in full before them in `text`."""
    heads, dets = _groups(lang)
    demands = [m for m in mentions if m.kind == EntityKind.DEMAND]
    if not heads or not demands:
        return []
    first: dict[int, tuple[str, int]] = {}  # group -> (demand, where it was first named)
    claimed: dict[int, set[str]] = {}
    for m in demands:
        words = _WORD.findall(m.text)
        group = heads.get(lemma(words[-1], lang)) if words else None
        if group is None:
            continue
        claimed.setdefault(group, set()).add(m.entity_id)
        first.setdefault(group, (m.entity_id, m.end))
    taken = [(m.start, m.end) for m in mentions]
    words = list(_WORD.finditer(text))
    out: list[Mention] = []
    for i, w in enumerate(words):
        group = heads.get(lemma(w.group(), lang))
        if group is None or len(claimed.get(group, ())) != 1:
            continue
        demand, named_at = first[group]
        if w.start() < named_at or any(a < w.end() and w.start() < b for a, b in taken):
            continue
        prev = words[i - 1].group() if i else ""
        adjacent = bool(i) and not text[words[i - 1].end() : w.start()].strip(" \u00a0«\"'“")
        prev_lemma = lemma(prev, lang) if adjacent else ""
        if lang in ("ru", "uk"):
            if adjacent and prev_lemma not in dets and is_adjective(prev, lang):
                continue
        elif prev_lemma not in dets:
            continue
        out.append(
            Mention(
                document_id=demands[0].document_id,
                kind=EntityKind.DEMAND,
                entity_id=demand,
                text=w.group(),
                start=w.start(),
                end=w.end(),
            )
        )
    return out


@functools.cache
def _issues(lang: str) -> PhraseSet[bool] | None:
    """Return the issue back-references of a language ("this issue", «этот вопрос»), or None."""
    data = load_lexicon("anaphora").get(lang) or {}
    phrases = data.get("issues") or ()
    return PhraseSet((str(p), True) for p in phrases) if phrases else None


def find_issue_references(text: str, mentions: Sequence[Mention], lang: str) -> list[Mention]:
    """Return "this issue", «этот вопрос» as mentions of the one demand named just before."""
    phrases = _issues(lang)
    demands = [m for m in mentions if m.kind == EntityKind.DEMAND]
    if phrases is None or not demands:
        return []
    out: list[Mention] = []
    for hit in phrases.finditer(fold_text(text)):
        if any(m.start < hit.end and hit.start < m.end for m in mentions):
            continue
        named = {
            m.entity_id
            for m in demands
            if hit.start - ISSUE_REACH <= m.start and m.end <= hit.start
        }
        if len(named) != 1:
            continue
        out.append(
            Mention(
                document_id=demands[0].document_id,
                kind=EntityKind.DEMAND,
                entity_id=named.pop(),
                text=text[hit.start : hit.end],
                start=hit.start,
                end=hit.end,
                wording=ISSUE_WORDING,
            )
        )
    return out
