"""Benchmark of near-duplicate clustering: speed, memory, and quality on planted duplicates.

Synthetic corpus: documents of 8-16 sentences drawn from the seed files, each sentence with a
word or two swapped for others from the seeds' vocabulary (so no two documents are the same
by chance), and a dateline with random numbers. A quarter of the documents are planted copies
of an earlier one (footer and share buttons added, first paragraph dropped, typography changed,
re-wrapped, all four, 5 % of words edited, truncated to 70 %, and a "heavy" 15 % edit + 60 %
truncation that is meant to be borderline); 4 % are follow-ups that reuse 30-45 % of an
earlier document's sentences and are *not* copies (hard negatives).

Measured in one process:
- clustering: every document through `assign_clusters` in batches of 500, as the flow does
  (signature, LSH lookup, exact confirmation, index update); precision and recall of the
  predicted duplicate links against the planted families, recall per perturbation;
- index: bulk rebuild from signature bytes (`DuplicateIndex.from_rows`), per-document query
  latency, memory (tracemalloc of the rebuild; process max RSS);
- baseline: exact pairwise Jaccard/containment over a sample (all pairs), the cost of a
  scan of the history per document, and the LSH recall against that exact rule;
- thresholds: precision/recall of the confirmation rule at other Jaccard floors, on the exact
  similarities of every LSH candidate of a query sample.

Run: `python bench/bench_dedupe.py [--smoke]` (100,000 documents; `--smoke` 2,000).
"""

from __future__ import annotations

import random
import re
import resource
import statistics
import sys
import textwrap
import time
import tracemalloc
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shiftwatch.analysis.dedupe.clustering import (
    BANDS,
    JACCARD_MIN,
    MAX_CONFIRM,
    NUM_PERM,
    PREFILTER_JACCARD,
    ROWS,
    DedupeItem,
    DuplicateIndex,
    assign_clusters,
    compare_shingles,
    is_near_duplicate,
    shingle_set,
    signature_of_shingles,
    signature_to_bytes,
)

SEEDS_DIR = Path(__file__).resolve().parent.parent / "data" / "seeds"
FULL_DOCS = 100_000
SMOKE_DOCS = 2_000
BATCH = 500
COPY_SHARE = 0.25
FOLLOW_UP_SHARE = 0.04
FOOTERS = (
    "Share this article\nFacebook Twitter Telegram WhatsApp Email Print\n"
    "Subscribe to our newsletter for the morning briefing.\n"
    "© 2022 Daily Monitor. All rights reserved.",
    "Like this story? Share it.\nTweet Share Email Copy link\nFollow us on Telegram and Instagram.",
    "Read more: analysis, opinion and live updates on our website.\nAdvertisement\n"
    "Comments are closed. Reproduction without permission is prohibited.",
)
PERTURBATIONS = (
    "footer",
    "drop_first",
    "typography",
    "rewrap",
    "combined",
    "edited",
    "truncated",
    "heavy",
)


@dataclass(frozen=True, slots=True)
class Corpus:
    docs: list[DedupeItem]
    family: dict[str, str]  # document id -> id of the document it copies (itself if original)
    kind: dict[str, str]  # document id -> perturbation, "original" or "follow_up"


def seed_sentences(seeds_dir: Path = SEEDS_DIR) -> list[str]:
    """Return the seeds' sentences of six words or more (the corpus's building blocks)."""
    text = " ".join(path.read_text(encoding="utf-8") for path in sorted(seeds_dir.glob("*.txt")))
    sentences = re.split(r"(?<=[.!?…])\s+|\n+", text)
    return [s.strip() for s in sentences if len(s.split()) >= 6]


