"""Synthetic corpora for the benchmarks, built from the seed documents' own paragraphs.

A synthetic document is made of short runs of consecutive sentences (one to four, so a quote
keeps its attribution) drawn from all the seeds, grouped into paragraphs, with the
watchlist's actors swapped for others of the same party and dates moved. A share of the
documents are planted copies of earlier ones: exact copies under another URL (a syndicated
story) and near copies with one paragraph dropped. Everything is drawn from one
seeded `random.Random`, so a size and a seed always give the same corpus.

    from synth import build_corpus
    corpus = build_corpus(2_000, Path("/tmp/corpus"))   # 2,000 .txt files with front matter
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from shiftwatch.analysis.text.normalize import normalize_text, split_sentences
from shiftwatch.watchlist import load_watchlist

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "data" / "seeds"
WATCHLIST = ROOT / "watchlists" / "russia-nato-2022.yaml"
URL_BASE = "https://news.example.org/synth"
FIRST_DAY = datetime(2022, 1, 1, 6, tzinfo=UTC)
DAYS = 60  # publication dates spread over this many days from FIRST_DAY
SENTENCES = (20, 50)  # sentences per document (seed sentences average 120 characters)
RUN_SENTENCES = (1, 4)  # consecutive sentences of one seed taken together
PARAGRAPH_SENTENCES = (1, 4)
SWAP_SHARE = 0.5  # documents whose actors are swapped for others of their party
EXACT_COPY_SHARE = 0.03  # the same text under another URL (syndication)
NEAR_COPY_SHARE = 0.02  # an earlier text with one paragraph dropped
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_DATE = re.compile(rf"\b({_MONTHS}) ([12]?\d|3[01])\b|\b([12]?\d|3[01]) ({_MONTHS})\b")


@dataclass(frozen=True, kw_only=True, slots=True)
class SynthDoc:
    """One synthetic document: its front-matter fields and its text."""

    index: int
    url: str
    title: str
    published: datetime
    text: str
    copy_of: int | None = None  # the planted duplicate's original

    def file_text(self) -> str:
        """Return the file as the files connector reads it: YAML front matter, then the text."""
        front = {
            "title": self.title,
            "url": self.url,
            "published": self.published.isoformat(),
            "source": "synthetic",
        }
        header = yaml.safe_dump(front, allow_unicode=True, sort_keys=False, width=10_000)
        return f"---\n{header}---\n{self.text}\n"


@dataclass(frozen=True, kw_only=True, slots=True)
class Corpus:
    """A corpus written to a folder: how many files, how much text, how many planted copies."""

    folder: Path
    documents: int
    file_bytes: int
    text_bytes: int
    exact_copies: int
    near_copies: int
    texts: list[str] = field(repr=False)


@dataclass(frozen=True, slots=True)
class _Material:
    sentences: tuple[tuple[str, ...], ...]  # per seed, its sentences in order
    swaps: tuple[tuple[str, ...], ...]  # interchangeable names (one party's actors' surnames)


def load_material(seeds: Path = SEEDS, watchlist: Path = WATCHLIST) -> _Material:
    """Return the seeds' sentences and the watchlist's interchangeable actor names."""
    sentences = []
    for path in sorted(seeds.glob("*.txt")):
        text = normalize_text(path.read_text(encoding="utf-8"))
        sentences.append(tuple(text[a:b] for a, b in split_sentences(text)))
    return _Material(sentences=tuple(sentences), swaps=_swap_groups(watchlist))


def _swap_groups(watchlist: Path) -> tuple[tuple[str, ...], ...]:
    """Return, per party, the one-word English surnames of its actors."""
    groups: dict[str, set[str]] = {}
    for entity in load_watchlist(watchlist).entities():
        if entity.kind.value != "actor" or entity.party is None:
            continue
        for alias in entity.aliases.get("en", ()):
            if alias.isalpha() and alias[:1].isupper():
                groups.setdefault(entity.party, set()).add(alias)
    return tuple(tuple(sorted(g)) for g in groups.values() if len(g) > 1)


def _swap_names(text: str, material: _Material, rng: random.Random) -> str:
    mapping = {}
    for group in material.swaps:
        targets = list(group)
        rng.shuffle(targets)
        mapping.update(zip(group, targets, strict=True))
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, mapping)) + r")\b")
    return pattern.sub(lambda m: mapping[m.group(1)], text)


def _move_dates(text: str, rng: random.Random) -> str:
    def moved(match: re.Match[str]) -> str:
        day = str(rng.randint(1, 28))
        return f"{match[1]} {day}" if match[1] else f"{day} {match[4]}"

    return _DATE.sub(moved, text)


def compose(material: _Material, rng: random.Random) -> str:
    """Return one new document text recombined from the seeds' sentences: short runs of
    consecutive sentences (a quote keeps its attribution) drawn from anywhere, grouped into
    paragraphs. Sentences, not whole paragraphs: two documents built from a handful of seeds
    would otherwise share long passages and read as near copies of each other."""
    sentences: list[str] = []
    wanted = rng.randint(*SENTENCES)
    while len(sentences) < wanted:
        seed = rng.choice(material.sentences)
        run = min(rng.randint(*RUN_SENTENCES), len(seed))
        start = rng.randint(0, len(seed) - run)
        sentences.extend(seed[start : start + run])
    paragraphs = []
    while sentences:
        size = rng.randint(*PARAGRAPH_SENTENCES)
        paragraphs.append(" ".join(sentences[:size]))
        del sentences[:size]
    text = "\n".join(paragraphs)
    if rng.random() < SWAP_SHARE and material.swaps:
        text = _swap_names(text, material, rng)
    return _move_dates(text, rng)


def _title(text: str, index: int) -> str:
    first = text.split("\n", 1)[0]
    return f"{first[:90].rstrip()} ({index})"


def _near_copy(text: str, rng: random.Random) -> str:
    paragraphs = text.split("\n")
    if len(paragraphs) > 2:
        del paragraphs[rng.randrange(len(paragraphs))]
    return "\n".join(paragraphs)


def generate(
    n: int, seed: int = 0, material: _Material | None = None, url_base: str = URL_BASE
) -> Iterator[SynthDoc]:
    """Yield `n` synthetic documents, some of them planted copies of earlier ones."""
    rng = random.Random(seed)
    material = material or load_material()
    texts: list[str] = []
    for index in range(n):
        copy_of = None
        roll = rng.random()
        if texts and roll < EXACT_COPY_SHARE + NEAR_COPY_SHARE:
            copy_of = rng.randrange(len(texts))
            text = texts[copy_of] if roll < EXACT_COPY_SHARE else _near_copy(texts[copy_of], rng)
        else:
            text = compose(material, rng)
        texts.append(text)
        published = FIRST_DAY + timedelta(minutes=rng.randrange(DAYS * 24 * 60))
        yield SynthDoc(
            index=index,
            url=f"{url_base}/{index:06d}",
            title=_title(text, index),
            published=published,
            text=text,
            copy_of=copy_of,
        )


def write_corpus(docs: Iterator[SynthDoc] | list[SynthDoc], folder: Path) -> Corpus:
    """Write `docs` as .txt files with front matter into `folder`; return what was written."""
    folder.mkdir(parents=True, exist_ok=True)
    texts: list[str] = []
    by_index: dict[int, str] = {}
    file_bytes = exact = near = 0
    for doc in docs:
        body = doc.file_text().encode("utf-8")
        (folder / f"{doc.index:06d}.txt").write_bytes(body)
        file_bytes += len(body)
        texts.append(doc.text)
        by_index[doc.index] = doc.text
        original = by_index.get(doc.copy_of) if doc.copy_of is not None else None
        if original is not None:
            exact += doc.text == original
            near += doc.text != original
    return Corpus(
        folder=folder,
        documents=len(texts),
        file_bytes=file_bytes,
        text_bytes=sum(len(t.encode("utf-8")) for t in texts),
        exact_copies=exact,
        near_copies=near,
        texts=texts,
    )


def build_corpus(n: int, folder: Path, seed: int = 0) -> Corpus:
    """Return a corpus of `n` synthetic documents written into `folder`."""
    return write_corpus(generate(n, seed), folder)


if __name__ == "__main__":
    import sys
    import tempfile

    size = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.mkdtemp(prefix="synth-"))
    built = build_corpus(size, target)
    print(
        f"{built.documents} documents, {built.text_bytes / 1e6:.2f} MB of text, "
        f"{built.exact_copies} exact and {built.near_copies} near copies in {built.folder}"
    )
