"""Exact and near-duplicate documents: one story, however many copies, is one cluster.

Exact copies share `content_hash`: SHA-256 of the text with typographic quotes, dashes (and
`--`) and ellipses folded, compatibility forms (NFKC) and `ё` folded, whitespace and line wrapping
ignored (a line broken after a hyphen included), case folded.

Near copies (another outlet's footer and share buttons, a dropped first paragraph, re-wrapped
lines, other quote marks) are found in three steps:

1. **Shingles**: 4-word shingles of the folded text. Words, not characters: whitespace and line
   breaks then cannot matter, punctuation drops out, Cyrillic and Latin words are tokens alike
   (`[^\\W_]+`), and a 1,000-word text gives ~1,000 shingles instead of ~6,000 (Han and kana,
   written without spaces, count one character a word). 3 to 6 words all separate the seeds
   (the closest two distinct seeds share 0.8 % of their 4-shingles); 4 loses fewer shingles
   to a changed word than 5 or 6 and gives fewer chance matches than 3.
2. **MinHash LSH**: datasketch MinHash (`affine32` scheme, 128 permutations, seed fixed in
   `SEED`) over the shingle hashes; 42 bands of 3 rows, so a pair becomes a candidate with
   probability 1-(1-J^3)^42: 0.29 at J=0.2, 0.68 at J=0.3, 0.94 at J=0.4, >0.99 at J>=0.5.
   `DuplicateIndex` keeps the band keys in sorted numpy arrays (32-bit keys, 32-bit rows:
   336 bytes a document) and 16 bits of each MinHash value (256 bytes a document) to rank
   candidates; a lookup is a binary search per band, never a scan of the history.
3. **Confirmation on the exact shingle sets** of each candidate (ranked by estimated Jaccard,
   at most `MAX_CONFIRM`): a duplicate when the texts hash alike, or Jaccard >= `JACCARD_MIN`,
   or the smaller set is >= `CONTAINMENT_MIN` inside the larger and at least `SIZE_RATIO_MIN`
   of its size (a dropped lead, an added footer; not a brief inside a long round-up whose other
   stories would be lost as "copies"). Texts under `MIN_SHINGLES` shingles match exactly only.

**Page chrome** is dropped before shingling (`chrome.strip_chrome`: bylines, menus, tag lists,
widgets, photo captions and credits, "READ MORE" lists, licence footers; hard-wrapped lines are
joined first), so two outlets' copies compare on their story text; a text that stripping would
leave with fewer than `MIN_BODY_WORDS` words is shingled whole.

**Edited copies.** Another outlet's version of a wire story is often cut, re-edited or re-led
(Jaccard 0.1-0.35 on the real pairs of tests/corpus/mt). Such a pair is a copy
when (`is_edited_copy`)
the smaller text's prose outside quotations is at least `PROSE_CONTAINMENT_MIN` inside the larger's
(stories on one event share what speakers said; copies share the reporter's sentences too), the
two open alike (`OPENING_CONTAINMENT_MIN` of each text's first three sentences in the other's
first half, or of one when half the prose is shared: a follow-up that reuses a story as
background opens its own way), and the smaller is
at least `EDITED_SIZE_RATIO_MIN` of the larger. Edited copies share too little of their bodies
for the body LSH, so each signature also carries a 32-value MinHash of the text's opening
(`lead`), indexed in 16 bands of 2 rows: openings with Jaccard 0.3 meet with probability 0.78.
On the real pairs' dev split: 13/15 copies clustered (the two missed: an AP first take whose
opening was rewritten, and a synonym-spun copy), 0/14 different stories merged; the synthetic
floors below hold (precision 0.997, follow-ups merged 0).

Thresholds, as measured: the seeds and their perturbed copies (tests/fixtures/dedupe) have
Jaccard 0.85-1.00 and containment 0.94-1.00 with their originals, and under 0.01 with each
other. On 100,000 synthetic documents with planted copies (bench/bench_dedupe.py) duplicate
links have precision 1.0000 and recall 0.874: 1.000 for footers, dropped leads, typography,
re-wrapping, all four together, 5 % of words edited, and a 70 % truncation; 0.000 for the
"heavy" rewrite (15 % of words changed and 40 % cut), which by this rule is another story.
Follow-ups that reuse 30-45 % of an earlier story were merged 0.02 % of the time. A Jaccard
floor of 0.4 instead of 0.5 gives precision 0.998 / recall 0.903 on LSH candidates (0.5:
1.000 / 0.894; 0.3: 0.992 / 0.922): every false merge hides a story's own evidence, so
precision wins. The LSH finds every pair that exact all-pairs comparison confirms on a
2,000-document sample.

Clusters persist: every document gets `cluster_id` (the id of the cluster's first document,
never renamed) and `duplicate_of` (the canonical member, `None` on the canonical itself). The
canonical member is chosen by rule: not machine-translated over translated, then the earliest
publication time, dated over undated, then the smaller id. A later-arriving better member takes
over (`CanonicalChange`). Clusters are never merged: a document that matches two clusters joins
the one it resembles most, so a chain of small edits cannot drift into one giant cluster.

**Chunk size does not matter.** A batch places its documents in canonical order, each among the
documents ranked before it. A run read in chunks has stored some documents before a
better-ranked copy arrived; the documents of the run's earlier chunks (`revisable`) that may
match a document placed now and rank after it, and those that may match them, are placed again
with the batch (`DedupePlan.moves`), and every candidate list keeps the best `MAX_CONFIRM` of
the stored and the batch's own together, ties broken by id. A run in chunks of 1, 7 or all of
its items clusters alike (tests/test_chunked_ingest.py); documents of earlier runs never move.
"""

from __future__ import annotations

import hashlib
import re
import struct
import unicodedata
import zlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum

import numpy as np
from datasketch import MinHash

from shiftwatch.analysis.dedupe.chrome import head, opening, prose, strip_chrome
from shiftwatch.records import Document

