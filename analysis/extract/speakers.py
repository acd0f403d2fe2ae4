"""Speaker attribution: who says each sentence, in English, Russian and Ukrainian.

Per sentence, in document order (a pronoun needs what came before it):

1. Quotes (“…”, «…», „…“, "…") are found per paragraph; a quote may span sentences.
2. Outside quotes, the first attribution that names someone wins: "according to X" /
   «по словам X» / «за словами X»; a speech verb with its subject before it ("Ryabkov said",
   "the diplomat stressed", "he added") or after it ("said the expert", «заявил Лавров»); a
   headline colon ("Ryabkov: …") or a name right before a quote (`Ryabkov “…”`).
3. A sentence inside a quote without its own attribution takes the quote's speaker, found in
   the sentence where the quote opens or closes (`“…,” he said.`).

Speakers are watchlist mentions (actors and parties: "Moscow", "the Kremlin" speak for their
party), pronouns and role nouns (he, she, the minister, «глава МИД», «він») that point back to
the last person named outside quotes, and commentators: actors without a party, role nouns such
as "the expert", and bare plurals ("Pundits believe"). First person outside quotes is the
author. Commentators and authors yield no party stance. The cue words live in
`lexicons/speech.<lang>.yaml`; `Attributor` compiles them once per watchlist.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from shiftwatch.analysis.extract.lexicon import fold_text, merged_list
from shiftwatch.analysis.extract.prefilter import GatedPhrases
from shiftwatch.analysis.text.normalize import split_paragraphs, split_sentences
from shiftwatch.records import Entity, EntityKind, Mention

MAX_SUBJECT_GAP = 14  # words between a subject and its speech verb ("X raised … and noted")
MAX_INVERTED_GAP = 4  # words between a speech verb and a subject after it ("said the expert")
SCARE_QUOTE_WORDS = 3  # a quote this short inside reported speech is a phrase, not a statement
_WORD = re.compile(r"\w+")
_OPENERS = {"“": "”", "«": "»", "„": "“”", '"': '"'}
_PARENTHETICAL = re.compile(
    r",\s*(?:who|which|whose|где|котор\w*|який|яка|яке|які|котр\w*)\b[^,]*,|\([^)]*\)",
    re.IGNORECASE,
)
_HEADLINE_LEAD = re.compile(r"^[\s\d.)/#•*\-–—]*")


class Mode(StrEnum):
    """How a sentence's words reach the reader (direct quotes weigh most)."""

    DIRECT = "direct"  # the speaker's own words, inside quotes
    HEADLINE = "headline"  # "Ryabkov: …"
    INDIRECT = "indirect"  # "X said that …", "according to X"
    NARRATED = "narrated"  # no one is cited: the outlet (or the author) describes


class Via(StrEnum):
    NAME = "name"
    PRONOUN = "pronoun"
    ROLE = "role"
    FIRST_PERSON = "first-person"
    AUTHOR = "author"
    TRANSCRIPT = "transcript"  # the document is this speaker's own words (title, first lines)
    PROPOSER = "proposer"  # the party whose written draft the text quotes ("the Parties shall")


@dataclass(frozen=True, slots=True)
class Speaker:
    """Who speaks: an actor, a party, or a commentator (entity_id None: unnamed)."""

    entity_id: str | None
    party_id: str | None  # None: a commentator or the author, who speak for no party
    is_party: bool
    via: Via

    @property
    def commentator(self) -> bool:
        """Return True when this speaker speaks for no party (analyst, author, reader)."""
        return self.party_id is None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A word or mention that may be the subject of a clause, resolved to a speaker."""

    start: int
    end: int
    speaker: Speaker
    after_preposition: bool
    in_quote: bool


@dataclass(frozen=True, slots=True)
class SentenceAttribution:
    """One sentence and who says it."""

    start: int
    end: int
    speakers: tuple[Speaker, ...]
    mode: Mode
    cue_start: int  # where the attribution cue (verb, colon) starts; content lies around it
    cue_end: int
    quotes: tuple[tuple[int, int], ...]  # quoted spans (inside the marks) met in this sentence
    candidates: tuple[Candidate, ...]  # subject candidates, in order

    @property
    def commentary(self) -> bool:
        """Return True when the sentence is a commentator's or the author's, not a party's."""
        return bool(self.speakers) and all(s.commentator for s in self.speakers)

    def in_quote(self, pos: int) -> tuple[int, int] | None:
        """Return the quoted span holding offset `pos`, if any."""
        for start, end in self.quotes:
            if start <= pos < end:
                return (start, end)
        return None


