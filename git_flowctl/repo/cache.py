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
