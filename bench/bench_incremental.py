"""Benchmark: what a run costs when nothing (or little) is new, as the history grows tenfold.

Run: `python bench/bench_incremental.py [--smoke]`. The history is built quickly, without
analysing it: `bench/synth.py` writes H documents as files (each a distinct story with its own
URL, date and text), and the database receives the same H documents as rows, bulk-inserted
with `models/rows.py`'s `insert_ignore`, each carrying the stances (3 a document on average)
and the first `HISTORY_MENTIONS` mentions of one of a pool of really analysed documents, and its
own MinHash signature. Every file's fetched-bytes hash is stored, exactly as a run stores it, so
the runs below see H already-known items.

Scenarios, each on SQLite and on PostgreSQL (a scratch database on 127.0.0.1:5432, dropped at
the end), at H = 10,000 and H = 100,000:

- **nothing new, whole folder**: the folder holding all H stored files is read again (every
  item is already known: the run must recognise H items and do nothing else);
- **nothing new, latest items**: a folder of the latest `RECENT` stored files (a feed's view of
  the news): the cost of history alone, which must stay flat;
- **a few new items**: `NEW` new documents arrive in that folder; the run analyses, dedupes
  and stores them and replays the touched positions.

"work" is measured in this process with the functions the flow calls (read the folder, ingest,
positions), best of `REPEATS`, Prefect excluded. The whole-folder scenario also runs as the real
command line (`shiftwatch run`, Prefect's ephemeral API) for the wall time a user sees, the
flow's own `elapsed_s`, and the time of the digest the command prints after the run.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import last_run_counts, prefect_env, run_cli
from synth import ROOT, SynthDoc, generate, load_material, write_corpus

SIZES = (10_000, 100_000)
SMOKE_SIZES = (100, 1_000)
RECENT = 1_000  # files in the "latest items" folder (smoke: 50)
NEW = 20  # new documents in the "few new items" scenario (smoke: 5)
POOL = 100  # analysed documents whose mentions and stances the history borrows (smoke: 10)
REPEATS = 3
BATCH = 5_000  # history rows per insert transaction
# Mentions a history document borrows from its pool document (those have 67 on average): the
# runs measured here never read mentions, and PostgreSQL stores ~25,000 mention rows a second
# here, so 100,000 documents x 67 would take the benchmark most of an hour to build.
HISTORY_MENTIONS = 10
TARGET_S = 2.0
PG_ADMIN_URL = os.environ.get(
    "SHIFTWATCH_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
WATCHLIST = ROOT / "watchlists" / "russia-nato-2022.yaml"


@dataclass
class Template:
    """One analysed pool document's rows, to be copied under another document's identity."""

    document: dict[str, Any]
    mentions: list[dict[str, Any]]
    stances: list[dict[str, Any]]


@dataclass
class History:
    """The history written so far: its folder and how many documents it holds."""

    folder: Path
    size: int = 0


def analyzer() -> Any:
    """Return the analyzer of the default watchlist."""
    from shiftwatch.analysis.analyzer import Analyzer
    from shiftwatch.watchlist import load_watchlist

    wl = load_watchlist(WATCHLIST)
    return Analyzer(wl.entities(), wl.stop_phrases(), wl.demand_terms())


def raw_item(doc: SynthDoc, body: bytes) -> Any:
    """Return the item the files connector would read for `doc`'s file."""
    from shiftwatch.records import RawItem

    return RawItem(
        source_id="history",
        url=f"file:///history/{doc.index:06d}.txt",
        body=body,
        fetched_at=datetime.now(UTC),
    )


