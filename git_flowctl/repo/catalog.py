"""The plan snapshot: every plan file of a tree as facts, kept under the git common directory.

A read command needs the facts of every task (states, dependencies, titles) but the text of at
most a few. Parsing thousands of YAML files on every command made reads cost the size of the
plan (issue #11), so the facts are kept in a *catalog*: for each plan file (``config.yaml`` and
the direct children of ``.flow/epics``, ``.flow/tasks``, ``.flow/archive/epics`` and
``.flow/archive/tasks``) its blob ID, its facts (``model/facts.py``) or the error
``Plan.load`` raises for it, and its ``status`` field as written (landing.py). An entry is a
function of the file's path and content only, so entries are shared between catalogs by
``(path, blob ID)``.

Where catalogs live: ``<git-common-dir>/flow-cache/plan/``.

* ``worktree-<crc of the work tree path>``: the work tree's files, each with the stat data it
  was read with (mtime, ctime, size, inode). A read lists the plan directories and stats every
  file; a file whose stat data differs, that is new, or that is *racy* is read again and hashed
  as git hashes it, and only a new blob is parsed. Racy follows git's rule
  (Documentation/technical/racy-git.txt): a file whose mtime is not older than when the catalog
  was taken (less ``RACY_NS``, which covers coarse timestamps) may have changed again within
  the same timestamp, so its stat data proves nothing and its content is hashed again. Its
  entries are ``rows-<crc>``, or while few files changed since that was written, ``rowsd-<crc>``
  (the entries changed since), so that a hand edit does not write every entry again.
* ``tree-<.flow tree ID>``: a commit's (or any tree's) plan files, keyed by the ID of its
  ``.flow`` tree, which changes whenever anything under ``.flow/`` changes: never stale. Built
  from the tree's listing, taking entries from the work tree's catalog and the newest tree
  catalogs by ``(path, blob ID)`` and parsing only the blobs none of them knows. The newest
  ``KEEP_TREES`` are kept.

Nothing here is needed for an answer: a missing, unreadable, foreign or damaged file (checked
by magic, format marker and checksum) is ignored and rebuilt, and deleting the directory
changes no answer. Files are written under a temporary name and renamed into place.

Standard library only at import time (the lean read path, views/lean.py, uses this module); the
parser (YAML, items.py) is imported only when a file must be parsed.
"""

from __future__ import annotations

import contextlib
import gc
import marshal
import os
import sys
import time
import zlib
from array import array

from git_flowctl import __version__
from git_flowctl.model.layout import (
    CONFIG_PATH,
    EPICS_DIR,
    PLAN_DIRS,
    TASK_DIRS,
    TASKS_DIR,
)
from git_flowctl.repo.cache import CACHE_DIR, read_file, write_file

TYPE_CHECKING = False  # typing costs start-up time that the lean reads avoid (model/tuples.py)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    # (blob ID, facts row or None, (path, line, message, hint) of the error Plan.load raises
    # for the file or None, the frontmatter's `status` value when it parsed); config.yaml's
    # entry holds, marshalled in place of the status, its mapping and the settings the lean
    # reads need as ``Config`` reads them (``SETTINGS``). A work tree entry adds its
    # stat data: (..., mtime_ns, ctime_ns, size, inode).
    Entry = tuple[Any, ...]
    Stat = tuple[Any, ...]  # (blob ID, mtime_ns, ctime_ns, size, inode) of a work tree file
    Packed = tuple[list[str], str, bytes, bytes]  # a directory's stat table (_pack)
    Listing = dict[str, str]  # repo-relative path -> blob ID

PLAN_CACHE = "plan"
# The settings of config.yaml the lean reads use, stored as ``Config`` reads them.
SETTINGS = ("default_branch", "claims.remote", "claims.lease_seconds", "max_retries",
            "require_review")  # the last two through Config's properties (a bad one: absent)
RACY_NS = 3_000_000_000  # git's racy window plus coarse (1-2 s) file system timestamps
KEEP_TREES = 8
_COMMITS = "commits"
_KEEP_COMMITS = 64
_DIFFS = "diffs"
_KEEP_DIFFS = 4096
_KEEP_CHECKED = 4
_MAGIC = b"flowplan"
_MARKER = (11, __version__, marshal.version, tuple(sys.version_info[:2]))
_NOT_PLAN_FILE = ("", None, None, None)  # a listed file that is not .md (counts for `initialized`)


