"""Benchmark: `shiftwatch run` end to end over N synthetic documents, against langdetect alone.

Run: `python bench/bench_pipeline.py [--smoke]`. The corpus (bench/synth.py) recombines the
seed documents' sentences into N news-sized documents with planted copies. Each size runs the
real command line in a subprocess on an empty SQLite database, Prefect's ephemeral API
included, as a user would (after one warm-up run, so Prefect's own database exists). The
baseline is plain langdetect (seed 0, profiles loaded from scratch) over the same texts in
this process. Ratios are baseline time / pipeline time: above 1.0 the whole pipeline is faster
than language detection alone. Peak memory is the command's own high-water mark (VmHWM) and
the sum over it and its descendants (Prefect's ephemeral API server), each at its peak.

A second table splits the work of one size into its stages, measured in this process with the
same functions the flow calls (no Prefect), so what dominates is visible at a glance.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import CliRun, last_run_counts, megabytes, prefect_env, run_cli
from synth import ROOT, build_corpus

SIZES = (2_000, 10_000)
SMOKE_SIZES = (50,)
BREAKDOWN_LIMIT = 2_000  # the stage table uses at most this many documents
TARGET_RATIO = 1.0  # at N = 2,000, start-up included
TARGET_MB_S_CORE = 2.0
TARGET_PEAK_MB = 1_000  # at N = 10,000
COMMAND = (
    "Command: `shiftwatch run --seeds <synthetic folder> --db sqlite:///<tmp> --no-deliver` "
    "over N = {sizes} documents from `bench/synth.py`, Prefect's ephemeral API included; "
    "baseline: plain langdetect 1.0.9 (seed 0) over the same texts in one process, profile "
    "loading included. Machine: {cores} cores, shared."
)


@dataclass(frozen=True, kw_only=True)
class Baseline:
    wall_s: float
    cpu_s: float
    load_s: float


def langdetect_baseline(texts: Sequence[str]) -> Baseline:
    """Return how long plain seeded langdetect takes over `texts`, loading its profiles too."""
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
    from langdetect.lang_detect_exception import LangDetectException

    wall, cpu = time.perf_counter(), time.process_time()
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.seed = 0  # as DetectorFactory.seed = 0 does for langdetect.detect()
    load = time.perf_counter() - wall
    for text in texts:
        detector = factory.create()
        detector.append(text)
        with contextlib.suppress(LangDetectException):  # a text without features
            detector.detect()
    return Baseline(wall_s=time.perf_counter() - wall, cpu_s=time.process_time() - cpu, load_s=load)


def run_pipeline(folder: Path, workdir: Path, prefect_home: Path) -> tuple[CliRun, dict[str, Any]]:
    """Return the measured `shiftwatch run` over `folder` on a fresh SQLite database, and the
    counts the flow stored (its own `elapsed_s` included)."""
    url = f"sqlite:///{workdir / 'shiftwatch.db'}"
    args = ["run", "--seeds", str(folder), "--db", url, "--no-deliver"]
    run = run_cli(args, prefect_env(prefect_home), workdir).check()
    return run, last_run_counts(url)


def warm_up(workdir: Path, prefect_home: Path) -> CliRun:
    """Run once over the bundled seeds so Prefect's own database exists (a user's second run)."""
    workdir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{workdir / 'warm.db'}"
    return run_cli(
        ["run", "--seeds", str(ROOT / "data" / "seeds"), "--db", url, "--no-deliver"],
        prefect_env(prefect_home),
        workdir,
    ).check()


def _row(n: int, mb: float, run: CliRun, counts: dict[str, Any], base: Baseline) -> str:
    work = float(counts.get("elapsed_s", 0.0))
    return (
        f"| {n:,} | {mb:.1f} | {run.wall_s:.1f} | {work:.1f} | {run.wall_s - work:.1f} "
        f"| {mb / run.wall_s:.2f} | {mb / run.cpu_s:.2f} | {base.wall_s:.1f} "
        f"| **{base.wall_s / run.wall_s:.2f}** | {base.cpu_s / run.cpu_s:.2f} "
        f"| {run.peak_rss_mb:,.0f} | {run.tree_peak_rss_mb:,.0f} "
        f"| {counts.get('new', '?')}/{counts.get('duplicate', '?')} |"
    )


Figures = dict[int, tuple[CliRun, dict[str, Any], Baseline, float]]


def end_to_end(sizes: Sequence[int], tmp: Path, warm: bool) -> tuple[list[str], Figures]:
    """Return the end-to-end table rows and the figures per size (after a warm-up run over
    the seeds when `warm`; a smoke run skips it and runs cold)."""
    prefect_home = tmp / "prefect-home"
    warm_text = (
        f"Warm-up run over the 5 seeds (creates Prefect's database): "
        f"{warm_up(tmp / 'warm', prefect_home).wall_s:.1f} s."
        if warm
        else "No warm-up (smoke): Prefect's start-up is a cold one."
    )
    rows = []
    figures = {}
    for n in sizes:
        corpus = build_corpus(n, tmp / f"corpus-{n}")
        mb = corpus.text_bytes / 1e6
        base = langdetect_baseline(corpus.texts)
        workdir = tmp / f"run-{n}"
        workdir.mkdir()
        run, counts = run_pipeline(corpus.folder, workdir, prefect_home)
        figures[n] = (run, counts, base, mb)
        rows.append(_row(n, mb, run, counts, base))
    header = [
        warm_text,
        "",
        "| N | text MB | wall s | flow work s | start-up + digest s | MB/s (wall) "
        "| MB/s per CPU-s | langdetect s | ratio (wall) | ratio (CPU) | peak MB (run) "
        "| peak MB (run + API server) | new/dup |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    return header + rows, figures


# --- where the time goes, in this process ----------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, stage: str, work: Callable[[], Any]) -> Any:
        started = time.process_time()
        result = work()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.process_time() - started
        return result


def breakdown(folder: Path, tmp: Path) -> tuple[list[str], float]:
    """Return table rows of CPU seconds per stage for one corpus, and its text MB."""
    from shiftwatch.analysis.analyzer import Analysis, Analyzer
    from shiftwatch.analysis.language.detect import detect_languages
    from shiftwatch.analysis.language.translation import find_mt_artifacts, score_artifacts
    from shiftwatch.analysis.text.boundaries import find_body_end
    from shiftwatch.analysis.text.documents import build_document, raw_hash
    from shiftwatch.connectors.files import read_folder
    from shiftwatch.models import documents as document_store
    from shiftwatch.models import stances as stance_store
    from shiftwatch.models.db import open_database, session_scope
    from shiftwatch.pipeline.cluster import cluster_batch, record_clusters
    from shiftwatch.pipeline.positions import update_positions
    from shiftwatch.records import Document
    from shiftwatch.watchlist import load_watchlist

    clock = _Clock()
    wl = clock(
        "watchlist + analyzer", lambda: load_watchlist(ROOT / "watchlists/russia-nato-2022.yaml")
    )
    analyzer = clock(
        "watchlist + analyzer",
        lambda: Analyzer(wl.entities(), wl.stop_phrases(), wl.demand_terms()),
    )
    engine = clock(
        "database open + migrate", lambda: open_database(f"sqlite:///{tmp / 'breakdown.db'}")
    )
    batch = clock("read folder", lambda: read_folder(folder, max_bytes=10_000_000))
    clock("raw hashes", lambda: [raw_hash(item) for item in batch.items])
    docs = [
        d
        for d in clock(
            "build documents (decode, front matter, ftfy)",
            lambda: [build_document(item) for item in batch.items],
        )
        if isinstance(d, Document)
    ]
    analyses = []
    for doc in docs:
        lang = clock(
            "language (fastText + rules)",
            lambda doc=doc: detect_languages(doc.text, hint=doc.language_hint),
        )
        artifacts = clock(
            "MT artifacts",
            lambda doc=doc, lang=lang: (
                *doc.mt_artifacts,  # as Analyzer.describe: repaired mojibake first
                *find_mt_artifacts(
                    doc.text, language=lang.language, segments=lang.segments, names=analyzer.names
                ).artifacts,
            ),
        )
        score = clock("MT artifacts", lambda artifacts=artifacts: score_artifacts(artifacts))
        end = clock("body end (comments, chrome)", lambda doc=doc: find_body_end(doc.text))
        doc = replace(
            doc,
            language=lang.language,
            languages=lang.languages,
            segments=lang.segments,
            mt_score=score,
            mt_artifacts=artifacts,
            body_end=end,
        )
        mentions = tuple(clock("mentions", lambda doc=doc: analyzer.matcher.find(doc.id, doc.text)))
        stances = tuple(
            clock(
                "speakers + stance", lambda doc=doc, m=mentions: analyzer.stance_model.find(doc, m)
            )
        )
        analyses.append(Analysis(document=doc, mentions=mentions, stances=stances))
    clustered = clock("dedupe", lambda: cluster_batch(engine, analyzer, analyses, []))

    def write() -> None:
        with session_scope(engine) as session:
            document_store.save_documents(
                session, [a.document for a in clustered.analyses], "bench"
            )
            document_store.save_mentions(
                session, [m for a in clustered.analyses for m in a.mentions]
            )
            stance_store.save_stances(session, [s for a in clustered.analyses for s in a.stances])
            record_clusters(session, clustered)

    clock("database writes", write)
    pairs = {(s.party_id, s.demand_id) for a in analyses for s in a.stances}
    clock(
        "positions + shifts", lambda: update_positions(engine, pairs, [d.id for d in docs], "bench")
    )
    engine.dispose()
    total = sum(clock.seconds.values())
    mb = megabytes([d.text for d in docs])
    rows = [
        f"{len(docs):,} documents, {mb:.1f} MB of text, {total:.1f} CPU-s in all: "
        f"{mb / total:.2f} MB per CPU-second; "
        f"{sum(len(a.mentions) for a in analyses) / max(len(docs), 1):.0f} mentions and "
        f"{sum(len(a.stances) for a in analyses) / max(len(docs), 1):.1f} stances per document.",
        "",
        "| stage | CPU s | ms / document | share |",
        "| --- | --- | --- | --- |",
    ]
    for stage, seconds in sorted(clock.seconds.items(), key=lambda kv: -kv[1]):
        rows.append(
            f"| {stage} | {seconds:.2f} | {seconds / max(len(docs), 1) * 1000:.2f} "
            f"| {seconds / total:.0%} |"
        )
    return rows, mb


def verdict(figures: Figures) -> list[str]:
    """Return the targets and whether these figures meet them."""
    lines = ["", "Targets:"]
    if 2_000 in figures:
        run, _, base, mb = figures[2_000]
        ratio = base.wall_s / run.wall_s
        per_core = mb / run.cpu_s
        lines.append(
            f"- ratio >= {TARGET_RATIO} at N = 2,000, start-up included: "
            f"{ratio:.2f} ({'met' if ratio >= TARGET_RATIO else 'NOT met'})"
        )
        lines.append(
            f"- >= {TARGET_MB_S_CORE} MB/s per core: {per_core:.2f} MB per CPU-second "
            f"({'met' if per_core >= TARGET_MB_S_CORE else 'NOT met'})"
        )
    if 10_000 in figures:
        run = figures[10_000][0]
        met = "met" if run.peak_rss_mb < TARGET_PEAK_MB else "NOT met"
        lines.append(
            f"- peak memory at N = 10,000 under {TARGET_PEAK_MB:,} MB: "
            f"{run.peak_rss_mb:,.0f} MB ({met}); "
            f"with Prefect's API server {run.tree_peak_rss_mb:,.0f} MB"
        )
    if len(lines) == 2:
        lines.append("- (smoke run: targets are judged on the full sizes)")
    return lines


def run(smoke: bool = False) -> str:
    """Return the benchmark's markdown section."""
    sizes = SMOKE_SIZES if smoke else SIZES
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as name:
        tmp = Path(name)
        table, figures = end_to_end(sizes, tmp, warm=not smoke)
        n = min(max(sizes), BREAKDOWN_LIMIT)
        stages, _ = breakdown(tmp / f"corpus-{n}", tmp)
    sizes_text = ", ".join(f"{n:,}" for n in sizes)
    return "\n".join(
        [
            "## Pipeline end to end (a) and its peak memory (c)",
            "",
            COMMAND.format(sizes=sizes_text, cores=os.cpu_count()),
            "",
            "*flow work* is the flow's own `elapsed_s` (what the run did, Prefect's start-up "
            "excluded); *start-up + digest* is the rest of the wall time (Python and Prefect "
            "imports, the ephemeral API server, the digest printed at the end). CPU-s counts the "
            "command and its children (the API server included).",
            "",
            *table,
            *verdict(figures),
            "",
            f"### Where the time goes (N = {n:,}, in-process, no Prefect)",
            "",
            *stages,
            "",
        ]
    )


if __name__ == "__main__":
    print(run(smoke="--smoke" in sys.argv[1:]))
