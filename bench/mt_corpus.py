"""Machine-translation and copy detection on the real-page corpus (tests/corpus/mt/).

Run: `python bench/mt_corpus.py [--split dev|test] [--errors]`.

MT: each text goes through language detection and `find_mt_artifacts` as the monitor runs them
(with the default watchlist's person names); a text is flagged when `MTResult.flagged`. Reported:
recall on machine-translated pages with a notice and without one, and the share of human texts
flagged (false positives), plus each evidence kind's firing rate on human and MT texts.

Copies: each pair is clustered as a batch of two new documents with `assign_clusters` on an empty
index; `same` pairs should share a cluster, `different` pairs must not. Reported: same-story pairs
clustered (recall) and different-story pairs merged.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "corpus" / "mt"
WATCHLIST = ROOT / "watchlists" / "russia-nato-2022.yaml"
TEST_SHARE = 4  # tenths of the corpus (by URL hash) in the test split


def split_of(key: str) -> str:
    """Return the split of a text (key: its URL) or pair (key: both URLs sorted, `|`-joined)."""
    return "test" if int(hashlib.sha256(key.encode()).hexdigest(), 16) % 10 < TEST_SHARE else "dev"


def load(name: str, split: str | None = None) -> list[dict]:
    """Return the records of `texts` or `pairs`, optionally of one split."""
    lines = (CORPUS / f"{name}.jsonl").read_text("utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    return [r for r in records if split in (None, "all", r["split"])]


@functools.cache
def names() -> tuple[str, ...]:
    """Return the default watchlist's person names, as the monitor passes them."""
    from shiftwatch.analysis.analyzer import Analyzer
    from shiftwatch.watchlist import load_watchlist

    wl = load_watchlist(WATCHLIST)
    return Analyzer(wl.entities(), wl.stop_phrases(), wl.demand_terms()).names


def analyse(text: str):  # -> MTResult
    """Return the MT result for one text, as `Analyzer.describe` computes it."""
    from shiftwatch.analysis.language.detect import detect_languages
    from shiftwatch.analysis.language.translation import find_mt_artifacts

    lang = detect_languages(text)
    return find_mt_artifacts(text, language=lang.language, segments=lang.segments, names=names())


@dataclass
class MTReport:
    notice: list[bool] = field(default_factory=list)
    silent: list[bool] = field(default_factory=list)
    human: list[bool] = field(default_factory=list)
    kinds_human: Counter = field(default_factory=Counter)
    kinds_mt: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def rates(self) -> dict[str, float]:
        def share(values: list[bool]) -> float:
            return round(sum(values) / len(values), 3) if values else 0.0

        return {
            "recall_notice": share(self.notice),
            "recall_silent": share(self.silent),
            "human_flagged": share(self.human),
        }


def evaluate_mt(texts: list[dict]) -> MTReport:
    """Return flags per class, evidence-kind counts and the misclassified texts."""
    report = MTReport()
    for record in texts:
        result = analyse(record["text"])
        flagged = result.flagged
        kinds = result.kinds
        if record["label"] == "human":
            report.human.append(flagged)
            report.kinds_human.update(kinds)
        else:
            (report.notice if record["notice"] else report.silent).append(flagged)
            report.kinds_mt.update(kinds)
        wrong = flagged != (record["label"] == "mt")
        if wrong:
            evidence = "; ".join(f"{a.kind}:{a.evidence[:40]!r}" for a in result.artifacts[:6])
            report.errors.append(
                f"{record['id']} {record['label']} score={result.score} {record['url']}\n"
                f"    {evidence}"
            )
    return report


@dataclass
class PairReport:
    same: list[bool] = field(default_factory=list)
    different: list[bool] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def rates(self) -> dict[str, float]:
        same = sum(self.same) / len(self.same) if self.same else 0.0
        return {
            "same_clustered": round(same, 3),
            "different_merged": sum(self.different),
            "same_pairs": len(self.same),
            "different_pairs": len(self.different),
        }


def cluster_pair(pair: dict) -> tuple[bool, float, float]:
    """Return whether the pair's two pages land in one cluster, with Jaccard and containment."""
    from shiftwatch.analysis.dedupe.clustering import (
        DedupeItem,
        DuplicateIndex,
        assign_clusters,
    )

    items = [DedupeItem(id=side, text=pair[side]["text"]) for side in ("a", "b")]
    plan = assign_clusters(items, DuplicateIndex(), lambda ids: {})
    by_id = {d.document_id: d for d in plan.decisions}
    near = by_id["b"] if by_id["b"].matched_id else by_id["a"]
    together = by_id["a"].cluster_id == by_id["b"].cluster_id
    return together, near.jaccard, near.containment