@dataclass(frozen=True, slots=True)
class _Cues:
    verbs: GatedPhrases[str]
    according: GatedPhrases[str]
    complementizers: GatedPhrases[str]
    pronouns: GatedPhrases[
        str
    ]  # value: "subject", "object", "first-singular", "first-plural", "plural"
    roles: GatedPhrases[str]  # value: "official" or "commentator"
    commentator_plurals: GatedPhrases[str]
    prepositions: frozenset[str]
    owner_links: frozenset[str]  # "of the": between a role noun and its party's name
    transcript: GatedPhrases[str]  # "remarks", "press conference": a speaker's own text
    question_leads: tuple[str, ...]  # "Question:": a reporter speaks
    back_references: tuple[str, ...]  # "Об этом заявил X": X said the sentences before


@functools.cache
def _speech_cues() -> _Cues:
    """Return the speech lexicons of every language, compiled (once per process)."""
    pronouns: list[tuple[str, str]] = []
    for key, value in (
        ("person_pronouns", "subject"),
        ("object_pronouns", "object"),
        ("first_person_singular", "first-singular"),
        ("first_person_plural", "first-plural"),
        ("plural_pronouns", "plural"),
    ):
        pronouns.extend((p, value) for p in merged_list("speech", key))
    roles: list[tuple[str, str]] = []
    for key, value in (("official_roles", "official"), ("commentator_roles", "commentator")):
        roles.extend(_role_phrases(merged_list("speech", key), value))
    return _Cues(
        verbs=GatedPhrases((v, "verb") for v in merged_list("speech", "verbs")),
        according=GatedPhrases((a, "according") for a in merged_list("speech", "according")),
        complementizers=GatedPhrases((c, "that") for c in merged_list("speech", "complementizers")),
        pronouns=GatedPhrases(pronouns),
        roles=GatedPhrases(roles),
        commentator_plurals=GatedPhrases(
            (c, "commentator") for c in merged_list("speech", "commentator_plurals")
        ),
        prepositions=frozenset(fold_text(p).lower() for p in merged_list("speech", "prepositions")),
        owner_links=frozenset(merged_list("speech", "owner_links")),
        transcript=GatedPhrases(
            (t, "transcript") for t in merged_list("speech", "transcript_markers")
        ),
        question_leads=tuple(q.lower() for q in merged_list("speech", "question_leads")),
        back_references=tuple(
            fold_text(b).lower() for b in merged_list("speech", "back_references")
        ),
    )


def _role_phrases(nouns: Iterable[str], value: str) -> list[tuple[str, str]]:
    """Return role-noun phrases: after a determiner in English, bare where none is listed.

    `the ... minister` alone: `...` may stand for no word, so it already matches "the
    minister" with the same end, and a plain `the minister` entry (tried after it) could never
    win; it only doubled the patterns tried at every "the" (bench/PROFILE.md)."""
    determiners = merged_list("speech", "role_determiners")
    out: list[tuple[str, str]] = []
    for noun in nouns:
        if re.search(r"[a-z]", noun):
            out.extend((f"{d} ... {noun}", value) for d in determiners)
        else:
            out.append((noun, value))
    return out