SHINGLE_WORDS = 4
NUM_PERM = 128
SEED = 20220110  # changing it, NUM_PERM or the tokenizer invalidates stored signatures
BANDS = 42
ROWS = 3
JACCARD_MIN = 0.5  # confirmed near-duplicate on the exact shingle sets
CONTAINMENT_MIN = 0.8  # ... or this share of the smaller text inside the larger
SIZE_RATIO_MIN = 0.4  # ... provided the smaller is at least this share of the larger
MIN_SHINGLES = 8  # below this, texts (titles, one-liners) only match exactly
# Estimated Jaccard under which a candidate is not worth confirming: the rule above needs a
# true Jaccard >= 0.296 (containment 0.8 at size ratio 0.4), and 128 permutations estimate
# J=0.3 with a standard deviation of 0.04, so 0.2 drops no confirmable pair in practice.
PREFILTER_JACCARD = 0.2
MAX_CONFIRM = 20  # candidates confirmed per document, best estimates first
MT_THRESHOLD = 0.5  # `Document.mt_score` from which a document counts as a translation
# Edited copies (a wire story re-edited, cut or re-chromed by another outlet; see the module doc):
PROSE_CONTAINMENT_MIN = 0.42  # share of the smaller text's unquoted shingles inside the larger
OPENING_CONTAINMENT_MIN = 0.3  # share of each text's opening found in the other's first half
PROSE_SHARED_STRONG = 0.5  # ... or of one of them, when this much prose is shared
EDITED_SIZE_RATIO_MIN = 0.2  # smaller text >= this share of the larger: a brief in a round-up
# of five or more stories stays out
EDITED_COMMON_MIN = 12  # unquoted shingles in common, at least
# Texts shorter than this (in unquoted shingles, about as many words) are never "edited copies"
# (the shortest real copy pair of the corpus has 30-40; two one-sentence dispatches about 20):
# two short dispatches that differ in one phrase ("rejects talks" / "is ready to discuss") are
# two statements, and merging them would hide a change of position.
EDITED_MIN_SHINGLES = 30
EDITED_CONTAINMENT_GATE = 0.3  # below this body containment the edited-copy test is not run
MIN_BODY_WORDS = 20  # chrome stripping that leaves fewer words than this keeps the whole text
LEAD_BANDS = 16  # LSH over the opening's MinHash: 16 bands of 2 rows of the first 32 permutations
LEAD_ROWS = 2
LEAD_PREFILTER_JACCARD = 0.2  # estimated Jaccard of the openings that keeps a lead candidate
_LEAD_SALT = np.uint32(0x5BD1E995)  # keeps lead band keys apart from body band keys

_FORMAT_VERSION = 3  # 2: chrome stripped before shingling; opening MinHash stored; 3: timestamp
# lines are chrome and a dateline starts a paragraph (stored signatures are recomputed once)
# Band keys stored with each signature (`index_keys`): bump the last digit when the bands, rows
# or salts change; a signature format change bumps it through `_FORMAT_VERSION`.
INDEX_FORMAT = 100 * _FORMAT_VERSION + 1
_HEADER = struct.Struct("<4sBBHII")  # magic, version, shingle words, num_perm, seed, shingles
_MAGIC = b"SWMH"
_MAX32 = np.uint32(0xFFFFFFFF)

_FOLD = {
    **dict.fromkeys("«»“”„‟″〝〞＂", '"'),
    **dict.fromkeys("‹›‘’‚‛′`´", "'"),
    **dict.fromkeys("‐‑‒–—―−﹘﹣－", "-"),
    "…": "...",
    "ё": "е",
    **dict.fromkeys("\u00ad\u200b\u200c\u200d\u2060\ufeff", ""),  # soft hyphen, zero-widths
}
# A regex hitting only the characters to fold: 20x faster than str.translate on long texts.
_FOLDABLE = re.compile("[" + re.escape("".join(_FOLD)) + "]")
_BROKEN_HYPHEN = re.compile(r"(?<=\w)- (?=\w)")  # "state-\nowned": a wrap at a hyphen
_DASH_RUN = re.compile(r"-{2,}")  # "--", "---": typewriter dashes
# Han and kana one character a token (no spaces between words); any other letter/digit run a word.
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\W_]+")
# Per-position multipliers for combining token hashes into a shingle hash (odd, 64-bit).
_MIXERS = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
     0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x27D4EB2F165667C5, 0x94D049BB133111EB],
    dtype=np.uint64,
)  # fmt: skip
# Token -> CRC-32 memo: news vocabulary repeats, and hashing was half the shingling time.
# Bounded (cleared past the cap, ~20 MB) so a long-running worker cannot grow without end.
_TOKEN_CRC: dict[str, int] = {}
_TOKEN_CACHE_MAX = 200_000
_TEMPLATE = MinHash(num_perm=NUM_PERM, seed=SEED, scheme="affine32", hashfunc=int)
_PERM_A = _TEMPLATE.permutations[0].astype(np.uint32).reshape(-1, 1)  # a_k, odd
_PERM_B = _TEMPLATE.permutations[1].astype(np.uint32).reshape(-1, 1)  # b_k
_CHUNK = 8192  # shingles per permutation pass: 4 MiB of uint32 at 128 permutations


def normalize_for_hash(text: str) -> str:
    """Return `text` folded so typography, case, wrapping and spacing cannot tell copies apart."""
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    folded = " ".join(_FOLDABLE.sub(_fold_character, text.casefold()).split())
    if "--" in folded:
        folded = _DASH_RUN.sub("-", folded)
    if "- " in folded:
        folded = _BROKEN_HYPHEN.sub("-", folded)
    return folded


def _fold_character(match: re.Match[str]) -> str:
    """Return the plain form of one typographic character."""
    return _FOLD[match.group()]


def content_hash(text: str) -> str:
    """Return the hex SHA-256 of `text`'s normalized form: equal for exact copies."""
    return hashlib.sha256(normalize_for_hash(text).encode("utf-8")).hexdigest()