def templates(size: int) -> list[Template]:
    """Return the rows of `size` really analysed documents (their own seed, not the history's)."""
    from shiftwatch.analysis.text.documents import build_document
    from shiftwatch.models import documents as document_store
    from shiftwatch.models import rows as row_store
    from shiftwatch.models import stances as stance_store

    an = analyzer()
    out = []
    for doc in generate(size, seed=7, url_base="https://pool.example.org"):
        built = build_document(raw_item(doc, doc.file_text().encode("utf-8")))
        analysis = an.analyze(built)
        out.append(
            Template(
                document=document_store.document_row(analysis.document, "history"),
                mentions=[
                    {**row_store.flat_row(m), "kind": str(m.kind)} for m in analysis.mentions
                ],
                stances=[stance_store.stance_row(s) for s in analysis.stances],
            )
        )
    return out


def history_rows(
    doc: SynthDoc, body: bytes, template: Template
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], bytes]:
    """Return a history document's row, its mentions, stances and signature."""
    from shiftwatch.analysis.dedupe.clustering import content_hash, signature_of
    from shiftwatch.analysis.text.documents import document_id, raw_hash
    from shiftwatch.analysis.text.urls import canonicalize_url

    canonical = canonicalize_url(doc.url)
    ident = document_id(canonical)
    row = {
        **template.document,
        "id": ident,
        "url": doc.url,
        "canonical_url": canonical,
        "title": doc.title,
        "text": doc.text,
        "content_hash": content_hash(doc.text),
        "raw_hash": raw_hash(raw_item(doc, body)),
        "published_at": doc.published,
        "source_id": "history",
        "body_end": None,
        "cluster_id": ident,
        "duplicate_of": None,
    }
    mentions = [{**m, "document_id": ident} for m in template.mentions[:HISTORY_MENTIONS]]
    stances = [
        {**s, "document_id": ident, "published_at": doc.published, "cluster_id": ident}
        for s in template.stances
    ]
    return row, mentions, stances, signature_of(doc.text)


def grow(
    history: History, size: int, pool: list[Template], engines: dict[str, Any]
) -> dict[str, float]:
    """Write the history's files up to `size` and insert their rows into every backend, a
    batch at a time; return the seconds spent on files and rows, and per backend."""
    spent = {"files and rows": 0.0, **dict.fromkeys(engines, 0.0)}
    docs = generate(size, seed=11, material=load_material())
    batch: list[SynthDoc] = []
    for doc in docs:
        if doc.index >= history.size:
            batch.append(doc)
        if len(batch) == BATCH or (doc.index == size - 1 and batch):
            _grow_batch(history, batch, pool, engines, spent)
            batch = []
    history.size = size
    return spent


def _grow_batch(
    history: History,
    docs: list[SynthDoc],
    pool: list[Template],
    engines: dict[str, Any],
    spent: dict[str, float],
) -> None:
    started = time.perf_counter()
    write_corpus(docs, history.folder)
    rows = []
    for doc in docs:
        body = (history.folder / f"{doc.index:06d}.txt").read_bytes()
        rows.append(history_rows(doc, body, pool[doc.index % len(pool)]))
    spent["files and rows"] += time.perf_counter() - started
    for backend, engine in engines.items():
        spent[backend] += insert_history(engine, rows)


def insert_history(engine: Any, rows: list[tuple[Any, ...]]) -> float:
    """Bulk-insert history rows in one transaction; return seconds."""
    from shiftwatch.models import rows as row_store
    from shiftwatch.models import tables as t
    from shiftwatch.models.db import session_scope
    from shiftwatch.pipeline.cluster import save_signatures

    started = time.perf_counter()
    with session_scope(engine) as session:
        row_store.insert_ignore(session, t.Document, [c[0] for c in rows])
        row_store.insert_ignore(session, t.Mention, [m for c in rows for m in c[1]])
        row_store.insert_ignore(session, t.StanceObservation, [s for c in rows for s in c[2]])
        save_signatures(session, {c[0]["id"]: c[3] for c in rows})
    return time.perf_counter() - started


