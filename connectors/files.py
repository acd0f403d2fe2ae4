"""Local files: folders of .txt/.md/.html documents, with an optional manifest.yaml.

A folder's `manifest.yaml` maps file names to the same fields front matter carries
(title, url, published, source, language, kind); front matter in a file wins over it.
The connector reads bytes and never decides: decoding and extraction happen downstream.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import yaml

from shiftwatch.analysis.text.yaml_safe import load_yaml
from shiftwatch.errors import ConfigError
from shiftwatch.localfiles import FileRefused, check_path, is_pseudo, read_regular_file
from shiftwatch.records import RawItem, Rejected, RejectReason

TEXT_SUFFIXES = {
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
}
MANIFEST = "manifest.yaml"
MAX_MANIFEST_BYTES = 1_000_000  # a manifest lists file names and a few fields each
MAX_MANIFEST_NODES = 200_000


@dataclass(frozen=True, kw_only=True)
class FolderBatch:
    source_id: str
    items: list[RawItem]
    rejected: list[Rejected]


def folder_source_id(folder: Path) -> str:
    """Return the stable source id of a folder (its file:// URL)."""
    return folder.resolve().as_uri()


def read_folder(
    folder: str | Path, *, max_bytes: int, follow_links: bool | None = None
) -> FolderBatch:
    """Return every document file under `folder` as RawItems; the others as Rejected.

    The connector never leaves its folder: symbolic links are not followed unless
    `follow_links` (default: `SHIFTWATCH_FOLLOW_LINKS`) allows links that stay inside it;
    FIFOs, sockets, devices, dangling links and kernel pseudo-files are rejected with a reason.
    """
    items: list[RawItem] = []
    rejected: list[Rejected] = []
    source_id = folder_source_id(Path(folder))
    for chunk in iter_folder(folder, max_bytes=max_bytes, follow_links=follow_links):
        items.extend(chunk.items)
        rejected.extend(chunk.rejected)
    return FolderBatch(source_id=source_id, items=items, rejected=rejected)


def iter_folder(
    folder: str | Path,
    *,
    max_bytes: int,
    chunk_items: int = 1_000,
    follow_links: bool | None = None,
) -> Iterator[FolderBatch]:
    """Yield the folder's files as `read_folder` reads them, `chunk_items` files at a time (a
    big folder is never in memory whole). The folder is checked before the first chunk."""
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"seed folder not found or not a folder: {root}")
    real_root = root.resolve()
    if is_pseudo(real_root):
        raise ConfigError(f"refusing to read a system folder: {root}")
    if follow_links is None:
        follow_links = os.environ.get("SHIFTWATCH_FOLLOW_LINKS", "").lower() in _TRUE
    source_id = folder_source_id(root)
    manifest = _read_manifest(real_root)
    return _chunks(real_root, source_id, manifest, max_bytes, chunk_items, follow_links)


def _chunks(
    root: Path,
    source_id: str,
    manifest: dict[str, dict[str, object]],
    max_bytes: int,
    chunk_items: int,
    follow_links: bool,
) -> Iterator[FolderBatch]:
    items: list[RawItem] = []
    rejected: list[Rejected] = []
    for path in _document_files(root, follow_links):
        result = _read_file(
            path, source_id, max_bytes, manifest.get(path.name, {}), root, follow_links
        )
        (items if isinstance(result, RawItem) else rejected).append(result)
        if len(items) + len(rejected) >= chunk_items:
            yield FolderBatch(source_id=source_id, items=items, rejected=rejected)
            items, rejected = [], []
    if items or rejected:
        yield FolderBatch(source_id=source_id, items=items, rejected=rejected)


_TRUE = {"1", "true", "yes", "on"}


def _document_files(root: Path, follow_links: bool) -> Iterable[Path]:
    """Return the folder's visible entries, depth first in name order, without descending
    into links (unless allowed and inside the folder) or into a directory twice."""
    seen = {root}
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        subfolders = []
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith(".") or entry.name == MANIFEST:
                continue
            if entry.is_dir(follow_symlinks=False):
                subfolders.append(path)
            elif entry.is_symlink() and follow_links and _inside_dir(path, root, seen):
                subfolders.append(path.resolve())
                seen.add(path.resolve())
            else:
                yield path  # files, links, FIFOs, sockets, devices: judged when read
        stack.extend(reversed(subfolders))


def _inside_dir(path: Path, root: Path, seen: set[Path]) -> bool:
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return False
    return target.is_dir() and target.is_relative_to(root) and target not in seen


def _read_manifest(root: Path) -> dict[str, dict[str, object]]:
    path = root / MANIFEST
    if not os.path.lexists(path):
        return {}
    try:
        raw = read_regular_file(path, max_bytes=MAX_MANIFEST_BYTES, root=root)
        data = load_yaml(raw.decode("utf-8"), max_nodes=MAX_MANIFEST_NODES, dates_as_text=True)
    except FileRefused as exc:
        raise ConfigError(f"{path} is not read: {exc.detail}") from None
    except (UnicodeDecodeError, yaml.YAMLError, ValueError, OverflowError) as exc:
        raise ConfigError(f"{path} is not readable YAML: {exc}") from None
    data = data or {}
    documents = data.get("documents", data) if isinstance(data, dict) else None
    if not isinstance(documents, dict):
        raise ConfigError(f"{path} must map file names to fields under 'documents:'")
    return {str(k): v for k, v in documents.items() if isinstance(v, dict)}


def _read_file(
    path: Path,
    source_id: str,
    max_bytes: int,
    meta: dict[str, object],
    root: Path,
    follow_links: bool,
) -> RawItem | Rejected:
    url = path.absolute().as_uri()
    content_type = TEXT_SUFFIXES.get(path.suffix.lower())
    try:
        check_path(path, root=root, follow_links=follow_links)  # before the type: a FIFO is
        if content_type is None:  # a FIFO whatever it is called
            return _reject(source_id, url, RejectReason.UNSUPPORTED, f"file type {path.suffix!r}")
        body = read_regular_file(path, max_bytes=max_bytes, root=root, follow_links=follow_links)
    except FileRefused as exc:
        return _reject(source_id, url, RejectReason(exc.reason), exc.detail)
    return RawItem(
        source_id=source_id,
        url=url,
        body=body,
        content_type=content_type,
        fetched_at=datetime.now(UTC),
        # Scalars only: str() of a list or mapping (a YAML alias bomb) can be gigabytes.
        meta={str(k): str(v) for k, v in meta.items() if isinstance(v, str | int | float | date)},
    )


def _reject(source_id: str, url: str, reason: RejectReason, detail: str) -> Rejected:
    return Rejected(source_id=source_id, item=url, stage="fetch", reason=reason, detail=detail)
