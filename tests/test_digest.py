"""The digest: one set of templates in four renderings, the timeline picture, the data behind
it, and the `digest` flow that publishes, sends and records it."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from alerting_support import (
    DAY1,
    DAY2,
    INJECTION,
    Inbox,
    document,
    observation,
    record,
    save_documents,
    shift,
    smtp_server,
)
from sqlalchemy import select
from typer.testing import CliRunner

from shiftwatch.models import documents as document_store
from shiftwatch.models import sources as source_store
from shiftwatch.models import stances as stance_store
from shiftwatch.models import tables as t
from shiftwatch.models.db import open_database, session_scope
from shiftwatch.models.queries import digest_data
from shiftwatch.records import EntityKind, Mention, Stance
from shiftwatch.render.alerts import digest_slack_payload, email_digest
from shiftwatch.render.digest import render_digest, timeline_svg
from shiftwatch.render.timeline import render_timeline
from shiftwatch.views import (
    DigestData,
    DocumentView,
    EvidenceView,
    ShiftView,
    TimelineChart,
    TimelinePoint,
    TimelineRow,
    TimelineShift,
)

SVG = "{http://www.w3.org/2000/svg}"
NOW = datetime(2022, 1, 12, tzinfo=UTC)


def _rows() -> list[TimelineRow]:
    return [
        TimelineRow(
            party="Russia",
            demand="Arms-control talks",
            points=(
                TimelinePoint(at=DAY1, stance="opposes"),
                TimelinePoint(at=DAY2, stance="open", machine_translated=True),
            ),
            shifts=(TimelineShift(at=DAY2, from_stance="opposes", to_stance="open"),),
        ),
        TimelineRow(
            party="NATO & <allies>",
            demand="NATO non-enlargement",
            points=(TimelinePoint(at=DAY1, stance="opposes"),),
        ),
    ]


def _data(**kw) -> DigestData:
    evidence = EvidenceView(
        quote=INJECTION,
        speaker="Sergei Ryabkov",
        source_title="TASS",
        url="javascript:alert(1)",
        published_at=DAY2,
        machine_translated=True,
    )
    values = {
        "watchlist": "test-list",
        "generated_at": NOW,
        "since": DAY1,
        "documents": (
            DocumentView(
                id="d1",
                title="<b>Talks</b>",
                url="https://x.example/1",
                published_at=DAY2,
                date_source="source",
                kind=None,
                language="en",
                other_languages=(),
                mt_score=0.0,
                mt_kinds=(),
                demands=(("Arms-control talks", 2),),
                venues=(("Geneva talks", 1),),
                speakers=(),
            ),
        ),
        "shifts": (
            ShiftView(
                party="Russia",
                demand="Arms-control talks",
                from_stance="opposes",
                to_stance="open",
                at=DAY2,
                retroactive=False,
                before=(),
                after=(evidence,),
            ),
        ),
        "parties": (("russia", "Russia"),),
        "demands": (("arms-control-talks", "Arms talks"),),
        "positions": {("russia", "arms-control-talks"): "open"},
        "health": {"documents": "1 original, 0 duplicate, 0 rejected"},
        "statements_by_venue": {"Geneva talks": 3},
        "sources": (("tass.example", 4),),
        "timeline": TimelineChart(rows=tuple(_rows()), window=(DAY1, NOW)),
    }
    values.update(kw)
    return DigestData(**values)


# --- the timeline picture ------------------------------------------------------------------------


def test_the_timeline_is_self_contained_svg_with_stances_and_shifts():
    svg = render_timeline(_rows(), window=(DAY1 + timedelta(hours=12), NOW))
    root = ET.fromstring(svg)  # well-formed: news-free labels are escaped
    assert root.tag == f"{SVG}svg"
    circles = root.findall(f".//{SVG}circle")
    assert len(circles) == 4  # 3 observations + the legend's ring
    assert sum(1 for c in circles if c.get("stroke-dasharray")) == 2  # MT ring + legend
    titles = [e.text for e in root.iter(f"{SVG}title")]
    assert "opposes → open, 2022-01-11" in titles
    assert "NATO &amp; &lt;allie…" in svg  # labels are cut to fit, then escaped
    for banned in ("<script", "@import", "@font-face", "href", "url("):
        assert banned not in svg
    assert "this digest" in svg


def test_no_dated_evidence_means_no_picture():
    assert render_timeline([]) is None
    assert render_timeline([TimelineRow(party="p", demand="d", points=())]) is None


# --- renderings --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "slack"])
def test_every_rendering_has_every_section(fmt):
    out = render_digest(_data(), fmt)
    lowered = out.lower()
    for section in (
        "shifts",
        "positions",
        "statements per venue",
        "top sources",
        "documents",
        "health",
    ):
        assert section in lowered, section
    assert "Geneva talks" in out and "tass" in out
    assert "javascript:" not in out
    if fmt != "text":  # plain text shows the quote as said; nothing interprets it
        assert "<!channel>" not in out


def test_html_escapes_news_and_embeds_the_timeline():
    html = render_digest(_data(), "html")
    assert "<b>Talks</b>" not in html and "&lt;b&gt;Talks&lt;/b&gt;" in html
    assert "&lt;!channel&gt;" in html
    assert "<svg" in html and "Position timeline" in html


def test_markdown_and_slack_escape_news():
    markdown = render_digest(_data(), "markdown")
    assert r"\<b\>Talks\</b\>" in markdown
    slack = json.dumps(digest_slack_payload(_data()))
    assert "&lt;b&gt;Talks&lt;/b&gt;" in slack and "&lt;!channel&gt;" in slack


def test_the_email_digest_carries_text_and_html():
    mail = email_digest(_data())
    assert "1 shifts" in mail.subject and "\n" not in mail.subject
    assert "SHIFTS" in mail.text and "<svg" in mail.html


# --- the data ----------------------------------------------------------------------------------


def _store_news(engine) -> None:
    save_documents(engine)
    with session_scope(engine) as session:
        document_store.save_documents(
            session, [document("doc-copy", DAY2, "Copy", "https://www.rt.example/a")], "run-test"
        )
        document_store.save_mentions(
            session,
            [
                Mention(
                    document_id=d,
                    kind=EntityKind.VENUE,
                    entity_id="geneva-talks",
                    text="Geneva",
                    start=0,
                    end=6,
                )
                for d in ("doc-day1", "doc-day2")
            ],
        )
        stance_store.save_stances(
            session,
            [
                observation("doc-day1", Stance.OPPOSES, DAY1, "We reject these talks."),
                observation("doc-day2", Stance.OPEN, DAY2, "Ready to discuss.", mt=True),
            ],
        )
        source_store.start_run(session, "run-a", "monitor", None)
        source_store.finish_run(
            session,
            "run-a",
            "completed",
            {},
            [
                {"source_id": "https://feeds.example/rss", "status": "failed"},
                {"source_id": "/data/seeds", "status": "ok"},
            ],
        )
    record(engine, [shift()], ["slack"])


def test_digest_data_fills_venues_sources_health_and_the_timeline(engine, watchlist):
    _store_news(engine)
    with session_scope(engine) as session:
        data = digest_data(session, watchlist)
    assert data.statements_by_venue == {"Geneva talks": 2}
    assert dict(data.sources) == {"news.example": 2, "rt.example": 1}
    assert "1 in 1 runs" in data.health["source failures"]
    assert "(0%)" in data.health["machine-translated"] or "%" in data.health["machine-translated"]
    svg = timeline_svg(data)
    assert svg and "Arms-control talks" in svg
    assert [s.party for s in data.shifts] == ["Russia"]
    later = datetime.now(UTC) + timedelta(minutes=1)
    with session_scope(engine) as session:
        empty = digest_data(session, watchlist, since=later)
    assert (empty.documents, empty.shifts, empty.statements_by_venue) == ((), (), {})


# --- the flow and the command ----------------------------------------------------------------


@pytest.fixture
def channels(monkeypatch, httpserver, tmp_path):
    """Configure Slack (loopback HTTP) and email (loopback SMTP) through the environment."""
    inbox = Inbox()
    controller, port = smtp_server(inbox)
    httpserver.expect_request("/services/T9/B9/digest").respond_with_data("ok")
    env = {
        "SHIFTWATCH_SLACK_WEBHOOK_URL": httpserver.url_for("/services/T9/B9/digest"),
        "SHIFTWATCH_SLACK_MIN_INTERVAL_S": "0",
        "SHIFTWATCH_SMTP_HOST": "127.0.0.1",
        "SHIFTWATCH_SMTP_PORT": str(port),
        "SHIFTWATCH_SMTP_SECURITY": "none",
        "SHIFTWATCH_EMAIL_FROM": "digest@example.org",
        "SHIFTWATCH_EMAIL_TO": "desk@example.org",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield inbox
    controller.stop()


@pytest.mark.prefect
def test_the_digest_flow_sends_records_and_publishes(
    prefect_harness, channels, httpserver, tmp_path
):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from shiftwatch.flows.digest import ARTIFACT_KEY, digest

    url = f"sqlite:///{tmp_path / 'digest.db'}"
    engine = open_database(url)
    _store_news(engine)
    first = digest(send=True, database_url=url)
    assert sorted(first["sent"]) == ["email", "slack"] and first["since"] is None
    assert first["shifts"] == 1 and "Russia" in first["text"]
    slack_body = httpserver.log[0][0].get_data(as_text=True)
    assert "Arms-control talks" in slack_body and "<!channel>" not in slack_body
    (mail,) = channels.messages
    assert "<svg" in mail.get_body(("html",)).get_content()
    with session_scope(engine) as session:
        rows = list(session.execute(select(t.Digest)).scalars())
    assert sorted(r.channel for r in rows) == ["email", "slack"]
    # The next digest starts where this one ended: nothing new since.
    second = digest(send=True, database_url=url)
    assert second["since"] == rows[0].until.isoformat()
    assert (second["shifts"], second["documents"]) == (0, 0)
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[ARTIFACT_KEY]))
        )
    assert len(artifacts) >= 2  # one per flow run, under the one key
    assert all("data:image/svg+xml;base64," in a.data for a in artifacts)  # the timeline
    for artifact in artifacts:
        assert "/services/T9" not in str(artifact.data)
    engine.dispose()


@pytest.mark.prefect
def test_digest_send_from_the_command_line(prefect_harness, channels, tmp_path):
    from shiftwatch.cli import app

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = open_database(url)
    _store_news(engine)
    engine.dispose()
    result = CliRunner().invoke(app, ["digest", "--send", "--db", url, "--format", "text"])
    assert result.exit_code == 0, result.output
    assert "SHIFTS" in result.output and "sent to" in result.output
    assert len(channels.messages) == 1


def test_source_health_counts_answering_feeds_healthy_and_names_the_failing_ones(engine):
    from shiftwatch.records import SourceRef

    feeds = [
        SourceRef(id="feed-a", kind="feed", url="https://a.example/rss", name="Agency A"),
        SourceRef(id="feed-b", kind="feed", url="https://b.example/rss"),
        SourceRef(id="feed-c", kind="feed", url="https://c.example/rss"),
    ]
    with session_scope(engine) as session:
        source_store.ensure_sources(session, feeds)
        source_store.start_run(session, "run-h", "monitor", None)
        source_store.finish_run(
            session,
            "run-h",
            "completed",
            {},
            [
                {"source_id": "feed-a", "status": "failed"},
                {"source_id": "feed-b", "status": "failed"},
                {"source_id": "feed-c", "status": "updated"},
                {"source_id": "/data/seeds", "status": "ok"},
            ],
        )
        source_store.start_run(session, "run-i", "monitor", None)
        source_store.finish_run(
            session, "run-i", "completed", {}, [{"source_id": "feed-c", "status": "unchanged"}]
        )
        line = source_store_failures(session)
    assert line.startswith("2 in 2 runs"), line
    assert "Agency A (1)" in line and "https://b.example/rss (1)" in line
    assert "feed-" not in line and "c.example" not in line


def source_store_failures(session) -> str:
    from shiftwatch.models.reports import source_failures

    return source_failures(session, None, None)["source failures"]
