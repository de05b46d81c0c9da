"""Where a plan is read from: the work tree, a commit's tree, or the index.

Reading a revision goes straight to git objects, with no checkout (DESIGN §4): through pygit2
(``TreeSource``, what the writer and the validator use) or through ``git cat-file --batch``
(``GitTreeSource``, for read commands that have not opened pygit2). Only this module and the
writer know the difference; everything else asks a ``Source`` for bytes by path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from git_flowctl.repo.gitcli import tree_entries

if TYPE_CHECKING:
    import pygit2

    from git_flowctl.repo.gitcli import Reader
    from git_flowctl.repo.gitindex import GitIndex


def blob_bytes(repo: pygit2.Repository, oid: pygit2.Oid | str) -> bytes:
    import pygit2

    try:
        blob = repo[oid]
    except KeyError:
        return _fetched_blob(repo, str(oid))
    if not isinstance(blob, pygit2.Blob):
        raise TypeError(f"{oid} is not a blob")
    return bytes(blob.data)


def _fetched_blob(repo: pygit2.Repository, oid: str) -> bytes:
    """A blob libgit2 does not have: in a partial clone git fetches it on demand (libgit2
    cannot); else, or when the remote cannot be reached, a clear error."""
    from git_flowctl.repo.gitcli import missing_objects_error, run_git

    cwd = repo.workdir or repo.path
    result = run_git(cwd, "cat-file", "blob", oid)
    if result.returncode == 0:
        return result.stdout
    raise missing_objects_error(cwd, [oid])


class Source(Protocol):
    label: str

    def read(self, path: str) -> bytes | None: ...

    def list_files(self, directory: str) -> list[str]:
        """Names of the regular files directly inside ``directory`` (repo-relative)."""
        ...

    def blob_id(self, path: str) -> str | None:
        """The git blob ID of a path's content (the document cache's key), None when absent or
        unknown. A commit's tree and the index know it; the work tree hashes the file."""
        ...

    def walk_files(self, directory: str) -> list[str]:
        """Repo-relative paths of every regular file under ``directory``, recursively, sorted."""
        ...

    def walk_entries(self, directory: str) -> list[tuple[str, str | None]]:
        """``walk_files`` with each file's blob ID when the source knows it (else None)."""
        ...


class WorkTreeSource:
    def __init__(self, root: Path, label: str = "working tree") -> None:
        self.root = root
        self.label = label
        self._hashed: tuple[str, bytes] | None = None

    def read(self, path: str) -> bytes | None:
        if self._hashed is not None and self._hashed[0] == path:
            raw, self._hashed = self._hashed[1], None
            return raw
        try:
            return (self.root / path).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def list_files(self, directory: str) -> list[str]:
        try:
            with os.scandir(self.root / directory) as entries:
                return sorted(entry.name for entry in entries
                              if entry.is_file() and not entry.name.startswith("."))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def blob_id(self, path: str) -> str | None:
        """git's blob ID of the file's bytes now (`git hash-object --no-filters` in a SHA-1
        repository), so that parsed files are reused by content (cache.py); the bytes are kept
        for the ``read`` of the same path that follows, so what is parsed is what was hashed."""
        import hashlib

        raw = self.read(path)
        if raw is None:
            return None
        self._hashed = (path, raw)
        return hashlib.sha1(b"blob %d\0" % len(raw) + raw).hexdigest()

    def walk_files(self, directory: str) -> list[str]:
        found: list[str] = []
        base = self.root / directory
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [name for name in dirnames if not name.startswith(".")]
            relative = Path(dirpath).relative_to(self.root).as_posix()
            found.extend(f"{relative}/{name}" for name in filenames if not name.startswith("."))
        return sorted(found)

    def walk_entries(self, directory: str) -> list[tuple[str, str | None]]:
        return [(path, None) for path in self.walk_files(directory)]


class TreeSource:
    """A commit's tree (``--rev``), or the HEAD tree the writer builds on."""

    def __init__(self, repo: pygit2.Repository, tree: pygit2.Tree | None, label: str) -> None:
        self.repo = repo
        self.tree = tree
        self.label = label

    def _entry(self, path: str) -> pygit2.Object | None:
        if self.tree is None:
            return None
        try:
            return self.tree[path]
        except KeyError:
            return None

    def read(self, path: str) -> bytes | None:
        import pygit2

        entry = self._entry(path)
        if entry is None or entry.type != pygit2.enums.ObjectType.BLOB:
            return None
        return blob_bytes(self.repo, entry.id)

    def list_files(self, directory: str) -> list[str]:
        import pygit2

        entry = self._entry(directory)
        if entry is None or entry.type != pygit2.enums.ObjectType.TREE:
            return []
        tree = self.repo[entry.id]
        assert isinstance(tree, pygit2.Tree)
        names = (item.name for item in tree if item.type == pygit2.enums.ObjectType.BLOB)
        return sorted(name for name in names if name and not name.startswith("."))

    def blob_id(self, path: str) -> str | None:
        entry = self._entry(path)
        return str(entry.id) if entry is not None else None

    def walk_files(self, directory: str) -> list[str]:
        return [path for path, _ in self.walk_entries(directory)]

    def walk_entries(self, directory: str) -> list[tuple[str, str | None]]:
        import pygit2

        entry = self._entry(directory)
        if entry is None or entry.type != pygit2.enums.ObjectType.TREE:
            return []
        found: list[tuple[str, str | None]] = []
        stack: list[tuple[str, pygit2.Oid]] = [(directory.rstrip("/"), entry.id)]
        while stack:
            prefix, tree_id = stack.pop()
            tree = self.repo[tree_id]
            assert isinstance(tree, pygit2.Tree)
            for item in tree:
                if not item.name or item.name.startswith("."):
                    continue
                if item.type == pygit2.enums.ObjectType.TREE:
                    stack.append((f"{prefix}/{item.name}", item.id))
                elif item.type == pygit2.enums.ObjectType.BLOB:
                    found.append((f"{prefix}/{item.name}", str(item.id)))
        return sorted(found)


