"""The run context: what one run needs, resolved once, then passed down frozen.

`build_context` loads the settings once (command-line overrides over `SHIFTWATCH_*`), fills
the secrets the environment left unset from Prefect Secret blocks (the one Prefect import
outside `flows/`), loads the watchlist, opens (and migrates) the database and works out which
alert channels are configured. Flows build it first and hand it to every step; nothing below
reads the environment or loads settings again, so a secret held only in a block reaches the
outbox (queued `pending`) and the channels (sent) alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from shiftwatch.connectors.channels import registry
from shiftwatch.models.db import Engine, open_database
from shiftwatch.records import AlertRouting
from shiftwatch.settings import Settings, load_settings
from shiftwatch.watchlist import Watchlist, load_watchlist

SECRET_BLOCKS = {  # Prefect Secret blocks read when the environment leaves a secret unset
    "slack_webhook_url": "shiftwatch-slack-webhook-url",
    "smtp_password": "shiftwatch-smtp-password",
}


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """Settings (secrets resolved), the database engine, the watchlist and the channels."""

    settings: Settings
    engine: Engine
    watchlist: Watchlist
    channels: tuple[str, ...]  # the configured alert channels, in registry order

    @property
    def routing(self) -> AlertRouting:
        """Return which channels exist and which are configured (what the outbox records)."""
        return AlertRouting(known=registry.CHANNELS, configured=self.channels)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()


def build_context(
    *,
    database_url: str | SecretStr | None = None,
    watchlist: str | Path | None = None,
    feeds_file: str | Path | None = None,
    secret_blocks: bool = True,
) -> RunContext:
    """Resolve everything a run needs, once; `secret_blocks=False` skips the Prefect lookup.

    `database_url` may come wrapped (`settings.DatabaseUrl`) so that Prefect stores it masked."""
    if isinstance(database_url, SecretStr):
        database_url = database_url.get_secret_value()
    settings = load_settings(database_url=database_url, watchlist=watchlist, feeds_file=feeds_file)
    if secret_blocks:
        settings = with_secret_blocks(settings)
    return context_for(settings)


def context_for(settings: Settings, engine: Engine | None = None) -> RunContext:
    """Return the context of already resolved settings (and an open engine, if there is one)."""
    return RunContext(
        settings=settings,
        watchlist=load_watchlist(settings.watchlist),
        channels=registry.configured(settings),
        engine=engine if engine is not None else open_database(settings.database_url),
    )


def with_secret_blocks(settings: Settings) -> Settings:
    """Return settings with secrets the environment left unset read from Prefect Secret
    blocks (`shiftwatch-slack-webhook-url`, `shiftwatch-smtp-password`), when they exist."""
    from prefect.blocks.system import Secret

    found: dict[str, SecretStr] = {}
    for name, block in SECRET_BLOCKS.items():
        if getattr(settings, name) is not None:
            continue
        if name == "smtp_password" and not (settings.smtp_host and settings.smtp_user):
            continue
        try:
            found[name] = SecretStr(str(Secret.load(block).get()))
        except ValueError:  # no such block
            continue
    return settings.model_copy(update=found) if found else settings
