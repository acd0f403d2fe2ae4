"""Local files: folders of .txt/.md/.html documents, with an optional manifest.yaml.

A folder's `manifest.yaml` maps file names to the same fields front matter carries
(title, url, published, source, language, kind); front matter in a file wins over it.
The connector reads bytes and never decides: decoding and extraction happen downstream.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import yaml

from shiftwatch.errors import ConfigError
from shiftwatch.records import RawItem, Rejected, RejectReason

TEXT_SUFFIXES = {
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
}
MANIFEST = "manifest.yaml"


@dataclass(frozen=True, kw_only=True)
class FolderBatch:
    source_id: str
    items: list[RawItem]
    rejected: list[Rejected]


def folder_source_id(folder: Path) -> str:
    """Return the stable source id of a folder (its file:// URL)."""
    return folder.resolve().as_uri()


def read_folder(folder: str | Path, *, max_bytes: int) -> FolderBatch:
    """Return every document file under `folder` as RawItems; unreadable ones as Rejected."""
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"seed folder not found or not a folder: {root}")
    source_id = folder_source_id(root)
    manifest = _read_manifest(root)
    items: list[RawItem] = []
    rejected: list[Rejected] = []
    for path in _document_files(root):
        result = _read_file(path, source_id, max_bytes, manifest.get(path.name, {}))
        (items if isinstance(result, RawItem) else rejected).append(result)
    return FolderBatch(source_id=source_id, items=items, rejected=rejected)


def _document_files(root: Path) -> Iterable[Path]:
    for path in sorted(root.rglob("*")):
        hidden = any(p.startswith(".") for p in path.relative_to(root).parts)
        if path.is_file() and not hidden and path.name != MANIFEST:
            yield path


def _read_manifest(root: Path) -> dict[str, dict[str, object]]:
    path = root / MANIFEST
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError, OverflowError) as exc:
        raise ConfigError(f"{path} is not readable YAML: {exc}") from None  # ValueError: year 0
    documents = data.get("documents", data) if isinstance(data, dict) else None
    if not isinstance(documents, dict):
        raise ConfigError(f"{path} must map file names to fields under 'documents:'")
    return {str(k): v for k, v in documents.items() if isinstance(v, dict)}


def _read_file(
    path: Path, source_id: str, max_bytes: int, meta: dict[str, object]
) -> RawItem | Rejected:
    url = path.resolve().as_uri()
    content_type = TEXT_SUFFIXES.get(path.suffix.lower())
    if content_type is None:
        return Rejected(
            source_id=source_id,
            item=url,
            stage="fetch",
            reason=RejectReason.UNSUPPORTED,
            detail=f"file type {path.suffix!r}",
        )
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return Rejected(
                source_id=source_id,
                item=url,
                stage="fetch",
                reason=RejectReason.OVERSIZED,
                detail=f"{size} bytes > limit {max_bytes}",
            )
        body = path.read_bytes()
    except OSError as exc:
        return Rejected(
            source_id=source_id,
            item=url,
            stage="fetch",
            reason=RejectReason.UNREADABLE,
            detail=exc.strerror or str(exc),
        )
    return RawItem(
        source_id=source_id,
        url=url,
        body=body,
        content_type=content_type,
        fetched_at=datetime.now(UTC),
        # Scalars only: str() of a list or mapping (a YAML alias bomb) can be gigabytes.
        meta={str(k): str(v) for k, v in meta.items() if isinstance(v, str | int | float | date)},
    )
