"""The monitor flow end to end under one session-scoped Prefect harness, and the CLI."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import SEEDS
from sqlalchemy import func, select
from typer.testing import CliRunner

from shiftwatch.cli import app
from shiftwatch.models import tables as t
from shiftwatch.models.db import open_database, session_scope

pytestmark = pytest.mark.prefect
TABLES = (t.Document, t.Mention, t.StanceObservation, t.Shift, t.Alert, t.Rejection, t.Signature)


def _counts(url: str) -> dict[str, int]:
    engine = open_database(url)
    with session_scope(engine) as session:
        out = {
            m.__tablename__: session.execute(select(func.count()).select_from(m)).scalar()
            for m in TABLES
        }
    engine.dispose()
    return out


@pytest.fixture(scope="module")
def seeded(prefect_harness, tmp_path_factory):
    """Run the monitor twice over a copy of the seeds (plus one bad file)."""
    from shiftwatch.flows.monitor import monitor

    folder = tmp_path_factory.mktemp("seeds")
    shutil.copytree(SEEDS, folder, dirs_exist_ok=True)
    (folder / "empty.txt").write_text("  \n", encoding="utf-8")
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'sw.db'}"
    first = monitor(seeds=[str(folder)], database_url=url, deliver=False)
    after_first = _counts(url)
    second = monitor(seeds=[str(folder)], database_url=url, deliver=False)
    return {"url": url, "first": first, "second": second, "after_first": after_first}


def test_first_run_stores_every_seed_and_rejects_the_empty_file(seeded):
    first = seeded["first"]
    assert (first["new"], first["rejected"]) == (5, 1)


def test_second_run_changes_nothing(seeded):
    second = seeded["second"]
    assert (second["new"], second["duplicate"]) == (0, 0)
    assert second["unchanged"] == 5
    assert _counts(seeded["url"]) == seeded["after_first"]


def test_export_mentions_lists_each_seeds_demands_and_venues(seeded):
    result = CliRunner().invoke(app, ["export", "mentions", "--db", seeded["url"]])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    by_doc: dict[str, set[str]] = {}
    for row in rows:
        assert set(row) >= {"document_id", "kind", "entity_id", "text", "start", "end"}
        by_doc.setdefault(row["document_id"], set()).add(row["entity_id"])
    assert len(by_doc) == 5
    everything = set().union(*by_doc.values())
    assert {
        "nato-nonenlargement",
        "legal-guarantees",
        "ukraine-georgia-membership-ban",
        "geneva-talks",
        "nato-russia-council",
        "osce-vienna",
    } <= everything


@pytest.mark.parametrize(
    "kind", ["documents", "mentions", "stances", "positions", "shifts", "alerts"]
)
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_every_export_kind_works_in_both_formats(seeded, kind, fmt):
    result = CliRunner().invoke(app, ["export", kind, "--format", fmt, "--db", seeded["url"]])
    assert result.exit_code == 0, result.output
    if fmt == "csv":
        assert result.output.splitlines()[0].startswith(("id,", "document_id,", "party_id,"))


def test_document_export_has_the_documented_fields(seeded):
    result = CliRunner().invoke(app, ["export", "documents", "--db", seeded["url"]])
    row = json.loads(result.output.splitlines()[0])
    assert set(row) >= {
        "id",
        "url",
        "title",
        "published_at",
        "language",
        "languages",
        "mt_score",
        "mt_artifacts",
        "cluster_id",
        "duplicate_of",
    }
    assert row["url"].startswith("file://")


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_digest_renders_in_every_format(seeded, fmt):
    result = CliRunner().invoke(app, ["digest", "--format", fmt, "--db", seeded["url"]])
    assert result.exit_code == 0, result.output
    assert "Moscow Pessimistic Ahead of Security Talks" in result.output
    assert "Geneva talks" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--seeds", "/no/such/folder"], "seed folder not found"),
        (["run", "--watchlist", "/no/such.yaml"], "watchlist not found"),
        (["export", "documents", "--db", "nonsense"], "database URL"),
        (["digest", "--since", "yesterday"], "not an ISO date"),
    ],
)
def test_user_errors_are_one_clear_line(tmp_path, args, message):
    result = CliRunner().invoke(
        app, args, env={"SHIFTWATCH_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    )
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_perturbed_copies_cluster_with_their_originals(prefect_harness, tmp_path):
    from shiftwatch.flows.monitor import monitor

    folder = tmp_path / "copies"
    folder.mkdir()
    for name in ("001_d97a2751ecc2e389.txt", "004_6c2bacb0460c0eda.txt", "manifest.yaml"):
        shutil.copy(SEEDS / name, folder / name)
    original = (SEEDS / "001_d97a2751ecc2e389.txt").read_text(encoding="utf-8")
    paragraphs = original.split("\n\n")
    copy = "\n\n".join(paragraphs[1:]).replace("“", '"').replace("”", '"')
    copy += "\n\nShare on Facebook | Share on X | Subscribe to our newsletter for more news.\n"
    (folder / "syndicated-copy.txt").write_text(
        "---\ntitle: Moscow pessimistic (wire copy)\npublished: 2022-01-09\n---\n" + copy,
        encoding="utf-8",
    )
    url = f"sqlite:///{tmp_path / 'copies.db'}"
    first = monitor(seeds=[str(folder)], database_url=url, deliver=False)
    assert (first["new"], first["duplicate"]) == (2, 1)
    result = CliRunner().invoke(app, ["export", "documents", "--db", url])
    docs = {json.loads(line)["title"]: json.loads(line) for line in result.output.splitlines()}
    orig = docs["Moscow Pessimistic Ahead of Security Talks with U.S."]
    dup = docs["Moscow pessimistic (wire copy)"]
    other = next(d for t, d in docs.items() if t not in (orig["title"], dup["title"]))
    assert dup["cluster_id"] == orig["cluster_id"] and dup["duplicate_of"] == orig["id"]
    assert other["cluster_id"] != orig["cluster_id"] and other["duplicate_of"] is None
    again = monitor(seeds=[str(folder)], database_url=url, deliver=False)
    assert (again["new"], again["duplicate"], again["unchanged"]) == (0, 0, 3)


def test_reanalysing_a_window_changes_nothing_when_nothing_changed(seeded):
    from shiftwatch.flows.monitor import monitor

    before = _counts(seeded["url"])
    shifts_before = CliRunner().invoke(app, ["export", "shifts", "--db", seeded["url"]]).output
    redo = monitor(seeds=[], database_url=seeded["url"], deliver=False, since="2022-01-01")
    assert (redo["reanalysed"], redo["new"]) == (5, 0)
    assert _counts(seeded["url"]) == before
    after = CliRunner().invoke(app, ["export", "shifts", "--db", seeded["url"]]).output
    assert after == shifts_before
