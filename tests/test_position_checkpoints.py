"""Issue 17 item 3: a run replays the touched pairs from their checkpoints, and that gives the
positions, shifts and announcements the full replay of every observation gives."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from shiftwatch.models import documents as document_store
from shiftwatch.models import queries
from shiftwatch.models import stances as stance_store
from shiftwatch.models.db import open_database, session_scope
from shiftwatch.pipeline import positions as positions_step
from shiftwatch.records import Document, Stance, StanceObservation

PAIRS = (("russia", "nato-nonenlargement"), ("usa", "nato-nonenlargement"))
DAY0 = datetime(2022, 1, 1, tzinfo=UTC)
# When a row was written or a possible shift confirmed: the two databases differ by the
# microseconds between their writes (seed 16 confirms a held shift).
WALL_CLOCK = ("updated_at", "detected_at", "confirmed_at")


def _scenario(seed: int) -> list[list[tuple[Document, list[StanceObservation]]]]:
    """Return batches of documents with their observations: mostly in time order, some late
    (backfill), some undated, some copies of earlier stories or restatements of one quote."""
    rng = random.Random(seed)
    docs: list[tuple[Document, list[StanceObservation]]] = []
    stance = {pair: rng.choice(list(Stance)) for pair in PAIRS}
    for i in range(70):
        doc_id = f"d{seed:03d}{i:03d}"
        day = i // 2 - (rng.randrange(25) if rng.random() < 0.1 else 0)
        at = None if rng.random() < 0.05 else DAY0 + timedelta(days=max(day, 0), hours=i % 7)
        cluster = docs[rng.randrange(len(docs))][0].id if docs and rng.random() < 0.2 else doc_id
        doc = Document(
            id=doc_id, source_id="s", url=f"https://x.example/{doc_id}",
            canonical_url=f"https://x.example/{doc_id}", title=doc_id, text="t",
            content_hash=doc_id, fetched_at=DAY0, published_at=at, cluster_id=cluster,
        )  # fmt: skip
        found = []
        for n, pair in enumerate(rng.sample(PAIRS, rng.choice((1, 1, 2)))):
            if rng.random() < 0.3:
                stance[pair] = rng.choice(list(Stance))
            found.append(
                StanceObservation(
                    document_id=doc_id,
                    party_id=pair[0],
                    actor_id=None,
                    demand_id=pair[1],
                    stance=stance[pair],
                    confidence=rng.choice((0.3, 0.45, 0.55, 0.7, 0.85)),
                    evidence="e",
                    evidence_start=n,
                    published_at=at,
                    machine_translated=rng.random() < 0.15,
                    reported=rng.random() < 0.15,
                    statement_id=f"q{rng.randrange(4)}" if rng.random() < 0.1 else None,
                    cluster_id=cluster,
                )
            )
        docs.append((doc, found))
    batches, i = [], 0
    while i < len(docs):
        size = rng.randrange(1, 7)
        batches.append(docs[i : i + size])
        i += size
    return batches


def _stored(engine) -> tuple[list[dict], list[dict]]:
    with session_scope(engine) as session:
        out = []
        for kind in ("positions", "shifts"):
            rows = [
                {k: v for k, v in row.items() if k not in WALL_CLOCK}
                for row in queries.export_rows(session, kind)
            ]
            out.append(sorted(rows, key=repr))
    return out[0], out[1]


@pytest.mark.parametrize("seed", range(12))
def test_replay_from_checkpoints_equals_the_full_replay(tmp_path, monkeypatch, seed):
    tails = []
    real_tail = positions_step._tail

    def counting_tail(*args):
        found = real_tail(*args)
        tails.append(found is not None)
        return found

    monkeypatch.setattr(positions_step, "_tail", counting_tail)
    engines = {name: open_database(f"sqlite:///{tmp_path / name}.db") for name in ("cp", "full")}
    for n, batch in enumerate(_scenario(seed)):
        results = {}
        for name, engine in engines.items():
            with session_scope(engine) as session:
                document_store.save_documents(session, [d for d, _ in batch], f"run-{n}")
                stance_store.save_stances(session, [o for _, found in batch for o in found])
                if name == "full":
                    stance_store.clear_checkpoints(session, PAIRS)
            pairs = {(o.party_id, o.demand_id) for _, found in batch for o in found}
            result = positions_step.update_positions(
                engine, pairs, [d.id for d, _ in batch], f"run-{n}"
            )
            results[name] = (result.shifts, result.announced, result.held, result.retroactive)
        assert results["cp"] == results["full"], f"batch {n}"
        stored = {name: _stored(engine) for name, engine in engines.items()}
        assert stored["cp"][0] == stored["full"][0], f"positions after batch {n}: {stored}"
        assert stored["cp"][1] == stored["full"][1], f"shifts after batch {n}"
    for engine in engines.values():
        engine.dispose()
    assert any(tails), "no run resumed from a checkpoint"
