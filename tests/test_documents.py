"""From bytes to documents: decoding, front matter, HTML, and reasoned rejections."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import SEEDS

from shiftwatch.analysis.text.documents import build_document
from shiftwatch.analysis.text.normalize import normalize_text, split_sentences
from shiftwatch.connectors.files import read_folder
from shiftwatch.errors import ConfigError
from shiftwatch.records import DateSource, Document, RawItem, Rejected, RejectReason

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _raw(body: bytes, content_type: str = "text/plain", **meta: str) -> RawItem:
    return RawItem(
        source_id="s",
        url="file:///x/a.txt",
        body=body,
        fetched_at=NOW,
        content_type=content_type,
        meta=meta,
    )


def test_front_matter_supplies_title_url_date_and_language():
    body = (
        b"---\ntitle: Talks end\nurl: https://Example.org/a?utm_source=x&id=7#top\n"
        b"published: 2022-01-10T18:00:00+03:00\nlanguage: ru\n---\nBody text here.\n"
    )
    doc = build_document(_raw(body, "text/markdown"))
    assert isinstance(doc, Document)
    assert (doc.title, doc.text, doc.language_hint) == ("Talks end", "Body text here.", "ru")
    assert doc.published_at == datetime(2022, 1, 10, 15, tzinfo=UTC)
    assert doc.date_source == DateSource.FRONT_MATTER
    assert doc.canonical_url == "https://example.org/a?id=7"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", RejectReason.EMPTY),
        (b"   \n\n  ", RejectReason.EMPTY),
        (b"\x00\x01\x02" * 100, RejectReason.UNDECODABLE),
        (b"---\ntitle: [unclosed\n---\ntext", RejectReason.MALFORMED),
        (b"---\n- a\n- b\n---\ntext", RejectReason.MALFORMED),
    ],
)
def test_bad_input_is_rejected_with_a_reason(body, reason):
    result = build_document(_raw(body))
    assert isinstance(result, Rejected)
    assert result.reason == reason and result.detail


def test_legacy_encodings_are_detected():
    text = "Министр иностранных дел России Сергей Лавров заявил, что переговоры продолжатся."
    doc = build_document(_raw(text.encode("cp1251")))
    assert isinstance(doc, Document) and doc.text == text


def test_html_is_extracted_without_chrome():
    html = (
        b"<html><head><title>Geneva talks end</title><script>alert(1)</script></head><body>"
        b"<nav>Home | World</nav><article><h1>Geneva talks end</h1>"
        + b"<p>Ryabkov said the talks were difficult but professional, and Russia insists.</p>" * 5
        + b"</article><footer>Subscribe now</footer></body></html>"
    )
    doc = build_document(_raw(html, "text/html"))
    assert isinstance(doc, Document)
    assert "Ryabkov said" in doc.text and "alert(1)" not in doc.text
    assert doc.title == "Geneva talks end"


def test_absurd_dates_are_dropped_not_trusted():
    doc = build_document(_raw(b"---\npublished: 9999-01-01\n---\ntext"))
    assert isinstance(doc, Document)
    assert doc.published_at is None and doc.date_source == DateSource.NONE


def test_normalize_repairs_mojibake_and_keeps_paragraphs():
    assert normalize_text("Ð\u009fÑ\u0080Ð¸Ð²ÐµÑ\u0082\r\n\r\n\r\n  a \t b\x00") == "Привет\n\na b"


def test_sentences_respect_abbreviations():
    text = "The U.S. delegation left. Mr. Ryabkov stayed! Did he? Yes."
    got = [text[s:e] for s, e in split_sentences(text)]
    assert got == ["The U.S. delegation left.", "Mr. Ryabkov stayed!", "Did he?", "Yes."]


def test_seed_folder_reads_every_seed_with_its_manifest_date():
    batch = read_folder(SEEDS, max_bytes=1_000_000)
    assert len(batch.items) == 5 and batch.rejected == []
    docs = [build_document(i) for i in batch.items]
    assert all(isinstance(d, Document) for d in docs)
    dates = sorted(d.published_at.date().isoformat() for d in docs)
    assert dates == ["2022-01-08", "2022-01-09", "2022-01-10", "2022-01-11", "2022-01-27"]
    assert {d.date_source for d in docs} == {DateSource.MANIFEST}


def test_folder_rejects_oversized_and_unsupported_files_and_goes_on(tmp_path):
    (tmp_path / "ok.txt").write_text("fine", encoding="utf-8")
    (tmp_path / "big.txt").write_bytes(b"x" * 200)
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8")
    batch = read_folder(tmp_path, max_bytes=100)
    assert [i.url.rsplit("/", 1)[1] for i in batch.items] == ["ok.txt"]
    assert sorted(r.reason for r in batch.rejected) == [
        RejectReason.OVERSIZED,
        RejectReason.UNSUPPORTED,
    ]


def test_missing_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        read_folder(tmp_path / "nope", max_bytes=10)


def test_text_over_the_cap_after_extraction_is_rejected_with_its_size() -> None:
    from datetime import UTC, datetime

    from shiftwatch.analysis.text.documents import MAX_TEXT_CHARS, build_document_with_notes
    from shiftwatch.records import RawItem, Rejected, RejectReason

    words = "Lavrov said Russia insists on guarantees. " * (MAX_TEXT_CHARS // 40 + 10)
    raw = RawItem(
        source_id="s", url="file:///big.txt", body=words.encode(), fetched_at=datetime.now(UTC)
    )
    built, _ = build_document_with_notes(raw)
    assert isinstance(built, Rejected) and built.reason == RejectReason.OVERSIZED
    assert "characters of text after extraction" in built.detail
    small = RawItem(
        source_id="s",
        url="file:///ok.txt",
        body=words[:5000].encode(),
        fetched_at=datetime.now(UTC),
    )
    assert not isinstance(build_document_with_notes(small)[0], Rejected)