class Catalog:
    """One tree's plan files: ``config`` (an entry, or None when absent) and, per plan
    directory, ``{file name: entry}`` in name order."""

    __slots__ = ("_found", "config", "depth", "dirs", "follows", "generation")

    def __init__(self, config: Entry | None, dirs: dict[str, dict[str, Entry]],
                 generation: str | None = None) -> None:
        self.config = config
        self.dirs = dirs
        # A stored work tree catalog's random name for its content (None: not stored): what
        # is derived from it is kept under this name (``PlanCache.load_derived``).
        self.generation = generation
        self._found: dict[str, Any] = {}  # what the methods below found, by name (computed once)
        self.depth = 0  # a stored tree catalog: how many deltas lead to it from a whole one
        # A work tree catalog built from the stored one: (its generation, the paths changed
        # since), so that what was derived from it can be followed (PlanFacts.follow).
        self.follows: tuple[str, list[str]] | None = None

    def entry(self, relpath: str) -> Entry | None:
        if relpath == CONFIG_PATH:
            return self.config
        directory, _, name = relpath.rpartition("/")
        entries = self.dirs.get(directory)
        found = entries.get(name) if entries is not None else None
        if found is not None and type(found[1]) is bytes:
            assert entries is not None
            found = entries[name] = _unpacked_entry(found)
        return found

    def blob(self, relpath: str) -> str | None:
        entry = self.entry(relpath)
        return entry[0] if entry is not None and entry[0] else None

    def names(self, directory: str) -> list[str]:
        return list(self.dirs.get(directory, ()))

    @property
    def initialized(self) -> bool:
        """Plan.load's rule: config.yaml exists, or a file under .flow/tasks or .flow/epics."""
        return self.config is not None or bool(self.dirs.get(TASKS_DIR)) \
            or bool(self.dirs.get(EPICS_DIR))

    def rows(self, directory: str) -> Iterator[tuple[str, Entry]]:
        """``(name, entry)`` of the directory's .md files, in name order."""
        for name, entry in self.dirs.get(directory, {}).items():
            if name.endswith(".md"):
                yield name, _unpacked_entry(entry) if type(entry[1]) is bytes else entry

    def row_map(self, directory: str) -> tuple[dict[str, Any], dict[str, str | None]]:
        """``{ID: row}`` of the directory's files that load, in name order, and ``{ID: status}``
        of the same (read only: computed once). A row may still be packed (a stored tree
        catalog's tasks: ``_packed``), for ``unpack_row``; the status is known either way."""
        key = f"rows:{directory}"
        if key not in self._found:
            self._found[key] = self._row_map(directory)
        found: tuple[dict[str, Any], dict[str, str | None]] = self._found[key]
        return found

    def _row_map(self, directory: str) -> tuple[dict[str, Any], dict[str, str | None]]:
        rows: dict[str, Any] = {}
        statuses: dict[str, str | None] = {}
        for name, entry in self.dirs.get(directory, {}).items():
            if entry[1] is not None and name.endswith(".md"):
                rows[name[:-3]] = entry[1]
                statuses[name[:-3]] = entry[3]
        return rows, statuses

    def first_error(self) -> tuple[str, int | None, str, str | None] | None:
        """The ``DocumentError`` (path, line, message, hint) ``Plan.load`` raises first:
        config.yaml, then epics, then tasks, each in name order."""
        if "error" not in self._found:
            self._found["error"] = self._first_error()
        found: tuple[str, int | None, str, str | None] | None = self._found["error"]
        return found

    def _first_error(self) -> tuple[str, int | None, str, str | None] | None:
        if self.config is not None and self.config[2] is not None:
            return tuple(self.config[2])
        for directory in (EPICS_DIR, TASKS_DIR):
            for name, entry in self.dirs.get(directory, {}).items():
                if entry[2] is not None and name.endswith(".md"):
                    return tuple(entry[2])
        return None

    def missing_epic(self) -> tuple[str, str] | None:
        """(path, epic) of the first task, in name order, whose epic does not exist."""
        if "missing" not in self._found:
            self._found["missing"] = self._missing_epic()
        found: tuple[str, str] | None = self._found["missing"]
        return found

    def _missing_epic(self) -> tuple[str, str] | None:
        epics = {name[:-3] for name, entry in self.dirs.get(EPICS_DIR, {}).items()
                 if entry[1] is not None and name.endswith(".md")}
        for name, entry in self.dirs.get(TASKS_DIR, {}).items():
            row = entry[1]
            if row is None or not name.endswith(".md"):
                continue
            epic = entry[4] if type(row) is bytes else row[1]  # packed: the epic beside it
            if epic not in epics:
                return f"{TASKS_DIR}/{name}", epic
        return None

    def config_data(self) -> dict[str, Any] | None:
        """config.yaml as parsed (``Config.raw``); {} when absent, None when not stored."""
        if self.config is None:
            return {}
        if self.config[3] is None:
            return None
        raw: dict[str, Any] = marshal.loads(self.config[3])[0]
        return raw

    def config_problems(self) -> dict[str, Any]:
        """``Config.problems``: settings of the wrong type or range, by key."""
        if self.config is None or self.config[3] is None:
            return {}
        found: dict[str, Any] = marshal.loads(self.config[3])[2]
        return found

    def settings(self) -> dict[str, Any] | None:
        """``SETTINGS`` as ``Config`` gives them (a setting it cannot read is absent); None
        when config.yaml is absent or not stored, or holds a setting of the wrong type (then
        ``Config.get`` raises, in its words, and the normal path says so)."""
        if self.config is None or self.config[3] is None:
            return None
        found: dict[str, Any] | None = marshal.loads(self.config[3])[1]
        return found

    def blobs_only(self) -> Catalog:
        """The same files and generation with only their blob IDs: what the validator looks
        up, without holding every row (tens of megabytes at 50,000 tasks) while it runs."""
        dirs = {directory: {name: (entry[0], None, None, None) for name, entry in entries.items()}
                for directory, entries in self.dirs.items()}
        config = (self.config[0], None, None, None) if self.config is not None else None
        return Catalog(config, dirs, self.generation)

    def dump(self) -> tuple[Any, ...]:
        return (self.config, self.dirs)


