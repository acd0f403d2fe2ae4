"""Canonical URLs: one spelling per article, so a link seen twice is known as one.

`canonicalize_url` is an identity key (document ids are derived from it), not a URL to fetch.

What it does, on top of w3lib's `canonicalize_url` (percent-encoding normalized to upper-case
escapes of UTF-8, unreserved characters decoded, dot segments resolved, query sorted, fragment
dropped, IDNA host):

- scheme and host lower-case; a trailing dot on the host dropped;
- default ports dropped (w3lib keeps `:80` and `:443`);
- tracking parameters removed by a deny-list (`utm_*`, `fbclid`, `gclid`, ...). Everything not
  on the list is kept: article ids (`id`, `p`, `article`, `story`, `page_id`, ...) identify the
  page. An allow-list would be shorter but drops ids of CMSs nobody listed, and a lost id merges
  two articles, which is worse than two spellings of one;
- trailing slash: removed from a non-root path (`/news/story/` -> `/news/story`), because feeds
  and share links disagree about it far more often than a site serves two articles at `/x` and
  `/x/`; the root path stays `/`;
- `file://` URLs keep their path (only encoding normalized, `localhost` host dropped);
  other schemes (`mailto:`, `urn:`) and strings without a scheme come back stripped, unchanged.

Library choice, measured on the same inputs (w3lib 2.5.0, url-normalize 3.1.0):
w3lib sorts the query and drops fragments but keeps default ports, 20 us a URL;
`url_normalize` keeps fragments, leaves the query order alone, merges `//` in paths
and decodes `%2F` in queries (changing the resource), 89 us a URL; with
`filter_params=True` it drops every parameter, article ids included. w3lib plus the port,
deny-list and slash rules here is the smaller and safer combination.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from w3lib.url import canonicalize_url as _w3lib_canonicalize

# Parameters that say how a reader arrived, never which article it is. Compared lower-case.
# Sources: Google Analytics/Ads, Meta, Microsoft, Yandex, Mailchimp, HubSpot, Marketo,
# AT Internet, Twitter/X, TikTok, LinkedIn, Instagram, and the Guardian/MSN share tags.
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "ysclid",
        "twclid", "ttclid", "li_fat_id", "igshid", "igsh", "mc_cid", "mc_eid", "_ga", "_gl",
        "_hsenc", "_hsmi", "__hssc", "__hstc", "__hsfp", "hsctatracking", "mkt_tok",
        "oly_anon_id", "oly_enc_id", "rb_clickid", "vero_id", "vero_conv", "wickedid",
        "_openstat", "ref", "ref_src", "ref_url", "referrer", "cmp", "cmpid", "ocid", "ncid",
        "xtor", "sr_share", "share", "s_cid", "soc_src", "soc_trk", "cndid", "icid", "ito",
        "__twitter_impression", "spm", "smid", "smtyp", "fb_action_ids", "fb_action_types",
        "fb_ref", "fb_source", "action_object_map", "action_type_map", "action_ref_map",
    }
)  # fmt: skip
# Whole families: `utm_source`, `utm_medium`, ...; AT Internet's `at_medium`, `at_campaign`, ...
TRACKING_PREFIXES: tuple[str, ...] = ("utm_", "at_", "pk_", "mtm_", "hmb_")

_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443}
_WEB_SCHEMES = frozenset({"http", "https", "ftp", "ws", "wss"})


def canonicalize_url(url: str, *, extra_tracking: Collection[str] = ()) -> str:
    """Return the one spelling of `url` that every link to the same article shares."""
    url = url.strip()
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "file":
        return _canonical_file_url(url)
    if scheme not in _WEB_SCHEMES or "//" not in url:
        return url
    try:
        canonical = _w3lib_canonicalize(url)
    except ValueError:  # an unparseable host or port: keep it as given, it is still a key
        return url
    denied = {name.lower() for name in extra_tracking}
    parts = urlsplit(canonical)
    return urlunsplit(
        (
            parts.scheme,
            _netloc(parts.scheme, parts.netloc),
            _path(parts.path),
            _strip_tracking(parts.query, denied),
            "",
        )
    )


def is_tracking_param(name: str, extra: Collection[str] = ()) -> bool:
    """Return whether query parameter `name` only tracks the reader (so a URL can drop it)."""
    name = name.lower()
    return name in TRACKING_PARAMS or name in extra or name.startswith(TRACKING_PREFIXES)


def _strip_tracking(query: str, extra: Collection[str]) -> str:
    """Return `query` (already sorted and encoded by w3lib) without its tracking parameters."""
    if not query:
        return ""
    kept = [
        pair
        for pair in query.split("&")
        if pair and not is_tracking_param(unquote_plus(pair.split("=", 1)[0]), extra)
    ]
    return "&".join(kept)


def _netloc(scheme: str, netloc: str) -> str:
    """Return `netloc` lower-case, without a trailing host dot or the scheme's default port."""
    userinfo, _, hostport = netloc.rpartition("@")
    host, port = _split_port(hostport.lower())
    host = host.rstrip(".")
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    return f"{userinfo}@{host}" if userinfo else host


def _split_port(hostport: str) -> tuple[str, int | None]:
    """Return (host, port) from `host[:port]`, IPv6 brackets kept intact."""
    head, sep, tail = hostport.rpartition(":")
    if not sep or "]" in tail or not tail.isdigit():
        return (hostport[:-1] if hostport.endswith(":") else hostport), None
    return head, int(tail)


def _path(path: str) -> str:
    """Return `path` with the trailing-slash policy applied: `/` for the root, none elsewhere."""
    if not path or path == "/":
        return "/"
    return path.rstrip("/") or "/"


def _canonical_file_url(url: str) -> str:
    """Return a `file://` URL with its scheme lower-case, path encoding normalized, no fragment."""
    canonical = _w3lib_canonicalize("file" + url[4:])
    parts = urlsplit(canonical)
    host = "" if parts.netloc.lower() == "localhost" else parts.netloc
    return urlunsplit(("file", host, parts.path, parts.query, "")) or canonical
