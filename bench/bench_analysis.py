"""Benchmark: the analysis core's rate per document against langdetect's, one core, one process.

Run: `python bench/bench_analysis.py [N] [--profile]` (issue 17 item 1; default N = 1,000).

Both sides see the same N synthetic documents (bench/synth.py, seed 0), already read from the
folder: the core builds and analyses each item (`Analyzer.build_and_analyze`, what a worker
does), langdetect (seed 0, profiles loaded before the clock) detects each text. The watchlist
is compiled and the models loaded on 20 warm-up items first, so both figures are marginal
costs. Rounds alternate the two sides (the machine is shared and noisy) and each side keeps
its least CPU time. Ratio = langdetect CPU-s per document / analysis CPU-s per document
(above 1: the analysis is faster). `--profile` prints a pyinstrument profile of one analysis
round instead.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synth import WATCHLIST, build_corpus

ROUNDS = 3
TARGET_RATIO = 2.0  # issue 17: the whole run's marginal rate, so the core must beat it alone
WARM_ITEMS = 20


def _cpu(work: Callable[[], object]) -> float:
    """Return the CPU seconds `work()` takes in this process."""
    started = time.process_time()
    work()
    return time.process_time() - started


def _langdetect(texts: Sequence[str]) -> Callable[[], None]:
    """Return a function that runs seeded langdetect over `texts` (profiles loaded now)."""
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
    from langdetect.lang_detect_exception import LangDetectException

    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.seed = 0

    def detect_all() -> None:
        for text in texts:
            detector = factory.create()
            detector.append(text)
            with contextlib.suppress(LangDetectException):  # a text without features
                detector.detect()

    return detect_all


def measure(n: int, rounds: int = ROUNDS, profile: bool = False) -> dict[str, float]:
    """Return the least CPU seconds per document of each side over `rounds` alternations."""
    from shiftwatch.connectors.files import read_folder
    from shiftwatch.pipeline.monitor import analyzer_for
    from shiftwatch.watchlist import load_watchlist

    with tempfile.TemporaryDirectory(prefix="bench-analysis-") as tmp:
        corpus = build_corpus(n, Path(tmp) / "corpus")
        items = read_folder(corpus.folder, max_bytes=10_000_000).items
    analyzer = analyzer_for(load_watchlist(WATCHLIST))
    analyzer.build_and_analyze(items[:WARM_ITEMS])
    if profile:
        from pyinstrument import Profiler

        with Profiler() as profiler:
            analyzer.build_and_analyze(items)
        print(profiler.output_text(color=False, show_all=False))
    detect = _langdetect(corpus.texts)
    analysis, base = [], []
    for _ in range(rounds):
        analysis.append(_cpu(lambda: analyzer.build_and_analyze(items)) / n)
        base.append(_cpu(detect) / n)
    return {"analysis": min(analysis), "langdetect": min(base), "mb": corpus.text_bytes / 1e6}


def run(smoke: bool = False, n: int | None = None) -> str:
    """Return the benchmark's markdown section."""
    n = n or (20 if smoke else 1_000)
    got = measure(n, rounds=1 if smoke else ROUNDS)
    ratio = got["langdetect"] / got["analysis"]
    return "\n".join(
        [
            "## Analysis rate against langdetect, one core (issue 17 item 1)",
            "",
            f"Command: `python bench/bench_analysis.py {n}`: {n:,} synthetic documents "
            f"({got['mb']:.1f} MB of text), least CPU time of {ROUNDS} alternated rounds.",
            "",
            f"- analysis {got['analysis'] * 1000:.2f} ms a document, langdetect "
            f"{got['langdetect'] * 1000:.2f} ms: ratio **{ratio:.2f}** (target >= {TARGET_RATIO}: "
            f"{'met' if ratio >= TARGET_RATIO else 'NOT met'})",
            "",
        ]
    )


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if "--profile" in sys.argv:
        measure(int(args[0]) if args else 300, rounds=1, profile=True)
    else:
        print(run(n=int(args[0]) if args else None))