def tokenize(text: str) -> list[str]:
    """Return the word tokens of `text` after folding, the units shingles are made of."""
    return _TOKEN.findall(normalize_for_hash(text))


def shingle_set(text: str, words: int = SHINGLE_WORDS) -> np.ndarray:
    """Return the sorted unique 32-bit hashes of the word shingles of `text`'s body (its lines
    of page chrome dropped, `shingle_body`): the exact set compared."""
    return shingles_of_normalized(normalize_for_hash(shingle_body(text)), words)


def shingle_body(text: str) -> str:
    """Return what is shingled of `text`: its lines minus page chrome (`chrome.strip_chrome`),
    or the whole text when stripping leaves fewer than `MIN_BODY_WORDS` words (a post, a tweet)."""
    body = strip_chrome(text)
    return body if len(body.split()) >= MIN_BODY_WORDS else text


def _token_hashes(tokens: list[str]) -> np.ndarray:
    """Return the CRC-32 of each token (stable across processes, unlike `hash`), memoized."""
    if len(_TOKEN_CRC) > _TOKEN_CACHE_MAX:
        _TOKEN_CRC.clear()
    for token in set(tokens).difference(_TOKEN_CRC):
        _TOKEN_CRC[token] = zlib.crc32(token.encode("utf-8"))
    return np.fromiter(map(_TOKEN_CRC.__getitem__, tokens), dtype=np.uint64, count=len(tokens))


def shingles_of_normalized(normalized: str, words: int = SHINGLE_WORDS) -> np.ndarray:
    """Return `shingle_set` of a text already passed through `normalize_for_hash`."""
    tokens = _TOKEN.findall(normalized)
    if not tokens:
        return np.empty(0, dtype=np.uint32)
    hashes = _token_hashes(tokens)
    width = min(words, len(hashes))
    count = len(hashes) - width + 1
    combined = np.zeros(count, dtype=np.uint64)
    for offset in range(width):
        combined = (combined ^ hashes[offset : offset + count]) * _MIXERS[offset]
    combined ^= combined >> np.uint64(29)
    folded = (combined >> np.uint64(32)) ^ (combined & np.uint64(0xFFFFFFFF))
    return np.unique(folded.astype(np.uint32))


@dataclass(frozen=True, eq=False, slots=True)
class Signature:
    """A document's MinHash values plus its shingle count (for containment estimates)."""

    hashvalues: np.ndarray  # uint32[NUM_PERM]
    shingles: int
    lead: np.ndarray | None = None  # uint32[LEAD_BANDS * LEAD_ROWS]: MinHash of the opening

    @property
    def has_lead(self) -> bool:
        """Return whether the text has an opening to index (see `chrome.opening`)."""
        return self.lead is not None and bool(np.any(self.lead != _MAX32))

    @property
    def empty(self) -> bool:
        """Return whether the text had no shingle (nothing to compare)."""
        return self.shingles == 0

    def jaccard(self, other: Signature) -> float:
        """Return the estimated Jaccard similarity of the two texts' shingle sets."""
        if self.empty or other.empty:
            return 0.0
        return float(np.count_nonzero(self.hashvalues == other.hashvalues)) / len(self.hashvalues)

    def to_minhash(self) -> MinHash:
        """Return the datasketch MinHash these values came from (e.g. for datasketch's own LSH)."""
        return MinHash(seed=SEED, hashvalues=self.hashvalues, scheme="affine32")


def signature_of_shingles(shingles: np.ndarray) -> Signature:
    """Return the MinHash signature of a shingle set from `shingle_set`.

    Bit-identical to datasketch's `MinHash(scheme="affine32").update_batch` over the same
    values (a test checks it), computed permutation-major: 7x faster on a 2,000-shingle text.
    """
    values = np.full(NUM_PERM, _MAX32, dtype=np.uint32)
    mixed = _fmix32(shingles.astype(np.uint32))
    for start in range(0, len(mixed), _CHUNK):
        permuted = _PERM_A * mixed[start : start + _CHUNK] + _PERM_B
        np.minimum(values, permuted.min(axis=1), out=values)
    return Signature(hashvalues=values, shingles=len(shingles))


def minhash_of_shingles(shingles: np.ndarray) -> MinHash:
    """Return the datasketch MinHash of a shingle set, the slow reference for the above."""
    minhash = MinHash(
        seed=SEED, permutations=_TEMPLATE.permutations, scheme="affine32", hashfunc=int
    )
    minhash.update_batch(shingles.tolist())
    return minhash


def _fmix32(values: np.ndarray) -> np.ndarray:
    """Return MurmurHash3's 32-bit finalizer of `values`, datasketch's pre-mix for affine32."""
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


def signature_of(text: str) -> Signature:
    """Return the MinHash signature of `text` (what the index stores and queries with): of its
    body's shingles, and of its opening's (`lead`), by which edited copies find each other."""
    body = shingle_body(text)
    shingles = shingles_of_normalized(normalize_for_hash(body))
    return replace(signature_of_shingles(shingles), lead=lead_values(opening(body)))


LEAD_PERM = LEAD_BANDS * LEAD_ROWS


def lead_values(opening_text: str) -> np.ndarray:
    """Return the MinHash (first `LEAD_PERM` permutations) of an opening's shingles."""
    shingles = shingles_of_normalized(normalize_for_hash(opening_text))
    values = np.full(LEAD_PERM, _MAX32, dtype=np.uint32)
    if len(shingles):
        mixed = _fmix32(shingles.astype(np.uint32))
        permuted = _PERM_A[:LEAD_PERM] * mixed + _PERM_B[:LEAD_PERM]
        values = permuted.min(axis=1).astype(np.uint32)
    return values


def signature_to_bytes(signature: Signature) -> bytes:
    """Return `signature` as bytes for the signatures table (header + little-endian uint32s)."""
    header = _HEADER.pack(
        _MAGIC, _FORMAT_VERSION, SHINGLE_WORDS, NUM_PERM, SEED, min(signature.shingles, 2**32 - 1)
    )
    lead = signature.lead if signature.lead is not None else np.full(LEAD_PERM, _MAX32)
    return header + signature.hashvalues.astype("<u4").tobytes() + lead.astype("<u4").tobytes()