def pair_overlap(pair: dict) -> tuple[float, float]:
    """Return the exact (Jaccard, containment) of a pair's shingle sets, as confirmed."""
    from shiftwatch.analysis.dedupe.clustering import compare_shingles, shingle_set

    return compare_shingles(shingle_set(pair["a"]["text"]), shingle_set(pair["b"]["text"]))


def evaluate_pairs(pairs: list[dict]) -> PairReport:
    """Return, per pair, whether it was clustered, and the wrong decisions."""
    report = PairReport()
    for pair in pairs:
        together, _, _ = cluster_pair(pair)
        (report.same if pair["label"] == "same" else report.different).append(together)
        if together != (pair["label"] == "same"):
            jaccard, containment = pair_overlap(pair)
            report.errors.append(
                f"{pair['id']} {pair['label']} together={together} "
                f"J={jaccard:.2f} C={containment:.2f} {pair['a']['outlet']} / {pair['b']['outlet']}"
            )
    return report


MACHINE_MADE = (  # pair pages that are machine-made (rewritten or translated), not human text
    "starycmentarz.org",
    "retro-gram.com",
    "moreshetashkenaz.com",
    "mywinet.com",
    "pledgetimes.com",
    "vpk.name/en",
)


def human_pages(split: str) -> dict[str, list[str]]:
    """Return more human-written text of a split: the pair pages (machine-made ones left out),
    the stance corpus's passages joined per page, and (dev) the human seeds."""
    pages: dict[str, list[str]] = {}
    for split_ in ("dev", "test") if split == "all" else (split,):
        path = ROOT / "tests" / "corpus" / "stance" / f"{split_}.jsonl"
        for line in path.read_text("utf-8").splitlines():
            record = json.loads(line)
            pages.setdefault(record["url"], []).append(record["text"])
    found = {
        "pair pages": [
            t
            for p in load("pairs", split)
            for t, u in ((p["a"]["text"], p["a"]["url"]), (p["b"]["text"], p["b"]["url"]))
            if not any(host in u for host in MACHINE_MADE)
        ],
        "stance pages": ["\n".join(texts) for texts in pages.values()],
    }
    if split == "dev":
        seeds = sorted((ROOT / "data" / "seeds").glob("*.txt"))
        found["human seeds"] = [f.read_text("utf-8") for f in seeds if not f.name.startswith("003")]
    return found


def report_human_pages(split: str) -> None:
    """Print how often each evidence kind fires, and how many pages are flagged, per set."""
    for name, texts in human_pages(split).items():
        kinds: Counter = Counter()
        flagged = 0
        for text in texts:
            result = analyse(text)
            kinds.update(result.kinds)
            flagged += result.flagged
        firing = ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
        print(f"{name}: {flagged}/{len(texts)} flagged; kinds firing: {firing or 'none'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("dev", "test", "all"), default="dev")
    parser.add_argument("--errors", action="store_true", help="list the misclassified items")
    parser.add_argument(
        "--human-pages", action="store_true", help="evidence on more human text of the split"
    )
    args = parser.parse_args(argv)
    texts, pairs = load("texts", args.split), load("pairs", args.split)
    mt = evaluate_mt(texts)
    dedupe = evaluate_pairs(pairs)
    print(f"split={args.split} texts={len(texts)} pairs={len(pairs)}")
    print(
        f"MT: notice {sum(mt.notice)}/{len(mt.notice)}, without notice "
        f"{sum(mt.silent)}/{len(mt.silent)}, human flagged {sum(mt.human)}/{len(mt.human)}"
    )
    print("MT rates:", json.dumps(mt.rates()))
    kinds = sorted(set(mt.kinds_human) | set(mt.kinds_mt))
    for kind in kinds:
        print(
            f"  {kind:<22} human {mt.kinds_human[kind]:>3}/{len(mt.human)}"
            f"  mt {mt.kinds_mt[kind]:>3}/{len(mt.notice) + len(mt.silent)}"
        )
    print(
        f"copies: same {sum(dedupe.same)}/{len(dedupe.same)} clustered, "
        f"different {sum(dedupe.different)}/{len(dedupe.different)} merged"
    )
    print("copy rates:", json.dumps(dedupe.rates()))
    if args.errors:
        print("\n".join(["", "MT errors:", *mt.errors, "", "copy errors:", *dedupe.errors]))
    if args.human_pages:
        report_human_pages(args.split)
    return 0


if __name__ == "__main__":
    sys.exit(main())
