"""The exceptions shiftwatch raises.

    ShiftwatchError
    ├── ConfigError                 a setting, watchlist or path the user must fix; never retried
    ├── StorageError                the database cannot be opened or migrated
    ├── ReviewError                 a review names no stored target, or an impossible verdict
    ├── SourceError                 a source could not be read as a whole
    │   ├── TransientSourceError    timeouts, 5xx, 429, connection resets: retry later
    │   └── PermanentSourceError    404/410, not a feed, refused by policy: do not retry
    └── DeliveryError               an alert channel refused a message
        ├── TransientDeliveryError  retry with backoff
        └── PermanentDeliveryError  give up, record the reason

Per-item problems are not exceptions: stages return `records.Rejected` with a reason.
Every message passes through `redact.redact` when the exception is made: a server's reply
quoted in one (an SMTP server echoing the login) never carries a secret further.
"""

from __future__ import annotations

from shiftwatch.redact import redact


class ShiftwatchError(Exception):
    """Base class: anything shiftwatch raises on purpose; its message is redacted."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))


class ConfigError(ShiftwatchError):
    """A setting, watchlist or path is wrong; the message says what to do."""


class StorageError(ShiftwatchError):
    """The database cannot be reached, opened or migrated."""


class ReviewError(ShiftwatchError):
    """A review names no stored (or several) observations or shifts, or a verdict that
    does not fit its target; the message says what to do."""


class SourceError(ShiftwatchError):
    """A whole source (folder, feed, page) could not be read."""

    def __init__(self, message: str, *, source: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.source = source
        self.status = status


class TransientSourceError(SourceError):
    """Worth retrying: the source may answer next time."""

    def __init__(
        self,
        message: str,
        *,
        source: str = "",
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, source=source, status=status)
        self.retry_after = retry_after


class PermanentSourceError(SourceError):
    """Not worth retrying soon: gone, forbidden, not a feed, unsafe."""


class DeliveryError(ShiftwatchError):
    """An alert channel did not accept a message."""


class TransientDeliveryError(DeliveryError):
    """Retry with backoff (5xx, 429, connection errors)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Give up and record why (4xx other than 429, bad credentials)."""
