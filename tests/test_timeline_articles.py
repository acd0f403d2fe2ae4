"""Real-looking article timelines, end to end (files -> analysis -> storage -> positions):
each folder of `tests/fixtures/timelines/` with its `<folder>.expect.yaml`."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml
from conftest import FIXTURES

from shiftwatch.connectors.files import read_folder
from shiftwatch.models import queries
from shiftwatch.models.db import open_database, session_scope
from shiftwatch.pipeline.ingest import ingest_items
from shiftwatch.pipeline.positions import update_positions

CASES = sorted((FIXTURES / "timelines").glob("*.expect.yaml"))


@pytest.mark.parametrize("expect_file", CASES, ids=[c.name.split(".")[0] for c in CASES])
def test_a_timeline_of_articles_is_dated_by_its_evidence(expect_file, analyzer, tmp_path):
    expect = yaml.safe_load(expect_file.read_text("utf-8"))
    engine = open_database(f"sqlite:///{tmp_path / 'timeline.db'}")
    source = FIXTURES / "timelines" / expect["folder"]
    runs = expect.get("runs") or [sorted(p.name for p in source.iterdir())]
    party, demand = expect["pair"]
    for i, names in enumerate(runs, start=1):
        _run(engine, analyzer, source, names, tmp_path / "feed", f"run-{i}")
        if i == 1 and "after_first_run" in expect:
            with session_scope(engine) as session:
                (first,) = [
                    p
                    for p in queries.export_rows(session, "positions")
                    if (p["party_id"], p["demand_id"]) == (party, demand)
                ]
            assert {k: first[k] for k in expect["after_first_run"]} == expect["after_first_run"]
    with session_scope(engine) as session:
        shifts = [
            s
            for s in queries.export_rows(session, "shifts")
            if (s["party_id"], s["demand_id"]) == (party, demand) and s["status"] == "confirmed"
        ]
        positions = {
            (p["party_id"], p["demand_id"]): p for p in queries.export_rows(session, "positions")
        }
    engine.dispose()
    assert [(s["from_stance"], s["to_stance"], s["at"].date()) for s in shifts] == [
        (s["from"], s["to"], _day(s["at"])) for s in expect["shifts"]
    ]
    for stored, expected in zip(shifts, expect["shifts"], strict=True):
        if "confirmed_at" in expected:
            assert stored["confirmed_at"].date() == _day(expected["confirmed_at"])
    position = positions[(party, demand)]
    assert position["stance"] == expect["position"]["stance"]
    assert position["since"].date() == _day(expect["position"]["since"])


def _run(engine, analyzer, source: Path, names: list[str], folder: Path, run_id: str) -> None:
    """One monitor-like run over the folder as it stands with `names` in it."""
    folder.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(source / name, folder / name)
    batch = read_folder(folder, max_bytes=1_000_000)
    result = ingest_items(engine, analyzer, batch.items, run_id, batch.rejected)
    update_positions(engine, result.pairs, result.new_document_ids, run_id)


def _day(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
