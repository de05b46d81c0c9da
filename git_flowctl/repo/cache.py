"""The cache under ``<git-common-dir>/flow-cache/`` (never in the tree; DESIGN §4).

Two parts, each one a speed-up and never needed for an answer:

* ``plan/``: the plan snapshot (catalog.py): every plan file of a tree as facts, for the work
  tree (checked against the files' stat data) and for commits' trees (keyed by the ``.flow``
  tree ID), so a read parses only the files that changed since the last command.
* ``replay/``: replayed history keyed by the last commit processed (``history.ReplayCache``).

Deleting the directory changes no answer. A corrupt or foreign file is ignored and rewritten.
Writes go to a temporary file that is renamed into place, so concurrent processes see a whole
file or none.
"""

from __future__ import annotations

import contextlib
import os

TYPE_CHECKING = False  # typing costs start-up time that the lean reads avoid (model/tuples.py)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

CACHE_DIR = "flow-cache"  # history.CACHE_DIR too (a test keeps them equal)


def read_file(path: str, magic: bytes, marker: tuple[Any, ...]) -> Any:
    """The data of a cache file written by ``write_file`` with this ``magic`` and ``marker``;
    None when it is missing, damaged (checksum), or of another format or version."""
    import marshal
    import zlib

    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    if len(raw) < 12 or raw[:8] != magic:
        return None
    payload = memoryview(raw)[12:]  # not a copy
    if int.from_bytes(raw[8:12], "big") != zlib.adler32(payload):
        return None
    try:
        found, data = marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return None
    return data if tuple(found) == tuple(marker) else None


def write_file(directory: str, name: str, magic: bytes, marker: tuple[Any, ...], data: Any) -> bool:
    """Store ``data`` under ``directory/name``: magic, checksum, marshal; through a temporary
    file renamed into place. False when it could not be (a cache costs only speed)."""
    import marshal
    import zlib

    try:
        payload = marshal.dumps((marker, data))
    except ValueError:
        return False
    temp = os.path.join(directory, f".tmp-{os.getpid()}-{os.urandom(4).hex()}")
    try:
        os.makedirs(directory, exist_ok=True)
        with open(temp, "wb") as handle:  # header and payload apart: no copy of a large payload
            handle.write(magic + zlib.adler32(payload).to_bytes(4, "big"))
            handle.write(payload)
        os.replace(temp, os.path.join(directory, name))
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        return False
    return True


def cache_report(common_dir: Path | str) -> dict[str, Any]:
    """What the cache holds (for `doctor`): its path, files and size in bytes."""
    root = os.path.join(common_dir, CACHE_DIR)
    files = 0
    size = 0
    for directory, _, names in os.walk(root):
        for name in names:
            with contextlib.suppress(OSError):
                size += os.stat(os.path.join(directory, name)).st_size
                files += 1
    return {"path": root, "exists": os.path.isdir(root), "files": files, "bytes": size}