def synthetic_corpus(size: int, *, seed: int = 7) -> Corpus:
    """Return `size` documents with planted copies and follow-ups, and their ground truth."""
    rng = random.Random(seed)
    sentences = seed_sentences()
    vocabulary = sorted({w for s in sentences for w in s.split() if w.isalpha()})
    start = datetime(2022, 1, 1, tzinfo=UTC)
    docs: list[DedupeItem] = []
    family: dict[str, str] = {}
    kind: dict[str, str] = {}
    for number in range(size):
        doc_id = f"doc{number:07d}"
        published = start + timedelta(minutes=number)
        roll = rng.random()
        if docs and roll < COPY_SHARE:
            original = docs[rng.randrange(max(0, len(docs) - 5000), len(docs))]
            root = family[original.id]
            perturbation = rng.choice(PERTURBATIONS)
            text = perturb(_root_text(docs, family, original), perturbation, rng, vocabulary)
            family[doc_id], kind[doc_id] = root, perturbation
        elif docs and roll < COPY_SHARE + FOLLOW_UP_SHARE:
            earlier = docs[rng.randrange(max(0, len(docs) - 5000), len(docs))]
            text = follow_up(earlier.text, rng, sentences, vocabulary)
            family[doc_id], kind[doc_id] = doc_id, "follow_up"
        else:
            text = original_text(rng, sentences, vocabulary)
            family[doc_id], kind[doc_id] = doc_id, "original"
        docs.append(DedupeItem(id=doc_id, text=text, published_at=published))
    return Corpus(docs=docs, family=family, kind=kind)


def _root_text(docs: list[DedupeItem], family: dict[str, str], item: DedupeItem) -> str:
    """Return the text of the family's original (copies are made of originals, not of copies)."""
    root = family[item.id]
    if root == item.id:
        return item.text
    return docs[int(root[3:])].text


def original_text(rng: random.Random, sentences: list[str], vocabulary: list[str]) -> str:
    """Return a new document: a dateline and 8-16 lightly varied seed sentences in paragraphs."""
    dateline = (
        f"Report {rng.randrange(10**6)} filed at {rng.randrange(24)}:{rng.randrange(60):02d} "
        f"from {rng.choice(vocabulary)} on day {rng.randrange(1, 29)} "
        f"of month {rng.randrange(1, 13)}."
    )
    body = [_vary(rng.choice(sentences), rng, vocabulary) for _ in range(rng.randint(8, 16))]
    paragraphs = [" ".join(body[i : i + 3]) for i in range(0, len(body), 3)]
    return dateline + "\n" + "\n".join(paragraphs)


def _vary(sentence: str, rng: random.Random, vocabulary: list[str]) -> str:
    """Return `sentence` with one or two words swapped for random vocabulary."""
    words = sentence.split()
    for _ in range(rng.randint(1, 2)):
        words[rng.randrange(len(words))] = rng.choice(vocabulary)
    return " ".join(words)


def follow_up(text: str, rng: random.Random, sentences: list[str], vocabulary: list[str]) -> str:
    """Return a different story that reuses 30-45 % of `text`'s sentences as background."""
    old = re.split(r"(?<=[.!?])\s+|\n", text)
    reused = rng.sample(old, max(1, int(len(old) * rng.uniform(0.30, 0.45))))
    fresh = [_vary(rng.choice(sentences), rng, vocabulary) for _ in range(len(old) - len(reused))]
    return (
        original_text(rng, sentences, vocabulary).split("\n")[0] + "\n" + " ".join(fresh + reused)
    )


def perturb(text: str, how: str, rng: random.Random, vocabulary: list[str]) -> str:
    """Return a planted copy of `text` changed the way `how` says."""
    if how == "footer":
        return text + "\n" + rng.choice(FOOTERS)
    if how == "drop_first":
        return text.split("\n", 1)[-1]
    if how == "typography":
        return _typography(text)
    if how == "rewrap":
        return textwrap.fill(text, rng.randint(40, 90))
    if how == "combined":
        return textwrap.fill(_typography(text.split("\n", 1)[-1]), 60) + "\n" + rng.choice(FOOTERS)
    if how == "edited":
        return _edit(text, 0.05, rng, vocabulary) + "\n" + rng.choice(FOOTERS)
    if how == "truncated":
        return _truncate(text, 0.7) + "\nRead more on our website."
    if how == "heavy":
        return _truncate(_edit(text, 0.15, rng, vocabulary), 0.6)
    raise ValueError(how)


def _typography(text: str) -> str:
    """Return `text` with quotes, apostrophes and dashes in other typographic styles."""
    text = re.sub(r'"([^"\n]*)"', "«\\1»", text)
    return text.replace("“", '"').replace("”", '"').replace("’", "'").replace(" - ", " — ")