def link_recent(history: History, folder: Path, count: int) -> None:
    """Fill `folder` with hard links to the latest `count` history files."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    for index in range(max(0, history.size - count), history.size):
        name = f"{index:06d}.txt"
        os.link(history.folder / name, folder / name)


def work(engine: Any, an: Any, folder: Path) -> dict[str, float]:
    """Return the seconds of one run's work over `folder` (read, ingest, positions)."""
    from shiftwatch.connectors.files import read_folder
    from shiftwatch.pipeline.ingest import ingest_items
    from shiftwatch.pipeline.positions import update_positions

    run_id = f"bench-{uuid.uuid4().hex[:8]}"
    t0 = time.perf_counter()
    batch = read_folder(folder, max_bytes=10_000_000)
    t1 = time.perf_counter()
    result = ingest_items(engine, an, batch.items, run_id, batch.rejected)
    t2 = time.perf_counter()
    update_positions(engine, result.pairs, result.new_document_ids, run_id)
    t3 = time.perf_counter()
    new = sum(c.new + c.duplicate for c in result.counts.values())
    unchanged = sum(c.unchanged for c in result.counts.values())
    return {
        "read": t1 - t0,
        "ingest": t2 - t1,
        "positions": t3 - t2,
        "total": t3 - t0,
        "items": len(batch.items),
        "new": new,
        "unchanged": unchanged,
    }


def best_of(measure: Callable[[], dict[str, float]], repeats: int) -> dict[str, float]:
    """Return the measurement with the smallest total of `repeats`."""
    return min((measure() for _ in range(repeats)), key=lambda m: m["total"])


def digest_seconds(url: str) -> float:
    """Return how long the digest `shiftwatch run` prints takes on this database."""
    from shiftwatch.models.db import open_database, session_scope
    from shiftwatch.models.queries import digest_data
    from shiftwatch.render.digest import render_digest
    from shiftwatch.watchlist import load_watchlist

    engine = open_database(url)
    started = time.perf_counter()
    with session_scope(engine) as session:
        data = digest_data(session, load_watchlist(WATCHLIST))
    render_digest(data, "text")
    engine.dispose()
    return time.perf_counter() - started


def new_items(folder: Path, count: int, seed: int) -> None:
    """Add `count` documents no run has seen to `folder`."""
    docs = [
        replace(d, index=900_000 + seed * 1_000 + d.index)
        for d in generate(count, seed=seed, url_base=f"https://new.example.org/{seed}")
    ]
    write_corpus(docs, folder)


def pg_scratch() -> tuple[str, Callable[[], None]] | None:
    """Return a scratch PostgreSQL database URL and its dropper, or None when unreachable."""
    import sqlalchemy

    name = f"shiftwatch_bench_{uuid.uuid4().hex[:10]}"
    try:
        admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    except Exception:  # no server here: the benchmark says so and runs SQLite only
        return None

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name, drop


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}"


