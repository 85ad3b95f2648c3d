"""Snapshot files: one JSON file per distinct clean text, written
atomically (temp file, fsync, rename), read tolerantly, and digested whole
(every field, however laid out) for `verify`."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..models import StoredSnapshot

__all__ = ["read_json", "read_snapshot", "snapshot_digest", "temp_file", "write_json_atomic"]

_UMASK: int | None = None


def _umask() -> int:
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return _UMASK


def temp_file(directory: Path, suffix: str) -> tuple[int, str]:
    """A temp file to write and then rename into place, with the mode a plain
    `open` would give it (mkstemp makes 0600, whatever the umask says)."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=suffix)
    os.fchmod(fd, 0o666 & ~_umask())
    return fd, tmp


def snapshot_digest(data: dict[str, Any]) -> str:
    """SHA-256 of a snapshot file's content, every field of it, however the
    file is laid out: sorted keys, no spaces, UTF-8."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write, fsync, rename: a reader sees the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file(path.parent, ".json")
    try:
        # One top-level key per line, each value by the C encoder (an indented
        # json.dump runs the pure-Python one: several times slower).
        text = "{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}"
                                    for k, v in data.items()) + "\n}\n"
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_snapshot(path: Path) -> StoredSnapshot:
    return StoredSnapshot.from_json(read_json(path))


def read_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read snapshot file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise StoreError(f"{path}: not a snapshot file")
    return data
