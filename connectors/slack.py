"""Slack incoming webhook: post a Block Kit body, politely, keeping the webhook URL secret.

- Pace: at most one message per `min_interval_s` (Slack allows about one a second per hook).
- 429: wait `Retry-After` (at most `max_wait_s`, a few times), then give up as transient.
- 5xx, 408, timeouts, connection errors: `TransientDeliveryError` (the outbox retries later).
- Any other non-2xx: `PermanentDeliveryError` with Slack's short reason (`invalid_payload`,
  `channel_not_found`, ...).

The webhook URL is a credential (whoever holds it can post): it never appears in a log line,
an exception message or a traceback from here. The client registers it with `redact` (so
httpx's own request log lines and every error are masked), errors are raised `from None`,
and of Slack's answer only its first line, redacted and capped, is kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

import httpx

from shiftwatch.connectors.http import parse_retry_after
from shiftwatch.errors import PermanentDeliveryError, TransientDeliveryError
from shiftwatch.redact import MASK, install_log_redaction, redact, register_url
from shiftwatch.settings import SlackSettings

MAX_WAIT_S = 30.0  # longest Retry-After we sit out inside one send; longer: retry later
MAX_RATE_LIMITED = 2  # 429s sat out per message before handing back to the outbox
REASON_CHARS = 200  # of Slack's error body kept in the error message


class SlackWebhook:
    """A client for one incoming webhook; use as a context manager, or call `close()`."""

    def __init__(
        self,
        settings: SlackSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        max_wait_s: float = MAX_WAIT_S,
    ) -> None:
        self._url = settings.webhook_url.get_secret_value()
        self._min_interval_s = settings.min_interval_s
        self._max_wait_s = max_wait_s
        self._sleep, self._clock = sleep, clock
        self._last_post: float | None = None
        self._client = httpx.Client(
            transport=transport,
            timeout=settings.timeout_s,
            follow_redirects=False,
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "shiftwatch/0.1",
            },
        )
        register_url(self._url)
        install_log_redaction()

    def __repr__(self) -> str:
        return f"SlackWebhook({MASK})"

    def __enter__(self) -> SlackWebhook:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def post(self, body: bytes) -> str:
        """Post one JSON body; return Slack's answer once it accepted the message."""
        wait = 0.0
        for _ in range(MAX_RATE_LIMITED + 1):
            self._pace()
            response = self._send(body)
            if response.status_code != 429:
                return self._outcome(response)
            wait = retry_after_s(response.headers.get("Retry-After"))
            if wait > self._max_wait_s:
                raise TransientDeliveryError(
                    f"Slack rate-limited the webhook for {wait:.0f}s", retry_after=wait
                )
            self._sleep(wait)
        raise TransientDeliveryError("Slack kept rate-limiting the webhook", retry_after=wait)

    def _pace(self) -> None:
        """Sleep so that posts start at least `min_interval_s` apart."""
        if self._last_post is not None:
            wait = self._min_interval_s - (self._clock() - self._last_post)
            if wait > 0:
                self._sleep(wait)
        self._last_post = self._clock()

    def _send(self, body: bytes) -> httpx.Response:
        try:
            return self._client.post(self._url, content=body)
        except httpx.TimeoutException:
            raise TransientDeliveryError("Slack webhook timed out") from None
        except httpx.TransportError as exc:
            reason = redact(str(exc)) or type(exc).__name__
            raise TransientDeliveryError(f"Slack webhook unreachable: {reason}") from None

    def _outcome(self, response: httpx.Response) -> str:
        """Return the accepted answer, or raise by status: 5xx/408 transient, else permanent."""
        reason = answer_reason(response.text) or response.reason_phrase
        if response.is_success:
            return f"{response.status_code} {reason}"
        message = f"Slack webhook answered {response.status_code}: {reason}"
        if response.status_code >= 500 or response.status_code == 408:
            raise TransientDeliveryError(message)
        raise PermanentDeliveryError(message)


def answer_reason(body: str) -> str:
    """Return the first line of a webhook's answer, redacted and at most `REASON_CHARS` long.

    Slack answers with a short reason (`invalid_payload`, `no_service`); a proxy in between
    may quote the request (its URL, its headers) back, so only the first line is kept.
    """
    lines = body.strip().splitlines()
    first = " ".join(lines[0].split()) if lines else ""
    return redact(first)[:REASON_CHARS]


def retry_after_s(value: str | None, default: float = 1.0) -> float:
    """Return the wait a Retry-After header asks for (seconds or an HTTP date), >= 0; the one
    parser is `connectors.http.parse_retry_after`, `default` when it finds nothing."""
    wait = parse_retry_after(value)
    return default if wait is None else wait