def signature_from_bytes(blob: bytes) -> Signature:
    """Return the signature stored as `blob`; ValueError if made with other parameters."""
    expected = _HEADER.size + 4 * (NUM_PERM + LEAD_PERM)
    if len(blob) != expected:
        raise ValueError(f"signature of {len(blob)} bytes; expected {expected}")
    magic, version, words, num_perm, seed, shingles = _HEADER.unpack_from(blob)
    if (magic, version, words, num_perm, seed) != (
        _MAGIC,
        _FORMAT_VERSION,
        SHINGLE_WORDS,
        NUM_PERM,
        SEED,
    ):
        raise ValueError("signature made with other dedupe parameters: recompute it from the text")
    values = np.frombuffer(blob, dtype="<u4", offset=_HEADER.size).astype(np.uint32)
    return Signature(hashvalues=values[:NUM_PERM], shingles=shingles, lead=values[NUM_PERM:])


def compare_shingles(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Return the exact (Jaccard, containment of the smaller in the larger) of two shingle sets."""
    if len(a) == 0 or len(b) == 0:
        return 0.0, 0.0
    common = len(np.intersect1d(a, b, assume_unique=True))
    return common / (len(a) + len(b) - common), common / min(len(a), len(b))


def is_near_duplicate(jaccard: float, containment: float, smaller: int, larger: int) -> bool:
    """Return whether exact set overlaps make two texts copies of one story (see module doc)."""
    if smaller < MIN_SHINGLES:
        return False
    if jaccard >= JACCARD_MIN:
        return True
    return containment >= CONTAINMENT_MIN and smaller >= SIZE_RATIO_MIN * larger


def is_edited_copy(
    mine: tuple[np.ndarray, np.ndarray, np.ndarray],
    theirs: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> bool:
    """Return whether two texts are one story edited by two outlets (see the module doc).

    Each argument holds the shingles of a text's prose outside quotations, its opening and its
    first half (`chrome.prose`, `chrome.opening`, `chrome.head`). A copy shares the reporter's
    sentences, not only the speakers' (`PROSE_CONTAINMENT_MIN` of the smaller text's prose), and
    opens the way the other does (`OPENING_CONTAINMENT_MIN` of each opening found in the other's
    first half, or of one of them when `PROSE_SHARED_STRONG` of the prose is shared); a follow-up
    that reuses the first story as background has its own opening.
    """
    prose_a, opening_a, head_a = mine
    prose_b, opening_b, head_b = theirs
    smaller, larger = sorted((len(prose_a), len(prose_b)))
    if smaller < max(MIN_SHINGLES, EDITED_MIN_SHINGLES) or smaller < EDITED_SIZE_RATIO_MIN * larger:
        return False
    common = len(np.intersect1d(prose_a, prose_b, assume_unique=True))
    if common < EDITED_COMMON_MIN or common < PROSE_CONTAINMENT_MIN * smaller:
        return False
    # Each opening in the other's first half; or one of them, when the prose is shared beyond
    # what a follow-up reuses as background (`PROSE_SHARED_STRONG`).
    openings = sorted((_inside(opening_a, head_b), _inside(opening_b, head_a)))
    if openings[0] >= OPENING_CONTAINMENT_MIN:
        return True
    return openings[1] >= OPENING_CONTAINMENT_MIN and common >= PROSE_SHARED_STRONG * smaller


def _inside(part: np.ndarray, whole: np.ndarray) -> float:
    """Return the share of `part`'s shingles found in `whole`."""
    if len(part) == 0:
        return 0.0
    return len(np.intersect1d(part, whole, assume_unique=True)) / len(part)


@dataclass(frozen=True, kw_only=True, slots=True)
class Candidate:
    """A stored document that may duplicate the one queried, with the index's estimates."""

    document_id: str
    jaccard: float  # estimated from 16 bits of each MinHash value
    containment: float  # estimated from that Jaccard and the two shingle counts
    score: float = 0.0  # what candidates are ranked by: the body's or the opening's Jaccard


_BAND_SEEDS = np.random.default_rng(SEED).integers(1, 2**63, size=BANDS, dtype=np.uint64) | 1


def band_keys(hashvalues: np.ndarray, bands: int = BANDS, rows: int = ROWS) -> np.ndarray:
    """Return the uint32 LSH key of each band, shape (..., bands), for one or many signatures."""
    values = hashvalues[..., : bands * rows].astype(np.uint64)
    values = values.reshape(*values.shape[:-1], bands, rows)
    keys = np.empty(values.shape[:-1], dtype=np.uint64)
    keys[...] = _BAND_SEEDS[:bands]
    for row in range(rows):
        keys = (keys ^ values[..., row]) * _MIXERS[row]
        keys ^= keys >> np.uint64(31)
    return (keys >> np.uint64(32)).astype(np.uint32)