@contextlib.contextmanager
def without_gc() -> Iterator[None]:
    """The cycle collector off while many objects are made at once: a catalog of 50,000 rows
    holds no cycles, and collections triggered while it loads would scan it over and over
    (seconds at 50,000 tasks)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# Storage -----------------------------------------------------------------------------------------


class PlanCache:
    """The catalogs of one repository (common directory) as seen from one work tree."""

    def __init__(self, common_dir: str | os.PathLike[str], root: str | os.PathLike[str]) -> None:
        self.directory = os.path.join(os.fspath(common_dir), CACHE_DIR, PLAN_CACHE)
        self.root = os.fspath(root)
        self.work_tree_name = f"worktree-{zlib.crc32(self.root.encode('utf-8', 'surrogateescape')):08x}"
        # What ``load_rows`` read: (the generation of the whole rows file, the entries changed
        # since, by path), for ``save_work_tree`` to store a delta from it.
        self.rows_base: tuple[str, dict[str, Entry | None]] | None = None

    def read(self, name: str) -> Any:
        with without_gc():
            return read_file(os.path.join(self.directory, name), _MAGIC, _MARKER)

    def write(self, name: str, data: Any) -> bool:
        """Store ``data`` (atomically); False when it could not be (a cache costs only speed)."""
        return write_file(self.directory, name, _MAGIC, _MARKER, data)

    def tree_names(self, prefix: str = "tree-") -> list[str]:
        """The files whose names start with ``prefix`` (``tree-``: tree catalogs; ``treed-``:
        their deltas), newest first."""
        found = []
        try:
            with os.scandir(self.directory) as entries:
                for item in entries:
                    if item.name.startswith(prefix):
                        with contextlib.suppress(OSError):
                            found.append((item.stat().st_mtime_ns, item.name))
        except OSError:
            return []
        found.sort(reverse=True)
        return [name for _, name in found]

    def prune_trees(self) -> None:
        self.prune("tree-", KEEP_TREES)

    def prune(self, prefix: str, keep: int) -> None:
        """Keep the newest ``keep`` files whose names start with ``prefix``."""
        for name in self.tree_names(prefix)[keep:]:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.directory, name))

    # Catalogs ------------------------------------------------------------------------------

    def load_tree(self, flow_tree: str, depth: int = 0) -> Catalog | None:
        """A tree's catalog: trees are content, so one loaded already in this process (`next
        --claim` reads HEAD's plan, then the writer does) is the same. Stored whole, or as a
        delta from another tree's (``save_tree``)."""
        key = (self.directory, flow_tree)
        found = _LOADED_TREES.get(key)
        if found is not None:
            return found
        found = _catalog_of(self.read(f"tree-{flow_tree}"))
        if found is None and depth <= _MAX_DELTAS:
            delta = self.read(f"treed-{flow_tree}")
            if isinstance(delta, tuple) and len(delta) == 4 and delta[0] == "delta" \
                    and isinstance(delta[3], dict):
                base = self.load_tree(str(delta[1]), depth + 1)
                if base is not None:
                    found = with_entries(base, delta[3])
                    found.depth = base.depth + 1
        if found is not None:
            _LOADED_TREES.clear()  # one at a time: they are large
            _LOADED_TREES[key] = found
        return found

    def save_tree(self, flow_tree: str, catalog: Catalog, *, base: str | None = None,
                  entries: dict[str, Entry | None] | None = None) -> None:
        """Stored whole, with the tasks' rows packed (``_packed``: a transition loads this
        catalog and looks at a few of them); or, with ``base`` (the tree it was made from) and
        the ``entries`` written, as a delta from the base's: a transition at 50,000 tasks writes
        its one file, not the plan's catalog again (issue #11). One in ``_MAX_DELTAS`` is stored
        whole, so that a chain stays short."""
        if base is not None and entries is not None and catalog.depth < _MAX_DELTAS:
            self.write(f"treed-{flow_tree}", ("delta", base, catalog.depth, entries))
            self.prune("treed-", KEEP_DELTAS)
            return
        dirs = {directory: {name: _packed(entry) for name, entry in entries.items()}
                if directory in TASK_DIRS else entries for directory, entries in catalog.dirs.items()}
        self.write(f"tree-{flow_tree}", (catalog.config, dirs))
        catalog.depth = 0
        self.prune_trees()

    # The work tree's catalog is two files: the stat table (``worktree-*``: per file its blob
    # ID and stat data), enough to tell that nothing changed, and the rows (``rows-*``: per
    # file its entry), read only when facts are needed. Both name the generation they belong to.
    # After a few files changed, the rows are stored as a delta (``rowsd-*``: the entries changed
    # since a whole rows file), so that a hand edit at 50,000 tasks does not write them all again.

    @property
    def _rows_name(self) -> str:
        return self.work_tree_name.replace("worktree-", "rows-")

    @property
    def _rows_delta_name(self) -> str:
        return self.work_tree_name.replace("worktree-", "rowsd-")

    def load_stats(self) -> tuple[int, str, Entry | None, dict[str, Packed]] | None:
        """(when it was taken, its generation, config.yaml's whole entry with its stat data,
        per plan directory its files packed: ``_pack``) of this work tree."""
        data = self.read(self.work_tree_name)
        try:
            root, taken, generation, config, dirs = data
        except (TypeError, ValueError):
            return None
        if root != self.root or not isinstance(taken, int) or not isinstance(generation, str) \
                or not isinstance(dirs, dict) or (config is not None and not isinstance(config, tuple)):
            return None
        return taken, generation, config, dirs

    def load_rows(self, generation: str) -> Catalog | None:
        """The entries (without stat data) of the work tree catalog of this generation: a
        whole rows file, or one with the delta stored since (``save_work_tree``)."""
        self.rows_base = None
        delta = self.read(self._rows_delta_name)
        if isinstance(delta, tuple) and len(delta) == 3 and delta[0] == generation \
                and isinstance(delta[1], str) and isinstance(delta[2], dict):
            base = self._whole_rows(delta[1])
            if base is None:
                return None
            self.rows_base = (delta[1], delta[2])
            return with_entries(base, delta[2])
        found = self._whole_rows(generation)
        if found is not None:
            self.rows_base = (generation, {})
        return found

    def _whole_rows(self, generation: str) -> Catalog | None:
        data = self.read(self._rows_name)
        try:
            stored, config, dirs = data
        except (TypeError, ValueError):
            return None
        return _catalog_of((config, dirs)) if stored == generation else None

    def load_work_tree(self) -> Catalog | None:
        """The work tree's stored catalog (for tests: a read compares the files with it)."""
        stats = self.load_stats()
        return self.load_rows(stats[1]) if stats is not None else None

    def save_work_tree(self, taken: int, catalog: Catalog, config_stat: Entry | None,
                       tables: dict[str, _Table], changed: dict[str, Entry | None] | None) -> None:
        """Store the work tree's catalog under a new generation: its stat ``tables``,
        config.yaml's entry with its stat data, and the rows. ``changed``: the entries that
        differ from the rows ``load_rows`` gave (None: a file gone), when it gave any; then
        the rows are stored as a delta from the whole rows file while the changes are few."""
        generation = os.urandom(8).hex()
        config = catalog.config
        stats = (self.root, taken, generation, config_stat,
                 {directory: table.pack() for directory, table in tables.items()})
        base = self.rows_base
        stored = False
        if base is not None and changed is not None:
            delta = {**base[1], **changed}
            files = sum(len(entries) for entries in catalog.dirs.values())
            if len(delta) <= max(_DELTA_ROWS, files // 16):
                stored = self.write(self._rows_delta_name, (generation, base[0], delta))
        if not stored:
            rows = (generation, config, catalog.dirs)
            stored = self.write(self._rows_name, rows)
        stored = stored and self.write(self.work_tree_name, stats)
        catalog.generation = generation if stored else None

    @property
    def _derived_name(self) -> str:
        return self.work_tree_name.replace("worktree-", "derived-")

    def load_derived(self, generation: str | None) -> dict[str, Any]:
        """What was derived from the work tree catalog of this generation ({} when nothing)."""
        if generation is None:
            return {}
        data = self.read(self._derived_name)
        if not isinstance(data, tuple) or len(data) != 2 or data[0] != generation \
                or not isinstance(data[1], dict):
            return {}
        found: dict[str, Any] = data[1]
        return found

    def save_derived(self, generation: str | None, derived: dict[str, Any]) -> None:
        if generation is not None:
            self.write(self._derived_name, (generation, derived))

    def commit_trees(self) -> dict[str, str]:
        """Commits whose ``.flow`` tree ID was looked up before ("" when they have none):
        the lean reads find the default branch's catalog without asking git."""
        found = self.read(_COMMITS)
        return found if isinstance(found, dict) else {}

    def remember_commit_tree(self, commit: str, flow_tree: str) -> None:
        known = self.commit_trees()
        known.pop(commit, None)
        known[commit] = flow_tree
        self.write(_COMMITS, dict(list(known.items())[-_KEEP_COMMITS:]))

    def load_checked(self, flow_tree: str) -> Any:
        """The validator's snapshot of a ``.flow`` tree (guard/validate.Snapshot.record)."""
        return self.read(f"checked-{flow_tree}")

    def has_checked(self, flow_tree: str) -> bool:
        return os.path.exists(os.path.join(self.directory, f"checked-{flow_tree}"))

    def save_checked(self, flow_tree: str, record: Any) -> None:
        self.write(f"checked-{flow_tree}", record)
        self.prune("checked-", _KEEP_CHECKED)

    def tree_diffs(self) -> dict[str, dict[str, str | None]]:
        """The files that differ between two ``.flow`` trees, by ``"<old tree>:<new tree>"``:
        ``{path: blob ID in the new tree, or None: not in it}``. Trees are content: a diff,
        once known (the writer knows the one it makes), never changes. `check` and the hooks
        walk a branch commit by commit with them (guard/validate.History)."""
        found = self.read(_DIFFS)
        return found if isinstance(found, dict) else {}

    def remember_tree_diffs(self, diffs: dict[str, dict[str, str | None]]) -> None:
        known = self.tree_diffs()
        for key in diffs:
            known.pop(key, None)
        known.update(diffs)
        self.write(_DIFFS, dict(list(known.items())[-_KEEP_DIFFS:]))


_LOADED_TREES: dict[tuple[str, str], Catalog] = {}  # PlanCache.load_tree
_PENDING_BYTES = 4 << 20  # the bytes of changed files kept from the stat pass to the parse
_PARSE_FIRST = 32  # a work tree's new blobs parsed before whole tree catalogs are looked in
_DELTA_ROWS = 256  # a work tree's rows delta this long (or a sixteenth of the files): whole again
_MAX_DELTAS = 16  # a chain of deltas this long, and the next tree catalog is stored whole
KEEP_DELTAS = 64


def _packed(entry: Entry) -> Entry:
    """A task's entry as a stored tree catalog keeps it: its row marshalled (loaded only
    when looked at), and its epic beside it (for ``missing_epic``)."""
    row = entry[1]
    if type(row) is not tuple:
        return entry  # packed already, or no row
    return (entry[0], marshal.dumps(row), entry[2], entry[3], row[1])


def _unpacked_entry(entry: Entry) -> Entry:
    return (entry[0], unpack_row(entry[1]), entry[2], entry[3])


def unpack_row(row: Any) -> Any:
    """A row as stored in a tree catalog (``row_map``): marshalled, or already a tuple."""
    return marshal.loads(row) if type(row) is bytes else row


def _catalog_of(data: Any) -> Catalog | None:
    try:
        config, dirs = data
    except (TypeError, ValueError):
        return None
    if not isinstance(dirs, dict) or (config is not None and not isinstance(config, tuple)):
        return None
    return Catalog(config, dirs)


# Known entries: every catalog at hand, by (path, blob ID) ---------------------------------------


class Known:
    """Entries of the stored catalogs, looked up by ``(path, blob ID)``: the catalogs given,
    then the work tree's (unless given), then the deltas and whole tree catalogs newest first,
    each loaded only when an entry is still missing. ``trees_after``: whole tree catalogs (tens
    of megabytes at 50,000 tasks) are loaded only after that many entries were missed: a hand
    edit makes a blob no catalog knows, cheaper to parse than to look for."""

    def __init__(self, cache: PlanCache | None, *given: Catalog, work_tree: bool = True,
                 trees_after: int = 0) -> None:
        self.cache = cache
        self._loaded: list[Catalog] = list(given)
        self._pending: list[str] | None = None
        self._work_tree = work_tree
        self._trees_after = trees_after
        self._misses = 0

    def _sources(self) -> Iterator[Catalog]:
        yield from list(self._loaded)
        if self.cache is None:
            return
        if self._pending is None:
            self._pending = ([self.cache._rows_delta_name, self.cache._rows_name]
                             if self._work_tree else []) \
                + self.cache.tree_names("treed-")[:KEEP_DELTAS] + self.cache.tree_names()[:KEEP_TREES]
        while self._pending:
            if self._pending[0].startswith("tree-") and self._misses < self._trees_after:
                return
            name = self._pending.pop(0)
            data = self.cache.read(name)
            if name == self.cache._rows_name:  # the work tree's rows, of any generation
                data = data[1:] if isinstance(data, tuple) and len(data) == 3 else None
            elif name == self.cache._rows_delta_name or name.startswith("treed-"):
                data = _delta_files(data)  # a delta: the entries it wrote
            catalog = _catalog_of(data)
            if catalog is not None:
                self._loaded.append(catalog)
                yield catalog

    def find(self, relpath: str, blob: str) -> Entry | None:
        """The entry (four fields, its row unpacked) of this file version, if a catalog has it."""
        for catalog in self._loaded:  # those at hand first: nearly every lookup ends here
            entry = catalog.entry(relpath)
            if entry is not None and entry[0] == blob:
                return entry[:4]
        if self._pending is not None and not self._pending:
            self._misses += 1
            return None
        for catalog in self._sources():
            entry = catalog.entry(relpath)
            if entry is not None and entry[0] == blob:
                return entry[:4]
        self._misses += 1
        return None


# Building ---------------------------------------------------------------------------------------


def sha1_hex(data: bytes) -> str:
    try:  # hashlib's import (OpenSSL) costs more than a hook's hashes: the builtin module
        from _sha1 import sha1  # type: ignore[import-not-found]
    except ImportError:
        from hashlib import sha1
    digest: str = sha1(data).hexdigest()
    return digest


def blob_id(raw: bytes) -> str:
    """git's blob ID of these bytes (`git hash-object --no-filters`, SHA-1 repositories)."""
    return sha1_hex(b"blob %d\0" % len(raw) + raw)


def parse_entry(relpath: str, raw: bytes, blob: str) -> Entry:
    """A file's entry: what ``Plan.load`` reads from it (the only place that parses YAML here)."""
    from git_flowctl.model.document import Document, DocumentError
    from git_flowctl.model.errors import FlowError
    from git_flowctl.model.items import Epic, Task

    if relpath == CONFIG_PATH:
        from git_flowctl.model.config import Config

        try:
            config = Config.parse(raw)
        except DocumentError as error:
            return (blob, None, (error.path, error.line, error.problem, error.hint), None)
        if config.problems:
            return (blob, None, None, _marshalled((config.raw, None, config.problems)))
        settings = {key: config.get(key) for key in SETTINGS[:-2]}
        with contextlib.suppress(TypeError, ValueError):
            settings["max_retries"] = config.max_retries
        with contextlib.suppress(DocumentError, FlowError):
            settings["require_review"] = sorted(config.require_review)
        return (blob, None, None, _marshalled((config.raw, settings, config.problems)))
    directory, _, name = relpath.rpartition("/")
    if not name.endswith(".md"):
        return (blob, None, None, None)
    status = None
    try:
        doc = Document.parse(raw, relpath)
        found = doc.data.get("status")
        status = sys.intern(found) if isinstance(found, str) else None
        item = (Task if directory in TASK_DIRS else Epic).from_document(doc, name[:-3])
        return (blob, _interned(tuple(item.facts())), None, status)
    except DocumentError as error:
        return (blob, None, (error.path, error.line, error.problem, error.hint), status)


def _interned(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """The row with its strings interned: IDs, states and names repeat across thousands of rows,
    and marshal stores an interned string once (memory and load time at 50,000 tasks)."""
    return tuple(sys.intern(value) if isinstance(value, str)
                 else [sys.intern(item) if isinstance(item, str) else item for item in value]
                 if isinstance(value, list) else value for value in row)


def _marshalled(data: Any) -> bytes | None:
    try:
        return marshal.dumps(data)
    except ValueError:  # a value marshal cannot store (an explicit !!timestamp): not stored
        return None


def tree_catalog(cache: PlanCache | None, flow_tree: str | None, listing: Callable[[], Listing],
                 read: Callable[[str, str], bytes | None], known: Known | None = None) -> Catalog:
    """The catalog of a tree whose ``.flow`` tree ID is ``flow_tree`` (None: the index, or no
    ``.flow``: not stored). ``listing`` gives the blob ID of every plan file, ``read`` a file's
    bytes by path and blob ID; only the blobs no stored catalog knows are read and parsed."""
    if cache is not None and flow_tree is not None:
        found = cache.load_tree(flow_tree)
        if found is not None:
            return found
    known = known or Known(cache)
    config: Entry | None = None
    dirs: dict[str, dict[str, Entry]] = {directory: {} for directory in PLAN_DIRS}
    for relpath, blob in sorted(listing().items()):
        if relpath != CONFIG_PATH and not relpath.endswith(".md"):
            entry: Entry = (blob, None, None, None)
        else:
            stored = known.find(relpath, blob)
            if stored is None:
                raw = read(relpath, blob)
                if raw is None:
                    continue
                stored = parse_entry(relpath, raw, blob)
            entry = stored
        if relpath == CONFIG_PATH:
            config = entry
        else:
            directory, _, name = relpath.rpartition("/")
            dirs[directory][name] = entry
    catalog = Catalog(config, dirs)
    if cache is not None and flow_tree is not None:
        cache.save_tree(flow_tree, catalog)
    return catalog


def written_entries(writes: dict[str, tuple[bytes, str] | None]) -> dict[str, Entry | None]:
    """The entries of files written (``{path: (content, blob ID)}``) or deleted (None)."""
    return {path: parse_entry(path, *written) if written is not None else None
            for path, written in writes.items()
            if path == CONFIG_PATH or path.rpartition("/")[0] in PLAN_DIRS}


def with_entries(base: Catalog, written: dict[str, Entry | None]) -> Catalog:
    """``base`` with these entries (None: the file is gone): the catalog of the tree a
    transition commits, from the one it was built on. The directories not written are shared
    with ``base``."""
    config = base.config
    dirs = dict(base.dirs)
    copied: set[str] = set()
    grown: set[str] = set()
    for path, entry in written.items():
        directory, _, name = path.rpartition("/")
        if path == CONFIG_PATH:
            config = entry
            continue
        if directory not in PLAN_DIRS:
            continue
        if directory not in copied:
            dirs[directory] = dict(dirs.get(directory, {}))
            copied.add(directory)
        entries = dirs[directory]
        if entry is None:
            entries.pop(name, None)
            continue
        if name not in entries:
            grown.add(directory)
        entries[name] = entry
    for directory in grown:  # new files: names stay in order
        dirs[directory] = dict(sorted(dirs[directory].items()))
    return Catalog(config, dirs)


def _delta_files(data: Any) -> tuple[Any, ...] | None:
    """A stored delta (a tree's: ``PlanCache.save_tree``; the work tree's rows:
    ``save_work_tree``) as a catalog of the files it wrote (for ``Known``: a read after a
    transition finds the file it wrote there)."""
    if not isinstance(data, tuple) or len(data) not in (3, 4) or not isinstance(data[-1], dict):
        return None
    config: Entry | None = None
    dirs: dict[str, dict[str, Entry]] = {}
    for path, entry in data[-1].items():
        if entry is None:
            continue
        if path == CONFIG_PATH:
            config = entry
        else:
            directory, _, name = path.rpartition("/")
            dirs.setdefault(directory, {})[name] = entry
    return (config, dirs)


class _Table:
    """A directory's stat table as columns, as it is stored (``pack``: a 50,000-file table as
    tuples took longer to load than the rest of a read, and held tens of megabytes): the names
    in order, their blob IDs ("" for a file that is not .md, listed, never read), and the stat
    data as machine integers, (mtime, ctime) and (size, inode) per file."""

    __slots__ = ("blobs", "names", "sizes", "times")

    def __init__(self, names: list[str], blobs: list[str], times: array[int],
                 sizes: array[int]) -> None:
        self.names = names
        self.blobs = blobs
        self.times = times
        self.sizes = sizes

    @classmethod
    def empty(cls) -> _Table:
        return cls([], [], array("q"), array("Q"))

    @classmethod
    def unpack(cls, packed: Packed) -> _Table:
        names, joined, times_raw, sizes_raw = packed
        times = array("q")
        times.frombytes(times_raw)
        sizes = array("Q")
        sizes.frombytes(sizes_raw)
        return cls(names, joined.split("\n") if names else [], times, sizes)

    def pack(self) -> Packed:
        return (self.names, "\n".join(self.blobs), self.times.tobytes(), self.sizes.tobytes())

    def add(self, name: str, stat: Stat) -> None:
        self.names.append(name)
        self.blobs.append(stat[0])
        self.times.extend(stat[1:3])
        self.sizes.extend(stat[3:5])

    def put(self, index: int, stat: Stat) -> None:
        self.blobs[index] = stat[0]
        self.times[2 * index:2 * index + 2] = array("q", stat[1:3])
        self.sizes[2 * index:2 * index + 2] = array("Q", stat[3:5])

    def stat(self, index: int) -> Stat:
        return (self.blobs[index], *self.times[2 * index:2 * index + 2],
                *self.sizes[2 * index:2 * index + 2])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Table) and self.names == other.names \
            and self.blobs == other.blobs and self.times == other.times \
            and self.sizes == other.sizes

    __hash__ = None  # type: ignore[assignment]


def _stat_of(entry: Entry | None) -> Stat | None:
    """config.yaml's stored entry's (blob, stat data)."""
    return (entry[0], *entry[4:]) if entry is not None else None


class WorkTree:
    """The work tree's plan files against their stored catalog (see the module docstring).

    Constructing it lists the plan directories and stats every file (a file whose stat data
    changed, or that is racy, is read again and hashed): ``generation`` then says whether
    nothing changed, which is all a stored answer needs. ``catalog()`` brings in the rows,
    parses only new blobs, and stores the catalog again when anything changed."""

    def __init__(self, cache: PlanCache | None, root: str,
                 stats: tuple[int, str, Entry | None, dict[str, Packed]] | None = None) -> None:
        """``stats``: ``cache.load_stats()`` when the caller has read it already."""
        self.cache = cache
        self.root = root
        stored = stats if stats is not None or cache is None else cache.load_stats()
        self.stored_generation: str | None = None
        taken, self.stored_config = 0, None
        old_dirs: dict[str, Packed] = {}
        if stored is not None:
            taken, self.stored_generation, self.stored_config, old_dirs = stored
        self._refresh = _Refresh(root, _stat_of(self.stored_config), old_dirs, taken - RACY_NS)
        self._refresh.run()
        self._catalog: Catalog | None = None

    @property
    def generation(self) -> str | None:
        """The stored catalog's generation when the files are exactly what it holds."""
        if self._catalog is not None:
            return self._catalog.generation
        if self.stored_generation is None or self._refresh.changed(self._refresh.taken - RACY_NS):
            return None
        return self.stored_generation

    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = self._build()
        return self._catalog

    def config_entry(self) -> Entry | None:
        """config.yaml's entry (settings), without the rows when it did not change."""
        refresh = self._refresh
        if self._catalog is None and self.stored_config is not None \
                and refresh.config == refresh.old_config and CONFIG_PATH not in refresh.pending:
            return self.stored_config[:4]
        return self.catalog().config

    def _build(self) -> Catalog:
        refresh = self._refresh
        rows = None
        if self.cache is not None and self.stored_generation is not None:
            rows = self.cache.load_rows(self.stored_generation)
        if rows is not None and refresh.unchanged:
            rows.generation = self.stored_generation  # the very files the rows were made of
            refresh.release()
            return rows
        if rows is None and self.stored_generation is not None:
            # The rows are lost (a cache damaged or half deleted): read every file again.
            refresh = self._refresh = _Refresh(self.root, None, {}, 0)
            refresh.run()
        changed: dict[str, Entry | None] | None = {} if rows is not None else None
        rows = rows or Catalog(None, {})
        known = Known(self.cache, rows, work_tree=False, trees_after=_PARSE_FIRST)
        tables = refresh.tables()
        store = refresh.changed(refresh.taken - RACY_NS)  # before the parse takes what is pending
        config = None
        if refresh.config is not None:
            config = self._entry(CONFIG_PATH, refresh.config, rows.config, known, changed)
            refresh.config = (config[0], *refresh.config[1:])
        if changed is not None and rows.config is not None and config is None:
            changed[CONFIG_PATH] = None
        dirs: dict[str, dict[str, Entry]] = {}
        pending = refresh.pending
        for directory, table in tables.items():
            old = rows.dirs.get(directory, {})
            entries = dirs[directory] = {}
            for index, name in enumerate(table.names):
                entry = old.get(name)
                if entry is None or entry[0] != table.blobs[index] \
                        or (pending and f"{directory}/{name}" in pending):
                    entry = self._entry(f"{directory}/{name}", table.stat(index), entry, known,
                                        changed)
                    table.blobs[index] = entry[0]  # read again: maybe changed since its stat
                entries[name] = entry
            if changed is not None:  # the files gone
                changed.update((f"{directory}/{name}", None) for name in old if name not in entries)
        catalog = Catalog(config, dirs)
        if self.cache is not None:
            if store:
                config_stat = (*config, *refresh.config[1:]) \
                    if config is not None and refresh.config is not None else None
                self.cache.save_work_tree(refresh.taken, catalog, config_stat, tables, changed)
                if changed is not None and self.stored_generation is not None:
                    catalog.follows = (self.stored_generation, list(changed))
            else:
                catalog.generation = self.stored_generation  # the same files as stored
        refresh.release()  # the stat tables are stored: let go of them
        return catalog

    def _entry(self, relpath: str, stat: Stat, old: Entry | None, known: Known,
               changed: dict[str, Entry | None] | None) -> Entry:
        """The entry of a file the rows do not hold as it is (it goes in ``changed``)."""
        changed_file = relpath in self._refresh.pending
        pending = self._refresh.pending.pop(relpath, None)
        if not changed_file and old is not None and old[0] == stat[0]:
            return old
        if not changed_file and not stat[0]:
            entry = _NOT_PLAN_FILE
        elif pending is None:  # the rows were for other content, or its bytes were not kept
            raw = self._refresh.read(relpath)
            raw = b"" if raw is None else raw
            blob = blob_id(raw)
            entry = known.find(relpath, blob) or parse_entry(relpath, raw, blob)
        else:
            entry = known.find(relpath, stat[0]) or parse_entry(relpath, pending, stat[0])
        if changed is not None:
            changed[relpath] = entry
        return entry


def work_tree_catalog(cache: PlanCache | None, root: str) -> Catalog:
    """The work tree's catalog, brought up to date with the files on disk."""
    return WorkTree(cache, root).catalog()


class _Refresh:
    """One pass over the work tree's plan files against the stored stat table: the new table,
    and the bytes of every file whose blob is not the one stored."""

    def __init__(self, root: str, old_config: Stat | None, old_packed: dict[str, Packed],
                 trusted_before: int) -> None:
        self.root = root
        self.old_config = old_config
        self.old_packed = old_packed
        self.trusted_before = trusted_before  # an mtime at or after this proves nothing
        self.taken = time.time_ns()
        self.config: Stat | None = None
        # Per plan directory its table as found; None: exactly the stored one (not unpacked).
        self._tables: dict[str, _Table | None] = {}
        # The files whose blob is not the stored one, with their bytes while they are few
        # (None: read again when parsed; a cold read of 50,000 files held them all).
        self.pending: dict[str, bytes | None] = {}
        self._pending_bytes = 0
        self.reread_mtimes: list[int] = []  # of the files read again (changed, new or racy)
        self.differs = False  # a table differs from the stored one (names, blobs or stat data)
        self.unchanged = False  # every plan file is as stored (the common case)

    def read(self, relpath: str) -> bytes | None:
        try:
            with open(os.path.join(self.root, relpath), "rb") as handle:
                return handle.read()
        except OSError:
            return None

    def run(self) -> None:
        config_path = os.path.join(self.root, CONFIG_PATH)
        try:
            config_stat: os.stat_result | None = os.stat(config_path)
        except OSError:
            config_stat = None
        if config_stat is not None and _is_file(config_stat.st_mode):
            self.config = self._check(CONFIG_PATH, config_stat, self.old_config)
        for directory in PLAN_DIRS:
            packed = self.old_packed.get(directory)
            try:
                directory_fd = os.open(os.path.join(self.root, directory), os.O_RDONLY | os.O_DIRECTORY)
            except OSError:
                self._tables[directory] = _Table.empty()
                self.differs = self.differs or (packed is not None and bool(packed[0]))
                continue
            try:
                names = [name for name in os.listdir(directory_fd) if name[0] != "."]
                names.sort()
                if packed is None or names != packed[0] or not self._patch(directory, directory_fd, packed):
                    self._scan(directory, directory_fd, names)
            finally:
                os.close(directory_fd)
        self.unchanged = not self.differs and not self.pending and self.config == self.old_config \
            and bool(self.old_packed)

    def _patch(self, directory: str, directory_fd: int, packed: Packed) -> bool:
        """The loop every read runs over every file when the directory lists the stored names:
        a stat relative to the directory (the kernel walks no path) and a few compares against
        machine integers; the stored table is copied only when a file differs, and patched
        there. False: a file is no longer a regular file or went (``_scan`` then)."""
        stat = os.stat
        trusted_before = self.trusted_before
        names = packed[0]
        stored = _Table.unpack((names, "", packed[2], packed[3]))
        times, sizes = stored.times, stored.sizes
        table: _Table | None = None
        index = 0
        for name in names:
            try:
                found = stat(name, dir_fd=directory_fd)
            except OSError:
                return False
            if found.st_mode & 0o170000 != 0o100000:
                return False
            if (times[index] != found.st_mtime_ns or found.st_mtime_ns >= trusted_before
                    or times[index + 1] != found.st_ctime_ns
                    or sizes[index] != found.st_size or sizes[index + 1] != found.st_ino) \
                    and name.endswith(".md"):  # other files are listed, not read
                if table is None:
                    table = _Table.unpack(packed)
                old = table.stat(index // 2)
                entry = self._check(f"{directory}/{name}", found, old)
                if entry is None:
                    return False
                if entry != old:
                    table.put(index // 2, entry)
                    self.differs = True
            index += 2
        self._tables[directory] = table
        return True

    def _scan(self, directory: str, directory_fd: int, names: list[str]) -> None:
        """The table made anew (names added or gone): each file against the stored one of its
        name, a file whose stat data differs read again."""
        stat = os.stat
        trusted_before = self.trusted_before
        packed = self.old_packed.get(directory)
        old = _Table.unpack(packed) if packed is not None else _Table.empty()
        where = {name: index for index, name in enumerate(old.names)}.get
        old_times, old_sizes = old.times, old.sizes
        into = _Table.empty()
        for name in names:
            try:
                found = stat(name, dir_fd=directory_fd)
            except OSError:
                continue
            if found.st_mode & 0o170000 != 0o100000:
                continue  # not a regular file (a directory, a socket)
            if not name.endswith(".md"):
                into.add(name, ("", 0, 0, 0, 0))
                continue
            index = where(name)
            mtime = found.st_mtime_ns
            if index is not None and old_times[2 * index] == mtime and mtime < trusted_before \
                    and old_times[2 * index + 1] == found.st_ctime_ns \
                    and old_sizes[2 * index] == found.st_size \
                    and old_sizes[2 * index + 1] == found.st_ino:
                into.add(name, (old.blobs[index], mtime, found.st_ctime_ns, found.st_size,
                                found.st_ino))
                continue
            entry = self._check(f"{directory}/{name}", found,
                                old.stat(index) if index is not None else None)
            if entry is not None:
                into.add(name, entry)
        self._tables[directory] = into
        self.differs = self.differs or into != old

    def _check(self, relpath: str, stat: os.stat_result, old: Stat | None) -> Stat | None:
        sig = (stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size, stat.st_ino)
        if old is not None and old[1:] == sig and sig[0] < self.trusted_before:
            return old
        raw = self.read(relpath)
        if raw is None:
            return None
        blob = blob_id(raw)
        self.reread_mtimes.append(sig[0])
        if old is None or old[0] != blob:
            self._pending_bytes += len(raw)
            self.pending[relpath] = raw if self._pending_bytes <= _PENDING_BYTES else None
        return (blob, *sig)

    def tables(self) -> dict[str, _Table]:
        """Per plan directory its stat table as found."""
        return {directory: table if table is not None else _Table.unpack(self.old_packed[directory])
                for directory, table in self._tables.items()}

    def release(self) -> None:
        """Let go of the stat tables (megabytes at 50,000 files) once they are stored; only
        ``taken`` is read after this."""
        self.old_packed, self._tables, self.pending = {}, {}, {}

    def changed(self, racy_limit: int) -> bool:
        """Worth storing: a file changed, appeared or went, its stat data changed (a touch, a
        checkout of the same content), or a racy file read again would no longer be racy."""
        if self.unchanged:
            return False
        if self.pending or self.config != self.old_config or self.differs:
            return True
        return any(mtime < racy_limit for mtime in self.reread_mtimes)


def _is_file(mode: int) -> bool:
    return (mode & 0o170000) == 0o100000