def _edit(text: str, share: float, rng: random.Random, vocabulary: list[str]) -> str:
    """Return `text` with `share` of its words replaced."""
    words = text.split(" ")
    for i in rng.sample(range(len(words)), int(len(words) * share)):
        words[i] = rng.choice(vocabulary)
    return " ".join(words)


def _truncate(text: str, share: float) -> str:
    """Return the first `share` of `text`'s words."""
    words = text.split(" ")
    return " ".join(words[: max(1, int(len(words) * share))])


def cluster_corpus(
    corpus: Corpus,
) -> tuple[dict[str, tuple[str, str | None]], float, DuplicateIndex]:
    """Return (doc -> (cluster_id, matched_id)), seconds spent, and the index, batch by batch."""
    index = DuplicateIndex()
    stored: dict[str, DedupeItem] = {}
    placed: dict[str, tuple[str, str | None]] = {}
    started = time.perf_counter()
    for first in range(0, len(corpus.docs), BATCH):
        batch = corpus.docs[first : first + BATCH]
        plan = assign_clusters(batch, index, _loader(stored))
        for decision in plan.decisions:
            placed[decision.document_id] = (decision.cluster_id, decision.matched_id)
            if decision.signature is not None:
                index.add(decision.document_id, decision.signature)
        for item in batch:
            cluster_id = placed[item.id][0]
            stored[item.id] = DedupeItem(
                id=item.id, text=item.text, published_at=item.published_at, cluster_id=cluster_id
            )
    return placed, time.perf_counter() - started, index


def _loader(stored: Mapping[str, DedupeItem]) -> Callable[[Iterable[str]], dict[str, DedupeItem]]:
    """Return a `load` callback over an in-memory store (the database's stand-in)."""
    return lambda ids: {i: stored[i] for i in ids if i in stored}


def link_quality(corpus: Corpus, placed: Mapping[str, tuple[str, str | None]]) -> dict[str, float]:
    """Return precision and recall of predicted duplicate links against the planted families."""
    cluster_of = {doc_id: cluster for doc_id, (cluster, _) in placed.items()}
    copies = [d.id for d in corpus.docs if corpus.family[d.id] != d.id]
    found = sum(cluster_of[c] == cluster_of[corpus.family[c]] for c in copies)
    links = [(d, m) for d, (_, m) in placed.items() if m is not None]
    right = sum(corpus.family[d] == corpus.family[m] for d, m in links)
    result = {
        "precision": right / len(links) if links else 1.0,
        "recall": found / len(copies) if copies else 1.0,
    }
    for how in PERTURBATIONS:
        planted = [c for c in copies if corpus.kind[c] == how]
        hit = sum(cluster_of[c] == cluster_of[corpus.family[c]] for c in planted)
        result[f"recall_{how}"] = hit / len(planted) if planted else 1.0
    follow_ups = [d.id for d in corpus.docs if corpus.kind[d.id] == "follow_up"]
    merged = sum(placed[f][1] is not None for f in follow_ups)
    result["follow_ups_merged"] = merged / len(follow_ups) if follow_ups else 0.0
    return result


