"""Secrets kept out of everything that leaves the process: one registry, one `redact`.

Whoever holds a secret registers it once (`register`, `register_url`,
`register_database_url`; the settings objects do it when they are built), and `redact`
then removes from any text:

- every registered secret, its percent-encoded form and the base64 of any text that
  contains it (an SMTP server quoting the `AUTH PLAIN` or `AUTH LOGIN` string back), at
  any alignment;
- for a URL that is a secret (a Slack webhook), its path and each path segment that looks
  like a token (8 or more characters, not a lowercase word: Slack answers may quote only
  the token);
- what looks like a credential even when nobody registered it: the password of a URL's
  `user:password@`, a `password=` in a connection string, the values of Authorization,
  Cookie and API-key headers, the argument of an SMTP `AUTH` command.

It is applied where text leaves: every `errors.ShiftwatchError` message, every log record
(`install_log_redaction`, Prefect's included; registering installs it), the errors stored
with alerts and deliveries, and the command line's `error:` line. The registry is
process-wide, like logging: a secret registered by one run is still masked after it ends,
which errs on the safe side. So does masking by value: a weak password that is also a word
("postgres") is masked wherever that word appears.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, unquote, urlsplit

MASK = "***"
MIN_SECRET_CHARS = 4  # shorter "secrets" would mask ordinary words; they protect nothing
MIN_SEGMENT_CHARS = 8  # a webhook path segment this long (and not a word) is a token
MIN_BASE64_CHARS = 8  # base64 cores shorter than this match by chance

_URL_PASSWORD = re.compile(r"(://[^:/@\s'\"]*:)[^/\s]*@")  # in free text; greedy: '@' in it
_DB_URL_PASSWORD = re.compile(r"(://[^:/@]*:)[^/]*@")  # in a URL alone: spaces too
_KEYWORD_PASSWORD = re.compile(
    r"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&'\"}]+)"
)
_HEADER = re.compile(
    r"(?i)\b(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key|"
    r"x-auth-token|x-slack-signature)(['\"]?\s*[:=]\s*['\"]?)([^'\"\r\n,}]+)"
)
_SMTP_AUTH = re.compile(r"(?i)\b(AUTH\s+(?:PLAIN|LOGIN|XOAUTH2|CRAM-MD5|OAUTHBEARER))\s+\S+")
_SLACK_HOOK = re.compile(r"(?i)(hooks\.slack\.com/)(services|workflows|triggers)/[^\s'\"<>]+")
_BASE64_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{12,}={0,2}")

_lock = threading.Lock()
_secrets: set[str] = set()  # the exact strings to mask (secrets and their encodings)
_raw: set[bytes] = set()  # the secrets themselves, looked for inside decoded base64
_pattern: re.Pattern[str] | None = None


def register(*secrets: object) -> None:
    """Mask these secrets (str, pydantic `SecretStr`, or None: ignored) from now on, in
    this process's log records too."""
    install_log_redaction()
    forms: set[str] = set()
    raw: set[bytes] = set()
    for secret in secrets:
        value = _plain(secret)
        if value is None or len(value) < MIN_SECRET_CHARS:
            continue
        raw.add(value.encode("utf-8"))
        forms |= {value, quote(value, safe=""), quote(value)}
        forms |= _base64_cores(value.encode("utf-8"))
    _add(forms, raw)


def register_url(url: object) -> None:
    """Mask a URL that is itself a secret (a webhook): the URL, its path, its long segments."""
    value = _plain(url)
    if not value:
        install_log_redaction()
        return
    path = urlsplit(value).path
    segments = [s for s in path.split("/") if _is_token(s)]
    whole = path if len(path) >= MIN_SEGMENT_CHARS else None
    register(value, whole, *segments, *map(unquote, segments))