def find_quotes(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Return the spans inside quote marks in `text[start:end]` (one paragraph); nested quotes
    of the same kind count as one, an unclosed quote runs to the end."""
    stop = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    i = start
    lead = _unopened_close(text, start, stop)
    if lead is not None:  # a quote carried over from the paragraph before: it ends here
        spans.append((start, lead))
        i = lead + 1
    while (found := _OPENING.search(text, i, stop)) is not None:  # jump from mark to mark
        i = found.start()
        if _is_apostrophe_like(text, i):
            i += 1
            continue
        close = _find_close(text, i, stop)
        spans.append((i + 1, close))
        i = close + 1
    return [(a, b) for a, b in spans if b > a]


_CLOSERS_ONLY = "”»"
_OPENING = re.compile("[" + re.escape("".join(_OPENERS)) + "]")
_ANY_MARK = re.compile("[" + re.escape("".join(_OPENERS) + _CLOSERS_ONLY) + "]")
_CLOSING_STRAIGHT = re.compile(r'(?<=[.,!?…])"(?=\s*(?:[,\-–—]|\s\w))')


def _unopened_close(text: str, start: int, stop: int) -> int | None:
    """Return where a quote that opened in an earlier paragraph closes in this one (a closing
    mark before any opening one: `… never join NATO,” Ryabkov said.`), else None."""
    found = _ANY_MARK.search(text, start, stop)  # the first mark decides
    if found is None:
        return None
    i, ch = found.start(), found.group()
    if ch in _CLOSERS_ONLY:
        return i if i > start else None
    if ch == '"':
        return i if _CLOSING_STRAIGHT.match(text, i) and i > start else None
    return None


def _is_apostrophe_like(text: str, i: int) -> bool:
    """Return True when a straight quote at `i` sits inside a word (inches, o"clock)."""
    if text[i] != '"':
        return False
    before = text[i - 1] if i else " "
    after = text[i + 1] if i + 1 < len(text) else " "
    return before.isalnum() and after.isalnum()


def _find_close(text: str, i: int, stop: int) -> int:
    """Return the offset of the mark closing the quote opened at `i` (or `stop`)."""
    opener = text[i]
    closers = _OPENERS[opener]
    depth = 0
    j = i + 1
    while j < stop:
        ch = text[j]
        if opener != '"' and ch == opener and opener != "„":
            if depth == 0 and re.search(r"[.!?…]\s*[-–—]?[^\w]*\s$", text[max(i, j - 4) : j]):
                return _implicit_close(text, i, j)
            depth += 1
        elif ch in closers:
            if depth == 0:
                return j
            depth -= 1
        j += 1
    return stop


_DASH_ATTRIBUTION = re.compile(r"[.!?…,]\s*[-–—]\s+\w")


def _implicit_close(text: str, i: int, j: int) -> int:
    """Return where an unclosed quote ends when a new one opens at `j`: before a dash-led
    attribution ("… expansion. - said the expert."), else right before `j`."""
    found = _DASH_ATTRIBUTION.search(text, i, j)
    return found.start() + 1 if found else j - 1


class Attributor:
    """The speech lexicons and a watchlist's speakers; build once, use on every document."""

    def __init__(self, entities: Iterable[Entity]) -> None:
        self.entities: dict[str, Entity] = {
            e.id: e for e in entities if e.kind in (EntityKind.ACTOR, EntityKind.PARTY)
        }
        self.cues = _speech_cues()

    def looks_like_transcript(self, head: str) -> bool:
        """Return True when a title or first lines call the text remarks, a statement, an
        interview, a briefing... (`lexicons/speech.<lang>.yaml`, `transcript_markers`)."""
        return any(True for _ in self.cues.transcript.finditer(fold_text(head)))

    def document_speaker(self, head: str, mentions: Sequence[Mention]) -> Speaker | None:
        """Return whose own words a document is, from its title and first lines (`head`, with
        the `mentions` found in it): a transcript, statement, interview or briefing that names
        one actor, or no actor and one party ("Statement by the Russian Foreign Ministry")."""
        if not self.looks_like_transcript(head):
            return None
        named = [m for m in mentions if m.entity_id in self.entities]
        actors = {m.entity_id for m in named if self.entities[m.entity_id].kind == EntityKind.ACTOR}
        parties = {
            m.entity_id for m in named if self.entities[m.entity_id].kind == EntityKind.PARTY
        }
        if len(actors) == 1:
            who = self._named(actors.pop())
        elif not actors and len(parties) == 1:
            who = self._named(parties.pop())
        else:
            return None
        return None if who.commentator else replace(who, via=Via.TRANSCRIPT)

    def attribute(
        self,
        text: str,
        mentions: Sequence[Mention],
        *,
        end: int | None = None,
        until: int | None = None,
        author: Speaker | None = None,
    ) -> list[SentenceAttribution]:
        """Return every sentence of `text[:end]` with its speakers, in order; with `until`, only
        the sentences up to the end of the paragraph holding offset `until` (the same ones: a
        sentence depends on those before it and on the quotes of its own paragraph only).
        `author`: whose own words the document is (`document_speaker`): their first person, and
        every sentence no one else is cited in, except reporters' questions."""
        limit = len(text) if end is None else min(end, len(text))
        body = text[:limit]
        folded = fold_text(body)
        paragraphs = split_paragraphs(body)
        quotes = [q for p in paragraphs for q in find_quotes(body, *p)]
        stop = limit if until is None else next((e for _, e in paragraphs if e > until), limit)
        speaking = sorted(
            (m for m in mentions if m.end <= limit and m.entity_id in self.entities),
            key=lambda m: m.start,
        )
        state = _State(author)
        raw = [
            self._sentence(body, folded, s, e, quotes, speaking, mentions, state)
            for s, e in split_sentences(body)
            if s < stop
        ]
        raw = _spread_quote_speakers(raw, quotes, paragraphs)
        raw = _spread_back_references(raw, paragraphs, folded, self.cues)
        if author is None:
            return raw
        asked = [
            p
            for p in paragraphs
            if body[p[0] : p[0] + 16].lower().startswith(self.cues.question_leads)
        ]
        return [_authored(sent, author, asked) for sent in raw]

    def _sentence(
        self,
        text: str,
        folded: str,
        start: int,
        end: int,
        quotes: Sequence[tuple[int, int]],
        speaking: Sequence[Mention],
        mentions: Sequence[Mention],
        state: _State,
    ) -> SentenceAttribution:
        """Return one sentence's attribution and update the discourse state."""
        local_quotes = tuple(
            (max(a, start), min(b, end)) for a, b in quotes if a < end and b > start
        )
        ctx = _Context(text, folded, start, end, local_quotes, mentions, self.cues)
        candidates = self._candidates(ctx, speaking, state)
        found = (
            self._according(ctx, candidates)
            or self._speech_verb(ctx, candidates)
            or self._headline(ctx, candidates)
        )
        speakers, mode, cue = found if found else ((), Mode.NARRATED, (start, start))
        state.update(speakers, candidates, self.entities)
        return SentenceAttribution(
            start=start,
            end=end,
            speakers=speakers,
            mode=mode,
            cue_start=cue[0],
            cue_end=cue[1],
            quotes=local_quotes,
            candidates=tuple(candidates),
        )

    def _candidates(
        self, ctx: _Context, speaking: Sequence[Mention], state: _State
    ) -> list[Candidate]:
        """Return the possible subjects in a sentence (names, pronouns, role nouns), resolving
        each pronoun against the people named before it."""
        lo = bisect.bisect_left([m.start for m in speaking], ctx.start)
        named = [m for m in speaking[lo:] if m.start < ctx.end]
        actors = [m for m in named if self.entities[m.entity_id].kind == EntityKind.ACTOR]
        events: list[tuple[int, int, str, object]] = [(m.start, m.end, "name", m) for m in named]
        events += [
            (h.start, h.end, "pronoun", h.value)
            for h in ctx.cues.pronouns.finditer(ctx.folded, ctx.start, ctx.end)
        ]
        events += [
            (h.start, h.end, "plural", h.value)
            for h in ctx.cues.commentator_plurals.finditer(ctx.folded, ctx.start, ctx.end)
            if not _overlaps(h.start, h.end, [(m.start, m.end) for m in named])
        ]
        events += [
            (h.start, h.end, "role", h.value)
            for h in ctx.cues.roles.finditer(ctx.folded, ctx.start, ctx.end)
            if not _titles_name(ctx, h.start, h.end, actors)
        ]
        found: list[Candidate] = []
        for start, end, kind, value in sorted(events, key=lambda e: e[0]):
            speaker = self._resolve(ctx, start, end, kind, value, named, state)
            if speaker is None:
                continue
            cand = self._candidate(ctx, start, end, speaker)
            if found and found[-1].after_preposition and ctx.coordinated(found[-1].end, start):
                cand = replace(cand, after_preposition=True)  # "with Washington and NATO"
            found.append(cand)
        return found

    def _resolve(
        self,
        ctx: _Context,
        start: int,
        end: int,
        kind: str,
        value: object,
        named: Sequence[Mention],
        state: _State,
    ) -> Speaker | None:
        """Return the speaker one candidate stands for, updating who was last named."""
        if kind == "name":
            assert isinstance(value, Mention)
            entity = self.entities[value.entity_id]
            if entity.kind == EntityKind.ACTOR and ctx.in_quote(start) is None:
                state.seen_actor(entity)
            return self._named(value.entity_id)
        if kind == "pronoun":
            return self._pronoun(ctx, start, str(value), state)
        if kind == "plural":
            return Speaker(entity_id=None, party_id=None, is_party=False, via=Via.ROLE)
        return self._role(
            str(value),
            start,
            _owner_end(ctx.folded, end, named, ctx.cues.owner_links),
            named,
            state,
        )

    def _candidate(self, ctx: _Context, start: int, end: int, speaker: Speaker) -> Candidate:
        return Candidate(
            start=start,
            end=end,
            speaker=speaker,
            after_preposition=ctx.after_preposition(start),
            in_quote=ctx.in_quote(start) is not None,
        )

    def named(self, entity_id: str) -> Speaker:
        """Return the speaker a watchlist party or actor id names."""
        return self._named(entity_id)

    def _named(self, entity_id: str) -> Speaker:
        entity = self.entities[entity_id]
        if entity.kind == EntityKind.PARTY:
            return Speaker(entity_id=entity.id, party_id=entity.id, is_party=True, via=Via.NAME)
        return Speaker(entity_id=entity.id, party_id=entity.party, is_party=False, via=Via.NAME)

    def _pronoun(self, ctx: _Context, pos: int, kind: str, state: _State) -> Speaker | None:
        """Return who a pronoun stands for (first person outside quotes is the author)."""
        if kind in ("subject", "object"):
            return state.person(Via.PRONOUN)
        if kind.startswith("first") and ctx.in_quote(pos) is None:
            if state.author is not None:
                return replace(state.author, via=Via.FIRST_PERSON)
            return Speaker(entity_id=None, party_id=None, is_party=False, via=Via.AUTHOR)
        if kind.startswith("first"):
            return Speaker(entity_id=None, party_id=None, is_party=False, via=Via.FIRST_PERSON)
        return None

    def _role(
        self, kind: str, start: int, end: int, named: Sequence[Mention], state: _State
    ) -> Speaker | None:
        """Return who a role noun points back to; a party named inside it ("the US side") wins
        unless the last person named belongs to it."""
        if kind == "commentator":
            return state.commentator()
        inside = [m for m in named if start <= m.start < end]
        party = next(
            (
                self.entities[m.entity_id]
                for m in inside
                if self.entities[m.entity_id].kind == EntityKind.PARTY
            ),
            None,
        )
        person = state.person(Via.ROLE)
        if party is not None and (person is None or person.party_id != party.id):
            return Speaker(entity_id=party.id, party_id=party.id, is_party=True, via=Via.ROLE)
        return person

    def _according(
        self, ctx: _Context, candidates: Sequence[Candidate]
    ) -> tuple[tuple[Speaker, ...], Mode, tuple[int, int]] | None:
        """Return the speaker named after "according to" / «по словам», outside quotes."""
        for hit in ctx.cues.according.finditer(ctx.folded, ctx.start, ctx.end):
            if ctx.in_quote(hit.start):
                continue
            after = [
                c
                for c in candidates
                if c.start >= hit.end
                and not c.in_quote
                and not ctx.possessive(c.end)
                and ctx.words_between(hit.end, c.start) <= MAX_INVERTED_GAP
            ]
            if after:
                return _group(after, ctx), Mode.INDIRECT, (hit.start, after[0].end)
        return None

    def _speech_verb(
        self, ctx: _Context, candidates: Sequence[Candidate]
    ) -> tuple[tuple[Speaker, ...], Mode, tuple[int, int]] | None:
        """Return the subject of the first speech verb outside quotes that has one."""
        subjects = [c for c in candidates if not c.in_quote]
        for hit in ctx.cues.verbs.finditer(ctx.folded, ctx.start, ctx.end):
            if ctx.in_quote(hit.start) or ctx.in_mention(hit.start):
                continue
            before = (
                None if ctx.closes_quote(hit.start) else ctx.subject_before(subjects, hit.start)
            )
            if before:
                return before, Mode.INDIRECT, (hit.start, ctx.skip_complementizer(hit.end))
            inside = ctx.institution_before(subjects, hit.start)
            if inside:  # «В Кремле заявили», «У МЗС України заявили»: the institution speaks
                return inside, Mode.INDIRECT, (hit.start, ctx.skip_complementizer(hit.end))
            after = [
                c
                for c in subjects
                if c.start >= hit.end
                and not c.after_preposition
                and ctx.words_between(hit.end, c.start) <= MAX_INVERTED_GAP
            ]
            if after and ctx.inversion_allowed(hit.start):
                return _group(after, ctx), Mode.INDIRECT, (hit.start, hit.end)
        return None

    def _headline(
        self, ctx: _Context, candidates: Sequence[Candidate]
    ) -> tuple[tuple[Speaker, ...], Mode, tuple[int, int]] | None:
        """Return the speaker of "Name: …" or `Name “…”` at the start of a sentence."""
        lead = _HEADLINE_LEAD.match(ctx.text, ctx.start, ctx.end)
        first = lead.end() if lead else ctx.start
        for cand in candidates:
            if cand.in_quote or ctx.words_between(first, cand.start) > 2:
                break
            rest = ctx.text[cand.end : ctx.end].lstrip()
            if rest[:1] == ":" or (rest[:1] in _OPENERS and cand.speaker.via == Via.NAME):
                colon = ctx.text.index(rest[:1], cand.end)
                return (cand.speaker,), Mode.HEADLINE, (cand.start, colon + 1)
        return None


class _State:
    """What the text has said so far: the last person named, the last commentator."""

    def __init__(self, author: Speaker | None = None) -> None:
        self.last_actor: Entity | None = None
        self.last_commentator: Entity | None = None
        self.author = author  # whose own words the document is, if anyone's

    def seen_actor(self, entity: Entity) -> None:
        self.last_actor = entity
        if entity.party is None:
            self.last_commentator = entity

    def person(self, via: Via) -> Speaker | None:
        if self.last_actor is None:
            return None
        actor = self.last_actor
        return Speaker(entity_id=actor.id, party_id=actor.party, is_party=False, via=via)

    def commentator(self) -> Speaker:
        ident = self.last_commentator.id if self.last_commentator else None
        return Speaker(entity_id=ident, party_id=None, is_party=False, via=Via.ROLE)

    def update(
        self,
        speakers: Sequence[Speaker],
        candidates: Sequence[Candidate],
        entities: dict[str, Entity],
    ) -> None:
        """Remember the sentence's speaker as the person pronouns now point to."""
        for speaker in speakers:
            entity = entities.get(speaker.entity_id or "")
            if entity is not None and entity.kind == EntityKind.ACTOR:
                self.seen_actor(entity)


class _Context:
    """One sentence with the document around it, and word-level helpers."""

    def __init__(
        self,
        text: str,
        folded: str,
        start: int,
        end: int,
        quotes: tuple[tuple[int, int], ...],
        mentions: Sequence[Mention],
        cues: _Cues,
    ) -> None:
        self.text, self.folded, self.start, self.end = text, folded, start, end
        self.quotes = quotes
        self.cues = cues
        self.mention_spans = [(m.start, m.end) for m in mentions if start <= m.start < end]
        masked = _PARENTHETICAL.sub(lambda m: " " * len(m.group()), text[start:end])
        self.masked = masked

    def in_quote(self, pos: int) -> tuple[int, int] | None:
        for a, b in self.quotes:
            if a <= pos < b:
                return (a, b)
        return None

    def in_mention(self, pos: int) -> bool:
        return any(a <= pos < b for a, b in self.mention_spans)

    def words_between(self, a: int, b: int) -> int:
        return len(_WORD.findall(self.text, a, b)) if b > a else 0

    def after_preposition(self, pos: int) -> bool:
        """Return True when the word before `pos` is a preposition ("to Moscow")."""
        before = _WORD.findall(self.folded, max(self.start, pos - 30), pos)
        return bool(before) and before[-1].lower() in self.cues.prepositions

    def coordinated(self, a: int, b: int) -> bool:
        """Return True when only "and", "or" or a comma separate two offsets."""
        between = self.folded[a:b].strip(" ,").lower()
        return between in ("and", "or", "и", "или", "і", "та", "й", "або", "&")

    def possessive(self, end: int) -> bool:
        """Return True when a name ends in 's ("Russia's Tass"): an owner, not a speaker."""
        return self.folded[end : end + 2] == "'s" or self.folded[end : end + 2] == "' "

    def masked_out(self, pos: int) -> bool:
        return self.masked[pos - self.start] == " " and not self.text[pos].isspace()

    def subject_before(
        self, subjects: Sequence[Candidate], verb: int
    ) -> tuple[Speaker, ...] | None:
        """Return the subject(s) closest before a verb: skipping relative clauses and
        prepositional objects, joined by "and"."""
        usable = [
            c
            for c in subjects
            if c.end <= verb and not c.after_preposition and not self.masked_out(c.start)
        ]
        if not usable:
            return None
        last = usable[-1]
        gap = self.text[last.end : verb]
        if (
            self.words_between(last.end, verb) - self._masked_words(last.end, verb)
            > MAX_SUBJECT_GAP
        ):
            return None
        if any(q in gap for q in '”»"') and gap.strip()[:1] not in ',”»"':
            return None
        group = [last]
        for cand in reversed(usable[:-1]):
            between = self.folded[cand.end : group[-1].start].strip(" ,").lower()
            if between in ("and", "и", "і", "та", "й", "&", ""):
                group.append(cand)
            else:
                break
        return tuple(c.speaker for c in reversed(group))

    def closes_quote(self, verb: int) -> bool:
        """Return True when a speech verb follows the end of what was said (", - заявил он",
        "," he said): its subject comes after it, not before."""
        gap = self.text[max(self.start, verb - 4) : verb].rstrip()
        return gap.endswith(("-", "–", "—")) and "," in gap

    def institution_before(
        self, subjects: Sequence[Candidate], verb: int
    ) -> tuple[Speaker, ...] | None:
        """Return the party named right before a speech verb after a locative "в"/"у" («В
        МИД РФ заявили», «У Кремлі заявили»): Russian and Ukrainian name who speaks this way."""
        for cand in subjects:
            if cand.end > verb or not cand.after_preposition or cand.speaker.commentator:
                continue
            head = _WORD.findall(self.folded, max(self.start, cand.start - 4), cand.start)
            if head and head[-1].lower() in _LOCATIVES and self.words_between(cand.end, verb) == 0:
                return (cand.speaker,)
        return None

    def _masked_words(self, a: int, b: int) -> int:
        segment = self.text[a:b]
        kept = self.masked[a - self.start : b - self.start]
        return len(_WORD.findall(segment)) - len(_WORD.findall(kept))

    def inversion_allowed(self, verb: int) -> bool:
        """Return True when a verb may take its subject after it: after a quote, a comma or a
        dash (`“…,” said X`, «— заявил Лавров»), or at the start of the sentence."""
        before = self.text[self.start : verb].rstrip()
        return not before or before[-1] in ',”»"—–-:' or self.in_quote(verb - 2) is not None

    def skip_complementizer(self, pos: int) -> int:
        for hit in self.cues.complementizers.finditer(self.folded, pos, min(self.end, pos + 12)):
            if not self.text[pos : hit.start].strip(" ,"):
                return hit.end
        return pos


_LOCATIVES = frozenset({"в", "во", "у"})  # «в Кремле», «у МЗС»: where an institution sits


def _group(cands: Sequence[Candidate], ctx: _Context) -> tuple[Speaker, ...]:
    """Return the first candidate and those joined to it by "and"."""
    group = [cands[0]]
    for cand in cands[1:]:
        between = ctx.folded[group[-1].end : cand.start].strip(" ,").lower()
        if between not in ("and", "и", "і", "та", "й", "&"):
            break
        group.append(cand)
    return tuple(c.speaker for c in group)


def _overlaps(start: int, end: int, spans: Sequence[tuple[int, int]]) -> bool:
    return any(a < end and start < b for a, b in spans)


def _titles_name(ctx: _Context, start: int, end: int, actors: Sequence[Mention]) -> bool:
    """Return True when a role noun is part of a named person's title ("министр … Лавров")."""
    for m in actors:
        if m.start < end and start < m.end:
            return True
        if m.start >= end and ctx.words_between(end, m.start) <= 3:
            return True
    return False


def _spread_quote_speakers(
    sentences: list[SentenceAttribution],
    quotes: Sequence[tuple[int, int]],
    paragraphs: Sequence[tuple[int, int]] = (),
) -> list[SentenceAttribution]:
    """Return the sentences with each quote's speaker given to the quoted sentences that name
    none; the speaker comes from the sentence where the quote closes, else where it opens,
    else (a bare quote opening its paragraph, the reporters' convention for "the same speaker
    goes on") from the sentence right before the quote, when it names one speaker."""
    out = list(sentences)
    starts = {a for a, _ in paragraphs}
    for q_start, q_end in quotes:
        touched = [i for i, s in enumerate(out) if s.start < q_end and s.end > q_start]
        if not touched:
            continue
        source = next(
            (
                out[i]
                for i in reversed(touched)
                if out[i].speakers and not _inside(out[i], q_start, q_end)
            ),
            None,
        )
        if source is None:
            source = _previous_speaker(out, touched[0], q_start, starts)
        if source is None:
            continue
        for i in touched:
            sent = out[i]
            if not sent.speakers:
                out[i] = replace(
                    sent,
                    speakers=source.speakers,
                    mode=Mode.DIRECT,
                    cue_start=sent.start,
                    cue_end=sent.start,
                )
    return out


def _previous_speaker(
    sentences: Sequence[SentenceAttribution], first: int, q_start: int, starts: set[int]
) -> SentenceAttribution | None:
    """Return the sentence before a bare quote paragraph when it names a single speaker who is
    not a commentator: the quote continues that speaker's words. Within a paragraph, a quote
    opening the sentence right after a quote attributed to one speaker ("“...,” he said. “It
    is important to us ...”") goes on with that speaker too."""
    sent = sentences[first]
    opens = q_start - sent.start <= 2
    if not opens or first == 0:
        return None
    prev = sentences[first - 1]
    if len(prev.speakers) != 1 or prev.commentary or prev.speakers[0].commentator:
        return None
    if sent.start in starts:
        return prev
    same_paragraph = not any(prev.start < a <= sent.start for a in starts)
    return prev if same_paragraph and prev.mode in (Mode.DIRECT, Mode.INDIRECT) else None


def _spread_back_references(
    sentences: list[SentenceAttribution],
    paragraphs: Sequence[tuple[int, int]],
    folded: str,
    cues: _Cues,
) -> list[SentenceAttribution]:
    """Return the sentences with the speaker of a back-reference ("Об этом заявил X", "Про це
    сказав X", "This was stated by X") given to the sentences before it in its paragraph that
    name no one: news agencies state the content first and say who said it after."""
    out = list(sentences)
    for i, sent in enumerate(out):
        head = folded[sent.start : sent.start + 40].lower().lstrip(" \"«“'")
        if not head.startswith(cues.back_references) or sent.commentary:
            continue
        verb = next(iter(cues.verbs.finditer(folded, sent.start, sent.end)), None)
        speakers = _inverted_subject(sent, verb.end if verb else sent.cue_end)
        if not speakers:
            continue
        para = next(((a, b) for a, b in paragraphs if a <= sent.start < b), None)
        j = i - 1
        while j >= 0 and not out[j].speakers and (para is None or out[j].start >= para[0]):
            out[j] = replace(out[j], speakers=speakers, mode=Mode.INDIRECT)
            j -= 1
        if j == i - 1 and para is not None and sent.start == para[0] and i > 0:
            prev = out[i - 1]  # the back-reference opens its paragraph: the one before it
            if not prev.speakers:
                out[i - 1] = replace(prev, speakers=speakers, mode=Mode.INDIRECT)
    return out


def _inverted_subject(sent: SentenceAttribution, verb_end: int) -> tuple[Speaker, ...]:
    """Return who a back-reference names: the first name after its speech verb ("Об этом по
    итогам переговоров РФ и США заявил глава делегации Рябков": Рябков, not США), or nobody
    when a commentator or no one stands there."""
    after = [c for c in sent.candidates if c.start >= verb_end and not c.after_preposition]
    if not after or after[0].speaker.commentator:
        return ()
    first = after[0].speaker
    return next(((s,) for s in sent.speakers if s.entity_id == first.entity_id), (first,))


def _authored(
    sent: SentenceAttribution, author: Speaker, asked: Sequence[tuple[int, int]]
) -> SentenceAttribution:
    """Return a sentence of a speaker's own document: when no one is cited in it and it is
    not a reporter's question, it is the speaker's own direct speech."""
    if sent.speakers or any(a <= sent.start < b for a, b in asked):
        return sent
    return replace(sent, speakers=(author,), mode=Mode.DIRECT)


def _inside(sent: SentenceAttribution, q_start: int, q_end: int) -> bool:
    """Return True when the sentence's attribution cue lies inside the quote itself."""
    return q_start <= sent.cue_start < q_end and sent.cue_start != sent.start


def _owner_end(folded: str, end: int, named: Sequence[Mention], links: frozenset[str]) -> int:
    """Return where a role noun's phrase ends: past a name right after it («администрация США»,
    "the administration of the US"), whose party the role then belongs to."""
    for m in named:
        if m.start > end:
            gap = folded[end : m.start]
            if gap[:1].isspace() and gap[-1:].isspace() and " ".join(gap.split()) in {"", *links}:
                return m.end
    return end