def rebuild_and_query(
    corpus: Corpus, queries: int, rng: random.Random
) -> tuple[dict[str, float], DuplicateIndex]:
    """Return rebuild time, query latencies and memory of an index rebuilt from bytes."""
    shingles = [shingle_set(d.text) for d in corpus.docs]
    started = time.perf_counter()
    signatures = [signature_of_shingles(s) for s in shingles]
    signing = (time.perf_counter() - started) / len(signatures)
    rows = [(d.id, signature_to_bytes(s)) for d, s in zip(corpus.docs, signatures, strict=True)]
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    started = time.perf_counter()
    index = DuplicateIndex.from_rows(rows)
    rebuild = time.perf_counter() - started
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    traced = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    picks = rng.sample(range(len(signatures)), min(queries, len(signatures)))
    latencies = []
    for i in picks:
        started = time.perf_counter()
        index.candidates(signatures[i], min_jaccard=PREFILTER_JACCARD, limit=MAX_CONFIRM)
        latencies.append(time.perf_counter() - started)
    latencies.sort()
    return {
        "sign_ms": signing * 1e3,
        "rebuild_s": rebuild,
        "query_mean_ms": statistics.fmean(latencies) * 1e3,
        "query_p50_ms": latencies[len(latencies) // 2] * 1e3,
        "query_p99_ms": latencies[int(len(latencies) * 0.99)] * 1e3,
        "traced_bytes": float(traced),
        "array_bytes": float(index.memory_bytes()),
    }, index


def pairwise_baseline(
    corpus: Corpus, index: DuplicateIndex, sample: int, rng: random.Random
) -> dict[str, float]:
    """Return the cost of exact all-pairs comparison on a sample and the LSH recall against it."""
    copies = [d for d in corpus.docs if corpus.family[d.id] != d.id]
    chosen = {d.id for d in rng.sample(copies, min(sample // 4, len(copies)))}
    chosen |= {corpus.family[c] for c in chosen}
    others = [d.id for d in corpus.docs if d.id not in chosen]
    chosen |= set(rng.sample(others, max(0, min(sample - len(chosen), len(others)))))
    ids = sorted(chosen)
    by_id = {d.id: d for d in corpus.docs}
    sets = [shingle_set(by_id[i].text) for i in ids]
    started = time.perf_counter()
    exact_pairs = set()
    comparisons = 0
    for a in range(len(ids)):
        for b in range(a + 1, len(ids)):
            jaccard, containment = compare_shingles(sets[a], sets[b])
            comparisons += 1
            small, large = sorted((len(sets[a]), len(sets[b])))
            if is_near_duplicate(jaccard, containment, small, large):
                exact_pairs.add((ids[a], ids[b]))
    per_pair = (time.perf_counter() - started) / max(comparisons, 1)
    members = set(ids)
    found = set()
    for i, doc_id in enumerate(ids):
        signature = signature_of_shingles(sets[i])
        for other in index.query(signature):
            if other in members and other != doc_id:
                found.add(tuple(sorted((doc_id, other))))
    lsh_recall = len(exact_pairs & found) / len(exact_pairs) if exact_pairs else 1.0
    return {
        "sample": float(len(ids)),
        "pairs": float(comparisons),
        "pair_us": per_pair * 1e6,
        "scan_ms": per_pair * len(corpus.docs) * 1e3,
        "exact_dup_pairs": float(len(exact_pairs)),
        "lsh_recall_vs_exact": lsh_recall,
    }


def threshold_sweep(
    corpus: Corpus, index: DuplicateIndex, queries: int, rng: random.Random
) -> list[tuple[float, float, float]]:
    """Return (Jaccard floor, precision, recall) of the confirmation rule on LSH candidates."""
    by_id = {d.id: d for d in corpus.docs}
    picks = rng.sample(corpus.docs, min(queries, len(corpus.docs)))
    observations = []  # (jaccard, containment, small, large, same family)
    for doc in picks:
        mine = shingle_set(doc.text)
        for other in index.query(signature_of_shingles(mine)):
            if other == doc.id:
                continue
            theirs = shingle_set(by_id[other].text)
            jaccard, containment = compare_shingles(mine, theirs)
            small, large = sorted((len(mine), len(theirs)))
            same = corpus.family[other] == corpus.family[doc.id]
            observations.append((jaccard, containment, small, large, same))
    positives = sum(o[4] for o in observations)
    rows = []
    for floor in (0.3, 0.4, JACCARD_MIN, 0.6, 0.7, 0.8):
        kept = [o for o in observations if _rule(floor, o)]
        right = sum(o[4] for o in kept)
        rows.append(
            (floor, right / len(kept) if kept else 1.0, right / positives if positives else 1.0)
        )
    return rows


def _rule(floor: float, observation: tuple[float, float, int, int, bool]) -> bool:
    """Return the confirmation rule with another Jaccard floor (containment rule unchanged)."""
    jaccard, containment, small, large, _ = observation
    return (
        is_near_duplicate(jaccard, containment, small, large)
        if floor == JACCARD_MIN
        else (
            small >= 8 and (jaccard >= floor or is_near_duplicate(0.0, containment, small, large))
        )
    )


def run(smoke: bool = False) -> str:
    """Return the benchmark's markdown section (smoke: 2,000 documents)."""
    size = SMOKE_DOCS if smoke else FULL_DOCS
    rng = random.Random(11)
    started = time.perf_counter()
    corpus = synthetic_corpus(size)
    generated = time.perf_counter() - started
    placed, clustering, _ = cluster_corpus(corpus)
    quality = link_quality(corpus, placed)
    speed, index = rebuild_and_query(corpus, 2000, rng)
    baseline = pairwise_baseline(corpus, index, 400 if smoke else 2000, rng)
    sweep = threshold_sweep(corpus, index, 300 if smoke else 2000, rng)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    per_doc = speed["traced_bytes"] / size
    return _report(size, generated, clustering, quality, speed, baseline, sweep, per_doc, rss_mb)


def _report(size, generated, clustering, quality, speed, baseline, sweep, per_doc, rss_mb) -> str:
    """Return the figures as a markdown section."""
    query_ms = speed["query_mean_ms"]
    figures = [
        ("clustering per document (sign, query, confirm)", f"{clustering / size * 1e3:.3f} ms"),
        ("signature per document", f"{speed['sign_ms']:.3f} ms"),
        ("index rebuild from signature bytes", f"{speed['rebuild_s']:.2f} s"),
        ("query latency mean / p50 / p99", "{query_mean_ms:.3f} / {query_p50_ms:.3f} / "
         "{query_p99_ms:.3f} ms".format(**speed)),
        ("exact scan of the history per document (baseline)", f"{baseline['scan_ms']:.1f} ms"),
        ("exact comparison of one pair (baseline)", f"{baseline['pair_us']:.1f} us"),
        ("LSH query speed-up over the scan", f"{baseline['scan_ms'] / query_ms:.0f}x"),
        ("index memory (tracemalloc of the rebuild)", f"{speed['traced_bytes'] / 2**20:.1f} MiB"),
        ("index memory per document", f"{per_doc:.0f} B"),
        ("of which numpy arrays", f"{speed['array_bytes'] / 2**20:.1f} MiB"),
        ("extrapolated to 1M documents", f"{per_doc * 1e6 / 2**30:.2f} GiB"),
        ("process max RSS", f"{rss_mb:.0f} MiB"),
        ("precision of duplicate links", f"{quality['precision']:.4f}"),
        ("recall of planted copies", f"{quality['recall']:.4f}"),
        ("follow-ups (not copies) wrongly merged", f"{quality['follow_ups_merged']:.4f}"),
        (f"LSH recall vs exact pairwise rule, {baseline['sample']:.0f}-doc sample, "
         f"{baseline['exact_dup_pairs']:.0f} pairs", f"{baseline['lsh_recall_vs_exact']:.4f}"),
    ]  # fmt: skip
    lines = [
        "## Dedupe (MinHash LSH)",
        "",
        f"{size:,} synthetic documents ({COPY_SHARE:.0%} planted copies, {FOLLOW_UP_SHARE:.0%} "
        f"follow-ups that are not copies), generated in {generated:.1f} s; "
        f"{NUM_PERM} permutations, {BANDS} bands x {ROWS} rows, 4-word shingles.",
        "",
        "| measure | value |",
        "| --- | --- |",
        *[f"| {label} | {value} |" for label, value in figures],
        "",
        "Recall per perturbation: "
        + ", ".join(f"{how} {quality['recall_' + how]:.3f}" for how in PERTURBATIONS),
        "",
        "Confirmation rule at other Jaccard floors (containment rule fixed), on LSH candidates",
        "of a query sample (recall relative to the same-family candidates found):",
        "",
        "| Jaccard floor | precision | recall |",
        "| --- | --- | --- |",
        *[
            f"| {floor:.1f}{' (chosen)' if floor == JACCARD_MIN else ''} | {p:.4f} | {r:.4f} |"
            for floor, p, r in sweep
        ],
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run(smoke="--smoke" in sys.argv[1:]))
