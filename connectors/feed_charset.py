"""Decide how a feed's bytes are encoded, and decode them (pure: bytes in, text out).

feedparser alone trusts RFC 3023 (text/xml without charset means US-ASCII) and, when a
legacy feed declares nothing, falls back to windows-1252: a cp1251, KOI8-R,
windows-1255 or GB2312 feed then arrives as mojibake. The order here:

1. a byte-order mark (or UTF-16/32 without one, sniffed from '<'), which cannot lie;
2. pure ASCII, or valid UTF-8 with non-ASCII text: UTF-8 (legacy text is almost never
   valid UTF-8 by chance, while "declared latin-1, really UTF-8" is common);
3. mostly UTF-8 with stray legacy bytes (a CMS pasting cp1252 quotes into UTF-8):
   UTF-8, with the stray runs decoded by the detected single-byte encoding;
4. otherwise a legacy encoding: the declared one (XML declaration, then HTTP charset)
   unless charset-normalizer, restricted to a sensible set of legacy encodings plus
   the declared one, finds a clearly less chaotic decoding.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from dataclasses import dataclass

import charset_normalizer

# What real feeds use when they are not UTF-8; gb18030 covers GB2312 and GBK, cp1252
# covers ISO-8859-1 (WHATWG treats the latin-1 label as windows-1252).
LEGACY_ENCODINGS = (
    "cp1251",
    "koi8_r",
    "koi8_u",
    "cp1255",
    "gb18030",
    "big5",
    "shift_jis",
    "euc_jp",
    "euc_kr",
    "iso8859_2",
    "cp1250",
    "cp1252",
    "cp1253",
    "cp1254",
    "cp1256",
    "cp1257",
)
# Labels whose declaration is often a server default rather than a fact.
GENERIC_LABELS = frozenset({"cp1252", "ascii", "utf_8"})
LABEL_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "latin_1": "cp1252",
    "iso8859_1": "cp1252",
    "ascii": "cp1252",
    "iso8859_9": "cp1254",
    "iso8859_11": "cp874",
    "tis_620": "cp874",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
}
# ISO-8859-2 and windows-1250 differ on these bytes; ISO-8859-x never uses 0x80-0x9F.
_C1 = re.compile(rb"[\x80-\x9f]")
_ISO_8859_2_ONLY = re.compile(rb"[\xa1\xa6\xa9\xab\xac\xae\xb1\xb6\xb9\xbb\xbc\xbe]")
_XML_ENCODING = re.compile(
    rb"""^\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']"""
)
_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]{1,40})""", re.IGNORECASE)
_NON_ASCII = re.compile(r"[^\x00-\x7f\udc80-\udcff]")
_ESCAPED = re.compile(r"[\udc80-\udcff]+")
_ESCAPED_BYTE = re.compile(r"[\udc80-\udcff]")
SAMPLE_BYTES = 256 * 1024  # enough text for detection; bounded time on huge feeds
CHAOS_MARGIN = 0.05  # a declared encoding keeps its word unless detection is this much cleaner


@dataclass(frozen=True, kw_only=True, slots=True)
class Decoded:
    """Text decoded from bytes, with the encoding used and where that choice came from."""

    text: str
    encoding: str  # a Python codec name, e.g. "utf_8", "cp1251"
    source: str  # bom | ascii | utf-8 | mixed | declared | detected | fallback
    declared: str | None = None
    replaced: int = 0  # undecodable bytes replaced by U+FFFD


def codec_name(label: str | None) -> str | None:
    """Return the Python codec for a charset label (aliases applied), None if unknown."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name.replace("-", "_")
    except LookupError:
        return None
    return LABEL_ALIASES.get(name, name)


def declared_charset(headers: Mapping[str, str]) -> str | None:
    """Return the charset label the server's Content-Type declares, None if none."""
    http = _CHARSET_PARAM.search(header_value(headers, "content-type"))
    return http.group(1) if http else None


def declared_encodings(body: bytes, headers: Mapping[str, str]) -> list[str]:
    """Return the encodings the document and the server declare, XML declaration first."""
    found: list[str] = []
    match = _XML_ENCODING.match(body[:1024].lstrip(b"\xef\xbb\xbf"))
    for label in (match.group(1).decode("ascii") if match else None, declared_charset(headers)):
        name = codec_name(label)
        if name and name not in found:
            found.append(name)
    return found


def decode_feed_bytes(body: bytes, headers: Mapping[str, str]) -> Decoded:
    """Return the feed's text, decoded by the rules in this module's docstring."""
    declared = declared_encodings(body, headers)
    first = declared[0] if declared else None
    unicode = _decode_unicode(body)
    if unicode is not None:
        return Decoded(text=unicode[0], encoding=unicode[1], source="bom", declared=first)
    if body.isascii():
        return Decoded(text=body.decode("ascii"), encoding="utf_8", source="ascii", declared=first)
    escaped = body.decode("utf-8", errors="surrogateescape")
    bad = len(_ESCAPED_BYTE.findall(escaped))
    if not bad:
        return Decoded(text=escaped, encoding="utf_8", source="utf-8", declared=first)
    # Legacy text is sometimes valid UTF-8 by chance (GB2312 pairs often are), but then
    # far less of it than the bytes that are not; stray bytes in UTF-8 are the opposite.
    good = len(_NON_ASCII.findall(escaped))
    if good >= 10 and good >= bad:
        return _decode_mixed(escaped, first)
    return _decode_legacy(body, declared)


