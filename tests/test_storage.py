"""The storage contract: the same tests on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, inspect, select

from shiftwatch.models import documents as document_store
from shiftwatch.models import sources as source_store
from shiftwatch.models import stances as stance_store
from shiftwatch.models import tables as t
from shiftwatch.models.db import downgrade, migrate, open_database, session_scope
from shiftwatch.records import (
    Document,
    EntityKind,
    Mention,
    Rejected,
    RejectReason,
    Stance,
    StanceObservation,
    StoredSignature,
)

NOW = datetime(2022, 1, 10, 12, tzinfo=UTC)


def _doc(i: int) -> Document:
    return Document(
        id=f"d{i}",
        source_id="s",
        url=f"file:///d{i}",
        canonical_url=f"file:///d{i}",
        title=f"T{i}",
        text=f"text {i}",
        content_hash=f"h{i}",
        raw_hash=f"r{i}",
        fetched_at=NOW,
        published_at=NOW,
    )


def _count(engine, model) -> int:
    with session_scope(engine) as session:
        return session.execute(select(func.count()).select_from(model)).scalar()


def test_migrations_create_every_table(engine):
    names = set(inspect(engine).get_table_names())
    assert {
        "sources",
        "documents",
        "mentions",
        "stances",
        "positions",
        "shifts",
        "alerts",
        "deliveries",
        "runs",
        "rejections",
        "signatures",
        "statements",
    } <= names


def test_migrate_is_idempotent_and_reversible(database_url):
    engine = open_database(database_url)
    migrate(engine)
    downgrade(engine, "base")
    assert "documents" not in inspect(engine).get_table_names()
    migrate(engine)
    assert "documents" in inspect(engine).get_table_names()
    engine.dispose()


def test_reinserting_the_same_batch_stores_nothing_twice(engine):
    docs = [_doc(i) for i in range(3)]
    mentions = [
        Mention(
            document_id="d0",
            kind=EntityKind.VENUE,
            entity_id="geneva-talks",
            text="Geneva",
            start=0,
            end=6,
        )
    ]
    stance = StanceObservation(
        document_id="d1",
        party_id="russia",
        actor_id="ryabkov",
        demand_id="legal-guarantees",
        stance=Stance.SUPPORTS,
        confidence=0.9,
        evidence="We insist.",
        evidence_start=0,
        published_at=NOW,
    )
    for expected_new in (3, 0):
        with session_scope(engine) as session:
            assert document_store.save_documents(session, docs, "run-1") == expected_new
            document_store.save_mentions(session, mentions)
            stance_store.save_stances(session, [stance])
    assert (
        _count(engine, t.Document),
        _count(engine, t.Mention),
        _count(engine, t.StanceObservation),
    ) == (3, 1, 1)


def test_times_round_trip_as_utc(engine):
    with session_scope(engine) as session:
        document_store.save_documents(session, [_doc(1)], None)
    with session_scope(engine) as session:
        row = session.get(t.Document, "d1")
        assert row.published_at == NOW and row.published_at.tzinfo is not None


def test_known_hashes_and_existing_documents(engine):
    with session_scope(engine) as session:
        document_store.save_documents(session, [_doc(i) for i in range(600)], None)  # > one chunk
    with session_scope(engine) as session:
        assert document_store.known_raw_hashes(session, ["r1", "r599", "zzz"]) == {"r1", "r599"}
        assert document_store.existing_documents(session, ["d5", "nope"]) == {"d5": "h5"}


def test_replacing_a_changed_document_drops_what_hung_off_it(engine):
    with session_scope(engine) as session:
        document_store.save_documents(session, [_doc(1)], None)
        document_store.save_mentions(
            session,
            [
                Mention(
                    document_id="d1",
                    kind=EntityKind.PARTY,
                    entity_id="russia",
                    text="Russia",
                    start=0,
                    end=6,
                )
            ],
        )
        document_store.save_signatures(session, [StoredSignature("d1", b"\x00\x01", (7,))], 1)
    with session_scope(engine) as session:
        document_store.replace_documents(session, ["d1"])
    tables = (t.Document, t.Mention, t.Signature, t.SignatureBand)
    assert [_count(engine, table) for table in tables] == [0, 0, 0, 0]


def test_rejections_are_recorded_once(engine):
    rejected = [
        Rejected(
            source_id="s",
            item="file:///x",
            stage="normalize",
            reason=RejectReason.EMPTY,
            detail="no text",
        )
    ]
    for _ in range(2):
        with session_scope(engine) as session:
            document_store.save_rejections(session, rejected, "run")
    assert _count(engine, t.Rejection) == 1


def test_signatures_round_trip_and_are_found_by_band_key(engine):
    stored = [StoredSignature("d1", b"abc", (1, 2**32 - 1)), StoredSignature("d2", b"\x00", (2,))]
    with session_scope(engine) as session:
        document_store.save_documents(session, [_doc(1), _doc(2), _doc(3)], None)
        document_store.save_signatures(session, stored, 301)
        document_store.save_signatures(session, [StoredSignature("d3", b"old")], 201)
    with session_scope(engine) as session:
        loaded = document_store.load_signatures(session, ["d1", "d2", "x"])
        assert sorted(loaded) == [StoredSignature("d1", b"abc"), StoredSignature("d2", b"\x00")]
        assert document_store.sharing_band_keys(session, [2**32 - 1, 2]) == {"d1", "d2"}
        assert document_store.sharing_band_keys(session, [3]) == set()
        assert document_store.unfiled_signatures(session, 301) == ["d3"]
        document_store.replace_signatures(session, [StoredSignature("d1", b"new", (5,))], 301)
        document_store.replace_signatures(session, [StoredSignature("d3", b"now", (5,))], 301)
    with session_scope(engine) as session:
        assert document_store.sharing_band_keys(session, [1, 5]) == {"d1", "d3"}
        assert document_store.load_signatures(session, ["d1"]) == [StoredSignature("d1", b"new")]
        assert document_store.unfiled_signatures(session, 301) == []


def test_runs_are_recorded(engine):
    with session_scope(engine) as session:
        source_store.start_run(session, "run-x", "monitor", None)
    with session_scope(engine) as session:
        source_store.finish_run(session, "run-x", "completed", {"new": 1}, [{"source_id": "s"}])
    with session_scope(engine) as session:
        row = session.get(t.Run, "run-x")
        assert (row.status, row.counts, row.sources) == (
            "completed",
            {"new": 1},
            [{"source_id": "s"}],
        )
        assert source_store.last_run_end(session, "monitor") is not None


@pytest.mark.parametrize("url", ["not a url", "mysql://"])
def test_bad_database_url_is_a_config_error(url):
    from shiftwatch.errors import ConfigError

    with pytest.raises(ConfigError):
        open_database(url)


def test_models_and_migrations_agree():
    """A table change without a migration fails here (Alembic's autogenerate finds no diff)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    engine = open_database("sqlite://")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_a_stance_reloaded_from_storage_keeps_its_basis(engine):
    """Shift alerts quote stances loaded back from storage: their `basis` must survive."""
    from datetime import UTC, datetime

    from shiftwatch.models import stances as stance_store
    from shiftwatch.models.db import session_scope
    from shiftwatch.records import Stance, StanceObservation

    with session_scope(engine) as session:
        document_store.save_documents(session, [_doc(1)], None)
    obs = StanceObservation(
        document_id=_doc(1).id,
        party_id="russia",
        actor_id=None,
        demand_id="basis-check",
        stance=Stance.SUPPORTS,
        confidence=0.9,
        evidence="Moscow insists on it.",
        evidence_start=99_999,
        published_at=datetime(2022, 1, 1, tzinfo=UTC),
        basis="favour cue “insists on”; holder: subject of the cue",
    )
    with session_scope(engine) as session:
        stance_store.save_stances(session, [obs])
    with session_scope(engine) as session:
        loaded = stance_store.load_stances(session, [("russia", "basis-check")])
    assert [o.basis for o in loaded] == [obs.basis]


def test_reviews_are_stored_once_read_as_corrections_and_undone(engine):
    from datetime import timedelta

    from shiftwatch.models import reviews as review_store
    from shiftwatch.records import Review, ReviewVerdict

    first = Review(
        id="rev-1",
        target_kind="stance",
        target_id="st-aaaaaaaaaaaa",
        verdict=ReviewVerdict.REJECTED,
        note="not a stance",
        at=NOW,
    )
    later = Review(
        id="rev-2",
        target_kind="stance",
        target_id="st-aaaaaaaaaaaa",
        verdict=ReviewVerdict.WRONG_STANCE,
        stance=Stance.OPEN,
        at=NOW + timedelta(minutes=1),
    )
    voided = Review(
        id="rev-3",
        target_kind="shift",
        target_id="shift-1",
        verdict=ReviewVerdict.FALSE_SHIFT,
        at=NOW + timedelta(minutes=2),
    )
    with session_scope(engine) as session:
        for review in (first, first, later):
            review_store.save_review(session, review)
        review_store.save_review(session, voided, ["st-bbbbbbbbbbbb", "st-cccccccccccc"])
    assert _count(engine, t.Review) == 3
    with session_scope(engine) as session:
        corrections = review_store.load_corrections(session)
    assert corrections["st-aaaaaaaaaaaa"].verdict is ReviewVerdict.WRONG_STANCE  # later wins
    assert corrections["st-aaaaaaaaaaaa"].stance is Stance.OPEN
    assert corrections["st-cccccccccccc"].verdict is ReviewVerdict.FALSE_SHIFT
    with session_scope(engine) as session:
        undone = review_store.undo_review(session, None, NOW + timedelta(hours=1))
        assert undone is not None and undone.id == "rev-3"
        undone = review_store.undo_review(session, "rev-2", NOW + timedelta(hours=1))
        assert undone is not None and undone.id == "rev-2"
        corrections = review_store.load_corrections(session)
        assert review_store.undo_review(session, "rev-2", NOW) is None  # undone already
    assert set(corrections) == {"st-aaaaaaaaaaaa"}
    assert corrections["st-aaaaaaaaaaaa"].verdict is ReviewVerdict.REJECTED
