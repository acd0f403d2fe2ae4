"""Benchmark: a run adding a few documents costs the same over 10,000 and 100,000 stored ones.

Run: `python bench/bench_history.py [--smoke] [--sizes 10000,100000]`. The history is written
through the storage layer, not the pipeline (analysing 100,000 documents would take an hour
here): each stored document copies the analysis rows (document fields and stances) of one of
`POOL` really analysed documents under its own id, URL, date, cluster and statement day
(statement ids carry the day the words were said), with a random MinHash
signature (no stored text is a near copy of a new one, as for unrelated news). Documents are
spread at a constant `PER_DAY`, so a bigger history is a longer one, as an archive grows.

Then `NEW` new documents (their own stories) are ingested and the touched positions updated
with the functions the flow calls (Prefect excluded, sources already read), best of
`REPEATS`, each on a copy of the history's database; and the digest `shiftwatch run` prints
(what was stored in the run's window) and the digest of everything are rendered. The first
run after the history is built replays every touched pair in full and leaves checkpoints;
"full replay" below is that first run, the baseline measured in the same process.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synth import ROOT, generate

SIZES = (10_000, 100_000)
SMOKE_SIZES = (300, 1_000)
NEW = 20
POOL = 60  # analysed documents whose rows the history copies (smoke: 10)
PER_DAY = 150  # stored documents per day of history
REPEATS = 3
BATCH = 5_000
TARGET_RUN_S = 2.0
TARGET_DIGEST_S = 1.0
WATCHLIST = ROOT / "watchlists" / "russia-nato-2022.yaml"
FIRST_DAY = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass
class Pool:
    documents: list[dict[str, Any]]
    stances: list[list[dict[str, Any]]]


def analyzer() -> Any:
    from shiftwatch.pipeline.monitor import analyzer_for
    from shiftwatch.watchlist import load_watchlist

    return analyzer_for(load_watchlist(WATCHLIST))


def pool_rows(size: int) -> Pool:
    """Return the rows of `size` really analysed synthetic documents."""
    from shiftwatch.analysis.text.documents import build_document
    from shiftwatch.models import documents as document_store
    from shiftwatch.models import stances as stance_store
    from shiftwatch.records import RawItem

    an = analyzer()
    out = Pool([], [])
    for doc in generate(size, seed=7, url_base="https://pool.example.org"):
        item = RawItem(
            source_id="history",
            url=doc.url,
            body=doc.file_text().encode(),
            fetched_at=datetime.now(UTC),
        )
        analysis = an.analyze(build_document(item))
        out.documents.append(document_store.document_row(analysis.document, "history"))
        out.stances.append([stance_store.stance_row(s) for s in analysis.stances])
    return out


def _signature(rng: random.Random) -> Any:
    import numpy as np

    from shiftwatch.analysis.dedupe.clustering import NUM_PERM, Signature

    values = np.array([rng.getrandbits(32) for _ in range(NUM_PERM)], dtype=np.uint32)
    return Signature(hashvalues=values, shingles=300)


def build_history(url: str, size: int, pool: Pool) -> float:
    """Store `size` documents with their stances and signatures; return seconds."""
    from shiftwatch.models import rows as row_store
    from shiftwatch.models import tables as t
    from shiftwatch.models.db import open_database, session_scope
    from shiftwatch.pipeline.cluster import save_signatures

    rng = random.Random(size)
    engine = open_database(url)
    started = time.perf_counter()
    for first in range(0, size, BATCH):
        docs, stances, signatures = [], [], {}
        for i in range(first, min(size, first + BATCH)):
            template = pool.documents[i % len(pool.documents)]
            ident = f"h{i:07d}"
            at = FIRST_DAY + timedelta(days=i / PER_DAY)
            docs.append(
                {
                    **template,
                    "id": ident,
                    "url": f"https://history.example.org/{i}",
                    "canonical_url": f"https://history.example.org/{i}",
                    "guid": None,
                    "text": template["text"][:400],
                    "content_hash": ident,
                    "raw_hash": ident,
                    "published_at": at,
                    "cluster_id": ident,
                    "duplicate_of": None,
                }
            )
            stances += [
                {
                    **s,
                    "document_id": ident,
                    "published_at": at,
                    "cluster_id": ident,
                    "statement_id": _on_day(s["statement_id"], at),
                }
                for s in pool.stances[i % len(pool.stances)]
            ]
            signatures[ident] = _signature(rng)
        with session_scope(engine) as session:
            row_store.insert_ignore(session, t.Document, docs)
            row_store.insert_ignore(session, t.StanceObservation, stances)
            save_signatures(session, signatures)
    engine.dispose()
    return time.perf_counter() - started


def _on_day(statement_id: str | None, at: datetime) -> str | None:
    """Return a pool statement's id as said on `at`'s day: ids carry their day
    (`statements.statement_key`), so one quote is not restated across the whole history."""
    if statement_id is None:
        return None
    return f"{statement_id.rsplit('@', 1)[0]}@{at:%Y%m%d}"


def new_items(size: int, seed: int) -> list[Any]:
    """Return `NEW` fetched items, new stories dated after a history of `size`."""
    from shiftwatch.records import RawItem

    end = FIRST_DAY + timedelta(days=size / PER_DAY)
    out = []
    for doc in generate(NEW, seed=seed, url_base=f"https://new.example.org/{seed}"):
        # Each run's news is newer than the last run's (seed 100 + run number).
        doc = replace(doc, published=end + timedelta(hours=(seed % 100) * NEW + doc.index))
        out.append(
            RawItem(
                source_id="new",
                url=doc.url,
                body=doc.file_text().encode(),
                fetched_at=datetime.now(UTC),
            )
        )
    return out


def run_once(url: str, an: Any, items: list[Any]) -> dict[str, float]:
    """Return the seconds of one run's work beyond reading: ingest, positions, digests."""
    from shiftwatch.models.db import open_database
    from shiftwatch.pipeline.ingest import ingest_items
    from shiftwatch.pipeline.positions import update_positions

    engine = open_database(url)
    run_id = f"bench-{uuid.uuid4().hex[:8]}"
    started_at = datetime.now(UTC)
    t0, c0 = time.perf_counter(), time.process_time()
    result = ingest_items(engine, an, items, run_id)
    c1 = time.process_time()
    update_positions(engine, result.pairs, result.new_document_ids, run_id)
    t2, c2 = time.perf_counter(), time.process_time()
    engine.dispose()
    run_digest = digest_seconds(url, since=started_at)
    whole_digest = digest_seconds(url, since=None)
    return {
        "ingest": c1 - c0,
        "positions": c2 - c1,
        "run": c2 - c0,
        "run wall": t2 - t0,
        "digest": run_digest,
        "digest (everything)": whole_digest,
        "pairs": len(result.pairs),
    }