class GitTreeSource:
    """A commit's tree read through ``git cat-file --batch`` (``--rev`` with no pygit2): the same
    answers as ``TreeSource``, each tree object read once, each file only when asked for (the
    document cache answers most by blob ID)."""

    def __init__(self, reader: Reader, commit: str, label: str) -> None:
        self.reader = reader
        self.commit = commit
        self.label = label
        self._trees: dict[str, dict[str, tuple[str, str]]] = {}

    def _tree(self, directory: str) -> dict[str, tuple[str, str]] | None:
        """``{name: (kind, object ID)}`` of a directory ("" is the root), None when absent."""
        directory = directory.strip("/")
        if directory in self._trees:
            return self._trees[directory]
        if directory:
            parent, _, name = directory.rpartition("/")
            entry = (self._tree(parent) or {}).get(name)
            if entry is None or entry[0] != "tree":
                return None
            found = self.reader.object(entry[1])
        else:
            found = self.reader.object(f"{self.commit}^{{tree}}")
        if found is None or found.type != "tree":
            return None
        entries = {name: (kind, oid) for name, kind, oid in tree_entries(found.data, len(self.commit) // 2)}
        self._trees[directory] = entries
        return entries

    def _entry(self, path: str) -> tuple[str, str] | None:
        parent, _, name = path.strip("/").rpartition("/")
        return (self._tree(parent) or {}).get(name)

    def read(self, path: str) -> bytes | None:
        entry = self._entry(path)
        if entry is None or entry[0] != "blob":
            return None
        found = self.reader.object(entry[1])
        return found.data if found is not None else None

    def list_files(self, directory: str) -> list[str]:
        entries = self._tree(directory) or {}
        return sorted(name for name, (kind, _) in entries.items()
                      if kind == "blob" and name and not name.startswith("."))

    def blob_id(self, path: str) -> str | None:
        entry = self._entry(path)
        return entry[1] if entry is not None else None

    def walk_files(self, directory: str) -> list[str]:
        return [path for path, _ in self.walk_entries(directory)]

    def walk_entries(self, directory: str) -> list[tuple[str, str | None]]:
        found: list[tuple[str, str | None]] = []
        stack = [directory.strip("/")]
        while stack:
            prefix = stack.pop()
            for name, (kind, oid) in (self._tree(prefix) or {}).items():
                if not name or name.startswith("."):
                    continue
                if kind == "tree":
                    stack.append(f"{prefix}/{name}")
                elif kind == "blob":
                    found.append((f"{prefix}/{name}", oid))
        return sorted(found)


class IndexSource:
    """The staged content: what the next ``git commit`` will record."""

    def __init__(self, repo: pygit2.Repository, index: pygit2.Index | GitIndex,
                 label: str = "index") -> None:
        self.repo = repo
        self.index = index
        self.label = label

    def read(self, path: str) -> bytes | None:
        try:
            entry = self.index[path]
        except KeyError:
            return None
        return blob_bytes(self.repo, entry.id)

    def list_files(self, directory: str) -> list[str]:
        prefix = directory.rstrip("/") + "/"
        names = []
        for entry in self.index:
            if entry.path.startswith(prefix):
                rest = entry.path[len(prefix):]
                if "/" not in rest and not rest.startswith("."):
                    names.append(rest)
        return sorted(names)

    def blob_id(self, path: str) -> str | None:
        try:
            return str(self.index[path].id)
        except KeyError:
            return None

    def walk_files(self, directory: str) -> list[str]:
        return [path for path, _ in self.walk_entries(directory)]

    def walk_entries(self, directory: str) -> list[tuple[str, str | None]]:
        prefix = directory.rstrip("/") + "/"
        return sorted((entry.path, str(entry.id)) for entry in self.index
                      if entry.path.startswith(prefix)
                      and not any(part.startswith(".") for part in entry.path[len(prefix):].split("/")))
