"""A flow run inside the command line: its temporary Prefect server dies with it, and an
expected failure reaches the console as the command's one `error:` line, not a traceback.

With no PREFECT_API_URL, Prefect starts a temporary API server (uvicorn, ~200 MB) as a child
process the first time a client needs one, and stops it at exit (`atexit`). A `kill -9` of
the command skips that, and the server used to live on, reparented to init.
`tie_temporary_server` starts it first, from the main thread, with Linux's parent-death
signal set in the child (`prctl(PR_SET_PDEATHSIG, SIGKILL)` between fork and exec): the
kernel kills the server when this process dies, however it dies. The signal follows the
thread that forked, hence the main thread, which lives as long as the process; a normal exit
still stops the server gently first, through Prefect's own `atexit` hook. Runs sharing a
PREFECT_HOME start their servers one at a time (a file lock held until the server answers),
since each migrates Prefect's database as it starts.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from shiftwatch.errors import ShiftwatchError

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def prepare_local_run() -> None:
    """Tie the temporary Prefect server to this process and keep expected failures' tracebacks
    off the console (call it in the main thread, before running a flow)."""
    tie_temporary_server()
    quiet_expected_failures()


def tie_temporary_server() -> str | None:
    """Start Prefect's temporary server now, dying with this process; return its API URL.

    Returns None (and starts nothing) when PREFECT_API_URL names a server, off Linux, or off
    the main thread; Prefect then starts its server itself, as before, when it needs one.
    """
    from prefect.settings import PREFECT_API_URL

    prctl = _prctl()
    if PREFECT_API_URL.value() or prctl is None:
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    from prefect.server.api import server as module

    temporary = module.SubprocessASGIServer()  # the one instance Prefect's clients use
    if not temporary.running:
        with (
            _one_start_at_a_time(),
            _children_die_with_us(module, die_with_parent(prctl, os.getpid())),
        ):
            temporary.start()
    return temporary.api_url


@contextmanager
def _one_start_at_a_time() -> Iterator[None]:
    """Hold PREFECT_HOME's start lock while a temporary server starts (until it answers):
    each server migrates Prefect's database as it starts, and two first runs at once both
    tried to (issue 19: "duplicate column name" tracebacks, "Application startup failed")."""
    import fcntl

    from prefect.settings import PREFECT_HOME

    home = Path(PREFECT_HOME.value()).expanduser()
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "shiftwatch-server-start.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        yield


def die_with_parent(prctl: Callable[..., int], parent: int) -> Callable[[], None]:
    """Return a `preexec_fn` that has the child killed when `parent` dies (or already has)."""

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


@contextmanager
def _children_die_with_us(module: ModuleType, preexec: Callable[[], None]) -> Iterator[None]:
    """While inside, `module`'s processes start with `preexec` (the server module names
    `subprocess` once, as a module global; nothing else is touched)."""
    real = module.subprocess

    def popen(*args: Any, **kwargs: Any) -> subprocess.Popen[Any]:
        return real.Popen(*args, preexec_fn=preexec, **kwargs)

    module.subprocess = SimpleNamespace(**{**vars(real), "Popen": popen})  # type: ignore[attr-defined]
    try:
        yield
    finally:
        module.subprocess = real  # type: ignore[attr-defined]


def _prctl() -> Callable[..., int] | None:
    """Return libc's prctl, None where there is none (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    return libc.prctl


def quiet_expected_failures() -> None:
    """Drop records carrying an expected failure's traceback (a `ShiftwatchError`) from
    Prefect's console handler: the command prints it as one `error:` line; the API keeps it.
    """
    from prefect.logging.handlers import PrefectConsoleHandler

    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler) and not any(
            isinstance(f, _ExpectedFailures) for f in handler.filters
        ):
            handler.addFilter(_ExpectedFailures())


class _ExpectedFailures(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ShiftwatchError)
