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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import stance_corpus  # noqa: E402


def write_folder(negotiation: str, folder: Path) -> int:
    """Write the negotiation's passages as dated markdown files; return how many."""
    count = 0
    for split in ("dev", "test"):
        for p in stance_corpus.load(split):
            if p["negotiation"] != negotiation:
                continue
            title = json.dumps(p.get("doc_title") or p["text"][:80], ensure_ascii=False)
            url = json.dumps(f"{p['url']}{'&' if '?' in p['url'] else '?'}passage={p['id']}")
            front = f"title: {title}\nurl: {url}\npublished: {p['date']}\nlanguage: {p['lang']}"
            (folder / f"{p['id']}.md").write_text(f"---\n{front}\n---\n{p['text']}\n", "utf-8")
            count += 1
    return count


def replay(negotiation: str) -> list[dict]:
    """Return the shifts `shiftwatch run` reports over the negotiation's passages."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        write_folder(negotiation, folder)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--negotiation", default="black-sea-grain", choices=sorted(stance_corpus.WATCHLISTS)
    )
    args = parser.parse_args()
    for s in sorted(replay(args.negotiation), key=lambda s: s["at"] or ""):
        state = "confirmed" if s["confirmed"] else "possible"
        change = f"{s['from_stance']} -> {s['to_stance']}"
        print(f"{(s['at'] or 'undated')[:10]} {s['party_id']} {s['demand_id']}: {change} ({state})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
