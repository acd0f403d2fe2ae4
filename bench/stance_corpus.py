"""Stance precision and recall on the real labelled corpus (tests/corpus/stance/).

Run: `python bench/stance_corpus.py [--split dev|test] [--errors]`. Each passage is analysed as
a small document: its real title (and lead, when the corpus gives one) above the passage, dated
and in the passage's language, through the same `Analyzer` the monitor uses with the watchlist
of the passage's negotiation. Only stances whose evidence lies inside the passage are scored.

Scoring, per (holder party, demand, stance) in a passage:
- predicted: observations that can move a position (confidence >= `MIN_CONFIDENCE`);
- gold: the labels, except those marked `reported` (one party's characterisation of another):
  a prediction matching a reported label is neither right nor wrong, and is counted apart
  (`reported as strong`: it should stay below `STRONG_CONFIDENCE`);
- holder right: among predictions whose demand and stance match a gold label of the passage,
  the share whose holder matches too.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "corpus" / "stance"
WATCHLISTS = {
    "russia-nato-2022": ROOT / "watchlists" / "russia-nato-2022.yaml",
    "black-sea-grain": ROOT / "watchlists" / "black-sea-grain.yaml",
    "iran-nuclear-2022": ROOT / "watchlists" / "iran-nuclear-2022.yaml",
}
TEST_SHARE = 40  # percent of documents (by URL) in the test split


def split_of(url: str) -> str:
    """Return the split a document belongs to, fixed by its URL (all its passages together)."""
    return "test" if int(hashlib.sha256(url.encode()).hexdigest(), 16) % 100 < TEST_SHARE else "dev"


def load(split: str) -> list[dict]:
    """Return the passages of one split."""
    path = CORPUS / f"{split}.jsonl"
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


ALIASES: int | None = None  # `--aliases K`: keep each demand's first K aliases per language


@functools.cache
def analyzer_for(negotiation: str):  # -> Analyzer
    """Return the monitor's analyzer for a negotiation's watchlist, compiled once."""
    from shiftwatch.analysis.analyzer import Analyzer
    from shiftwatch.watchlist import load_watchlist

    wl = load_watchlist(WATCHLISTS[negotiation])
    if ALIASES is not None:
        wl = sparse_watchlist(wl, ALIASES)
    return Analyzer(wl.entities(), wl.stop_phrases(), wl.demand_terms())


def sparse_watchlist(wl, keep: int):  # (Watchlist, int) -> Watchlist
    """Return the watchlist with each demand cut to its first `keep` aliases and opposite
    phrases per language and no demand cues of its own: a stand-in for a watchlist written by
    someone who never saw the corpus (ours grew aliases while tuning on dev)."""
    demands = []
    for d in wl.demands:
        data = d.model_dump()
        for key in ("aliases", "opposite"):
            data[key] = {lang: forms[:keep] for lang, forms in (data.get(key) or {}).items()}
        data["cues"] = {}
        demands.append(type(d).model_validate(data))
    return wl.model_copy(update={"demands": demands})


def passage_document(p: dict):  # -> tuple[Document, int]
    """Return the passage as a document (title and lead above it, read through the files
    connector's normalization) and where the passage starts in its text."""
    from shiftwatch.analysis.text.documents import build_document
    from shiftwatch.analysis.text.normalize import normalize_text
    from shiftwatch.records import RawItem

    head = [p.get("doc_title") or ""]
    lead = (p.get("doc_lead") or "").strip()
    if lead and lead not in p["text"] and lead != head[0]:
        head.append(lead)
    body = "\n\n".join([*(h for h in head if h), p["text"]])
    published = datetime.fromisoformat(p["date"]).replace(tzinfo=UTC) if p.get("date") else None
    raw = RawItem(
        source_id="corpus",
        url=p["url"],
        body=body.encode("utf-8"),
        fetched_at=datetime.now(UTC),
        title=p.get("doc_title") or None,
        published_at=published,
        language_hint=p["lang"],
    )
    doc = build_document(raw)
    passage = normalize_text(p["text"])
    start = doc.text.rfind(passage[:40])
    if start < 0:
        raise ValueError(f"{p['id']}: passage not found in its document")
    return doc, start


Key = tuple[str, str, str]  # party, demand, stance


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: Tally) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


@dataclass
class Report:
    by_lang: dict[str, Tally] = field(default_factory=dict)
    by_stance: dict[str, Tally] = field(default_factory=dict)
    by_negotiation: dict[str, Tally] = field(default_factory=dict)
    holder_right: int = 0
    holder_checked: int = 0
    reported_strong: int = 0
    passages: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> Tally:
        out = Tally()
        for t in self.by_lang.values():
            out.add(t)
        return out

    @property
    def holder_accuracy(self) -> float:
        return self.holder_right / self.holder_checked if self.holder_checked else 1.0


