"""Settings: one object, read once from command-line overrides, `SHIFTWATCH_*` variables and
an optional config file.

Precedence, highest first: command-line flags > environment variables > `.env` > the TOML
config file (`shiftwatch.toml`) > defaults. Both files are looked for in the working directory;
`--config FILE` (or `SHIFTWATCH_CONFIG`) names one instead (`.toml`: TOML, else a `.env`
file). The TOML file holds the settings' names in lower case (`database_url = "..."`); an
unknown name is an error, not silence.

Grouped views (`smtp()`, `slack()`, `http()`) are handed down to the code that needs them, so
no module reads the environment on its own. Secrets are `SecretStr`: they print as
'**********', and every settings object registers its secrets with `redact` when it is made,
so no error or log line can show them.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from shiftwatch.errors import ConfigError
from shiftwatch.redact import mask_url, register, register_database_url, register_url

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WATCHLIST = PROJECT_ROOT / "watchlists" / "russia-nato-2022.yaml"
DEFAULT_SEEDS = PROJECT_ROOT / "data" / "seeds"
CONFIG_ENV = "SHIFTWATCH_CONFIG"  # set by `--config FILE`; runs started from here inherit it
CONFIG_TOML = Path("shiftwatch.toml")
CONFIG_DOTENV = Path(".env")


class DatabaseUrl(SecretStr):
    """A database URL handed to a flow: Prefect stores a flow run's parameters, and this one
    is stored (and shown) with its password masked, while the run gets the whole URL."""

    def _display(self) -> str:
        return mask_url(self.get_secret_value())


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

    def __post_init__(self) -> None:
        register(self.password)


@dataclass(frozen=True, kw_only=True)
class SlackSettings:
    webhook_url: SecretStr
    min_interval_s: float
    timeout_s: float

    def __post_init__(self) -> None:
        register_url(self.webhook_url)


@dataclass(frozen=True, kw_only=True)
class HttpSettings:
    timeout_s: float
    max_body_bytes: int
    allow_private_addresses: bool
    per_host_concurrency: int
    global_concurrency: int
    deadline_s: float
    max_decoded_bytes: int
    run_max_bytes: int
    slow_host_strikes: int


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHIFTWATCH_", extra="ignore")

    database_url: str = "sqlite:///data/shiftwatch.db"
    watchlist: Path = DEFAULT_WATCHLIST
    feeds_file: Path | None = None
    max_document_bytes: int = Field(default=5_000_000, gt=0)  # a local file
    max_entry_chars: int = Field(default=2_000_000, gt=0)  # a feed entry's content (HTML)
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
    http_timeout_s: float = Field(default=20.0, gt=0)  # connect, and each read
    http_max_body_bytes: int = Field(default=10_000_000, gt=0)  # one response, on the wire
    http_max_decoded_bytes: int = Field(default=20_000_000, gt=0)  # one response, unzipped
    allow_private_addresses: bool = False
    allowed_networks: str = ""  # comma-separated CIDRs reachable even though private
    per_host_concurrency: int = Field(default=2, ge=1, le=16)  # per scheme, host and port
    global_concurrency: int = Field(default=32, ge=1)  # requests in flight, all hosts
    # Whole request once it holds a connection slot: connect, headers, redirects, body.
    # A server trickling a byte a second is cut here; queueing for a slot does not count.
    feed_deadline_s: float = Field(default=30.0, gt=0)
    # After this many requests to one origin were cut at the deadline, its other requests
    # in the run fail at once (the next run asks again).
    slow_host_strikes: int = Field(default=2, ge=1)
    # Decoded body bytes (feeds and article pages) one run may keep; past it the remaining
    # fetches are recorded as rejected ('oversized', budget spent) and polled next run.
    run_max_fetch_bytes: int = Field(default=256_000_000, gt=0)

    digest_timezone: str = "UTC"

    def model_post_init(self, context: object, /) -> None:
        """Register the secrets (SMTP password, webhook URL, database password) for redaction."""
        register(self.smtp_password)
        register_url(self.slack_webhook_url)
        register_database_url(self.database_url)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags, then the environment, then `.env`, then the TOML file, then defaults."""
        toml, dotenv = config_files()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if dotenv is not None:
            sources.append(DotEnvSettingsSource(settings_cls, env_file=dotenv))
        if toml is not None:
            sources.append(InitSettingsSource(settings_cls, init_kwargs=read_toml(toml)))
        return tuple(sources)

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
            deadline_s=self.feed_deadline_s,
            max_decoded_bytes=self.http_max_decoded_bytes,
            run_max_bytes=self.run_max_fetch_bytes,
            slow_host_strikes=self.slow_host_strikes,
        )

    def allowed_network_list(self) -> tuple[str, ...]:
        """Return the CIDRs that may be fetched although private (tests: 127.0.0.0/8)."""
        return tuple(n.strip() for n in self.allowed_networks.split(",") if n.strip())

    def feed_list_path(self) -> Path:
        """Return the feed list file: the configured one, else data/feeds.yaml."""
        return self.feeds_file or self.feeds_file_default


def config_files() -> tuple[Path | None, Path | None]:
    """Return the (TOML, .env) files to read: the one `SHIFTWATCH_CONFIG` names, else those
    in the working directory."""
    named = os.environ.get(CONFIG_ENV, "").strip()
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path} (--config / {CONFIG_ENV})")
        return (path, None) if path.suffix == ".toml" else (None, path)
    return (
        CONFIG_TOML if CONFIG_TOML.is_file() else None,
        CONFIG_DOTENV if CONFIG_DOTENV.is_file() else None,
    )


def read_toml(path: Path) -> dict[str, object]:
    """Return the settings a TOML config file holds; unknown names are a ConfigError."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    unknown = sorted(set(data) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown settings {unknown} (names as in SHIFTWATCH_<NAME>, "
            "in lower case, e.g. database_url)"
        )
    return data


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
