"""The per-document analysis, composed: language, MT artifacts, mentions, stances.

An `Analyzer` is built once per run from the watchlist (matchers and lexicons compiled
once) and then applied to batches; it holds no I/O and no state between documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from shiftwatch.analysis.mentions import compile_matcher
from shiftwatch.records import Document, Entity, Mention, StanceObservation


@dataclass(frozen=True, kw_only=True, slots=True)
class Analysis:
    """What the core found in one document."""

    document: Document
    mentions: tuple[Mention, ...]
    stances: tuple[StanceObservation, ...]


class Analyzer:
    """The watchlist compiled for analysis; apply it to every new document of a run."""

    def __init__(self, entities: Iterable[Entity], stop_phrases: Iterable[str] = ()) -> None:
        self.entities: tuple[Entity, ...] = tuple(entities)
        self.matcher = compile_matcher(self.entities, stop_phrases)

    def analyze(self, document: Document) -> Analysis:
        """Return the analysis of one normalized document."""
        mentions = tuple(self.matcher.find(document.id, document.text))
        return Analysis(document=document, mentions=mentions, stances=())

    def analyze_batch(self, documents: Sequence[Document]) -> list[Analysis]:
        """Return the analyses of `documents`, in order."""
        return [self.analyze(doc) for doc in documents]

    def with_cluster(self, analysis: Analysis, cluster_id: str, duplicate_of: str | None) -> Analysis:
        """Return `analysis` with its dedupe cluster recorded on the document and stances."""
        document = replace(analysis.document, cluster_id=cluster_id, duplicate_of=duplicate_of)
        stances = tuple(replace(s, cluster_id=cluster_id) for s in analysis.stances)
        return replace(analysis, document=document, stances=stances)
