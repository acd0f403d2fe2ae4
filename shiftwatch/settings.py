"""Settings: one object, read once from `SHIFTWATCH_*` variables and command-line overrides.

Grouped views (`smtp()`, `slack()`, `http()`) are handed down to the code that needs them, so
no module reads the environment on its own. Secrets are `SecretStr`: they print as '**********'.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shiftwatch.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WATCHLIST = PROJECT_ROOT / "watchlists" / "russia-nato-2022.yaml"
DEFAULT_SEEDS = PROJECT_ROOT / "data" / "seeds"


@dataclass(frozen=True, kw_only=True)
class SmtpSettings:
    host: str
    port: int
    security: str
    user: str | None
    password: SecretStr | None
    sender: str
    recipients: tuple[str, ...]
    timeout_s: float


@dataclass(frozen=True, kw_only=True)
class SlackSettings:
    webhook_url: SecretStr
    min_interval_s: float
    timeout_s: float


@dataclass(frozen=True, kw_only=True)
class HttpSettings:
    timeout_s: float
    max_body_bytes: int
    allow_private_addresses: bool
    per_host_concurrency: int
    global_concurrency: int


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHIFTWATCH_", extra="ignore")

    database_url: str = "sqlite:///data/shiftwatch.db"
    watchlist: Path = DEFAULT_WATCHLIST
    feeds_file: Path | None = None
    max_document_bytes: int = Field(default=5_000_000, gt=0)
    # Worker processes analysing a run's documents (None: one per core this process may use;
    # 1: analyse in the run's own process).
    analysis_workers: int | None = Field(default=None, ge=1)
    outbox_dir: Path = Path("data/outbox")

    slack_webhook_url: SecretStr | None = None
    slack_min_interval_s: float = Field(default=1.0, ge=0)
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, gt=0, lt=65536)
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    email_from: str | None = None
    email_to: str | None = None  # comma-separated
    delivery_max_attempts: int = Field(default=5, ge=1)

    contact: str = "shiftwatch-operator@example.org"  # sent in the User-Agent: set yours
    feeds_file_default: Path = Path("data/feeds.yaml")
    http_timeout_s: float = Field(default=20.0, gt=0)
    http_max_body_bytes: int = Field(default=10_000_000, gt=0)
    allow_private_addresses: bool = False
    allowed_networks: str = ""  # comma-separated CIDRs reachable even though private
    per_host_concurrency: int = Field(default=2, ge=1)
    global_concurrency: int = Field(default=32, ge=1)

    digest_timezone: str = "UTC"

    @field_validator("slack_webhook_url", "smtp_password", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    def smtp(self) -> SmtpSettings | None:
        """Return SMTP settings, None when email is not configured."""
        if not self.smtp_host:
            return None
        recipients = tuple(a.strip() for a in (self.email_to or "").split(",") if a.strip())
        if not self.email_from or not recipients:
            raise ConfigError(
                "SHIFTWATCH_SMTP_HOST is set but SHIFTWATCH_EMAIL_FROM / SHIFTWATCH_EMAIL_TO "
                "are missing: set both to send email"
            )
        return SmtpSettings(
            host=self.smtp_host,
            port=self.smtp_port,
            security=self.smtp_security,
            user=self.smtp_user,
            password=self.smtp_password,
            sender=self.email_from,
            recipients=recipients,
            timeout_s=self.http_timeout_s,
        )

    def slack(self) -> SlackSettings | None:
        """Return Slack settings, None when no webhook is configured."""
        if self.slack_webhook_url is None:
            return None
        if not self.slack_webhook_url.get_secret_value().startswith(("https://", "http://")):
            raise ConfigError("SHIFTWATCH_SLACK_WEBHOOK_URL must be an http(s) URL")
        return SlackSettings(
            webhook_url=self.slack_webhook_url,
            min_interval_s=self.slack_min_interval_s,
            timeout_s=self.http_timeout_s,
        )

    def http(self) -> HttpSettings:
        """Return the fetcher's settings."""
        return HttpSettings(
            timeout_s=self.http_timeout_s,
            max_body_bytes=self.http_max_body_bytes,
            allow_private_addresses=self.allow_private_addresses,
            per_host_concurrency=self.per_host_concurrency,
            global_concurrency=self.global_concurrency,
        )

    def allowed_network_list(self) -> tuple[str, ...]:
        """Return the CIDRs that may be fetched although private (tests: 127.0.0.0/8)."""
        return tuple(n.strip() for n in self.allowed_networks.split(",") if n.strip())

    def feed_list_path(self) -> Path:
        """Return the feed list file: the configured one, else data/feeds.yaml."""
        return self.feeds_file or self.feeds_file_default


def load_settings(**overrides: object) -> Settings:
    """Return validated settings; overrides (from the command line) win over the environment."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "SHIFTWATCH_" + str(first["loc"][0]).upper() if first["loc"] else "a setting"
        raise ConfigError(f"{name}: {first['msg']}") from None


def parse_since(value: str) -> datetime:
    """Return an aware datetime (UTC if no zone given) for an ISO date typed by a user."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"--since {value!r} is not an ISO date (e.g. 2022-01-10 or 2022-01-10T07:00)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