def digest_seconds(url: str, since: datetime | None) -> float:
    """Return the CPU seconds reading and rendering a text digest of [since, now) takes."""
    from shiftwatch.models.db import open_database, session_scope
    from shiftwatch.models.queries import digest_data
    from shiftwatch.render.digest import render_digest
    from shiftwatch.watchlist import load_watchlist

    engine = open_database(url)
    watchlist = load_watchlist(WATCHLIST)
    started = time.process_time()
    with session_scope(engine) as session:
        data = digest_data(session, watchlist, since=since)
    render_digest(data, "text")
    engine.dispose()
    return time.process_time() - started


def measure(size: int, pool: Pool, an: Any, tmp: Path) -> dict[str, Any]:
    """Return the figures of one history size."""
    base = tmp / f"history-{size}.db"
    build_s = build_history(f"sqlite:///{base}", size, pool)
    runs = []
    first = None
    for repeat in range(REPEATS + 1):
        copy = tmp / f"run-{size}.db"
        if repeat <= 1:  # the first run replays in full; the next start from its database
            shutil.copy(base, copy)
        items = new_items(size, seed=100 + repeat)
        figures = run_once(f"sqlite:///{copy}", an, items)
        if repeat == 0:
            first = figures
            shutil.copy(copy, base)  # later runs start from the checkpoints it left
        else:
            runs.append(figures)
    best = min(runs, key=lambda f: f["run"])
    return {"size": size, "build_s": build_s, "full": first, "best": best}


