"""Stance: who supports, opposes or is open to which demand, sentence by sentence.

For every demand named in a sentence (a watchlist mention, or one of the demand's `opposite`
aliases), the cues of its clause are read in order (lexicons `stance.<lang>.yaml`):

- a cue before the demand governs it; `!after` cues govern a demand named before them
  ("X would not change"); a negation flips the next cue, or the demand itself when no cue
  follows it ("promised not to deploy strike weapons"); clause breaks ("but", ";") cut the chain;
- polarity multiplies: favour (+1), against (-1), negations (-1), and the demand's wording: an
  alias naming what the demand rules out (watchlist `forbids`, e.g. "expansion") or its
  counter-concept (`opposite`, e.g. "open door") counts -1, so "categorically objects to
  expansion" supports non-enlargement and "will not allow anyone to contradict the open door"
  opposes it; a `topic` cue ("talks on", "the issue of") makes the alias name the demand itself;
- an `open` cue (ready to discuss, makes it possible) gives `open`, or `opposes` when negated;
- a chain of topic cues alone is a mention, not a stance.

The holder is the subject of the outermost cue when the clause names one ("Washington refuses"),
else the sentence's speaker (see speakers.py); `!speaker` cues (should, imperative) always
belong to the speaker; `!other` cues ("no positive response") to the other side named as
subject. First person in a quote is the quote's speaker. Commentators, the author of a thread
and reader comments (text past `Document.body_end`) yield nothing.

Confidence = attribution (direct quote 0.95, headline 0.9, reported speech 0.85, narration 0.58:
the outlet's own account, never strong alone, and below the threshold with a weak cue)
x cue strength x 0.9 when the speaker was found through a pronoun or role noun x 0.8 for a
claim about another party x 0.75 under a hedge x MT_FACTOR for machine-translated text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from shiftwatch.analysis.extract.anaphora import ISSUE_WORDING
from shiftwatch.analysis.extract.lemmas import LemmaPhrases, is_noun
from shiftwatch.analysis.extract.lexicon import (
    Hit,
    PhraseSet,
    fold_text,
    load_lexicon,
    merged_list,
    split_flags,
)
from shiftwatch.analysis.extract.prefilter import GatedPhrases
from shiftwatch.analysis.extract.speakers import (
    Attributor,
    Candidate,
    Mode,
    SentenceAttribution,
    Speaker,
    Via,
)
from shiftwatch.analysis.extract.statements import statement_key
from shiftwatch.analysis.text.boundaries import find_body_end, looks_like_thread
from shiftwatch.records import (
    DemandTerms,
    Document,
    Entity,
    EntityKind,
    Mention,
    Stance,
    StanceObservation,
)

# A cue read by proximity in its clause, not by the cue chain: recorded (exports, review) but
# below MIN_CONFIDENCE, so it never moves a position. On the dev corpus such readings were right
# about one time in four (bench/results.md), too weak to count.
LOOSE_CONFIDENCE = 0.3
NEGATION_REACH = 4  # words between a negation and the cue or demand it flips
PARTICIPATION_WEIGHT = 0.75  # the weight of participation cues (extend, suspend) in lexicons
NOMINAL_FACTOR = (
    0.45  # a participation noun alone names the act, nobody's will to it: below the threshold
)
DEMAND_CUE_WEIGHT = 0.9  # a demand's own cue, from its watchlist entry
_BOTH = frozenset({"both"})
MT_SCORE_THRESHOLD = 0.5  # Document.mt_score at or above this marks the text machine-translated
MT_ARTIFACT_WEIGHT = 0.5  # an artifact this heavy inside a sentence marks that sentence
MT_FACTOR = 0.7  # machine-translated evidence weighs less
MODE_WEIGHT = {Mode.DIRECT: 0.95, Mode.HEADLINE: 0.9, Mode.INDIRECT: 0.85, Mode.NARRATED: 0.58}
RESOLVED_FACTOR = 0.9  # speaker found through a pronoun or role noun
REPORTED_FACTOR = 0.8  # a speaker's claim about another party's stance
OWNED_DEMAND_CONFIDENCE = 0.5  # "Russia's demands": a weak unit, never a change alone
CLAIM_CONFIDENCE = 0.3  # ... and at most this: below MIN_CONFIDENCE, it never moves a position
HEDGE_FACTOR = 0.75  # may, might, reportedly
INTENSIFIER_BONUS = 1.1
MAX_SUBJECT_WORDS = 14  # words between a subject and the cue it governs
MAX_CUE_GAP = 8  # words between the nearest cue and the demand it governs
MAX_LIST_WORDS = 10  # words between two items of one list of demands
MAX_LINK_WORDS = 7  # words between two cues of one chain ("wants NATO to abandon")
DIRECT_QUOTE_WORDS = 4  # a shorter quote is a phrase inside reported speech
_WORD = re.compile(r"\w+")
_SLAVIC_NE = re.compile(r"(?<!\w)не(?=\w{5})", re.IGNORECASE)
_NON_PREFIX = re.compile(r"\bnon\W*(?:\(\w+\)\W*)?$")  # "non-expansion", "non-(further)expansion"
_LEADING = re.compile(r"[\s\"'«»“”„‘’()\-–—]*")  # quote marks and dashes a sentence opens with
_COMMA = re.compile(r",|\s[-–—]\s")
_SUBITEM = re.compile(
    r"\b(?:including|in particular|such as|notably|в том числе|в частности|включая|у тому числі|"
    r"зокрема|включно з)\b",
    re.IGNORECASE,
)
_EXPERIENCER_PREPOSITIONS = frozenset({"for", "to", "для"})  # "unacceptable for X"
_CONJUNCTIONS = frozenset({"and", "и", "і", "та", "й", "або", "или", "or"})


@dataclass(frozen=True, slots=True)
class _Cue:
    kind: str  # favour, against, open, topic, other
    weight: float
    flags: frozenset[str]
    demand: str | None = None  # a demand's own cue (watchlist `cues`) governs only that demand

    @property
    def prefix(self) -> bool:
        return "after" not in self.flags

    @property
    def postfix(self) -> bool:
        return "after" in self.flags or "both" in self.flags


@dataclass(frozen=True, slots=True)
class _StanceCues:
    cues: PhraseSet[_Cue]  # every sentence scanned holds a demand and nearly always a cue
    negations: GatedPhrases[bool]  # False: looks like a negation but is not ("not only")
    hedges: GatedPhrases[str]
    irrealis: GatedPhrases[str]
    intensifiers: GatedPhrases[str]
    breaks: PhraseSet[str]  # "and", "but": present in most sentences, no gate
    corrections: PhraseSet[str]  # "not A, but B"
    acts: GatedPhrases[str]  # "decision", «решение»: "Russia's decision to quit" is Russia's act
    conditionals: GatedPhrases[str]  # "only if", «при условии»: a stance on terms is `open`
    addressing: GatedPhrases[str]  # "call on", «призвал»: who is called on is not the holder
    others: GatedPhrases[str]  # "its", "their" right after a cue: someone else's act
    reports: GatedPhrases[str]  # "statement about", «заявление о»: what someone said of it
    obligations: GatedPhrases[str]  # "shall", «обязуются»: an article of a written draft
    drafts: GatedPhrases[str]  # "draft", «проект»: the written proposal a party put forward
    relatives: GatedPhrases[str]  # "which", «которой»: a relative clause, an aside after a demand
    absent: GatedPhrases[str]  # «нет», «немає» after a demand: it does not exist
    demand_nouns: GatedPhrases[str]  # "Russia's demands that ...": the owner's demand


@functools.cache
def _stance_cues() -> _StanceCues:
    """Return the stance lexicons of every language, compiled once per process."""
    entries: list[tuple[str, _Cue]] = []
    for data in load_lexicon("stance").values():
        for kind, groups in (data.get("cues") or {}).items():
            for weight, phrases in (groups or {}).items():
                for phrase in phrases or ():
                    text, flags = split_flags(str(phrase))
                    entries.append((text, _Cue(kind=str(kind), weight=float(weight), flags=flags)))
    negations = [(n, True) for n in merged_list("stance", "negations")]
    negations += [(n, False) for n in merged_list("stance", "not_negations")]
    return _StanceCues(
        cues=PhraseSet(entries),
        negations=GatedPhrases(negations),
        hedges=GatedPhrases((h, "hedge") for h in merged_list("stance", "hedges")),
        irrealis=GatedPhrases((h, "irrealis") for h in merged_list("stance", "irrealis")),
        intensifiers=GatedPhrases(
            (h, "intensifier") for h in merged_list("stance", "intensifiers")
        ),
        breaks=PhraseSet((b, "break") for b in merged_list("stance", "clause_breaks")),
        corrections=PhraseSet((c, "instead") for c in merged_list("stance", "corrections")),
        acts=GatedPhrases(
            [(a, "act") for a in merged_list("stance", "act_nouns")]
            + [(a, "own") for a in merged_list("stance", "own_acts")]
        ),
        conditionals=GatedPhrases((c, "if") for c in merged_list("stance", "conditionals")),
        addressing=GatedPhrases((a, "to") for a in merged_list("stance", "addressing")),
        others=GatedPhrases((o, "other") for o in merged_list("stance", "other_possessives")),
        reports=GatedPhrases((r, "report") for r in merged_list("stance", "report_nouns")),
        obligations=GatedPhrases((o, "shall") for o in merged_list("stance", "obligations")),
        drafts=GatedPhrases((d, "draft") for d in merged_list("stance", "draft_nouns")),
        relatives=GatedPhrases((r, "rel") for r in merged_list("stance", "relatives")),
        absent=GatedPhrases((a, "absent") for a in merged_list("stance", "absent_after")),
        demand_nouns=GatedPhrases((d, "demand") for d in merged_list("stance", "demand_nouns")),
    )


@dataclass(frozen=True, slots=True)
class _Target:
    """A demand named in a sentence, with the lean of its wording (+1, -1, 0 = topic only)."""

    demand_id: str
    start: int
    end: int
    polarity: int


@dataclass(slots=True)
class _Reading:
    stance: Stance
    weight: float
    outer: Hit[_Cue]
    postfix: bool
    hedged: bool
    intensified: bool
    loose: bool = False  # read by proximity (`StanceModel._read_loose`)


@dataclass(frozen=True, slots=True)
class _Sentence:
    att: SentenceAttribution
    text: str
    folded: str
    spans: tuple[tuple[int, int], ...]  # names of actors, parties, venues: no cue inside
    cues: tuple[Hit[_Cue], ...]
    negations: tuple[Hit[bool], ...]
    breaks: tuple[Hit[str], ...]
    hedges: tuple[Hit[str], ...]
    irrealis: tuple[Hit[str], ...]
    intensifiers: tuple[Hit[str], ...]
    commas: tuple[Hit[str], ...]
    that: tuple[Hit[str], ...] = ()  # complementizers ("that", «что», «що»): a clause opens
    acts: tuple[Hit[str], ...] = ()  # act nouns ("decision", «решение») owned by a party
    conditional: bool = False  # the sentence sets terms ("only if", «если», «за умови»)
    addressing: tuple[Hit[str], ...] = ()
    reports: tuple[Hit[str], ...] = ()  # report nouns: a cue after one is someone's account
    objects: tuple[tuple[int, int], ...] = ()  # the demands named in the sentence
    obligations: tuple[Hit[str], ...] = ()  # "shall": the sentence is an article of a draft
    others: tuple[Hit[str], ...] = ()
    corrections: tuple[Hit[str], ...] = ()  # "not A, but B": B corrects a negated A
    relatives: tuple[Hit[str], ...] = ()
    absent: tuple[Hit[str], ...] = ()
    demand_nouns: tuple[Hit[str], ...] = ()
    lang: str = ""


@dataclass(frozen=True, slots=True)
class _DocContext:
    document: Document
    thread: bool
    mt: bool
    artifacts: tuple[tuple[int, int], ...] = field(default=())
    proposer: Speaker | None = None  # whose written draft the document quotes, if one


class StanceModel:
    """A watchlist compiled for stance finding: build once per run, apply to every document."""

    def __init__(
        self, entities: Iterable[Entity], demand_terms: Mapping[str, DemandTerms] | None = None
    ) -> None:
        self.entities = tuple(entities)
        self.by_id = {e.id: e for e in self.entities}
        self.demands = {e.id for e in self.entities if e.kind == EntityKind.DEMAND}
        self.attributor = Attributor(self.entities)
        self.cues = _stance_cues()
        terms = demand_terms or {}
        self.forbids = {d: PhraseSet((f, d) for f in t.forbids) for d, t in terms.items()}
        self.neutral = {d: PhraseSet((f, d) for f in t.neutral) for d, t in terms.items()}
        self.opposite_of = {d: PhraseSet((f, d) for f in t.opposite) for d, t in terms.items()}
        self.opposite = PhraseSet(
            (f, d) for d, t in terms.items() if d in self.demands for f in t.opposite
        )
        self.demand_cues = LemmaPhrases(
            (lang, phrase, _Cue(kind=kind, weight=DEMAND_CUE_WEIGHT, flags=_BOTH, demand=d))
            for d, t in terms.items()
            if d in self.demands
            for kind, lang, phrase in t.cues
        )

    def find(
        self, document: Document, mentions: Sequence[Mention], author: Speaker | None = None
    ) -> list[StanceObservation]:
        """Return the stances taken in `document`'s body (reader comments excluded); `author`:
        whose own words the document is, when it is a transcript or statement."""
        text = document.text
        end = document.body_end if document.body_end is not None else find_body_end(text)
        limit = len(text) if end is None else end
        ctx = _DocContext(
            document=document,
            thread=document.kind in ("tweet-thread", "thread", "social") or looks_like_thread(text),
            mt=document.mt_score >= MT_SCORE_THRESHOLD,
            artifacts=tuple(
                (a.start, a.end)
                for a in document.mt_artifacts
                if a.start is not None and a.end is not None and a.weight >= MT_ARTIFACT_WEIGHT
            ),
        )
        targets = self._targets(text, mentions, limit)
        if not targets:
            return []
        folded = fold_text(text[:limit])
        if next(iter(self.cues.obligations.finditer(folded)), None) is not None:
            # only a text that quotes an article ("shall") needs to know whose draft it is
            ctx = replace(ctx, proposer=self._proposer(document.title, text[:limit], mentions))
        # Sentences after the last demand's paragraph cannot change any stance: skip them.
        sentences = self.attributor.attribute(
            text, mentions, end=limit, until=max(t.start for t in targets), author=author
        )
        spans = tuple(
            sorted(
                (m.start, m.end) for m in mentions if m.end <= limit and m.kind != EntityKind.DEMAND
            )
        )
        out: list[StanceObservation] = []
        for i, att in enumerate(sentences):
            inside = [t for t in targets if att.start <= t.start < att.end]
            if inside and not att.commentary:
                sentence = self._sentence(att, text, folded, spans, document.language)
                if i + 1 < len(sentences) and self._terms_follow(folded, sentences[i + 1], targets):
                    sentence = replace(sentence, conditional=True)
                sentence = replace(sentence, objects=tuple((t.start, t.end) for t in inside))
                out.extend(self._observe(ctx, sentence, inside))
        return out

    def _terms_follow(
        self, folded: str, nxt: SentenceAttribution, targets: Sequence[_Target]
    ) -> bool:
        """Return True when the next sentence sets terms on the one before: it opens with a
        contrast, names no demand and holds a condition ("Moscow is ready to return to the
        deal. But this will take place only after the conditions ... are fulfilled")."""
        if any(nxt.start <= t.start < nxt.end for t in targets):
            return False
        head = _LEADING.match(folded, nxt.start, nxt.end)
        start = head.end() if head else nxt.start
        if not any(b.start == start for b in self.cues.breaks.finditer(folded, start, start + 12)):
            return False
        return any(True for _ in self.cues.conditionals.finditer(folded, nxt.start, nxt.end))

    def _proposer(self, title: str, body: str, mentions: Sequence[Mention]) -> Speaker | None:
        """Return the one party named as the author of a written draft ("the Russian Foreign
        Ministry published a draft agreement", «проект договора, предложенный Россией»): a
        party or its actor within three words of a draft noun. None when no draft is named, or
        when two parties are (whose article it is would be a guess)."""
        folded = fold_text(f"{title}\n{body}")
        drafts = list(self.cues.drafts.finditer(folded))
        if not drafts:
            return None
        shift = len(title) + 1  # the title line sits before the mentions' offsets
        found: dict[str, Speaker] = {}
        for m in mentions:
            if m.kind == EntityKind.DEMAND or m.entity_id not in self.attributor.entities:
                continue
            start, end = m.start + shift, m.end + shift
            for d in drafts:
                gap = (
                    _words(folded, end, d.start) if end <= d.start else _words(folded, d.end, start)
                )
                if gap <= 3:
                    who = self.attributor.named(m.entity_id)
                    if who.party_id and not who.commentator:
                        found[who.party_id] = who
        if len(found) != 1:
            return None
        (who,) = found.values()
        return replace(who, via=Via.PROPOSER)

    def _targets(self, text: str, mentions: Sequence[Mention], limit: int) -> list[_Target]:
        """Return the demands named before `limit`, each with the lean of its wording."""
        targets = [
            _Target(m.entity_id, m.start, m.end, self._mention_polarity(m))
            for m in mentions
            if m.kind == EntityKind.DEMAND and m.end <= limit and m.entity_id in self.demands
        ]
        folded = fold_text(text[:limit])
        taken = [(t.start, t.end) for t in targets]
        for hit in self.opposite.finditer(folded):
            if not any(a < hit.end and hit.start < b for a, b in taken):
                targets.append(_Target(hit.value, hit.start, hit.end, -1))
        return sorted(targets, key=lambda t: t.start)

    def _mention_polarity(self, mention: Mention) -> int:
        """Return the lean of a demand mention's wording. A demand named in other words than
        its alias ("NATO will not enlarge" for "NATO enlargement") leans as its alias does,
        flipped by a negation inside the words ("will not")."""
        if mention.wording == ISSUE_WORDING:
            return 0  # "this issue": the demand as a topic
        if not mention.wording:
            return self._polarity(mention.entity_id, mention.text)
        lean = self._polarity(mention.entity_id, mention.wording)
        inner = fold_text(mention.text)
        if lean == -1 and any(h.value for h in self.cues.negations.finditer(inner)):
            return 1
        return lean

    def _polarity(self, demand_id: str, text: str) -> int:
        """Return -1 when an alias names what the demand rules out (unless negated inside it,
        "non-expansion", "wouldn't expand"), 0 for a topic-only alias, else +1."""
        folded = fold_text(text)
        opposite = self.opposite_of.get(demand_id)
        if opposite and any(
            h.start == 0 and h.end == len(folded) for h in opposite.finditer(folded)
        ):
            return -1
        neutral = self.neutral.get(demand_id)
        if neutral and any(h.start == 0 and h.end == len(folded) for h in neutral.finditer(folded)):
            return 0
        forbids = self.forbids.get(demand_id)
        hits = list(forbids.finditer(folded)) if forbids else []
        if not hits:
            return 1
        if any(
            c.value.kind == "against" and not any(h.start < c.end and c.start < h.end for h in hits)
            for c in self.cues.cues.finditer(folded)
        ):
            return 1  # "sanctions lifted", «снятие санкций»: the alias names the undoing
        head = folded[: hits[0].start].lower()
        negated = bool(_NON_PREFIX.search(head)) or any(
            h.value for h in self.cues.negations.finditer(head)
        )
        # "неразмещение ракет", "нерозширення": a negative prefix on a word of what is ruled out
        bare = _SLAVIC_NE.sub("", folded)
        if not negated and bare != folded:
            negated = len(list(forbids.finditer(bare))) > len(hits)  # type: ignore[union-attr]
        return 1 if negated else -1

    def _sentence(
        self,
        att: SentenceAttribution,
        text: str,
        folded: str,
        spans: Sequence[tuple[int, int]],
        lang: str,
    ) -> _Sentence:
        """Return one sentence with its cue hits found once (cues inside mentions dropped)."""
        local = tuple((a, b) for a, b in spans if a < att.end and b > att.start)

        def free(hits: Iterable[Hit[Any]]) -> tuple[Hit[Any], ...]:
            return tuple(h for h in hits if not any(a < h.end and h.start < b for a, b in local))

        c = self.cues
        s, e = att.start, att.end
        cues = self._cues(free, folded, s, e, lang, spans)
        return _Sentence(
            att=att,
            text=text,
            folded=folded,
            spans=local,
            cues=cues,
            negations=tuple(  # "не имеет права голоса": the cue's own "не" negates nothing
                n
                for n in free(c.negations.finditer(folded, s, e))
                if not any(h.start <= n.start and n.end <= h.end for h in cues)
            ),
            breaks=free(c.breaks.finditer(folded, s, e)),
            corrections=free(c.corrections.finditer(folded, s, e)),
            lang=lang,
            hedges=free(c.hedges.finditer(folded, s, e)),
            irrealis=free(c.irrealis.finditer(folded, s, e)),
            intensifiers=free(c.intensifiers.finditer(folded, s, e)),
            commas=tuple(
                Hit(m.start(), m.end(), m.group().strip()) for m in _COMMA.finditer(folded, s, e)
            ),
            that=tuple(self.attributor.cues.complementizers.finditer(folded, s, e)),
            acts=free(c.acts.finditer(folded, s, e)),
            conditional=any(True for _ in c.conditionals.finditer(folded, s, e)),
            addressing=tuple(c.addressing.finditer(folded, s, e)),
            reports=free(c.reports.finditer(folded, s, e)),
            obligations=free(c.obligations.finditer(folded, s, e)),
            others=tuple(c.others.finditer(folded, s, e)),
            relatives=free(c.relatives.finditer(folded, s, e)),
            absent=free(c.absent.finditer(folded, s, e)),
            demand_nouns=free(c.demand_nouns.finditer(folded, s, e)),
        )

    def _cues(
        self,
        free: Callable[[Iterable[Hit[Any]]], tuple[Hit[Any], ...]],
        folded: str,
        s: int,
        e: int,
        lang: str,
        spans: Sequence[tuple[int, int]] = (),
    ) -> tuple[Hit[_Cue], ...]:
        """Return a sentence's cues: the demands' own (matched on lemmas) first, then the
        generic lexicon's where they do not overlap them."""
        own = _longest(free(self.demand_cues.finditer(folded, lang, s, e)))
        local = [(a, b) for a, b in spans if a < e and b > s]
        generic = [
            h
            for h in self.cues.cues.finditer(folded, s, e)
            # a name may fill a cue's gap ("закликаємо Росію до"), never hold part of the cue
            if not any(
                a < h.end and h.start < b and not (h.start < a and b < h.end) for a, b in local
            )
        ]
        # a demand's own cue wins where it overlaps a generic one, unless the generic one holds
        # it and more («открыты для» is readiness, not «открыть» a pipeline)
        own = [
            o
            for o in own
            if not any(
                h.start <= o.start and o.end <= h.end and h.end - h.start > o.end - o.start
                for h in generic
            )
        ]
        generic = [h for h in generic if not any(o.start < h.end and h.start < o.end for o in own)]
        return tuple(sorted((*own, *generic), key=lambda h: (h.start, -h.end)))

    def _observe(
        self, ctx: _DocContext, sent: _Sentence, targets: Sequence[_Target]
    ) -> list[StanceObservation]:
        """Return one observation per (holder, demand) in a sentence, best reading first."""
        best: dict[tuple[str, str | None, str], tuple[int, StanceObservation]] = {}
        polar: dict[tuple[str, str | None, str], set[Stance]] = {}  # both ways: unsure
        head: _Target | None = None  # the first item of a list of demands, read by its cue
        head_reading: _Reading | None = None
        last: _Target | None = None
        for target in targets:
            content = _content_start(sent, targets, target)
            if target.polarity >= 0:
                target = self._governed_lean(sent, target)
            reading = _read(sent, target)
            if content is not None and (reading is None or reading.outer.start >= content):
                continue  # what another demand says ("guarantees that the US won't withdraw")
            listed = last is not None and _listed(sent, last, target)
            if reading is None and head is not None and head_reading is not None and listed:
                reading = _read_listed(sent, head, head_reading, target)
            if reading is not None and not reading.postfix:
                if not (listed and head is not None):
                    head, head_reading = target, reading
            elif not listed:
                head = head_reading = None
            last = target
            reading = reading or self._read_loose(sent, target)
            found = [] if reading is None else self._holders(ctx, sent, target, reading)
            readings = [(reading, holder, reported) for holder, reported in found]
            owned = _owned_demand(sent, target)
            if owned is not None:
                readings.append((owned[0], owned[1], False))
            for reading, holder, reported in readings:
                obs = self._observation(ctx, sent, target, reading, holder, reported)
                key = (obs.party_id, obs.actor_id, obs.demand_id)
                if not reading.loose and obs.stance != Stance.OPEN:
                    polar.setdefault(key, set()).add(obs.stance)
                rank = (0 if target.polarity == 0 else 1, obs.confidence)
                if key not in best or rank > (best[key][0], best[key][1].confidence):
                    best[key] = (rank[0], obs)
        return [_unsure(obs) if len(polar.get(k, ())) > 1 else obs for k, (_, obs) in best.items()]

    def _read_loose(self, sent: _Sentence, target: _Target) -> _Reading | None:
        """Return the stance of a clause whose cue is too far from the demand, or on the wrong
        side of it, for `_read` ("Neither Ukraine nor Georgia should ever become members"):
        the polar cue nearest the demand in its clause, flipped by a negation right before the
        cue or the demand. Read with less confidence (`LOOSE_FACTOR`): alone it cannot move a
        position (`STRONG_CONFIDENCE`), a second independent reading can."""
        lo, hi = _clause(sent, target)
        polar = [
            h
            for h in sent.cues
            if lo <= h.start < hi
            and h.value.kind in ("favour", "against", "open")
            and h.value.demand in (None, target.demand_id)
            and not h.value.flags & {"other", "barrier"}
            and not (target.start <= h.start < target.end)
        ]
        if not polar or any(lo <= h.start < hi for h in sent.irrealis):
            return None
        before = [h for h in polar if h.end <= target.start]
        if before and any(before[-1].end <= a and b <= target.start for a, b in sent.objects):
            return None  # the nearest cue has another demand as its object
        cue = before[-1] if before else polar[0]
        sign = -1 if cue.value.kind == "against" else 1
        if self._negated(sent, lo, cue.start) != self._negated(
            sent, max(lo, cue.end), target.start
        ):
            sign = -sign
        if cue.value.kind == "open":
            stance = Stance.OPEN if sign > 0 else Stance.OPPOSES
        else:
            lean = 1 if cue.value.demand else self._lean(sent, target, lo, hi)
            stance = Stance.SUPPORTS if sign * lean > 0 else Stance.OPPOSES
        return _Reading(
            stance=stance,
            weight=cue.value.weight,
            loose=True,
            outer=cue,
            postfix=cue.start > target.start,
            hedged=any(lo <= h.start < hi for h in sent.hedges),
            intensified=any(lo <= h.start < hi for h in sent.intensifiers),
        )

    def _negated(self, sent: _Sentence, lo: int, pos: int) -> bool:
        """Return True when a negation stands within `NEGATION_REACH` words before `pos`."""
        return any(
            n.value
            and lo <= n.start
            and n.end <= pos
            and _words(sent.folded, n.end, pos) <= NEGATION_REACH
            for n in sent.negations
        )

    def _governed_lean(self, sent: _Sentence, target: _Target) -> _Target:
        """Return a demand with the lean of the words between its governing cue and it, when
        they name what the demand rules out: "refusal to admit [Ukraine and Georgia]" is about
        admission; "lifting restrictions on [exports of Russian fertilisers]" about
        restrictions."""
        lo, _ = _clause(sent, target)
        cues = [h.end for h in sent.cues if lo <= h.start and h.end <= target.start]
        forbids = self.forbids.get(target.demand_id)
        if not forbids:
            return target
        if cues and any(forbids.finditer(sent.folded, max(cues), target.start)):
            return replace(target, polarity=-1)
        # "Restrictions on [exports of Russian grain] should be lifted": the head noun of a
        # subject before its verb
        if not cues and any(
            _words(sent.folded, h.end, target.start) <= 3
            for h in forbids.finditer(sent.folded, lo, target.start)
        ):
            return replace(target, polarity=-1)
        return target

    def _lean(self, sent: _Sentence, target: _Target, lo: int, hi: int) -> int:
        """Return the lean of a demand's wording, for a topic-only alias from the words of its
        clause ("Ukraine and Georgia ... become members": membership is what it rules out)."""
        if target.polarity != 0:
            return target.polarity
        forbids = self.forbids.get(target.demand_id)
        if forbids and any(
            not (target.start <= h.start < target.end)
            for h in forbids.finditer(sent.folded, lo, hi)
        ):
            return -1
        return 1

    def _holders(
        self, ctx: _DocContext, sent: _Sentence, target: _Target, reading: _Reading
    ) -> list[tuple[Speaker, bool]]:
        """Return who holds a reading, and whether it is a claim about another party."""
        att = sent.att
        cue = reading.outer
        quote = _quote_of(att, cue.start, sent.text)
        speakers = att.speakers if (quote or att.mode != Mode.NARRATED) else ()
        if any(o.end <= cue.start or o.start >= cue.end for o in sent.obligations):
            # "The Parties shall ...", «Стороны обязуются ...»: an article of a written draft is
            # its proposer's demand, never the obliged party's stance.
            if ctx.proposer is not None:
                return [(ctx.proposer, False)]
            return [(s, False) for s in speakers if not s.commentator]  # who quotes it
        act, owner = _act_owner(sent, cue)
        if act is not None:  # "Russia's decision to quit": the owner's act, nobody's if unnamed
            if owner is None or owner.speaker.commentator:
                return []
            own = {s.party_id for s in speakers}
            return [(owner.speaker, bool(speakers) and owner.speaker.party_id not in own)]
        subject = None if reading.postfix and speakers else _subject(sent, cue, quote)
        if subject is None and any(
            cue.start < h.start and _words(sent.folded, cue.end, h.start) == 0 for h in sent.others
        ):
            return []  # "by suspending its participation": someone else's act, unnamed
        flags = cue.value.flags
        lo, hi = _clause(sent, target)
        experiencer = next(
            (
                who
                for h in sent.cues
                if lo <= h.start < hi and {"speaker", "both"} <= h.value.flags
                for who in (_experiencer(sent, h),)
                if who is not None
            ),
            None,
        )
        if experiencer is not None:  # "unacceptable for the United States": theirs
            own = {s.party_id for s in speakers}
            return [(experiencer, bool(speakers) and experiencer.party_id not in own)]
        if subject is not None and subject.via in (Via.FIRST_PERSON,):
            subject = None  # "we" in a quote: the speaker's side
        if "other" in flags:
            own = {s.party_id for s in speakers}
            if subject is None or subject.commentator or subject.party_id in own:
                return []
            return [(subject, True)]
        if "speaker" in flags and speakers:
            chosen: list[tuple[Speaker, bool]] = [(s, False) for s in speakers]
        elif "speaker" in flags and att.mode == Mode.NARRATED and not quote:
            return []  # "both must sign", written by the reporter: nobody's stance
        elif subject is not None:
            own = {s.party_id for s in speakers}
            chosen = [(subject, bool(speakers) and subject.party_id not in own)]
        else:
            chosen = [(s, False) for s in speakers]
        if att.mode == Mode.NARRATED and not quote and ctx.thread:
            return []  # a thread's author describing a party is the author's own voice
        return [(s, r) for s, r in chosen if not s.commentator and s.via != Via.AUTHOR]

    def _observation(
        self,
        ctx: _DocContext,
        sent: _Sentence,
        target: _Target,
        reading: _Reading,
        holder: Speaker,
        reported: bool,
    ) -> StanceObservation:
        att = sent.att
        quote = _quote_of(att, target.start, sent.text) or _quote_of(
            att, reading.outer.start, sent.text
        )
        mode = _mode(att, quote)
        confidence = MODE_WEIGHT[mode] * reading.weight
        if holder.via in (Via.PRONOUN, Via.ROLE):
            confidence *= RESOLVED_FACTOR
        if _under_report(sent, reading.outer):
            reported = True  # "commented on Erdogan's statement about Putin's consent to ..."
        if reported:
            # One party characterising another ("Kyiv accuses Moscow of seeking a veto"):
            # recorded, never enough to move a position.
            confidence = min(confidence * REPORTED_FACTOR, CLAIM_CONFIDENCE)
        if reading.hedged:
            confidence *= HEDGE_FACTOR
        if reading.intensified:
            confidence *= INTENSIFIER_BONUS
        mt = ctx.mt or any(a < att.end and att.start < b for a, b in ctx.artifacts)
        if mt:
            confidence *= MT_FACTOR
        if reading.loose:
            confidence = min(confidence, LOOSE_CONFIDENCE)
        if reading.outer.value is _OWNED:
            confidence = min(confidence, OWNED_DEMAND_CONFIDENCE)
        stance = reading.stance
        outer = reading.outer
        demand_cue = (
            outer.value.kind == "favour"
            and outer.value.weight >= 1.0
            and not any(
                h.value.kind == "against" and outer.end <= h.start < target.start for h in sent.cues
            )
        )
        if stance != Stance.OPEN and sent.conditional and not demand_cue:
            # "will extend only if ...", "threatens to quit if ...": open. A demand stays one
            # ("unless Moscow's demand to reconnect the bank is met, the deal ends").
            stance = Stance.OPEN
        evidence = sent.text[att.start : att.end].strip()
        return StanceObservation(
            document_id=ctx.document.id,
            party_id=holder.party_id or "",
            actor_id=None if holder.is_party else holder.entity_id,
            demand_id=target.demand_id,
            stance=stance,
            confidence=round(min(confidence, 0.99), 3),
            evidence=evidence,
            evidence_start=att.start,
            published_at=ctx.document.published_at,
            machine_translated=mt,
            reported=reported or mode == Mode.NARRATED,
            statement_id=_statement(sent, quote, holder, target, ctx.document.published_at)
            if mode == Mode.DIRECT
            else None,
            cluster_id=ctx.document.cluster_id,
            basis=_basis(sent, reading, holder, reported, mode, stance),
        )


def _content_start(sent: _Sentence, targets: Sequence[_Target], target: _Target) -> int | None:
    """Return where the clause starts when a demand is named inside what another demand of
    the sentence says: "guarantees that the US will never again withdraw from the JCPOA",
    «гарантии о том, что Штаты не выйдут из СВПД». A cue inside that clause reads the content
    of the guarantee asked for, nobody's stance on the deal; a cue before the other demand
    ("Russia needs guarantees that ...") still governs it."""
    for other in targets:
        if other.demand_id == target.demand_id or other.end > target.start:
            continue
        for that in sent.that:
            if (
                other.end <= that.start
                and that.end <= target.start
                and _words(sent.folded, other.end, that.start) <= 3
                and not any(that.end <= b.start < target.start for b in sent.breaks)
            ):
                return that.end
    return None


def _unsure(obs: StanceObservation) -> StanceObservation:
    """Return an observation read both ways in its sentence (two wordings of one demand, one
    supported and one opposed), kept below the threshold: a coin flip is no evidence."""
    basis = f"{obs.basis}; read both ways in one sentence: not counted"
    return replace(obs, confidence=min(obs.confidence, LOOSE_CONFIDENCE), basis=basis)


def _basis(
    sent: _Sentence, reading: _Reading, holder: Speaker, reported: bool, mode: Mode, stance: Stance
) -> str:
    """Return why an observation reads as it does, for the analyst: the cue, the holder rule,
    and whatever lowered or changed it."""
    cue = reading.outer
    own = f" (own cue of {cue.value.demand})" if cue.value.demand else ""
    rule = f"speaker via {holder.via}" if holder in sent.att.speakers else "subject of the cue"
    if holder.via == Via.PROPOSER:
        rule = "proposer of the draft quoted"
    parts = [f"{cue.value.kind} cue “{sent.text[cue.start : cue.end]}”{own}", f"holder: {rule}"]
    parts.append(f"{mode} speech" if mode != Mode.NARRATED else "outlet's narration")
    if reported:
        parts.append("claim about another party: not counted")
    if reading.loose:
        parts.append("loose reading (cue far from the demand): not counted")
    if stance != reading.stance:
        parts.append(f"conditional: {reading.stance} on terms, read as open")
    if reading.hedged:
        parts.append("hedged")
    return "; ".join(parts)


def _longest(hits: Iterable[Hit[_Cue]]) -> tuple[Hit[_Cue], ...]:
    """Return a demand's own cue hits without those inside a longer one of the same demand
    ("suspend" inside "suspend participation" is one cue, not two)."""
    kept: list[Hit[_Cue]] = []
    for hit in sorted(hits, key=lambda h: (h.start, -h.end)):
        if not any(
            k.value.demand == hit.value.demand and k.start <= hit.start and hit.end <= k.end
            for k in kept
        ):
            kept.append(hit)
    return tuple(kept)


def _read(sent: _Sentence, target: _Target) -> _Reading | None:
    """Return the stance a clause takes on one named demand, or None for a bare mention."""
    if any(h.value.demand for h in sent.cues):  # another demand's own cues govern nothing here
        sent = replace(
            sent, cues=tuple(h for h in sent.cues if h.value.demand in (None, target.demand_id))
        )
    lo, hi = _clause(sent, target)
    chain, leftover = _prefix_chain(sent, lo, target.start)
    post = (
        _postfix_cue(sent, target.end, hi)
        or _passive_modal(sent, target.end, hi)
        or _absent_after(sent, target.end, hi)
        or _postfix_after_aside(sent, target.end)
    )
    if not chain and post is None:
        return None
    items = [*chain, *([post] if post else [])]
    if all(hit.value.kind == "topic" for hit, _ in items):
        return None
    if (
        chain
        and chain[0][0].value.kind == "topic"
        and any(h.value.kind != "topic" for h, _ in chain)
    ):
        return None  # "appealed to Putin about the extension of the deal": a subject, no stance
    if any(h.start < target.start and lo <= h.start for h in sent.irrealis):
        return None
    if all("through" in h.value.flags for h, _ in items if h.value.kind != "topic"):
        return None  # "guarantees that X" names what is asked, not who asks it
    if leftover or any(sign < 0 for _, sign in chain):
        corrected = _correction(sent, target)
        if corrected is not None:
            return corrected
    polarity = 1
    # A topic cue nearest the demand ("refuses to discuss X") makes the alias name the issue.
    topic = bool(chain) and chain[-1][0].value.kind == "topic" and post is None
    for hit, sign in items:
        polarity *= sign
        if hit.value.kind == "against":
            polarity = -polarity
    # "ready to support X" supports X: readiness is `open` only when nothing polar follows it.
    polar_kinds = [hit.value.kind for hit, _ in items if hit.value.kind != "topic"]
    # "conditions for resuming X", "will consider returning to X": terms, whatever follows.
    is_open = polar_kinds[-1] == "open" or any("terms" in h.value.flags for h, _ in items)
    if is_open:
        stance = Stance.OPEN if polarity * (-1 if leftover else 1) > 0 else Stance.OPPOSES
    else:
        own = any(hit.value.demand for hit, _ in items)  # the demand's own cue: wording is moot
        wording = 1 if topic or own or target.polarity == 0 else target.polarity
        if leftover and target.polarity != 0:
            wording = -wording
        stance = Stance.SUPPORTS if polarity * wording > 0 else Stance.OPPOSES
    polar = [hit for hit, _ in chain if hit.value.kind != "topic"]
    outer = polar[0] if polar else post[0]  # type: ignore[index]
    return _Reading(
        stance=stance,
        weight=_weight(sent, [h for h, _ in items if h.value.kind != "topic"]),
        outer=outer,
        postfix=not chain,
        hedged=any(lo <= h.start < hi for h in sent.hedges),
        intensified=any(lo <= h.start < hi for h in sent.intensifiers),
    )


def _weight(sent: _Sentence, polar: Sequence[Hit[_Cue]]) -> float:
    """Return a reading's cue strength. A participation noun alone ("the situation with the
    extension of the deal", «ситуация с продлением сделки») names the act, nobody's will to
    it ("after the signing of the agreement", «после подписания соглашения»): it weighs
    `NOMINAL_FACTOR` as much, which keeps it below the threshold, on record but never counted
    (on the dev corpus, 2026-12-03, half of the readings it removed were wrong: 4 of 8)."""
    weight = max(h.value.weight for h in polar)
    cue = polar[0]
    if len(polar) == 1 and (cue.value.weight <= PARTICIPATION_WEIGHT or cue.value.demand):
        first = _WORD.search(sent.folded, cue.start, cue.end)
        if first and (is_noun(first.group(), sent.lang) or _after_determiner(sent, cue.start)):
            weight *= NOMINAL_FACTOR
    return weight


@functools.cache
def _lexicon_words(key: str, lang: str) -> frozenset[str]:
    """Return one language's word list of the stance lexicon (empty where it has none)."""
    return frozenset(str(w) for w in (load_lexicon("stance").get(lang) or {}).get(key) or ())


def _after_determiner(sent: _Sentence, pos: int) -> bool:
    """Return True when a cue follows a determiner (lexicon `nominal_determiners`): "a return
    to the deal" names the act ("return" is a verb and a noun; the determiner says which)."""
    return _word_before(sent, pos) in _lexicon_words("nominal_determiners", sent.lang)


def _correction(sent: _Sentence, target: _Target) -> _Reading | None:
    """Return the reading of a cue that corrects a negated one after the demand ("is not
    pulling out of the deal, only suspending its participation", «не вышла из сделки, а
    приостановила участие»): the stance is the correction's, the negation says nothing."""
    for fix in sent.corrections:
        if fix.start < target.end or _words(sent.folded, target.end, fix.start) > MAX_LINK_WORDS:
            continue
        cue = next(
            (
                h
                for h in sent.cues
                if h.start >= fix.end
                and h.value.kind in ("favour", "against")
                and _words(sent.folded, fix.end, h.start) <= 2
            ),
            None,
        )
        if cue is None:
            return None
        sign = (-1 if cue.value.kind == "against" else 1) * (target.polarity or 1)
        return _Reading(
            stance=Stance.SUPPORTS if sign > 0 else Stance.OPPOSES,
            weight=cue.value.weight,
            outer=cue,
            postfix=True,
            hedged=False,
            intensified=False,
        )
    return None


def _clause(sent: _Sentence, target: _Target) -> tuple[int, int]:
    """Return the clause around a demand: between the nearest breaks on either side."""
    lo, hi = sent.att.start, sent.att.end
    for hit in sent.breaks:
        if hit.end <= target.start:
            lo = max(lo, hit.end)
        elif hit.start >= target.end:
            hi = min(hi, hit.start)
    return lo, hi


def _prefix_chain(sent: _Sentence, lo: int, stop: int) -> tuple[list[tuple[Hit[_Cue], int]], bool]:
    """Return the cues before a demand with their negation signs, and a negation left over."""
    events: list[tuple[int, str, Hit[Any]]] = []
    events += [
        (h.start, "cue", h) for h in sent.cues if lo <= h.start and h.end <= stop and h.value.prefix
    ]
    events += [(h.start, "comma", h) for h in sent.commas if lo <= h.start < stop]
    events += [(h.start, "neg", h) for h in sent.negations if lo <= h.start and h.end <= stop]
    events.sort(key=lambda e: e[0])
    chain: list[tuple[Hit[_Cue], int]] = []
    pending = False
    last = lo
    for pos, kind, hit in events:
        if pending and (
            _conjunction_between(sent.folded, last, pos)
            or (kind == "cue" and _free_words(sent, last, pos) > NEGATION_REACH)
        ):
            pending = False  # "had not seen adequate consideration of our demands": too far
        if kind == "comma":
            # a negation left unabsorbed does not cross a comma; right before one it is
            # repeated for emphasis ("never — never ever — becomes")
            pending = pending and _repeated_negation(sent, last, pos)
        elif kind == "neg":
            pending = pending or bool(hit.value)
        else:
            if "barrier" in hit.value.flags:
                chain = []
            elif chain and _words(sent.folded, chain[-1][0].end, hit.start) > MAX_LINK_WORDS:
                chain = []  # too far apart to govern one another
            elif chain and _conjunction_between(sent.folded, chain[-1][0].end, hit.start):
                chain.pop()  # "prevent X and deny Y": coordinated, not nested
            elif chain and any(chain[-1][0].end <= a and b <= hit.start for a, b in sent.objects):
                chain = []  # "недопущение A, отказ от B": the first cue has its object already
            chain.append((hit, -1 if pending else 1))
            pending = False
        last = hit.end
    if pending and _conjunction_between(sent.folded, last, stop):
        pending = False
    if chain and _words(sent.folded, chain[-1][0].end, stop) > MAX_CUE_GAP:
        return [], False  # the nearest cue is too far from the demand to govern it
    return chain, pending


def _repeated_negation(sent: _Sentence, last: int, comma: int) -> bool:
    """Return True when a negation right before a comma or dash is repeated right after it
    ("never — never ever —"): one emphatic negation, not a negation left behind."""
    if _words(sent.folded, last, comma) > 1:
        return False
    after = any(
        n.value and n.start > comma and _words(sent.folded, comma, n.start) == 0
        for n in sent.negations
    )
    before = max((c.end for c in sent.commas if c.end <= last), default=-1)
    inside = any(  # the closing dash of "— never ever —"
        n.value and n.start >= before and _words(sent.folded, before, n.start) == 0
        for n in sent.negations
    )
    return after or (before >= 0 and inside and _words(sent.folded, before, comma) <= 2)


def _free_words(sent: _Sentence, a: int, b: int) -> int:
    """Return the words between two offsets that are not inside a name ("NO to #Ukraine &
    #Georgia's aspirations": two words, the names do not count)."""
    return sum(
        1
        for m in _WORD.finditer(sent.folded, a, b)
        if not any(x <= m.start() < y for x, y in sent.spans)
    )


def _words(folded: str, a: int, b: int) -> int:
    return len(_WORD.findall(folded, a, b)) if b > a else 0


def _postfix_cue(sent: _Sentence, start: int, hi: int) -> tuple[Hit[_Cue], int] | None:
    """Return the first cue after a demand that governs what precedes it, with its sign."""
    for hit in sent.cues:
        if start <= hit.start < hi and (
            _words(sent.folded, start, hit.start) > MAX_LINK_WORDS
            or _conjunction_between(sent.folded, start, hit.start)
            or any(start <= c.start < hit.start and c.value == "," for c in sent.commas)
        ):
            return None  # "…, and also mentioned the inadmissibility of …" governs nothing here
        if start <= hit.start < hi and hit.value.postfix:
            if _participle_modifier(sent, start, hit):
                return None  # "sanctions imposed against Iran": which sanctions, no predicate
            negated = any(start <= n.start < hit.start and n.value for n in sent.negations)
            return hit, -1 if negated else 1
        if start <= hit.start < hi and hit.value.kind != "topic":
            return None
    return None


def _postfix_after_aside(sent: _Sentence, start: int) -> tuple[Hit[_Cue], int] | None:
    """Return the cue after a relative clause set off by commas right after a demand, which
    governs the demand across it: «основания для продления сделки, срок которой истекает 17
    июля, отсутствуют» (no grounds); an «оснований ... нет» reads as an against cue."""
    comma = next((c for c in sent.commas if c.start >= start), None)
    if comma is None or comma.value != "," or _words(sent.folded, start, comma.start):
        return None
    if not any(
        r.start >= comma.end and _words(sent.folded, comma.end, r.start) <= 1
        for r in sent.relatives
    ):
        return None
    close = next((c for c in sent.commas if c.start > comma.end and c.value == ","), None)
    if close is None:
        return None
    hi = min((b.start for b in sent.breaks if b.start >= close.end), default=sent.att.end)
    return _postfix_cue(sent, close.end, hi) or _absent_after(sent, close.end, hi)


def _participle_modifier(sent: _Sentence, start: int, hit: Hit[_Cue]) -> bool:
    """Return True when a cue right after a demand is a participle (lexicon
    `participle_endings`) that tells which one it is ("sanctions imposed against Iran"), not
    what someone does to it."""
    endings = tuple(_lexicon_words("participle_endings", sent.lang))
    if not endings or _words(sent.folded, start, hit.start):
        return False
    first = _WORD.search(sent.folded, hit.start, hit.end)
    return bool(first) and first.group().lower().endswith(endings)  # type: ignore[union-attr]


def _passive_modal(sent: _Sentence, start: int, hi: int) -> tuple[Hit[_Cue], int] | None:
    """Return "should be lifted", «должны быть сняты», «мають бути зняті» after a demand that
    is their subject ("Restrictions on Russian exports should also be lifted") as one cue: the
    speaker's demand (the modal's flags), leaning as the verb does."""
    after = [h for h in sent.cues if start <= h.start < hi]
    if len(after) < 2 or any(start <= c.start < after[0].start for c in sent.commas):
        return None
    modal, verb = after[0], after[1]
    if (
        modal.value.kind != "favour"
        or "speaker" not in modal.value.flags
        or _free_words(sent, start, modal.start) > 6
        or verb.value.kind not in ("favour", "against")
        or verb.value.flags - _BOTH
        or _words(sent.folded, modal.end, verb.start) > 2
    ):
        return None
    negated = any(start <= n.start < verb.start and n.value for n in sent.negations)
    cue = _Cue(verb.value.kind, min(modal.value.weight, verb.value.weight), modal.value.flags)
    return Hit(modal.start, verb.end, cue), -1 if negated else 1


def _absent_after(sent: _Sentence, start: int, hi: int) -> tuple[Hit[_Cue], int] | None:
    """Return «нет», «немає» right after a demand as an against cue: «підстав для продовження
    угоди немає» (there are no grounds for extending it)."""
    absent = next((a for a in sent.absent if start <= a.start < hi), None)
    if absent is None or _words(sent.folded, start, absent.start) > 1:
        return None
    return Hit(absent.start, absent.end, _ABSENT), 1


_ABSENT = _Cue(kind="against", weight=0.9, flags=frozenset({"after"}))


def _conjunction_between(folded: str, a: int, b: int) -> bool:
    """Return True when "and" (и, та …) separates two offsets: a negation stops there."""
    return any(w.lower() in _CONJUNCTIONS for w in _WORD.findall(folded, a, b))


def _subject(sent: _Sentence, cue: Hit[_Cue], quote: tuple[int, int] | None) -> Speaker | None:
    """Return the nearest subject before a cue in its clause: not after a preposition, not a
    possessive unless it owns the cue ("Russia's demands"), inside the same quote."""
    att = sent.att
    floor = att.cue_end if att.cue_end <= cue.start and att.mode != Mode.NARRATED else att.start
    for hit in (*sent.breaks, *sent.that):
        if hit.end <= cue.start:
            floor = max(floor, hit.end)  # "X told Y that Z wants": Z, not Y
    best: Candidate | None = None
    for cand in att.candidates:
        if cand.end > cue.start or cand.start < floor or cand.after_preposition:
            continue
        if (quote is not None) != cand.in_quote:
            continue
        if any(h.end <= cand.start and cand.end <= cue.start for h in sent.addressing):
            continue  # "X calls on Y to ...": Y is called on, X holds the stance
        if quote is not None and not (quote[0] <= cand.start < quote[1]):
            continue
        gap = len(_WORD.findall(sent.folded, cand.end, cue.start))
        if gap > MAX_SUBJECT_WORDS:
            continue
        possessive = (
            sent.folded[cand.end : cand.end + 2] in ("'s", "' ")
            or sent.folded[cand.end : cand.end + 1] == "'"
        )
        if possessive and gap > 1 and "other" not in cue.value.flags:
            continue
        best = cand
        break  # the first name of the clause is its subject; later ones are objects
    return best.speaker if best else None


def _read_listed(
    sent: _Sentence, head: _Target, reading: _Reading, item: _Target
) -> _Reading | None:
    """Return the reading of a later item of a list whose first item has `reading`. Items that
    repeat the first one's preposition ("renunciation of A, of B and of C", «отказ от A, от B»)
    share its whole chain; others share only the outermost cue ("three demands: A, the
    renunciation of B, and C")."""
    if _word_before(sent, head.start) == _word_before(sent, item.start):
        return _read(sent, replace(item, start=head.start, end=head.end)) or reading
    cue = reading.outer
    if _words(sent.folded, cue.end, head.start) == 0:
        return None  # the head's own verb or noun ("недопущение A, возврат B"): not the item's
    if cue.value.kind == "open":
        return replace(reading, stance=Stance.OPEN)
    sign = (1 if cue.value.kind != "against" else -1) * (item.polarity or 1)
    return replace(reading, stance=Stance.SUPPORTS if sign > 0 else Stance.OPPOSES)


def _word_before(sent: _Sentence, pos: int) -> str:
    words = _WORD.findall(sent.folded, max(0, pos - 30), pos)
    return words[-1].lower() if words else ""


def _listed(sent: _Sentence, a: _Target, b: _Target) -> bool:
    """Return True when two demands are items of one list: only a comma or "and" (и, та, or)
    and a few words between them, no clause break and no negation."""
    if b.start <= a.end or _free_words(sent, a.end, b.start) > MAX_LIST_WORDS:
        return False
    between = sent.folded[a.end : b.start]
    if not ("," in between or _conjunction_between(sent.folded, a.end, b.start)):
        return False
    if _SUBITEM.search(between):
        return False  # "weapons ..., including the missile defense system": a part, not an item
    return not any(
        a.end <= h.start < b.start for h in (*sent.breaks, *(n for n in sent.negations if n.value))
    )


def _under_report(sent: _Sentence, cue: Hit[_Cue]) -> bool:
    """Return True when a report noun governs the cue ("the statement about Putin's consent
    to extend", «заявления о продлении», «чутки про вихід»): an account of a stance, not one."""
    lo = max((b.end for b in sent.breaks if b.end <= cue.start), default=sent.att.start)
    return any(
        lo <= r.start
        and r.end <= cue.start
        and _free_words(sent, r.end, cue.start) <= MAX_LINK_WORDS
        for r in sent.reports
    )


def _experiencer(sent: _Sentence, cue: Hit[_Cue]) -> Speaker | None:
    """Return the party an evaluation is for: "unacceptable to Washington", «неприемлемы для
    США», «неприйнятні для Києва» (a name right after "for"/"to"/"для", next to the cue)."""
    for cand in sent.att.candidates:
        if not cand.after_preposition or cand.speaker.commentator:
            continue
        head = sent.folded[max(0, cand.start - 6) : cand.start].lower().split()
        if not head or head[-1] not in _EXPERIENCER_PREPOSITIONS:
            continue
        near = (
            _words(sent.folded, cue.end, cand.start) <= 2
            if cand.start >= cue.end
            else _words(sent.folded, cand.end, cue.start) <= 2
        )
        if near:
            return cand.speaker
    return None


def _owned_demand(sent: _Sentence, target: _Target) -> tuple[_Reading, Speaker] | None:
    """Return the reading of a demand named as its owner's ("Russia's demands that NATO ...",
    «требования Москвы о нерасширении НАТО»): the owner supports what it asks for, whoever
    reports it and whatever the reporter thinks of it ("will not bend to Russia's demands")."""
    lo, _ = _clause(sent, target)
    noun = next(
        (
            h
            for h in reversed(sent.demand_nouns)
            if lo <= h.start
            and h.end <= target.start
            and _free_words(sent, h.end, target.start) <= MAX_CUE_GAP
        ),
        None,
    )
    if noun is None or any(noun.end <= n.start < target.start for n in sent.negations):
        return None
    between = [
        h
        for h in sent.cues
        if noun.end <= h.start and h.end <= target.start and h.value.kind in ("favour", "against")
    ]
    sign = (-1) ** sum(h.value.kind == "against" for h in between) * (target.polarity or 1)
    if target.polarity < 0 and not between:
        return None  # "Russia's demands on NATO enlargement": about it, which way unsaid
    owner = _owner(sent, noun, target.start, lambda s: bool(s.party_id) and not s.commentator)
    if owner is None:
        return None
    stance = Stance.SUPPORTS if sign > 0 else Stance.OPPOSES
    hit = Hit(noun.start, noun.end, _OWNED)
    return _Reading(stance, _OWNED.weight, hit, False, False, False), owner.speaker


_OWNED = _Cue(kind="favour", weight=0.8, flags=frozenset())


def _act_owner(sent: _Sentence, cue: Hit[_Cue]) -> tuple[Hit[str] | None, Candidate | None]:
    """Return the party or person whose act a cue names: "Russia's decision to suspend",
    «решение России выйти», «рішення Росії вийти» (an act noun right before the cue, its owner
    right before it or right after it). When someone else speaks, that is their report of the
    owner's act, not their own stance."""
    act = next(
        (
            h
            for h in reversed(sent.acts)
            if h.end <= cue.start and _words(sent.folded, h.end, cue.start) <= 2
        ),
        None,
    )
    if act is None or act.value == "own":
        return None, None  # "Turkey is making efforts to extend": the subject's own act
    return act, _owner(sent, act, cue.start)


def _owner(
    sent: _Sentence,
    noun: Hit[Any],
    limit: int,
    accept: Callable[[Speaker], bool] = lambda _: True,
) -> Candidate | None:
    """Return the first accepted name that owns a noun: right before it, one word allowed
    ("Russia's decision"), or right after it and before `limit` («решение России выйти»)."""
    for cand in sent.att.candidates:
        before = cand.end <= noun.start and _words(sent.folded, cand.end, noun.start) <= 1
        after = (
            noun.end <= cand.start
            and cand.end <= limit
            and _words(sent.folded, noun.end, cand.start) == 0
        )
        if (before or after) and accept(cand.speaker):
            return cand
    return None


def _quote_of(att: SentenceAttribution, pos: int, text: str) -> tuple[int, int] | None:
    """Return the quote holding `pos` when it is a statement, not a phrase in reported speech."""
    quote = att.in_quote(pos)
    if quote is None or len(_WORD.findall(text, *quote)) < DIRECT_QUOTE_WORDS:
        return None
    return quote


def _mode(att: SentenceAttribution, quote: tuple[int, int] | None) -> Mode:
    """Return how the evidence reached the reader: a real quote is direct speech."""
    if not att.speakers:
        return Mode.NARRATED
    if quote is not None:
        return Mode.DIRECT
    return Mode.INDIRECT if att.mode == Mode.DIRECT else att.mode


def _statement(
    sent: _Sentence,
    quote: tuple[int, int] | None,
    holder: Speaker,
    target: _Target,
    published_at: datetime | None,
) -> str | None:
    """Return the statement id of quoted evidence (same quote anywhere = one statement).

    The day of publication is part of the key, so a speaker's restatement weeks later is a
    new statement (it can restore a position) while same-day echoes stay one.
    """
    if quote is None:
        return None
    return statement_key(
        sent.text[quote[0] : quote[1]],
        speaker_id=holder.entity_id,
        entity_ids=[target.demand_id],
        published_at=published_at,
    )


_MODELS: dict[tuple[Any, ...], StanceModel] = {}


def _model_key(
    entities: Sequence[Entity], terms: Mapping[str, DemandTerms] | None
) -> tuple[Any, ...]:
    ents = tuple(
        (e.kind, e.id, e.party, tuple(sorted((k, tuple(v)) for k, v in e.aliases.items())))
        for e in entities
    )
    return (ents, tuple(sorted((terms or {}).items())))


def compile_stance_model(
    entities: Sequence[Entity], demand_terms: Mapping[str, DemandTerms] | None = None
) -> StanceModel:
    """Return the compiled model for a watchlist, cached: the same watchlist compiles once."""
    key = _model_key(entities, demand_terms)
    model = _MODELS.get(key)
    if model is None:
        model = _MODELS[key] = StanceModel(entities, demand_terms)
    return model


def find_stances(
    document: Document,
    mentions: Sequence[Mention],
    watchlist_entities: Sequence[Entity],
    *,
    demand_terms: Mapping[str, DemandTerms] | None = None,
) -> list[StanceObservation]:
    """Return the stances taken in `document` (see the module docstring for the rules)."""
    return compile_stance_model(watchlist_entities, demand_terms).find(document, mentions)
