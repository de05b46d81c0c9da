"""Where a plan is read from: the work tree, a commit's tree, or the index.

Reading a revision goes straight to git objects, with no checkout (DESIGN §4): through pygit2
(``TreeSource``, what the writer and the validator use) or through ``git cat-file --batch``
(``GitTreeSource``, for read commands that have not opened pygit2). Only this module and the
writer know the difference; everything else asks a ``Source`` for bytes by path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from git_flowctl.model.layout import CONFIG_PATH, FLOW_DIR, PLAN_DIRS
from git_flowctl.repo.catalog import Catalog, PlanCache, tree_catalog, work_tree_catalog
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

    def catalog(self, cache: PlanCache | None) -> Catalog:
        """Every plan file as facts (repo/catalog.py), from the cache when it knows them."""
        ...


def plan_listing(source: TreeSource | GitTreeSource | IndexSource) -> dict[str, str]:
    """The blob ID of every plan file of a source that knows blob IDs (catalog.py's listing)."""
    found: dict[str, str] = {}
    blob = source.blob_id(CONFIG_PATH)
    if blob is not None and source.is_file(CONFIG_PATH):
        found[CONFIG_PATH] = blob
    for directory in PLAN_DIRS:
        for name in source.list_files(directory):
            path = f"{directory}/{name}"
            blob = source.blob_id(path)
            if blob is not None:
                found[path] = blob
    return found


class WorkTreeSource:
    def __init__(self, root: Path, label: str = "working tree",
                 catalog: Catalog | None = None) -> None:
        """``catalog``: the work tree's catalog just brought up to date (repo/catalog.py): its
        blob IDs are the files' (the validator then finds parsed files by blob ID)."""
        self.root = root
        self.label = label
        self._hashed: tuple[str, bytes] | None = None
        self._catalog = catalog

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
        known = self._catalog.blob if self._catalog is not None else lambda path: None
        return [(path, known(path)) for path in self.walk_files(directory)]

    def catalog(self, cache: PlanCache | None) -> Catalog:
        if self._catalog is None:
            self._catalog = work_tree_catalog(cache, str(self.root))
        return self._catalog


class TreeSource:
    """A commit's tree (``--rev``), or the HEAD tree the writer builds on.

    A directory listed (``{name: (type, object ID)}``: ``list_files``, ``walk_entries``) is
    listed once; a file looked up by path is found in its directory's tree object, kept, by
    name: pygit2's ``tree["dir/sub/file"]`` reads the subtrees again on every call (1.3 ms each
    in a 5,000-entry directory), and listing that directory costs more than a few lookups
    (issue #11)."""

    def __init__(self, repo: pygit2.Repository, tree: pygit2.Tree | None, label: str) -> None:
        self.repo = repo
        self.tree = tree
        self.label = label
        self._dirs: dict[str, dict[str, tuple[int, pygit2.Oid]] | None] = {}
        self._trees: dict[str, pygit2.Tree | None] = {}  # directory -> its tree object

    def _listing(self, directory: str) -> dict[str, tuple[int, pygit2.Oid]] | None:
        """``{name: (object type, ID)}`` of a directory ("" is the root), None when absent."""

        directory = directory.strip("/")
        if directory in self._dirs:
            return self._dirs[directory]
        tree = self._tree(directory)
        found: dict[str, tuple[int, pygit2.Oid]] | None = \
            {item.name: (item.type, item.id) for item in tree if item.name} if tree is not None else None
        self._dirs[directory] = found
        return found

    def _entry(self, path: str) -> tuple[int, pygit2.Oid] | None:
        path = path.strip("/")
        parent, _, name = path.rpartition("/")
        if parent in self._dirs:
            return (self._dirs[parent] or {}).get(name)
        tree = self._tree(parent)
        if tree is None or not name:
            return None
        try:
            found = tree[name]
        except KeyError:
            return None
        return (found.type, found.id)

    def _tree(self, directory: str) -> pygit2.Tree | None:
        """A directory's tree object ("" is the root), None when there is no such directory."""
        import pygit2

        if directory in self._trees:
            return self._trees[directory]
        found: object = None
        if not directory:
            found = self.tree
        else:
            entry = self._entry(directory)
            if entry is not None and entry[0] == pygit2.enums.ObjectType.TREE:
                found = self.repo[entry[1]]
        tree = found if isinstance(found, pygit2.Tree) else None
        self._trees[directory] = tree
        return tree

    def is_file(self, path: str) -> bool:
        import pygit2

        entry = self._entry(path)
        return entry is not None and entry[0] == pygit2.enums.ObjectType.BLOB

    def read(self, path: str) -> bytes | None:
        if not self.is_file(path):
            return None
        entry = self._entry(path)
        assert entry is not None
        return blob_bytes(self.repo, entry[1])

    def list_files(self, directory: str) -> list[str]:
        import pygit2

        listing = self._listing(directory) or {}
        return sorted(name for name, (kind, _) in listing.items()
                      if kind == pygit2.enums.ObjectType.BLOB and not name.startswith("."))

    def blob_id(self, path: str) -> str | None:
        entry = self._entry(path)
        return str(entry[1]) if entry is not None else None

    def walk_files(self, directory: str) -> list[str]:
        return [path for path, _ in self.walk_entries(directory)]

    def walk_entries(self, directory: str) -> list[tuple[str, str | None]]:
        import pygit2

        found: list[tuple[str, str | None]] = []
        stack = [directory.strip("/")]
        while stack:
            prefix = stack.pop()
            for name, (kind, oid) in (self._listing(prefix) or {}).items():
                if name.startswith("."):
                    continue
                if kind == pygit2.enums.ObjectType.TREE:
                    stack.append(f"{prefix}/{name}")
                elif kind == pygit2.enums.ObjectType.BLOB:
                    found.append((f"{prefix}/{name}", str(oid)))
        return sorted(found)

    def flow_tree_id(self) -> str | None:
        import pygit2

        entry = self._entry(FLOW_DIR)
        return str(entry[1]) if entry is not None and entry[0] == pygit2.enums.ObjectType.TREE else None

    def catalog(self, cache: PlanCache | None) -> Catalog:
        import pygit2

        return tree_catalog(cache, self.flow_tree_id(), lambda: plan_listing(self),
                            lambda path, blob: blob_bytes(self.repo, pygit2.Oid(hex=blob)))


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

    def is_file(self, path: str) -> bool:
        entry = self._entry(path)
        return entry is not None and entry[0] == "blob"

    def read(self, path: str) -> bytes | None:
        entry = self._entry(path)
        if entry is None or entry[0] != "blob":
            return None
        found = self.reader.object(entry[1])
        return found.data if found is not None else None

    def flow_tree_id(self) -> str | None:
        entry = self._entry(FLOW_DIR)
        return entry[1] if entry is not None and entry[0] == "tree" else None

    def catalog(self, cache: PlanCache | None) -> Catalog:
        def read(path: str, blob: str) -> bytes | None:
            found = self.reader.object(blob)
            return found.data if found is not None and found.type == "blob" else None

        return tree_catalog(cache, self.flow_tree_id(), lambda: plan_listing(self), read)

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
    """The staged content: what the next ``git commit`` will record. The index is read into a
    dict once (``{path: (ID, mode)}``; stage 0 entries)."""

    def __init__(self, repo: pygit2.Repository, index: pygit2.Index | GitIndex,
                 label: str = "index") -> None:
        self.repo = repo
        self.index = index
        self.label = label
        self._entries: dict[str, Any] | None = None  # path -> pygit2.Oid, or str (GitIndex)

    def _all(self) -> dict[str, Any]:
        if self._entries is None:
            self._entries = {entry.path: entry.id for entry in self.index}
        return self._entries

    def is_file(self, path: str) -> bool:
        return path in self._all()

    def read(self, path: str) -> bytes | None:
        oid = self._all().get(path)
        return None if oid is None else blob_bytes(self.repo, oid)

    def list_files(self, directory: str) -> list[str]:
        prefix = directory.rstrip("/") + "/"
        names = []
        for path in self._all():
            if path.startswith(prefix):
                rest = path[len(prefix):]
                if "/" not in rest and not rest.startswith("."):
                    names.append(rest)
        return sorted(names)

    def blob_id(self, path: str) -> str | None:
        oid = self._all().get(path)
        return None if oid is None else str(oid)

    def walk_files(self, directory: str) -> list[str]:
        return [path for path, _ in self.walk_entries(directory)]

    def walk_entries(self, directory: str) -> list[tuple[str, str | None]]:
        prefix = directory.rstrip("/") + "/"
        return sorted((path, str(oid)) for path, oid in self._all().items()
                      if path.startswith(prefix)
                      and not any(part.startswith(".") for part in path[len(prefix):].split("/")))

    def catalog(self, cache: PlanCache | None) -> Catalog:
        import pygit2

        return tree_catalog(cache, None, lambda: plan_listing(self),
                            lambda path, blob: blob_bytes(self.repo, pygit2.Oid(hex=blob)))
