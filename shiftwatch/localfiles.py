"""Reading local files that strangers may have placed: regular files only, inside their folder.

Every local read (documents, a folder's manifest.yaml, watchlists) goes through
`read_regular_file`: the path is checked with `lstat` before anything is opened; a symbolic
link is refused unless the caller allows links, and then only one that resolves inside
`root`; FIFOs, sockets, devices and directories are refused (opening a FIFO would hang the
run, `/dev/zero` never ends); files of the kernel's pseudo-filesystems (/proc, /sys, /dev)
are refused; the size is capped before reading and again while reading, and the file opened
is checked to be the one that was inspected.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PSEUDO_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class FileRefused(Exception):
    """A local file that is not read, and why. `reason` is a RejectReason value."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def kind_of(mode: int) -> str:
    """Return what a non-regular file is, in words."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def is_pseudo(path: Path) -> bool:
    """Return whether `path` (resolved) lies in a kernel pseudo-filesystem."""
    return any(path == root or path.is_relative_to(root) for root in PSEUDO_ROOTS)


def check_path(path: Path, *, root: Path | None = None, follow_links: bool = False) -> Path:
    """Return the resolved path of a regular file that may be read, or raise FileRefused."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise FileRefused("unreadable", exc.strerror or str(exc)) from None
    target = path
    if stat.S_ISLNK(info.st_mode):
        if not follow_links:
            raise FileRefused("unsafe", "symbolic link, not followed")
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise FileRefused("unreadable", "dangling or looping symbolic link") from None
        if root is not None and not target.is_relative_to(root):
            raise FileRefused("unsafe", "symbolic link leads outside the folder")
        info = os.stat(target)
    else:
        target = path.resolve()
    if is_pseudo(target):
        raise FileRefused("unsafe", f"system pseudo-file ({target.parts[1]})")
    if not stat.S_ISREG(info.st_mode):
        raise FileRefused("unsafe", f"not a regular file: {kind_of(info.st_mode)}")
    return target


def read_regular_file(
    path: str | os.PathLike[str],
    *,
    max_bytes: int,
    root: Path | None = None,
    follow_links: bool = False,
) -> bytes:
    """Return the bytes of a regular file of at most `max_bytes`, or raise FileRefused."""
    target = check_path(Path(path), root=root, follow_links=follow_links)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(target, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise FileRefused("unreadable", exc.strerror or str(exc)) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # swapped between the check and the open
            raise FileRefused("unsafe", f"not a regular file: {kind_of(info.st_mode)}")
        if info.st_size > max_bytes:
            raise FileRefused("oversized", f"{info.st_size} bytes > limit {max_bytes}")
        try:
            body = handle.read(max_bytes + 1)
        except OSError as exc:
            raise FileRefused("unreadable", exc.strerror or str(exc)) from None
    if len(body) > max_bytes:
        raise FileRefused("oversized", f"more than {max_bytes} bytes (grew while read)")
    return body
