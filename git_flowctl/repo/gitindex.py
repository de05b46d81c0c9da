"""The index through the ``git`` command, for the index formats libgit2 cannot read.

libgit2 (1.9) refuses an index that carries a mandatory extension it does not know: the split
index (``core.splitIndex``, extension ``link``) and the sparse index (``index.sparse``,
extension ``sdir``) both raise "unsupported mandatory extension" (issue #13, finding 2). git
reads and writes them, so where libgit2 cannot, the index is read with ``git ls-files --stage``,
a path's state comes from ``git status --porcelain`` and entries are written with ``git
update-index``. Every git command here honours ``GIT_INDEX_FILE`` as a hook is given it.

``open_index`` gives the writer, the hooks and ``validate --staged`` one index either way:
pygit2's ``Index`` when libgit2 reads it (fast, as before), else a ``GitIndex`` that answers the
same questions (``index[path]``, iteration).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple

from git_flowctl.model.errors import FlowError
from git_flowctl.repo.gitcli import last_error

if TYPE_CHECKING:
    import pygit2

    from git_flowctl.repo.workspace import Workspace

_UNREADABLE = "unsupported mandatory extension"
_NO_LOCKS = {"GIT_OPTIONAL_LOCKS": "0"}  # reading must not take index.lock (git status refreshes)
_INDEX_ATTEMPTS = 100


def libgit2_cannot_read(error: BaseException) -> bool:
    """The error libgit2 gives for an index in a format it does not support."""
    return _UNREADABLE in str(error)


class GitIndexEntry(NamedTuple):
    path: str
    id: str
    mode: int


class GitIndex:
    """The stage-0 entries of the index as ``git ls-files --stage`` lists them (a sparse index
    is expanded by git), with pygit2's ``Index`` reading interface."""

    def __init__(self, entries: dict[str, GitIndexEntry], conflicted: frozenset[str]) -> None:
        self._entries = entries
        self.conflicted = conflicted

    @classmethod
    def read(cls, ws: Workspace) -> GitIndex:
        result = ws.git("ls-files", "--stage", "-z", check=False, env=_NO_LOCKS)
        if result.returncode != 0:
            raise FlowError(f"cannot read the index: {last_error(result)}",
                            hint="check it with `git status`")
        entries: dict[str, GitIndexEntry] = {}
        conflicted: set[str] = set()
        for record in result.stdout.decode("utf-8", "surrogateescape").split("\0"):
            if not record:
                continue
            info, _, path = record.partition("\t")
            mode, oid, stage = info.split(" ")
            if stage != "0":
                conflicted.add(path)
                continue
            entries[path] = GitIndexEntry(path, oid, int(mode, 8))
        return cls(entries, frozenset(conflicted))

    def __getitem__(self, path: str) -> GitIndexEntry:
        return self._entries[path]

    def __contains__(self, path: str) -> bool:
        return path in self._entries

    def __iter__(self) -> Iterator[GitIndexEntry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)


def libgit2_reads_index(ws: Workspace) -> bool:
    """Whether libgit2 can read this index. Ask before anything of libgit2's that reads it
    indirectly: filtering a blob for checkout (``BlobIO(as_path=...)``) looks up attributes in
    the index, and pygit2 then waits forever on its failed filter thread."""
    import pygit2

    try:
        ws.repo.index.read(force=False)
        return True
    except pygit2.GitError as exc:
        if not libgit2_cannot_read(exc):
            raise
        return False


def checkout_bytes(ws: Workspace, blob: str, path: str) -> bytes:
    """A blob as git checks it out at ``path`` (eol, smudge and other filters): ``git cat-file
    --filters``, for when libgit2 cannot read the index that holds the attributes' state."""
    return ws.git("cat-file", "--filters", f"--path={path}", blob).stdout


def open_index(ws: Workspace) -> pygit2.Index | GitIndex:
    """The index as it is on disk now: pygit2's when libgit2 reads its format, else git's."""
    import pygit2

    try:
        index: pygit2.Index = ws.repo.index
        index.read(force=True)
        return index
    except pygit2.GitError as exc:
        if not libgit2_cannot_read(exc):
            raise
    return GitIndex.read(ws)


# What `git status --porcelain` letters mean, as libgit2's status flags (writer._refuse_dirty).
_CONFLICT_CODES = frozenset({"DD", "AU", "UD", "UA", "DU", "AA", "UU"})


def status_flags(ws: Workspace, path: str) -> int:
    """``Repository.status_file(path)`` answered by ``git status``: 0 when the path is clean or
    exists nowhere."""
    import pygit2

    fs = pygit2.enums.FileStatus
    result = ws.git("status", "--porcelain=v1", "-z", "--untracked-files=all", "--ignored=no",
                    "--no-renames", "--", f":(literal){path}", check=False, env=_NO_LOCKS)
    if result.returncode != 0:
        raise FlowError(f"cannot read the state of {ws.rel(path)}: {last_error(result)}",
                        hint="check it with `git status`")
    flags = 0
    for record in result.stdout.decode("utf-8", "surrogateescape").split("\0"):
        if len(record) < 4 or record[3:] != path:
            continue
        code = record[:2]
        if code == "??":
            flags |= fs.WT_NEW
        elif code in _CONFLICT_CODES:
            flags |= fs.CONFLICTED
        else:
            staged, unstaged = code[0], code[1]
            flags |= {"M": fs.INDEX_MODIFIED, "A": fs.INDEX_NEW, "D": fs.INDEX_DELETED,
                      "T": fs.INDEX_TYPECHANGE}.get(staged, 0)
            flags |= {"M": fs.WT_MODIFIED, "D": fs.WT_DELETED, "T": fs.WT_TYPECHANGE}.get(unstaged, 0)
    return flags


def update_entries(ws: Workspace, writes: dict[str, bytes | None], blobs: dict[str, str]) -> None:
    """Set these paths' index entries with ``git update-index``: each written path to its blob
    (stat data from the file just written, as ``git add`` would take it), each deleted path
    removed. Retries while another process holds ``index.lock``."""
    deleted = [path for path, content in writes.items() if content is None]
    written = [path for path, content in writes.items() if content is not None]
    last = ""
    for attempt in range(_INDEX_ATTEMPTS):
        steps = []
        if deleted:
            steps.append(("update-index", "--force-remove", "--", *deleted))
        if written:
            steps.append(("update-index", "--add", "--", *written))
        failed = None
        for args in steps:
            result = ws.git(*args, check=False)
            if result.returncode != 0:
                failed = result
                break
        if failed is None:
            break
        last = last_error(failed)
        time.sleep(min(0.002 * (attempt + 1), 0.05))
    else:
        paths = " ".join(ws.rel(p) for p in writes)
        raise FlowError(f"the change is committed, but the index stayed locked: {last}",
                        hint=f"run `git reset -q -- {paths}` to bring the index up to date")
    # The file went through its checkout filters on the way out; if hashing it back gives other
    # bytes (a filter that does not round-trip), record the blob the commit has.
    if written:
        index = GitIndex.read(ws)
        lines = [f"{index[path].mode:o} {blobs[path]}\t{path}" for path in written
                 if path in index and index[path].id != blobs[path]]
        if lines:
            ws.git("update-index", "--index-info", input=("\n".join(lines) + "\n").encode())