class DuplicateIndex:
    """MinHash LSH over every stored signature: candidates for a new text, no history scan.

    Band keys of older documents live in one sorted array (binary search); keys added since
    the last merge live in a dict and are merged in every `merge_every` documents. Each document
    has `bands` body keys and, when it has an opening, `LEAD_BANDS` opening keys. Memory:
    (`bands` + `LEAD_BANDS`) x 8 bytes + (`num_perm` + `LEAD_PERM`) x 2 bytes + 1 + the id
    string, per document.
    """

    def __init__(self, *, bands: int = BANDS, rows: int = ROWS, merge_every: int = 8192) -> None:
        if bands < 1 or rows < 1 or bands * rows > NUM_PERM:
            raise ValueError(f"bands x rows must be between 1 and {NUM_PERM}, got {bands}x{rows}")
        if bands > len(_BAND_SEEDS):
            raise ValueError(f"at most {len(_BAND_SEEDS)} bands")
        if merge_every < 1:
            raise ValueError("merge_every must be positive")
        self.bands, self.rows, self.merge_every = bands, rows, merge_every
        self.stale: list[str] = []  # ids whose stored bytes did not load (see `from_rows`)
        self._ids: list[str] = []
        self._rows: dict[str, int] = {}
        self._low16 = np.empty((0, NUM_PERM), dtype=np.uint16)
        self._lead16 = np.empty((0, LEAD_PERM), dtype=np.uint16)  # opening MinHash, 16 bits
        self._has_lead = np.empty(0, dtype=bool)
        self._sizes = np.empty(0, dtype=np.uint32)
        self._keys = np.empty(0, dtype=np.uint32)  # sorted band keys of merged documents
        self._key_rows = np.empty(0, dtype=np.int32)
        self._pending: dict[int, list[int]] = {}
        self._pending_docs = 0

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, document_id: object) -> bool:
        return document_id in self._rows

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, bytes]], **options: int) -> DuplicateIndex:
        """Return an index of stored (document_id, signature bytes) rows, built in bulk.

        Rows whose bytes were made with other parameters are listed in `index.stale`: recompute
        their signatures from the text and `add` them.
        """
        index = cls(**options)
        ids: list[str] = []
        values: list[np.ndarray] = []
        leads: list[np.ndarray] = []
        sizes: list[int] = []
        for document_id, blob in rows:
            try:
                signature = signature_from_bytes(blob)
            except ValueError:
                index.stale.append(document_id)
                continue
            if document_id in index._rows or signature.empty:
                continue
            index._rows[document_id] = len(index._ids) + len(ids)
            ids.append(document_id)
            values.append(signature.hashvalues)
            leads.append(_lead_of(signature))
            sizes.append(signature.shingles)
        if ids:
            stacked, lead_stack = np.stack(values), np.stack(leads)
            index._append(ids, stacked, np.array(sizes, dtype=np.uint32), lead_stack)
            index._merge_bulk(len(index._ids) - len(ids), stacked, lead_stack)
        return index

    def add(self, document_id: str, signature: Signature) -> None:
        """Index `signature` under `document_id` (no-op for a known id or an empty text)."""
        if document_id in self._rows or signature.empty:
            return
        row = len(self._ids)
        self._rows[document_id] = row
        lead = _lead_of(signature)
        self._append(
            [document_id],
            signature.hashvalues[None, :],
            np.array([signature.shingles]),
            lead[None, :],
        )
        for key in _keys_of(signature.hashvalues, lead, self.bands, self.rows).tolist():
            self._pending.setdefault(key, []).append(row)
        self._pending_docs += 1
        if self._pending_docs >= self.merge_every:
            self._merge_pending()

    def query(self, signature: Signature) -> list[str]:
        """Return the ids of indexed documents sharing a band with `signature`, best first."""
        return [candidate.document_id for candidate in self.candidates(signature)]

    def candidates(
        self, signature: Signature, *, min_jaccard: float = 0.0, limit: int | None = None
    ) -> list[Candidate]:
        """Return the documents sharing a band with `signature`, best estimated Jaccard first."""
        if signature.empty or not self._ids:
            return []
        lead = _lead_of(signature)
        rows = self._lookup(_keys_of(signature.hashvalues, lead, self.bands, self.rows))
        low16 = (signature.hashvalues & 0xFFFF).astype(np.uint16)
        jaccard = np.count_nonzero(self._low16[rows] == low16, axis=1) / NUM_PERM
        lead_jaccard = np.zeros(len(rows))
        if signature.has_lead:
            lead16 = (lead & 0xFFFF).astype(np.uint16)
            same = np.count_nonzero(self._lead16[rows] == lead16, axis=1) / LEAD_PERM
            lead_jaccard = np.where(self._has_lead[rows], same, 0.0)
        # A copy is kept for its body's estimated Jaccard, an edited copy for its opening's.
        keep = np.flatnonzero((jaccard >= min_jaccard) | (lead_jaccard >= LEAD_PREFILTER_JACCARD))
        rank = np.maximum(jaccard, lead_jaccard)[keep]
        order = np.argsort(-rank, kind="stable")[:limit]
        keep, rank = keep[order], rank[order]
        rows, jaccard = rows[keep], jaccard[keep]
        sizes = self._sizes[rows].astype(np.float64)
        common = jaccard * (sizes + signature.shingles) / (1.0 + jaccard)
        containment = np.minimum(common / np.maximum(np.minimum(sizes, signature.shingles), 1), 1)
        return [
            Candidate(
                document_id=self._ids[row], jaccard=float(j), containment=float(c), score=float(r)
            )
            for row, j, c, r in zip(
                rows.tolist(), jaccard.tolist(), containment.tolist(), rank.tolist(), strict=True
            )
        ]

    def memory_bytes(self) -> int:
        """Return the bytes held in numpy arrays (ids and the pending dict not included)."""
        arrays = (self._low16, self._lead16, self._sizes, self._keys, self._key_rows)
        return sum(array.nbytes for array in arrays)

    def _lookup(self, keys: np.ndarray) -> np.ndarray:
        """Return the unique rows whose band keys equal any of `keys`."""
        found: list[np.ndarray] = []
        if len(self._keys):
            lows = np.searchsorted(self._keys, keys, side="left")
            highs = np.searchsorted(self._keys, keys, side="right")
            found.extend(
                self._key_rows[lo:hi] for lo, hi in zip(lows, highs, strict=True) if hi > lo
            )
        for key in keys.tolist():
            rows = self._pending.get(key)
            if rows:
                found.append(np.array(rows, dtype=np.int32))
        return np.unique(np.concatenate(found)) if found else np.empty(0, dtype=np.int32)

    def _append(
        self, ids: list[str], values: np.ndarray, sizes: np.ndarray, leads: np.ndarray
    ) -> None:
        """Append documents' ids, 16-bit values, sizes and openings; arrays grow geometrically."""
        start = len(self._ids)
        needed = start + len(ids)
        if needed > len(self._low16):
            capacity = max(needed, int(len(self._low16) * 1.5), 1024)
            self._low16 = _grown(self._low16, capacity)
            self._lead16 = _grown(self._lead16, capacity)
            self._has_lead = _grown(self._has_lead, capacity)
            self._sizes = _grown(self._sizes, capacity)
        self._low16[start:needed] = values & 0xFFFF
        self._lead16[start:needed] = leads & 0xFFFF
        self._has_lead[start:needed] = np.any(leads != _MAX32, axis=1)
        self._sizes[start:needed] = sizes
        self._ids.extend(ids)

    def _merge_pending(self) -> None:
        """Move the pending band keys into the sorted arrays."""
        if not self._pending:
            return
        keys = np.array([key for key, rows in self._pending.items() for _ in rows], dtype=np.uint32)
        rows = np.array([row for found in self._pending.values() for row in found], dtype=np.int32)
        self._insert_sorted(keys, rows)
        self._pending.clear()
        self._pending_docs = 0

    def _merge_bulk(self, first_row: int, values: np.ndarray, leads: np.ndarray) -> None:
        """Add the band keys (body and opening) of consecutive rows from `first_row`, one sort."""
        keys = band_keys(values, self.bands, self.rows)
        numbers = np.arange(first_row, first_row + len(values), dtype=np.int32)
        rows = np.repeat(numbers, self.bands)
        has_lead = np.any(leads != _MAX32, axis=1)
        lead_keys = band_keys(leads[has_lead], LEAD_BANDS, LEAD_ROWS) ^ _LEAD_SALT
        lead_rows = np.repeat(numbers[has_lead], LEAD_BANDS)
        self._insert_sorted(
            np.concatenate([keys.reshape(-1), lead_keys.reshape(-1)]),
            np.concatenate([rows, lead_rows]),
        )

    def _insert_sorted(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """Insert (key, row) pairs into the sorted key array."""
        order = np.argsort(keys, kind="stable")
        keys, rows = keys[order], rows[order]
        if not len(self._keys):
            self._keys, self._key_rows = keys, rows
            return
        at = np.searchsorted(self._keys, keys, side="right")
        self._keys = np.insert(self._keys, at, keys)
        self._key_rows = np.insert(self._key_rows, at, rows)


def index_keys(signature: Signature, bands: int = BANDS, rows: int = ROWS) -> np.ndarray:
    """Return the band keys `DuplicateIndex` files `signature` under (none for an empty text):
    a stored document can be a candidate for a text only if they share one."""
    if signature.empty:
        return np.empty(0, dtype=np.uint32)
    return _keys_of(signature.hashvalues, _lead_of(signature), bands, rows)


def _keys_of(values: np.ndarray, lead: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Return one document's band keys: its body's, then its opening's (if it has one)."""
    keys = band_keys(values, bands, rows)
    if not np.any(lead != _MAX32):
        return keys
    return np.concatenate([keys, band_keys(lead, LEAD_BANDS, LEAD_ROWS) ^ _LEAD_SALT])


def _lead_of(signature: Signature) -> np.ndarray:
    """Return a signature's opening MinHash, all-empty when it has none."""
    if signature.lead is None:
        return np.full(LEAD_PERM, _MAX32, dtype=np.uint32)
    return signature.lead.astype(np.uint32)


def _grown(array: np.ndarray, capacity: int) -> np.ndarray:
    """Return `array` copied into a larger zeroed array of `capacity` rows."""
    grown = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
    grown[: len(array)] = array
    return grown


class MatchKind(StrEnum):
    UNIQUE = "unique"  # no copy found: the document founds its own cluster
    EXACT = "exact"  # same content hash as `matched_id`
    NEAR = "near"  # confirmed near-duplicate of `matched_id`
    KNOWN = "known"  # already indexed: its stored cluster is echoed back, nothing to write


@dataclass(frozen=True, kw_only=True, slots=True)
class DedupeItem:
    """What clustering needs to know about a document (new, or stored and loaded back)."""

    id: str
    text: str  # the body to compare: `Document.text[:body_end]` (no reader comments)
    content_hash: str = ""  # of `text`; computed when empty
    published_at: datetime | None = None
    translated: bool = False  # machine-translated (or known to be a translation)
    cluster_id: str | None = None  # stored documents only
    duplicate_of: str | None = None  # stored documents only


@dataclass(frozen=True, kw_only=True, slots=True)
class ClusterDecision:
    """Where one document belongs, and why."""

    document_id: str
    cluster_id: str
    duplicate_of: str | None  # the cluster's canonical member; None if this is it
    match: MatchKind
    matched_id: str | None = None
    jaccard: float = 1.0
    containment: float = 1.0
    signature: Signature | None = field(default=None, repr=False)  # to store; None for KNOWN


@dataclass(frozen=True, kw_only=True, slots=True)
class CanonicalChange:
    """A stored cluster whose canonical member is now `canonical_id` (earlier or original)."""

    cluster_id: str
    canonical_id: str
    previous_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class DedupePlan:
    """What a batch changes: a decision per new document, canonicals that moved, and the
    stored documents of this run placed again in another cluster (`moves`; see
    `assign_clusters`)."""

    decisions: tuple[ClusterDecision, ...]
    canonical_changes: tuple[CanonicalChange, ...] = ()
    moves: tuple[ClusterDecision, ...] = ()


Loader = Callable[[Collection[str]], Mapping[str, DedupeItem]]


def dedupe_item(document: Document, *, mt_threshold: float = MT_THRESHOLD) -> DedupeItem:
    """Return the clustering view of `document`: its body only, translated if MT-scored high."""
    body = document.text[: document.body_end] if document.body_end else document.text
    return DedupeItem(
        id=document.id,
        text=body,
        content_hash=content_hash(body),
        published_at=document.published_at,
        translated=document.mt_score >= mt_threshold,
        cluster_id=document.cluster_id,
        duplicate_of=document.duplicate_of,
    )


def canonical_rank(item: DedupeItem) -> tuple[bool, bool, float, str]:
    """Return the sort key of the canonical rule: original, then earliest, then dated, then id."""
    when = item.published_at
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (item.translated, when is None, when.timestamp() if when else 0.0, item.id)


@dataclass(slots=True)
class _Member:
    """A document as the batch sees it: its facts, shingles and (once decided) its cluster."""

    item: DedupeItem
    folded: str | None = None
    shingles: np.ndarray | None = None
    cluster_id: str | None = None
    body: str | None = None
    views: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # prose, opening, head

    def normalized(self) -> str:
        if self.folded is None:
            self.folded = normalize_for_hash(self.item.text)
        return self.folded

    def shingle_body(self) -> str:
        if self.body is None:
            self.body = shingle_body(self.item.text)
        return self.body

    def shingle_set(self) -> np.ndarray:
        if self.shingles is None:
            self.shingles = shingles_of_normalized(normalize_for_hash(self.shingle_body()))
        return self.shingles

    def signature(self) -> Signature:
        sig = signature_of_shingles(self.shingle_set())
        return replace(sig, lead=lead_values(opening(self.shingle_body())))

    def edit_views(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the shingles of the body's prose, opening and first half (`chrome`)."""
        if self.views is None:
            body = self.shingle_body()
            prose_, opening_, head_ = (
                shingles_of_normalized(normalize_for_hash(part))
                for part in (prose(body), opening(body), head(body))
            )
            self.views = (prose_, opening_, head_)
        return self.views

    def hash(self) -> str:
        if not self.item.content_hash:
            digest = hashlib.sha256(self.normalized().encode("utf-8")).hexdigest()
            self.item = replace(self.item, content_hash=digest)
        return self.item.content_hash


@dataclass(slots=True)
class _Batch:
    """Mutable state of one `assign_clusters` call."""

    members: dict[str, _Member] = field(default_factory=dict)
    canonical: dict[str, DedupeItem] = field(default_factory=dict)  # cluster -> canonical
    stored_canonical: dict[str, str] = field(default_factory=dict)  # cluster -> as stored
    overlay: DuplicateIndex = field(default_factory=lambda: DuplicateIndex(merge_every=1 << 30))
    decided: list[tuple[str, MatchKind, str | None, float, float, Signature | None]] = field(
        default_factory=list
    )
    revised: dict[str, DedupeItem] = field(default_factory=dict)  # stored, placed again


def assign_clusters(
    new_docs: Sequence[DedupeItem],
    index: DuplicateIndex,
    load: Loader,
    revisable: Collection[str] = frozenset(),
) -> DedupePlan:
    """Return the cluster of each new document (and moved canonicals), exact and near copies alike.

    `load(ids)` returns stored documents by id (text, cluster_id, duplicate_of, published_at,
    translated). `index` is only read: once the plan is stored,
    `index.add(decision.document_id, decision.signature)` for each decision with a signature.
    Documents within the batch are matched with each other too, in canonical order.

    `revisable`: stored documents that may be placed again (a run's earlier chunks). One batch
    places its documents in canonical order, each among those ranked before it; a run read in
    chunks stored some of them before a better-ranked copy arrived. Those that may match a
    document placed now and rank after it (and, in turn, those that may match them) are placed
    again with this batch, so the clusters do not depend on the chunk size (`plan.moves`).
    """
    batch = _Batch()
    items = sorted({item.id: item for item in reversed(new_docs)}.values(), key=canonical_rank)
    known = [item.id for item in items if item.id in index]
    fresh = [item for item in items if item.id not in index]
    signatures = {item.id: _member(batch, item).signature() for item in fresh}
    revisable = set(revisable).difference(known)
    batch.revised = _to_revise(index, load, fresh, signatures, revisable)
    for item in batch.revised.values():
        signatures[item.id] = _member(batch, item).signature()
    work = sorted([*fresh, *batch.revised.values()], key=canonical_rank)
    placing = set(signatures)
    shortlists = {i.id: _shortlist(index, signatures[i.id], placing) for i in work}
    wanted = set(known).union(*[{c.document_id for c in found} for found in shortlists.values()])
    stored = _load_stored(load, wanted, batch)
    for document_id in known:
        _echo_known(batch, stored.get(document_id), document_id)
    for item in work:
        found = [c for c in shortlists[item.id] if c.document_id in stored]
        _place(batch, item, signatures[item.id], found)
    return _plan(batch)


def _to_revise(
    index: DuplicateIndex,
    load: Loader,
    fresh: Sequence[DedupeItem],
    signatures: Mapping[str, Signature],
    revisable: set[str],
) -> dict[str, DedupeItem]:
    """Return the `revisable` stored documents one batch would have placed after a document
    placed now: those ranked after a fresh document they may match, then after those, and so on
    (candidates without the `MAX_CONFIRM` limit, so no neighbour is missed)."""
    revised: dict[str, DedupeItem] = {}
    frontier = [(item, signatures[item.id]) for item in fresh]
    while frontier and revisable:
        earliest: dict[str, tuple[bool, bool, float, str]] = {}
        for item, signature in frontier:
            for document_id in _neighbours(index, signature):
                if document_id in revisable and document_id not in revised:
                    rank = canonical_rank(item)
                    earliest[document_id] = min(earliest.get(document_id, rank), rank)
        loaded = dict(load(earliest)) if earliest else {}
        later = [s for i, s in loaded.items() if canonical_rank(s) > earliest[i]]
        revised.update((s.id, s) for s in later)
        frontier = [(s, signature_of(s.text)) for s in later]
    return revised


def _neighbours(index: DuplicateIndex, signature: Signature) -> list[str]:
    """Return every indexed document worth confirming for `signature` (no limit)."""
    found = index.candidates(signature, min_jaccard=PREFILTER_JACCARD)
    return [candidate.document_id for candidate in found]


def _member(batch: _Batch, item: DedupeItem) -> _Member:
    """Return the batch's record of `item`, created on first sight."""
    member = batch.members.get(item.id)
    if member is None:
        member = batch.members[item.id] = _Member(item=item)
    return member


def _shortlist(
    index: DuplicateIndex, signature: Signature, exclude: Collection[str] = frozenset()
) -> list[Candidate]:
    """Return the indexed candidates worth confirming for `signature` (all of them: the batch
    keeps the best `MAX_CONFIRM` of the stored and the batch's own together, `_ranked`)."""
    found = index.candidates(signature, min_jaccard=PREFILTER_JACCARD)
    return [candidate for candidate in found if candidate.document_id not in exclude]


def _ranked(candidates: Iterable[Candidate]) -> list[str]:
    """Return the ids of the best `MAX_CONFIRM` candidates, ties by id: the order must not
    depend on which index (stored, or the batch's own) a candidate came from."""
    best = sorted(candidates, key=lambda c: (-c.score, c.document_id))[:MAX_CONFIRM]
    return [candidate.document_id for candidate in best]


def _load_stored(load: Loader, wanted: set[str], batch: _Batch) -> dict[str, DedupeItem]:
    """Return the stored candidates, and record each one's cluster and canonical member."""
    stored = dict(load(wanted)) if wanted else {}
    canonical_ids = {_stored_canonical_id(item) for item in stored.values()}
    missing = canonical_ids - stored.keys()
    canonicals = {**stored, **(dict(load(missing)) if missing else {})}
    for item in stored.values():
        cluster_id = item.cluster_id or item.id
        canonical_id = _stored_canonical_id(item)
        # An unloadable canonical is ranked like the member that points to it.
        canonical = canonicals.get(canonical_id) or replace(item, id=canonical_id)
        batch.canonical.setdefault(cluster_id, canonical)
        batch.stored_canonical.setdefault(cluster_id, canonical_id)
        _member(batch, item).cluster_id = cluster_id
    return stored


def _stored_canonical_id(item: DedupeItem) -> str:
    """Return the id of the canonical member of a stored document's cluster."""
    return item.duplicate_of or item.id


def _echo_known(batch: _Batch, item: DedupeItem | None, document_id: str) -> None:
    """Record an already-indexed document as it is stored (a re-run changes nothing)."""
    cluster_id = (item.cluster_id if item else None) or document_id
    if item is not None:
        batch.canonical.setdefault(cluster_id, item)
        batch.stored_canonical.setdefault(cluster_id, _stored_canonical_id(item))
    batch.decided.append((document_id, MatchKind.KNOWN, None, 1.0, 1.0, None))
    batch.members.setdefault(document_id, _Member(item=item or DedupeItem(id=document_id, text="")))
    batch.members[document_id].cluster_id = cluster_id


def _place(batch: _Batch, item: DedupeItem, signature: Signature, stored: list[Candidate]) -> None:
    """Put one new document into the best-matching cluster, or found a new one."""
    member = batch.members[item.id]
    ranked = _ranked([*stored, *_shortlist(batch.overlay, signature)])
    match = _best_match(member, [batch.members[i] for i in ranked])
    if match is None:
        member.cluster_id = item.id
        batch.canonical[item.id] = item
        batch.decided.append((item.id, MatchKind.UNIQUE, None, 0.0, 0.0, signature))
    else:
        other, kind, jaccard, containment = match
        member.cluster_id = other.cluster_id
        current = batch.canonical.get(other.cluster_id, other.item)
        if canonical_rank(item) < canonical_rank(current):
            batch.canonical[other.cluster_id] = item
        batch.decided.append((item.id, kind, other.item.id, jaccard, containment, signature))
    batch.overlay.add(item.id, signature)


def _best_match(
    member: _Member, others: list[_Member]
) -> tuple[_Member, MatchKind, float, float] | None:
    """Return the confirmed copy `member` resembles most: exact hashes first, then Jaccard."""
    best: tuple[_Member, MatchKind, float, float] | None = None
    for other in others:
        if other.item.id == member.item.id or other.cluster_id is None:
            continue
        if other.hash() == member.hash():
            return other, MatchKind.EXACT, 1.0, 1.0
        mine, theirs = member.shingle_set(), other.shingle_set()
        jaccard, containment = compare_shingles(mine, theirs)
        smaller, larger = sorted((len(mine), len(theirs)))
        if not is_near_duplicate(jaccard, containment, smaller, larger) and (
            containment < EDITED_CONTAINMENT_GATE
            or not is_edited_copy(member.edit_views(), other.edit_views())
        ):
            continue
        if best is None or (jaccard, containment) > (best[2], best[3]):
            best = other, MatchKind.NEAR, jaccard, containment
    return best


def _plan(batch: _Batch) -> DedupePlan:
    """Return the decisions with each cluster's final canonical, and the stored ones that moved."""
    decisions, moves = [], []
    for document_id, kind, matched, jaccard, containment, signature in batch.decided:
        cluster_id = batch.members[document_id].cluster_id or document_id
        canonical = batch.canonical.get(cluster_id)
        canonical_id = canonical.id if canonical else document_id
        decision = ClusterDecision(
            document_id=document_id,
            cluster_id=cluster_id,
            duplicate_of=None if canonical_id == document_id else canonical_id,
            match=kind,
            matched_id=matched,
            jaccard=jaccard,
            containment=containment,
            signature=signature,
        )
        before = batch.revised.get(document_id)
        if before is None:
            decisions.append(decision)
        elif (before.cluster_id or before.id) != cluster_id:
            moves.append(replace(decision, signature=None))
    changes = [
        CanonicalChange(
            cluster_id=cluster, canonical_id=batch.canonical[cluster].id, previous_id=old
        )
        for cluster, old in sorted(batch.stored_canonical.items())
        if batch.canonical[cluster].id != old
    ]
    return DedupePlan(
        decisions=tuple(decisions), canonical_changes=tuple(changes), moves=tuple(moves)
    )
