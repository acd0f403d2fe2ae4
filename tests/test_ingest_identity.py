"""Issue 19 items 0, 2, 6 and issue 14 item 1, through the real command line; issue 19's
reproductions on SQLite and PostgreSQL (`database_url`).

- Feed entries without an http(s) link (guid only, a non-http link, a home-page link, no
  guid and no link, a guid shared by two stories) are each stored once, poll after poll.
- Two files claiming one URL are two documents, stable across runs.
- The files connector never leaves its folder: links, FIFOs, dangling links rejected.
- Impossible dates are refused and recorded, never rolled over.
- Every document is dated with its `date_source`, datelines included.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner
from werkzeug.wrappers import Response

from shiftwatch.cli import app

pytestmark = pytest.mark.prefect

BODY = "Russia insists on legal guarantees that NATO will not expand eastward, Ryabkov said."


def _item(title: str, *, guid: str | None = None, link: str | None = None, date: str = "") -> str:
    parts = [f"<title>{title}</title>", f"<description>{title}. {BODY}</description>"]
    if guid is not None:
        parts.append(f'<guid isPermaLink="false">{guid}</guid>')
    if link is not None:
        parts.append(f"<link>{link}</link>")
    if date:
        parts.append(f"<pubDate>{date}</pubDate>")
    return "<item>" + "".join(parts) + "</item>"


def _feed(items: list[str]) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        "<link>https://news.example.org/</link>" + "".join(items) + "</channel></rss>"
    ).encode()


LINKLESS = (
    [_item(f"Guid only {i}", guid=f"urn:story:{i}") for i in range(5)]
    + [_item(f"Non-http link {i}", guid=f"g-ftp-{i}", link=f"ftp://files.example/{i}")
       for i in range(3)]
    + [_item(f"Home page link {i}", guid=f"g-home-{i}", link="https://news.example.org/")
       for i in range(3)]
    + [_item(f"Nothing at all {i}") for i in range(3)]
    + [_item("Shared guid one", guid="same"), _item("Shared guid two", guid="same")]
)  # fmt: skip


# A billion laughs in YAML: 9 levels of 9 aliases, under 600 bytes.
BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def _export(db: str, kind: str) -> list[dict]:
    return [json.loads(line) for line in _cli("export", kind, "--db", db).splitlines()]


def test_linkless_feed_entries_are_each_stored_once(prefect_harness, httpserver, tmp_path,
                                                    monkeypatch, database_url) -> None:  # fmt: skip
    monkeypatch.setenv("SHIFTWATCH_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
    monkeypatch.setenv("SHIFTWATCH_OUTBOX_DIR", str(tmp_path / "outbox"))
    polls = [_feed(LINKLESS), _feed([_item("A new one", guid="urn:new"), *reversed(LINKLESS)])]
    served = []

    def handler(request):
        body = polls[min(len(served), 1)]
        served.append(1)
        return Response(body, headers={"Content-Type": "application/rss+xml"})

    httpserver.expect_request("/feed.xml").respond_with_handler(handler)
    db = database_url
    url = httpserver.url_for("/feed.xml")
    _cli("run", "--feed", url, "--db", db, "--no-deliver")
    first = _export(db, "documents")
    assert len(first) == len(LINKLESS)
    assert len({d["title"] for d in first}) == len(LINKLESS)
    _cli("run", "--feed", url, "--db", db, "--no-deliver")
    second = _export(db, "documents")
    assert len(served) == 2
    titles = sorted(d["title"] for d in second)
    assert len(second) == len(LINKLESS) + 1, [t for t in titles if titles.count(t) > 1]
    assert len({d["id"] for d in second}) == len(second)
    assert {d["id"] for d in first} <= {d["id"] for d in second}  # stable identities


def _md(path: Path, text: str, **front: object) -> None:
    head = "".join(f"{k}: {v}\n" for k, v in front.items())
    path.write_text(f"---\n{head}---\n{text}\n", encoding="utf-8")


def test_two_files_claiming_one_url_stay_two_documents(
    prefect_harness, tmp_path, monkeypatch, database_url
) -> None:
    monkeypatch.setenv("SHIFTWATCH_OUTBOX_DIR", str(tmp_path / "outbox"))
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    _md(seeds / "a.md", "Lavrov said Russia wants guarantees. " + BODY, url="https://x.example/s")
    _md(seeds / "b.md", "Stoltenberg said NATO's door stays open.", url="https://x.example/s")
    db = database_url
    snapshots = []
    for _ in range(3):
        _cli("run", "--seeds", str(seeds), "--db", db, "--no-deliver")
        snapshots.append(sorted((d["id"], d["content_hash"]) for d in _export(db, "documents")))
    assert len(snapshots[0]) == 2
    assert snapshots[0] == snapshots[1] == snapshots[2]


def test_folder_never_reaches_outside(prefect_harness, tmp_path, monkeypatch, database_url):
    monkeypatch.setenv("SHIFTWATCH_OUTBOX_DIR", str(tmp_path / "outbox"))
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    outside = tmp_path / "secret.txt"
    outside.write_text("CANARY-OUTSIDE-THE-FOLDER", encoding="utf-8")
    _md(seeds / "ok.md", BODY)
    (seeds / "passwd.txt").symlink_to("/etc/passwd")
    (seeds / "environ.txt").symlink_to(f"/proc/{os.getpid()}/environ")
    (seeds / "secret.txt").symlink_to(outside)
    (seeds / "inside.md").symlink_to(seeds / "ok.md")
    (seeds / "dangling.md").symlink_to(tmp_path / "gone.md")
    os.mkfifo(seeds / "pipe.md")
    os.mkfifo(seeds / "manifest.yaml.fifo")
    db = database_url
    _cli("run", "--seeds", str(seeds), "--db", db, "--no-deliver")
    docs = _export(db, "documents")
    assert [d["url"].rsplit("/", 1)[-1] for d in docs] == ["ok.md"]
    reasons = {r["item"].rsplit("/", 1)[-1]: (r["reason"], r["detail"])
               for r in _export(db, "rejections")}  # fmt: skip
    for name in ("passwd.txt", "environ.txt", "secret.txt", "inside.md"):
        assert reasons[name] == ("unsafe", "symbolic link, not followed"), name
    assert reasons["dangling.md"][0] == "unsafe"
    assert reasons["pipe.md"] == ("unsafe", "not a regular file: a FIFO (named pipe)")
    assert reasons["manifest.yaml.fifo"][1].startswith("not a regular file")


def test_links_inside_the_folder_may_be_allowed(tmp_path) -> None:
    from shiftwatch.connectors.files import read_folder

    seeds = tmp_path / "seeds"
    (seeds / "sub").mkdir(parents=True)
    (seeds / "sub" / "a.md").write_text(BODY, encoding="utf-8")
    (seeds / "inside.md").symlink_to(seeds / "sub" / "a.md")
    (seeds / "outside.md").symlink_to("/etc/hostname")
    (seeds / "dangling.md").symlink_to(tmp_path / "gone.md")
    batch = read_folder(seeds, max_bytes=10_000, follow_links=True)
    assert sorted(i.url.rsplit("/", 1)[-1] for i in batch.items) == ["a.md", "inside.md"]
    reasons = {r.item.rsplit("/", 1)[-1]: r.detail for r in batch.rejected}
    assert reasons["outside.md"] == "symbolic link leads outside the folder"
    assert reasons["dangling.md"] == "dangling or looping symbolic link"


def test_manifest_fifo_link_and_size_are_refused_with_one_error_line(tmp_path, database_url):
    for make in (
        lambda p: os.mkfifo(p),
        lambda p: p.symlink_to("/dev/zero"),
        lambda p: p.write_bytes(b"documents: {}\n" + b"#" * 2_000_000),
        lambda p: p.write_text(BOMB),
    ):
        seeds = tmp_path / f"s{len(list(tmp_path.iterdir()))}"
        seeds.mkdir()
        make(seeds / "manifest.yaml")
        result = CliRunner().invoke(app, ["run", "--seeds", str(seeds),
                                          "--db", database_url])  # fmt: skip
        assert result.exit_code == 2, result.output
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "manifest.yaml" in errors[0], result.output


def test_alias_bomb_watchlist_and_dev_zero_are_one_error_line(tmp_path, database_url) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(
        "name: x\nunknown:\n" + "".join("  " + line + "\n" for line in BOMB.splitlines())
    )
    assert len(bomb.read_bytes()) < 600
    for path in (bomb, Path("/dev/zero")):
        result = CliRunner().invoke(app, ["run", "--watchlist", str(path), "--seeds", str(tmp_path),
                                          "--db", database_url])  # fmt: skip
        assert result.exit_code == 2, result.output
        assert result.output.count("error:") == 1, result.output


def test_impossible_dates_refused_and_recorded(prefect_harness, httpserver, tmp_path,
                                               monkeypatch, database_url) -> None:  # fmt: skip
    monkeypatch.setenv("SHIFTWATCH_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
    monkeypatch.setenv("SHIFTWATCH_OUTBOX_DIR", str(tmp_path / "outbox"))
    items = [
        _item("Feb 30", guid="d1", link="https://n.example/1", date="2022-02-30T10:00:00Z"),
        _item("Year -1", guid="d2", link="https://n.example/2", date="-0001-01-01T00:00:00Z"),
        _item("RFC Feb 30", guid="d3", link="https://n.example/3",
              date="Wed, 30 Feb 2022 10:00:00 GMT"),
        _item("\x1b[31mRed\x1b]0;owned\x07 title", guid="d4", link="https://n.example/4",
              date="Thu, 27 Jan 2022 10:00:00 GMT"),
    ]  # fmt: skip
    body = _feed(items).replace(b"\x1b", b"&#27;").replace(b"\x07", b"")
    httpserver.expect_request("/dates.xml").respond_with_data(
        body, content_type="application/rss+xml"
    )
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    _md(seeds / "minus-one.md", BODY, published=-1)
    _md(seeds / "feb-30.md", BODY, published="2022-02-30")
    db = database_url
    output = _cli("run", "--feed", httpserver.url_for("/dates.xml"), "--seeds", str(seeds),
                  "--db", db, "--no-deliver")  # fmt: skip
    assert "\x1b" not in output
    docs = {d["title"]: d for d in _export(db, "documents")}
    now = datetime.now(UTC).date().isoformat()
    for title in ("Feb 30", "Year -1", "RFC Feb 30"):
        assert docs[title]["date_source"] == "fetched", docs[title]
        assert not docs[title]["published_at"].startswith(("2022-03", "2000-01")), docs[title]
    for doc in docs.values():
        if doc["url"].startswith("file:"):
            assert doc["date_source"] == "none" and doc["published_at"] is None, doc
            assert not (doc["published_at"] or "").startswith(now[:8])
    assert any(t.startswith("Red") or "Red" in t for t in docs)
    assert not any("\x1b" in t for t in docs)
    bad = [r for r in _export(db, "rejections") if r["reason"] == "bad_date"]
    assert len(bad) == 5, bad
    digest = _cli("digest", "--db", db)
    assert "\x1b" not in digest and "\x07" not in digest


def test_every_document_dated_with_its_source(prefect_harness, httpserver, tmp_path,
                                              monkeypatch) -> None:  # fmt: skip
    monkeypatch.setenv("SHIFTWATCH_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
    monkeypatch.setenv("SHIFTWATCH_OUTBOX_DIR", str(tmp_path / "outbox"))
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    expected = {
        "date.md": ("date", "2022-01-10", "2022-01-10", "front_matter"),
        "pubdate.md": ("pubDate", "Mon, 10 Jan 2022 18:00:00 GMT", "2022-01-10", "front_matter"),
        "published_at.md": ("published_at", "2022-01-11T09:00:00+03:00", "2022-01-11",
                            "front_matter"),
        "pub_date.md": ("pub_date", "2022-01-12", "2022-01-12", "front_matter"),
        "created.md": ("created", "2022-01-13", "2022-01-13", "front_matter"),
    }  # fmt: skip
    for name, (key, value, _, _) in expected.items():
        _md(seeds / name, BODY, **{key: f'"{value}"'})
    datelines = {
        "moscow-en.txt": ("MOSCOW, February 16, 2022 — " + BODY, "2022-02-16"),
        "moscow-ru.txt": ("Москва, 17 февраля 2022 г. Россия настаивает на гарантиях.",
                          "2022-02-17"),
        "kyiv-uk.txt": ("Київ, 27 січня 2022 року. Україна відповіла.", "2022-01-27"),
        "en-dmy.txt": ("Geneva talks\n27 January 2022\n" + BODY, "2022-01-27"),
        "dotted.txt": ("27.01.2022 — " + BODY, "2022-01-27"),
        "iso.txt": ("Posted 2022-01-26. " + BODY, "2022-01-26"),
        "future.txt": ("GENEVA, January 27, 2099 — " + BODY, None),
        "ancient.txt": ("GENEVA, January 27, 1970 — " + BODY, None),
    }  # fmt: skip
    for name, (text, _) in datelines.items():
        (seeds / name).write_text(text, encoding="utf-8")
    (seeds / "manifest-dated.txt").write_text(BODY, encoding="utf-8")
    (seeds / "manifest.yaml").write_text(
        "documents:\n  manifest-dated.txt: {published: 2022-01-14}\n", encoding="utf-8"
    )
    (seeds / "page.html").write_text(
        '<html><head><meta property="article:published_time" content="2022-01-15T08:00:00Z">'
        "<title>Page</title></head><body><article><p>" + BODY * 3 + "</p></article></body></html>",
        encoding="utf-8",
    )
    httpserver.expect_request("/f.xml").respond_with_data(
        _feed([_item("Dated entry", guid="e1", link="https://n.example/e1",
                     date="Sun, 16 Jan 2022 10:00:00 GMT")]),
        content_type="application/rss+xml",
    )  # fmt: skip
    db = f"sqlite:///{tmp_path / 'dated.db'}"
    _cli("run", "--seeds", str(seeds), "--feed", httpserver.url_for("/f.xml"), "--db", db,
         "--no-deliver")  # fmt: skip
    docs = {d["url"].rsplit("/", 1)[-1]: d for d in _export(db, "documents")}
    for name, (_, _, day, source) in expected.items():
        assert (docs[name]["published_at"][:10], docs[name]["date_source"]) == (day, source), name
    for name, (_, day) in datelines.items():
        got = docs[name]
        if day is None:
            assert (got["published_at"], got["date_source"]) == (None, "none"), got
        else:
            assert (got["published_at"][:10], got["date_source"]) == (day, "text"), name
    assert (docs["manifest-dated.txt"]["published_at"][:10],
            docs["manifest-dated.txt"]["date_source"]) == ("2022-01-14", "manifest")  # fmt: skip
    assert (docs["page.html"]["published_at"][:10], docs["page.html"]["date_source"]) == (
        "2022-01-15",
        "page",
    )
    assert docs["e1"]["date_source"] == "feed"
    csv = _cli("export", "documents", "--format", "csv", "--db", db)
    assert "date_source" in csv.splitlines()[0]
