"""Low-level file handling shared by the datasets, the run manifests and the weights lookup.

One home for three things that must agree everywhere:
- the hidden partial name a file is written under before it is renamed into place;
- durable atomic writes: the file and its folder are fsynced before and after the
  rename, so after a crash the final name holds either nothing or the whole file;
- hashing files and folders in chunks (models and weights are tens of MB).

Standard library only: `kedro versions` and the hooks import it without pulling in
pandas, matplotlib or TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

PARTIAL_PREFIX = ".partial-"
"""Hidden prefix of a file being written; `kedro versions prune` removes stale ones."""
HASH_CHUNK = 1 << 20


def partial_name(final_name: str) -> str:
    """A unique hidden name for a file on its way to `final_name` (its extension kept:
    Keras checks it)."""
    return f"{PARTIAL_PREFIX}{uuid.uuid4().hex}-{final_name}"


def fsync_path(path: Path) -> None:
    """Flush a file, or a folder's entries, to disk (a no-op where the OS cannot)."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
    try:
        descriptor = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:  # some file systems refuse fsync on folders
        pass
    finally:
        os.close(descriptor)


def fsync_tree(path: Path) -> None:
    """fsync a file, or every file and folder below a folder (Keras may save folders)."""
    if path.is_dir():
        for root, _dirs, files in os.walk(path):
            for name in files:
                fsync_path(Path(root) / name)
            fsync_path(Path(root))
    else:
        fsync_path(path)


def publish(partial: Path, final: Path) -> None:
    """Make a complete `partial` durable, rename it to `final`, and make the rename durable."""
    fsync_tree(partial)
    os.replace(partial, final)
    fsync_path(final.parent)


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(partial_path)`, then publish the partial file under `path`.

    On any error the partial file is removed and `path` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.parent / partial_name(path.name)
    try:
        write(partial)
        publish(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_json_atomically(path: Path, content: dict[str, Any]) -> None:
    """Write `content` as indented JSON, durably and atomically."""

    def write(partial: Path) -> None:
        partial.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")

    write_atomically(path, write)


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of one file, read in chunks."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as file:
        while chunk := file.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_path(path: Path) -> tuple[str, int]:
    """sha256 and size in bytes of a file or of a whole folder.

    A folder hashes like the output of `sha256sum` over its files sorted by relative
    path (`<sha256>  <relative path>` lines), so renaming or changing any file changes it.
    """
    if path.is_file():
        return file_digest(path), path.stat().st_size
    lines = []
    size = 0
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        lines.append(f"{file_digest(file)}  {file.relative_to(path).as_posix()}\n")
        size += file.stat().st_size
    return hashlib.sha256("".join(lines).encode()).hexdigest(), size
