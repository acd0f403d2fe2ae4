"""The per-document analysis, composed: language, MT artifacts, mentions, stances.

An `Analyzer` is built once per run from the watchlist (matchers and lexicons compiled
once, on first use) and then applied to batches; it holds no I/O and no state between
documents.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from shiftwatch.analysis.extract.anaphora import find_issue_references, find_short_names
from shiftwatch.analysis.extract.mentions import Matcher, compile_matcher
from shiftwatch.analysis.extract.speakers import Speaker
from shiftwatch.analysis.extract.stance import StanceModel, compile_stance_model
from shiftwatch.analysis.language.detect import detect_languages
from shiftwatch.analysis.language.translation import find_mt_artifacts, score_artifacts
from shiftwatch.analysis.text.boundaries import find_body_end
from shiftwatch.analysis.text.dates import statement_date
from shiftwatch.analysis.text.documents import build_document_with_notes
from shiftwatch.records import (
    DateSource,
    DemandTerms,
    Document,
    Entity,
    EntityKind,
    Mention,
    RawItem,
    Rejected,
    StanceObservation,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Analysis:
    """What the core found in one document."""

    document: Document
    mentions: tuple[Mention, ...]
    stances: tuple[StanceObservation, ...]


# One fetched item, built and analysed: its analysis (or why it is no document) and the
# refusals met while building it that keep the document (an impossible date).
Built = tuple["Analysis | Rejected", tuple[Rejected, ...]]


class Analyzer:
    """The watchlist compiled for analysis; apply it to every new document of a run."""

    def __init__(
        self,
        entities: Iterable[Entity],
        stop_phrases: Iterable[str] = (),
        demand_terms: Mapping[str, DemandTerms] | None = None,
    ) -> None:
        self.entities: tuple[Entity, ...] = tuple(entities)
        self._stop_phrases = tuple(stop_phrases)
        self._terms = dict(demand_terms) if demand_terms else None
        # Person names feed the MT check for one name spelled several ways (Charap/Sharap).
        self.names = tuple(
            sorted(
                {
                    alias
                    for e in self.entities
                    if e.kind is EntityKind.ACTOR
                    for forms in e.aliases.values()
                    for alias in forms
                    if alias[:1].isupper()
                }
            )
        )

    def __reduce__(self) -> tuple[type[Analyzer], tuple[object, ...]]:
        """Pickle the watchlist's parts only: a worker process compiles its own matcher and
        lexicons on first use (compiled patterns are bigger to send than to rebuild)."""
        return Analyzer, (self.entities, self._stop_phrases, self._terms)

    # Compiled on first use, once per run: a run with nothing new never pays the second or so
    # the matcher and the stance lexicons take to compile (bench/PROFILE.md).
    @functools.cached_property
    def matcher(self) -> Matcher:
        """Return the watchlist's mention matcher."""
        return compile_matcher(self.entities, self._stop_phrases)

    @functools.cached_property
    def stance_model(self) -> StanceModel:
        """Return the watchlist's stance model."""
        return compile_stance_model(self.entities, self._terms)

    def describe(self, document: Document) -> Document:
        """Return `document` with its languages, MT evidence and body end filled in."""
        lang = detect_languages(document.text, hint=document.language_hint)
        mt = find_mt_artifacts(
            document.text, language=lang.language, segments=lang.segments, names=self.names
        )
        artifacts = (*document.mt_artifacts, *mt.artifacts)  # repaired mojibake comes first
        return replace(
            document,
            language=lang.language,
            languages=lang.languages,
            segments=lang.segments,
            mt_score=score_artifacts(artifacts),
            mt_artifacts=artifacts,
            body_end=document.body_end
            if document.body_end is not None
            else find_body_end(document.text),
        )

    def analyze(self, document: Document) -> Analysis:
        """Return the analysis of one normalized document."""
        document = self.describe(document)
        found = self.matcher.find(document.id, document.text, document.language)
        short = find_short_names(document.text, found, document.language)
        short += find_issue_references(document.text, [*found, *short], document.language)
        mentions = tuple(sorted((*found, *short), key=lambda m: m.start)) if short else tuple(found)
        author = self.document_speaker(document)
        stances = tuple(self.stance_model.find(_stance_window(document), mentions, author=author))
        return Analysis(document=document, mentions=mentions, stances=_dated(stances, document))

    def document_speaker(self, document: Document) -> Speaker | None:
        """Return whose own words `document` is (a transcript, statement, interview), from its
        title and first lines, or None for a report."""
        head = f"{document.title}\n{document.text[:HEAD_CHARS]}"
        attributor = self.stance_model.attributor
        if not attributor.looks_like_transcript(head):
            return None
        return attributor.document_speaker(
            head, self.matcher.find(document.id, head, document.language)
        )

    def analyze_batch(self, documents: Sequence[Document]) -> list[Analysis]:
        """Return the analyses of `documents`, in order."""
        return [self.analyze(doc) for doc in documents]

    def build_and_analyze(self, items: Sequence[RawItem]) -> list[Built]:
        """Return, per fetched item in order, its analysed document (or why it is none) and the
        refusals met while building it that keep the document."""
        out: list[Built] = []
        for item in items:
            built, notes = build_document_with_notes(item)
            out.append((built if isinstance(built, Rejected) else self.analyze(built), notes))
        return out

    def with_cluster(
        self, analysis: Analysis, cluster_id: str, duplicate_of: str | None
    ) -> Analysis:
        """Return `analysis` with its dedupe cluster recorded on the document and stances."""
        document = replace(analysis.document, cluster_id=cluster_id, duplicate_of=duplicate_of)
        stances = tuple(replace(s, cluster_id=cluster_id) for s in analysis.stances)
        return replace(analysis, document=document, stances=stances)


HEAD_CHARS = 300  # the first lines, where a transcript names its speaker


# A fetch time standing in for an unknown publication date is no base for "yesterday".
_NOT_A_BASE = frozenset({DateSource.FETCHED, DateSource.NONE, DateSource.UNDATED})


def _dated(
    stances: Sequence[StanceObservation], document: Document
) -> tuple[StanceObservation, ...]:
    """Return the stances with the day their sentence says they were stated ("said on
    Tuesday" in an article of Thursday), where it gives one and the document's own date is
    known."""
    if document.date_source in _NOT_A_BASE:
        return tuple(stances)
    return tuple(
        replace(s, said_at=said) if (said := statement_date(s.evidence, s.published_at)) else s
        for s in stances
    )


# Stance attribution grows faster than linearly with dense text; news articles stay far
# below this, and a pathological 5 MB "article" must not stall a run (docs/reliability.md).
MAX_STANCE_CHARS = 100_000


def _stance_window(document: Document) -> Document:
    """Return `document` with its body cut at `MAX_STANCE_CHARS` for stance finding."""
    end = document.body_end if document.body_end is not None else len(document.text)
    if end <= MAX_STANCE_CHARS:
        return document
    return replace(document, body_end=MAX_STANCE_CHARS)
