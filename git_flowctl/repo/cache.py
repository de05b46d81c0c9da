"""The cache under ``<git-common-dir>/flow-cache/`` (never in the tree; DESIGN §4).

Two parts, each keyed by git object IDs so that an entry can never be stale:

* ``documents.pickle``: parsed task and epic files keyed by blob ID. ``Plan.load`` uses it for
  every source: a commit's tree and the index know their blob IDs, the work tree hashes each
  file as git would (``WorkTreeSource.blob_id``). So a plan read from the work tree, at a
  revision, or by the writer from HEAD, parses only the files that changed since the last
  command (bench/bench_startup.py).
* ``replay/``: replayed history keyed by the last commit processed (``history.ReplayCache``).

Deleting the directory changes no answer. A corrupt or foreign file is ignored and rewritten.
Writes go to a temporary file that is renamed into place, so concurrent processes see a whole
file or none; two processes writing at once lose only each other's new entries.
"""

from __future__ import annotations

import contextlib
import os
import pickle
from pathlib import Path
from typing import Any

from git_flowctl.model.document import Document

CACHE_DIR = "flow-cache"  # history.CACHE_DIR too (a test keeps them equal)

_DOCUMENTS = "documents.pickle"
_FORMAT = ("flow-documents", 1)
_MAX_ENTRIES = 20_000  # beyond this, entries not used by this process are dropped


class DocumentCache:
    """Parsed documents by blob ID, loaded on first use and written back by ``flush``."""

    def __init__(self, common_dir: Path) -> None:
        self.path = common_dir / CACHE_DIR / _DOCUMENTS
        self._entries: dict[str, bytes] | None = None
        self._used: set[str] = set()
        self._dirty = False

    def _load(self) -> dict[str, bytes]:
        if self._entries is None:
            self._entries = {}
            try:
                with open(self.path, "rb") as handle:
                    data = pickle.load(handle)
                if isinstance(data, tuple) and len(data) == 2 and data[0] == _FORMAT \
                        and isinstance(data[1], dict):
                    self._entries = data[1]
            except Exception:  # any unreadable cache is rebuilt, never fatal
                self._entries = {}
        return self._entries

    def get(self, blob_id: str, path: str) -> Document | None:
        """A fresh copy of the parsed document (callers edit documents), or None."""
        pickled = self._load().get(blob_id)
        if pickled is None:
            return None
        try:
            doc = pickle.loads(pickled)
        except Exception:  # a damaged entry is parsed again
            return None
        if not isinstance(doc, Document):
            return None
        self._used.add(blob_id)
        doc.path = path  # one blob may live at several paths (an archived task)
        return doc

    def put(self, blob_id: str, doc: Document) -> None:
        self._load()[blob_id] = pickle.dumps(doc, protocol=pickle.HIGHEST_PROTOCOL)
        self._used.add(blob_id)
        self._dirty = True

    def flush(self) -> None:
        if not self._dirty or self._entries is None:
            return
        entries = self._entries
        if len(entries) > _MAX_ENTRIES:
            entries = {key: value for key, value in entries.items() if key in self._used}
        _atomic_dump(self.path, (_FORMAT, entries))
        self._dirty = False


def _atomic_dump(path: Path, data: Any) -> None:
    temp = path.with_name(f".tmp-{os.getpid()}-{os.urandom(4).hex()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temp, "wb") as handle:
            pickle.dump(data, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temp, path)
    except OSError:
        with contextlib.suppress(OSError):
            temp.unlink()


def cache_report(common_dir: Path) -> dict[str, Any]:
    """What the cache holds (for `doctor`): its path, files and size in bytes."""
    root = common_dir / CACHE_DIR
    files = 0
    size = 0
    for directory, _, names in os.walk(root):
        for name in names:
            with contextlib.suppress(OSError):
                size += (Path(directory) / name).stat().st_size
                files += 1
    return {"path": str(root), "exists": root.is_dir(), "files": files, "bytes": size}