def _row(label: str, f: dict[str, Any]) -> str:
    return (
        f"| {label} | {f['ingest'] * 1000:,.0f} | {f['positions'] * 1000:,.0f} "
        f"| **{f['run'] * 1000:,.0f}** | {f['run wall'] * 1000:,.0f} "
        f"| **{f['digest'] * 1000:,.0f}** "
        f"| {f['digest (everything)'] * 1000:,.0f} | {f['pairs']} |"
    )


def run(smoke: bool = False, sizes: tuple[int, ...] | None = None) -> str:
    """Return the benchmark's markdown section."""
    sizes = sizes or (SMOKE_SIZES if smoke else SIZES)
    an = analyzer()
    started = time.perf_counter()
    pool = pool_rows(10 if smoke else POOL)
    pool_s = time.perf_counter() - started
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-history-") as name:
        for size in sizes:
            results.append(measure(size, pool, an, Path(name)))
    lines = [
        "## Run cost flat in history (issue 17 item 3)",
        "",
        f"Command: `python bench/bench_history.py{' --smoke' if smoke else ''}` (SQLite; "
        f"{os.cpu_count()} cores shared with other sessions: noisy, compare within a row). "
        f"A run adds {NEW} new documents to H stored ones ({PER_DAY} a day: a bigger history "
        "is a longer one); work in this process, Prefect excluded, sources already read; "
        f"best of {REPEATS} after the first run, in CPU seconds of this process (the machine "
        "is shared: wall times move with the neighbours' load). *run* = ingest (analyse, "
        "dedupe, store) + "
        "positions; *digest* = what `shiftwatch run` shows for the run's window (read + "
        "rendered); *digest (everything)* = the whole history's digest, for comparison.",
        "",
        "| H, run | ingest CPU ms | positions CPU ms | run CPU ms | run wall ms | digest CPU ms "
        "| digest (everything) CPU ms | pairs touched |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(_row(f"{r['size']:,}, first run (full replay, baseline)", r["full"]))
        lines.append(_row(f"{r['size']:,}, next runs (from checkpoints)", r["best"]))
    if len(results) >= 2:
        small, big = results[0]["best"], results[-1]["best"]
        grow = big["run"] / small["run"]
        lines += [
            "",
            f"- run work at H = {results[-1]['size']:,}: {big['run']:.2f} CPU-s "
            f"(target <= {TARGET_RUN_S} s: {'met' if big['run'] <= TARGET_RUN_S else 'NOT met'}); "
            f"x{grow:.2f} from H = {results[0]['size']:,}",
            f"- positions from checkpoints vs full replay at H = {results[-1]['size']:,}: "
            f"{results[-1]['full']['positions'] / max(big['positions'], 1e-9):.1f}x faster",
            f"- digest at H = {results[-1]['size']:,}: {big['digest']:.2f} s (target <= "
            f"{TARGET_DIGEST_S} s: {'met' if big['digest'] <= TARGET_DIGEST_S else 'NOT met'}); "
            f"x{big['digest'] / max(small['digest'], 1e-9):.2f} from H = {results[0]['size']:,}",
        ]
    lines += [
        f"- history written through the storage layer: analysed pool of {len(pool.documents)} "
        f"in {pool_s:.1f} s; "
        + ", ".join(f"H = {r['size']:,} in {r['build_s']:.1f} s" for r in results),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    chosen = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--sizes=")), None)
    print(
        run(
            smoke="--smoke" in sys.argv[1:],
            sizes=tuple(int(x) for x in chosen.split(",")) if chosen else None,
        )
    )
