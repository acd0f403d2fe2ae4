"""Replay a negotiation's real passages through the whole monitor, in date order, and print the
position changes it reports.

Run: `python bench/negotiation_replay.py [--negotiation black-sea-grain]`. Every labelled
passage of the corpus (tests/corpus/stance, dev and test) on that negotiation becomes a dated
markdown file (title, page address, date, language in its front matter); `shiftwatch run`
reads the folder on a fresh SQLite database with the negotiation's watchlist, as a user would,
then `shiftwatch export shifts` lists what it found.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import stance_corpus  # noqa: E402

SPLITS = {"dev": ("dev",), "test": ("test",), "all": ("dev", "test")}
MATCH_DAYS = 14  # a reported change matches a labelled one of the same pair and new stance


def passages(negotiation: str, split: str = "all") -> list[dict]:
    """Return the negotiation's labelled passages of a split ("all": dev and test)."""
    return [
        p
        for name in SPLITS[split]
        for p in stance_corpus.load(name)
        if p["negotiation"] == negotiation
    ]


def write_folder(negotiation: str, folder: Path, split: str = "all") -> int:
    """Write the negotiation's passages as dated markdown files; return how many."""
    count = 0
    for p in passages(negotiation, split):
        title = json.dumps(p.get("doc_title") or p["text"][:80], ensure_ascii=False)
        url = json.dumps(f"{p['url']}{'&' if '?' in p['url'] else '?'}passage={p['id']}")
        front = f"title: {title}\nurl: {url}\npublished: {p['date']}\nlanguage: {p['lang']}"
        (folder / f"{p['id']}.md").write_text(f"---\n{front}\n---\n{p['text']}\n", "utf-8")
        count += 1
    return count


def replay(negotiation: str, split: str = "all") -> list[dict]:
    """Return the shifts `shiftwatch run` reports over the negotiation's passages."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        write_folder(negotiation, folder, split)
        db = f"sqlite:///{tmp}/replay.db"
        env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
        exe = [str(Path(sys.executable).with_name("shiftwatch"))]
        watchlist = str(stance_corpus.WATCHLISTS[negotiation])
        run = [*exe, "run", "--seeds", str(folder), "--watchlist", watchlist, "--db", db]
        subprocess.run([*run, "--no-deliver"], check=True, capture_output=True, cwd=tmp, env=env)
        out = subprocess.run(
            [*exe, "export", "shifts", "--db", db],
            check=True,
            capture_output=True,
            text=True,
            cwd=tmp,
            env=env,
        ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def labelled_changes(negotiation: str, split: str = "all") -> list[tuple[str, str, str, str, str]]:
    """Return the changes of position the labels record: per (holder, demand), in date order,
    every labelled stance that differs from the one before it (party, demand, from, to, day).
    Reported claims (one party about another) are not the holder's own word and are left out."""
    seen: dict[tuple[str, str], str] = {}
    changes = []
    for p in sorted(passages(negotiation, split), key=lambda p: (p["date"], p["id"])):
        for label in p["labels"]:
            if label.get("reported") or not label.get("holder"):
                continue
            pair = (label["holder"], label["demand"])
            before = seen.get(pair)
            if before is not None and before != label["stance"]:
                changes.append((*pair, before, label["stance"], p["date"][:10]))
            seen[pair] = label["stance"]
    return changes


def _matches(reported: dict, labelled: tuple[str, str, str, str, str]) -> bool:
    """Return True when a reported change is a labelled one: same pair, same new stance, within
    `MATCH_DAYS` of each other."""
    party, demand, _, to, day = labelled
    if (reported["party_id"], reported["demand_id"], reported["to_stance"]) != (party, demand, to):
        return False
    at = (reported["at"] or "")[:10]
    if not at:
        return False
    gap = datetime.fromisoformat(at) - datetime.fromisoformat(day)
    return abs(gap.days) <= MATCH_DAYS


def score(reported: list[dict], labelled: list[tuple]) -> tuple[int, int, int]:
    """Return (confirmed changes that are labelled, confirmed changes, labelled changes found)."""
    confirmed = [s for s in reported if s["confirmed"]]
    right = sum(any(_matches(s, g) for g in labelled) for s in confirmed)
    found = sum(any(_matches(s, g) for s in confirmed) for g in labelled)
    return right, len(confirmed), found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--negotiation", default="black-sea-grain", choices=sorted(stance_corpus.WATCHLISTS)
    )
    parser.add_argument("--split", default="all", choices=sorted(SPLITS))
    args = parser.parse_args()
    labelled = labelled_changes(args.negotiation, args.split)
    reported = replay(args.negotiation, args.split)
    for s in sorted(reported, key=lambda s: s["at"] or ""):
        state = "confirmed" if s["confirmed"] else "possible"
        change = f"{s['from_stance']} -> {s['to_stance']}"
        mark = "labelled" if any(_matches(s, g) for g in labelled) else "NOT labelled"
        print(
            f"{(s['at'] or 'undated')[:10]} {s['party_id']} {s['demand_id']}: {change} "
            f"({state}, {mark})"
        )
    print("\nlabelled changes (from the labels, in date order):")
    for g in labelled:
        found = any(s["confirmed"] and _matches(s, g) for s in reported)
        print(f"{g[4]} {g[0]} {g[1]}: {g[2]} -> {g[3]} ({'found' if found else 'missed'})")
    right, confirmed, found = score(reported, labelled)
    print(
        f"\nconfirmed changes that are labelled: {right}/{confirmed}; "
        f"labelled changes confirmed: {found}/{len(labelled)} (match: same pair and new stance "
        f"within {MATCH_DAYS} days)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