def register_database_url(url: object) -> None:
    """Mask the password of a database URL (as typed and percent-decoded)."""
    value = _plain(url)
    match = _DB_URL_PASSWORD.search(value or "")
    if match is None:
        install_log_redaction()
        return
    password = match.group(0)[len(match.group(1)) : -1]
    register(password, unquote(password))


def redact(text: str) -> str:
    """Return `text` with every registered secret and every credential-looking value masked."""
    if not text:
        return text
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    text = _URL_PASSWORD.sub(rf"\1{MASK}@", text)
    text = _KEYWORD_PASSWORD.sub(rf"\1\2{MASK}", text)
    text = _HEADER.sub(rf"\1\2{MASK}", text)
    text = _SMTP_AUTH.sub(rf"\1 {MASK}", text)
    text = _SLACK_HOOK.sub(rf"\1\2/{MASK}", text)
    if _raw:
        text = _BASE64_TOKEN.sub(_mask_encoded, text)
    return text


def mask_url(url: str) -> str:
    """Return `url` with its password replaced by ***, even when it does not parse."""
    return _DB_URL_PASSWORD.sub(rf"\1{MASK}@", url)


def install_log_redaction() -> None:
    """Redact every log record of this process as it is made (message and traceback)."""
    with _lock:
        factory = logging.getLogRecordFactory()
        if getattr(factory, "redacts", False):
            return

        def redacting_factory(*args: object, **kwargs: object) -> logging.LogRecord:
            record = factory(*args, **kwargs)
            redact_record(record)
            return record

        redacting_factory.redacts = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(redacting_factory)


def redact_record(record: logging.LogRecord) -> None:
    """Redact a log record in place; a traceback that needed it is kept only as text."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: logging reports it later, as usual
        return
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[0] is not None:
        trace = logging.Formatter().formatException(record.exc_info)
        clean = redact(trace)
        if clean != trace:  # formatters print exc_text; the exception object is dropped
            record.exc_info, record.exc_text = None, clean


def _is_token(segment: str) -> bool:
    """Return True for a path segment that looks like a credential ("T0AB12CD", a 24-character
    token), not a word of the route ("services", "workflows")."""
    return len(segment) >= MIN_SEGMENT_CHARS and not re.fullmatch(r"[a-z_-]+", segment)


def _plain(secret: object) -> str | None:
    if secret is None:
        return None
    getter = getattr(secret, "get_secret_value", None)
    value = getter() if callable(getter) else secret
    return value if isinstance(value, str) else None


def _add(forms: Iterable[str], raw: Iterable[bytes]) -> None:
    global _pattern
    with _lock:
        before = len(_secrets)
        _secrets.update(f for f in forms if len(f) >= MIN_SECRET_CHARS)
        _raw.update(raw)
        if len(_secrets) != before:
            ordered = sorted(_secrets, key=len, reverse=True)  # longest first: no partial masks
            _pattern = re.compile("|".join(map(re.escape, ordered)))


def _base64_cores(secret: bytes) -> set[str]:
    """Return, per alignment, the base64 characters that any text holding `secret` encodes to.

    Character i of base64 carries bits [6i, 6i+6); with `pad` bytes before the secret, the
    characters fully inside the secret's bits run from ceil(8*pad/6) to floor(8*(pad+n)/6).
    """
    cores: set[str] = set()
    for pad in range(3):
        start, end = -(-8 * pad // 6), 8 * (pad + len(secret)) // 6
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            core = encode(b"\0" * pad + secret).decode("ascii")[start:end]
            if len(core) >= MIN_BASE64_CHARS:
                cores.add(core)
    return cores


def _mask_encoded(match: re.Match[str]) -> str:
    """Mask a base64-looking token whose decoded bytes hold a registered secret."""
    token = match.group(0)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            decoded = decode(token.rstrip("=") + "=" * (-len(token.rstrip("=")) % 4))
        except (binascii.Error, ValueError):
            continue
        if any(secret in decoded for secret in _raw):
            return MASK
    return token
