"""One monitor run's I/O and storage steps over given folders and feeds, in its own process.

`test_hostile_limits` starts this as a child and reads the child's peak RSS from
`VmHWM` of its own memory map: the figure is the run's own, not the test process's.
The steps are the monitor flow's (read folders, poll feeds, ingest), without Prefect.

    python tests/hostile_run_driver.py CONFIG.json   ->   one JSON line on stdout
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(config_path: str) -> None:
    """Run the steps named in the config file and print a JSON summary."""
    from shiftwatch.connectors.feedlist import FeedConfig
    from shiftwatch.connectors.files import read_folder
    from shiftwatch.pipeline.feeds import poll_feeds
    from shiftwatch.pipeline.ingest import ingest_items
    from shiftwatch.settings import load_settings
    from shiftwatch.watchlist import load_watchlist

    with open(config_path, encoding="utf-8") as handle:
        config = json.load(handle)
    settings = load_settings(**config["settings"])
    watchlist = load_watchlist(settings.watchlist)
    from shiftwatch.analysis.analyzer import Analyzer
    from shiftwatch.models.db import open_database

    analyzer = Analyzer(watchlist.entities(), watchlist.stop_phrases(), watchlist.demand_terms())
    engine = open_database(settings.database_url)
    started = time.monotonic()
    items, rejected = [], []
    for folder in config["folders"]:
        batch = read_folder(folder, max_bytes=settings.max_document_bytes)
        items += batch.items
        rejected += batch.rejected
    print(f"folders read: {time.monotonic() - started:.1f}s", file=sys.stderr)
    feeds = poll_feeds(engine, [FeedConfig(url=u) for u in config["feeds"]], settings)
    items += feeds.items
    rejected += feeds.rejected
    print(f"feeds polled: {time.monotonic() - started:.1f}s", file=sys.stderr)
    result = ingest_items(engine, analyzer, items, "run-hostile", rejected)
    # The process's own high-water mark (VmHWM, its memory map's): `ru_maxrss` would also count
    # the parent's size at fork, which Linux carries across exec (a test process of 700 MB).
    status = Path("/proc/self/status").read_text().splitlines()
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(json.dumps({"seconds": round(time.monotonic() - started, 1), "peak_rss_kb": peak_kb,
                      "new_documents": len(result.new_document_ids)}))  # fmt: skip
    engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1])