def predict(p: dict) -> list[tuple[Key, float, str]]:
    """Return what the analyzer records inside the passage: key, confidence, evidence."""
    from shiftwatch.analysis.positions.replay import MIN_CONFIDENCE

    doc, start = passage_document(p)
    found = analyzer_for(p["negotiation"]).analyze(doc).stances
    return [
        ((s.party_id, s.demand_id, str(s.stance)), s.confidence, s.evidence)
        for s in found
        if s.evidence_start >= start and s.confidence >= MIN_CONFIDENCE
    ]


def evaluate(passages: Iterable[dict]) -> Report:
    """Return precision, recall and holder accuracy over `passages`."""
    from shiftwatch.analysis.positions.replay import STRONG_CONFIDENCE

    report = Report()
    for p in passages:
        report.passages += 1
        gold = {
            (g["holder"], g["demand"], g["stance"]) for g in p["labels"] if not g.get("reported")
        }
        reported = {
            (g["holder"], g["demand"], g["stance"]) for g in p["labels"] if g.get("reported")
        }
        found = predict(p)
        keys = {k for k, _, _ in found}
        counted = keys - (reported - gold)
        report.reported_strong += sum(
            1 for k, c, _ in found if k in reported and k not in gold and c >= STRONG_CONFIDENCE
        )
        for key in counted | gold:
            hit = key in counted and key in gold
            tally = Tally(
                tp=int(hit), fp=int(key in counted and not hit), fn=int(key in gold and not hit)
            )
            for table, name in (
                (report.by_lang, p["lang"]),
                (report.by_stance, key[2]),
                (report.by_negotiation, p["negotiation"]),
            ):
                table.setdefault(name, Tally()).add(tally)
        for key in counted:
            if any(key[1:] == g[1:] for g in gold):
                report.holder_checked += 1
                report.holder_right += key in gold
        if counted != gold:
            report.errors.append(_error(p, gold, found))
    return report


def _error(p: dict, gold: set[Key], found: Sequence[tuple[Key, float, str]]) -> str:
    got = ", ".join(f"{':'.join(k)} {c:.2f}" for k, c, _ in found) or "-"
    want = ", ".join(":".join(k) for k in sorted(gold)) or "-"
    return f"{p['id']} [{p.get('case')}] want {want} | got {got}\n    {p['text'][:300]}"


def table(report: Report) -> list[str]:
    """Return the report as markdown rows."""
    rows = [
        "| slice | precision | recall | tp | fp | fn |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    slices = [
        *((f"lang {k}", v) for k, v in sorted(report.by_lang.items())),
        *((f"stance {k}", v) for k, v in sorted(report.by_stance.items())),
        *((f"{k}", v) for k, v in sorted(report.by_negotiation.items())),
        ("all", report.total),
    ]
    for name, t in slices:
        rows.append(f"| {name} | {t.precision:.2f} | {t.recall:.2f} | {t.tp} | {t.fp} | {t.fn} |")
    rows.append("")
    rows.append(
        f"holder right for {report.holder_accuracy:.2f} of the stances found "
        f"({report.holder_right}/{report.holder_checked}); reported claims recorded as strong: "
        f"{report.reported_strong}; passages: {report.passages}"
    )
    return rows


def build_splits(raw_dir: Path) -> Counter[str]:
    """Assemble gathered passages (raw_dir/*.jsonl) into dev.jsonl and test.jsonl by
    `split_of`; passages already in a split stay where they are (the split is frozen)."""
    out: dict[str, dict[str, dict]] = {"dev": {}, "test": {}}
    for split in out:
        path = CORPUS / f"{split}.jsonl"
        if path.exists():
            out[split] = {p["id"]: p for p in load(split)}
    for path in sorted(raw_dir.glob("*.jsonl")):
        for line in path.read_text("utf-8").splitlines():
            if line.strip():
                p = json.loads(line)
                split = split_of(p["url"])
                out[split].setdefault(p["id"], p)
    for split, rows in out.items():
        text = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in rows.values())
        (CORPUS / f"{split}.jsonl").write_text(text, "utf-8")
    return Counter({split: len(rows) for split, rows in out.items()})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="dev", choices=["dev", "test"])
    parser.add_argument("--errors", action="store_true", help="print every passage scored wrong")
    parser.add_argument("--build", type=Path, help="add gathered passages from this folder")
    parser.add_argument(
        "--aliases", type=int, metavar="K", help="cut each demand to its first K aliases"
    )
    args = parser.parse_args(argv)
    global ALIASES
    ALIASES = args.aliases
    if args.build:
        print(dict(build_splits(args.build)))
        return 0
    report = evaluate(load(args.split))
    print("\n".join(table(report)))
    if args.errors:
        print("\n" + "\n".join(report.errors))
    counts = Counter(p["lang"] for p in load(args.split))
    print(f"\npassages per language: {dict(sorted(counts.items()))}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