def _decode_unicode(body: bytes) -> tuple[str, str] | None:
    """Return (text, codec) for a body with a BOM or a UTF-16/32 '<', else None."""
    boms = (
        (codecs.BOM_UTF32_LE, "utf_32_le"),
        (codecs.BOM_UTF32_BE, "utf_32_be"),
        (codecs.BOM_UTF8, "utf_8"),
        (codecs.BOM_UTF16_LE, "utf_16_le"),
        (codecs.BOM_UTF16_BE, "utf_16_be"),
    )
    for bom, name in boms:
        if body.startswith(bom):
            return body[len(bom) :].decode(name, errors="replace"), name
    head = body[:4]
    sniffed = {b"<\x00?\x00": "utf_16_le", b"\x00<\x00?": "utf_16_be"}
    sniffed |= {b"<\x00\x00\x00": "utf_32_le", b"\x00\x00\x00<": "utf_32_be"}
    name = sniffed.get(head)
    return (body.decode(name, errors="replace"), name) if name else None


def _decode_mixed(escaped: str, declared: str | None) -> Decoded:
    """Return UTF-8 text whose stray non-UTF-8 runs are decoded by a single-byte guess."""
    runs = [m.group().encode("utf-8", "surrogateescape") for m in _ESCAPED.finditer(escaped)]
    sample = b" ".join(runs)
    single = [e for e in LEGACY_ENCODINGS if codecs.lookup(e).name not in _MULTIBYTE]
    best = charset_normalizer.from_bytes(sample, cp_isolation=single).best()
    fallback = codec_name(best.encoding) if best and len(sample) >= 8 else "cp1252"
    fallback = fallback or "cp1252"

    def repair(match: re.Match[str]) -> str:
        return match.group().encode("utf-8", "surrogateescape").decode(fallback, errors="replace")

    text = _ESCAPED.sub(repair, escaped)
    return Decoded(text=text, encoding="utf_8", source="mixed", declared=declared)


_MULTIBYTE = frozenset({"gb18030", "big5", "shift_jis", "euc_jp", "euc_kr", "cp932", "cp949"})


def _decode_legacy(body: bytes, declared: list[str]) -> Decoded:
    """Return text in the declared legacy encoding, or the detected one when clearly better."""
    first = declared[0] if declared else None
    candidates = [d for d in declared if d not in ("utf_8",)]
    choice, source = _choose_legacy(_sample(body), candidates)
    text = body.decode(choice, errors="replace")
    replaced = text.count("\ufffd") - body.decode(choice, errors="ignore").count("\ufffd")
    return Decoded(text=text, encoding=choice, source=source, declared=first, replaced=replaced)


def _choose_legacy(sample: bytes, declared: list[str]) -> tuple[str, str]:
    """Return (codec, source) for non-UTF-8 bytes: a trustworthy declaration, else detection."""
    isolation = list(dict.fromkeys([*declared, *LEGACY_ENCODINGS]))
    results = {
        codec_name(m.encoding): m
        for m in charset_normalizer.from_bytes(sample, cp_isolation=isolation)
    }
    best = min(results.values(), key=lambda m: (m.chaos, -m.coherence), default=None)
    for name in declared:
        match = results.get(name)
        if match is None or best is None or match.chaos > best.chaos + CHAOS_MARGIN:
            continue
        if name not in GENERIC_LABELS or match is best:
            return name, "declared"
    if best is None:
        return (declared[0] if declared else "cp1252"), "fallback"
    return _iso_or_windows(codec_name(best.encoding) or "cp1252", sample), "detected"


def _iso_or_windows(name: str, sample: bytes) -> str:
    """Return ISO-8859-2 or windows-1250 by the bytes only one of them uses."""
    if name == "cp1250" and not _C1.search(sample) and _ISO_8859_2_ONLY.search(sample):
        return "iso8859_2"
    if name == "iso8859_2" and _C1.search(sample):
        return "cp1250"
    return name


def _sample(body: bytes) -> bytes:
    """Return at most SAMPLE_BYTES, cut before a '<' so no multibyte character is split."""
    if len(body) <= SAMPLE_BYTES:
        return body
    cut = body.rfind(b"<", 0, SAMPLE_BYTES)
    return body[: cut if cut > 0 else SAMPLE_BYTES]


def header_value(headers: Mapping[str, str], name: str) -> str:
    """Return a header value by case-insensitive name ('' if absent)."""
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return ""
