"""The `Channel` interface every way out implements, and what a registry entry says."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import httpx

from shiftwatch.settings import Settings
from shiftwatch.views import Message


class Channel(Protocol):
    """One way out: encodes a message to the exact bytes it sends, and sends them.

    `encode` is pure (the bytes written by `--no-deliver` are the bytes sent); `send` raises
    `TransientDeliveryError` (retry later) or `PermanentDeliveryError` (give up) and returns
    the server's short answer; `close` releases what the channel holds.
    """

    name: str
    suffix: str  # of the payload files `--no-deliver` writes

    def encode(self, message: Message, key: str) -> bytes: ...

    def send(self, body: bytes) -> str: ...

    def close(self) -> None: ...


@dataclass(frozen=True, kw_only=True)
class Transports:
    """What tests (and only tests) swap in: an httpx transport, a TLS context."""

    http: httpx.BaseTransport | None = None
    ssl_context: ssl.SSLContext | None = None


@dataclass(frozen=True, kw_only=True)
class ChannelKind:
    """A registry entry: a channel's name, whether settings configure it, how to open it.

    `open(settings, transports, write_only)`: with `write_only` the channel encodes but must
    not connect (its `send` raises `PermanentDeliveryError`).
    """

    name: str
    configured: Callable[[Settings], bool]
    open: Callable[[Settings, Transports, bool], Channel]
