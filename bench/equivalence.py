"""Check that a change to the analysis core leaves every analysis identical.

Run: `python bench/equivalence.py save /tmp/before.json` on the old code, then
`python bench/equivalence.py check /tmp/before.json` on the new one (exit 1 on a difference).

The document set (`documents()`): N synthetic documents (bench/synth.py, seed 0), the seeds
(data/seeds), the document files under tests/fixtures, every passage of the stance
corpus (tests/corpus/stance, analysed as `bench/stance_corpus.py` does, under its own
negotiation's watchlist) and every text of the MT corpus (tests/corpus/mt). Fetch times are
fixed so that a document's repr depends on the code only. A speed-up must change no repr.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = 300
FETCHED = datetime(2022, 3, 1, tzinfo=UTC)
DEFAULT = "russia-nato-2022"


def _folder_items(folder: Path) -> list:  # -> list[RawItem]
    from shiftwatch.connectors.files import read_folder

    items = read_folder(folder, max_bytes=10_000_000).items
    return [replace(item, fetched_at=FETCHED) for item in items]


def _corpus_items() -> Iterator[tuple[str, str, object]]:
    """Yield (key, negotiation, RawItem) for the stance and MT corpora's texts."""
    from stance_corpus import load, passage_document

    from shiftwatch.records import RawItem

    for split in ("dev", "test"):
        for p in load(split):
            doc, _ = passage_document(p)
            yield f"stance/{p['id']}", p["negotiation"], replace(doc, fetched_at=FETCHED)
    mt = ROOT / "tests" / "corpus" / "mt" / "texts.jsonl"
    for line in mt.read_text("utf-8").splitlines():
        if line.strip():
            t = json.loads(line)
            raw = RawItem(
                source_id="mt",
                url=t["url"] or f"https://mt.example/{t['id']}",
                body=t["text"].encode("utf-8"),
                fetched_at=FETCHED,
            )
            yield f"mt/{t['id']}", DEFAULT, raw


def documents(synthetic: int = SYNTHETIC) -> Iterator[tuple[str, str, object]]:
    """Yield (key, negotiation, RawItem or Document) for every document of the set."""
    from synth import build_corpus

    folder = Path(tempfile.gettempdir()) / "shiftwatch-equivalence"  # fixed: URLs are in reprs
    shutil.rmtree(folder, ignore_errors=True)
    build_corpus(synthetic, folder)
    for item in _folder_items(folder):
        yield f"synth/{item.url}", DEFAULT, item
    shutil.rmtree(folder)
    for item in _folder_items(ROOT / "data" / "seeds"):
        yield f"seeds/{item.url}", DEFAULT, item
    for item in _folder_items(ROOT / "tests" / "fixtures"):  # its .txt, .md and .html files
        yield f"fixtures/{item.url}", DEFAULT, item
    yield from _corpus_items()


def analyse_all(synthetic: int = SYNTHETIC) -> dict[str, str]:
    """Return the repr of every document's analysis (or rejection), by key."""
    from stance_corpus import analyzer_for

    from shiftwatch.records import Document

    out: dict[str, str] = {}
    for key, negotiation, thing in documents(synthetic):
        analyzer = analyzer_for(negotiation)
        if isinstance(thing, Document):
            out[key] = repr(analyzer.analyze(thing))
        else:
            out[key] = repr(analyzer.build_and_analyze([thing]))
    return out


def main(argv: list[str]) -> int:
    mode, path = argv[0], Path(argv[1])
    found = analyse_all()
    if mode == "save":
        path.write_text(json.dumps(found, ensure_ascii=False, indent=0), "utf-8")
        digest = hashlib.sha256(json.dumps(found, sort_keys=True).encode()).hexdigest()[:16]
        print(f"saved {len(found)} analyses to {path} ({digest})")
        return 0
    before = json.loads(path.read_text("utf-8"))
    changed = [k for k in before.keys() | found.keys() if before.get(k) != found.get(k)]
    for key in sorted(changed)[:20]:
        print(f"DIFFERS: {key}")
    print(f"{len(found)} analyses, {len(changed)} differ")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