def measure_backend(
    name: str,
    url: str,
    engine: Any,
    an: Any,
    history: History,
    tmp: Path,
    smoke: bool,
    prefect_home: Path,
) -> list[str]:
    """Return the table rows for one backend at the history's current size."""
    size = history.size
    recent = tmp / f"recent-{name}-{size}"
    link_recent(history, recent, 50 if smoke else RECENT)
    repeats = 1 if smoke else REPEATS
    whole = best_of(lambda: work(engine, an, history.folder), repeats)
    latest = best_of(lambda: work(engine, an, recent), repeats)
    new_items(recent, 5 if smoke else NEW, seed=size % 997 + len(name))
    fresh = work(engine, an, recent)
    digest = digest_seconds(url)
    rows = [
        f"| {name} | {size:,} | nothing new, whole folder ({whole['items']:,.0f} items) "
        f"| {_ms(whole['total'])} | {_ms(whole['read'])} | {_ms(whole['ingest'])} "
        f"| {_ms(whole['positions'])} | {whole['total'] / max(whole['items'], 1) * 1e6:.0f} |",
        f"| {name} | {size:,} | nothing new, latest {latest['items']:,.0f} items "
        f"| {_ms(latest['total'])} | {_ms(latest['read'])} | {_ms(latest['ingest'])} "
        f"| {_ms(latest['positions'])} | {latest['total'] / max(latest['items'], 1) * 1e6:.0f} |",
        f"| {name} | {size:,} | {fresh['new']:,.0f} new among {fresh['items']:,.0f} items "
        f"| {_ms(fresh['total'])} | {_ms(fresh['read'])} | {_ms(fresh['ingest'])} "
        f"| {_ms(fresh['positions'])} | - |",
        f"| {name} | {size:,} | the digest `shiftwatch run` prints | {_ms(digest)} | | | | |",
    ]
    if not smoke:
        workdir = tmp / f"cli-{name}-{size}"
        workdir.mkdir()
        cli = run_cli(
            ["run", "--seeds", str(history.folder), "--db", url, "--no-deliver"],
            prefect_env(prefect_home),
            workdir,
        ).check()
        counts = last_run_counts(url)
        rows.append(
            f"| {name} | {size:,} | `shiftwatch run`, nothing new, whole folder: wall "
            f"{cli.wall_s:.1f} s, flow work {float(counts.get('elapsed_s', 0)):.1f} s "
            f"({counts.get('unchanged', '?')} unchanged, {counts.get('new', '?')} new) "
            f"| {_ms(cli.wall_s)} | | | | |"
        )
    return rows


def run(smoke: bool = False) -> str:
    """Return the benchmark's markdown section."""
    from shiftwatch.models.db import open_database

    sizes = SMOKE_SIZES if smoke else SIZES
    rows: list[str] = []
    notes: list[str] = []
    build: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-incremental-") as name:
        tmp = Path(name)
        backends = {"SQLite": f"sqlite:///{tmp / 'history.db'}"}
        pg = pg_scratch()
        if pg is not None:
            backends["PostgreSQL"] = pg[0]
        else:
            notes.append(f"PostgreSQL was not reachable at {PG_ADMIN_URL}: SQLite only.")
        engines = {b: open_database(u) for b, u in backends.items()}
        try:
            an = analyzer()
            started = time.perf_counter()
            pool = templates(10 if smoke else POOL)
            seconds = time.perf_counter() - started
            build.append(f"analysed pool of {len(pool)} documents: {seconds:.1f} s")
            history = History(folder=tmp / "history")
            prefect_home = tmp / "prefect-home"
            for size in sizes:
                spent = grow(history, size, pool, engines)
                build.append(
                    f"H = {size:,}: " + ", ".join(f"{k} {v:.1f} s" for k, v in spent.items())
                )
                for backend, url in backends.items():
                    rows += measure_backend(
                        backend, url, engines[backend], an, history, tmp, smoke, prefect_home
                    )
        finally:
            for engine in engines.values():
                engine.dispose()
            if pg is not None:
                pg[1]()
    return "\n".join(
        [
            "## Incremental cost: runs with nothing (or little) new over a growing history (b)",
            "",
            f"History H = {', '.join(f'{s:,}' for s in sizes)} stored documents (files and rows: "
            "see `bench/bench_incremental.py`); work in this process, best of "
            f"{1 if smoke else REPEATS}, Prefect excluded; µs/item = work per item read. "
            "The last row per size is the real command line, Prefect's start-up included.",
            "",
            "| backend | H | scenario | work ms | read ms | ingest ms | positions ms | µs / item |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            *(f"- {n}" for n in notes),
            f"- target: the work of a no-new-items run under {TARGET_S:.0f} s and flat as the "
            "history grows tenfold (judge it on *nothing new, latest items*; the whole-folder "
            "rows grow with the folder the run must read, not with the history).",
            f"- building the history: {'; '.join(build)}.",
            "",
        ]
    )


if __name__ == "__main__":
    print(run(smoke="--smoke" in sys.argv[1:]))
