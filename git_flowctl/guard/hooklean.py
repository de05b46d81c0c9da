"""The pre-commit hook of a commit that changes a few plan files, without click, pygit2 or a read
of the whole plan (issue #11: at most 6x interpreter start-up at 5,000 tasks).

What the staged change is comes from one ``git diff-index --cached`` (run by the console
script, which exits at once when it lists nothing: guard/hookfast.py); HEAD's plan from the
validator's snapshot of its ``.flow`` tree, stored by a command that read it before
(``PlanCache.load_checked``), or derived from its parent's through the diff of the two trees
(stored by the writer, else one ``git diff-tree``); HEAD's findings from the ItemStore. The
staged snapshot is HEAD's with the changed files (``Snapshot.derive``), its findings HEAD's with
what the changed files affect (``Snapshot.finding_parts``), and the rules those of the normal
hook (``check_change``, ``new_findings``): guard/githooks.pre_commit, in the plain case.

It answers only "nothing to report" (exit 0, silent). Anything else returns None and the normal
hook runs: a finding to print, a merge, revert, cherry-pick or squash in progress, trailers of a
``--no-commit`` chain waiting, an unborn branch, a file that is not plain, a snapshot not
stored. So whatever it answers is what the normal hook answers (tests/test_hook_lean.py).
"""

from __future__ import annotations

import os

from git_flowctl.model.layout import FLOW_DIR
from git_flowctl.repo import leangit

TYPE_CHECKING = False
if TYPE_CHECKING:
    from git_flowctl.guard.validate import ItemStore, Snapshot
    from git_flowctl.repo.catalog import PlanCache

# Files in the git directory that mean the commit is not a plain one: the normal hook reads them.
_IN_PROGRESS = ("MERGE_HEAD", "REVERT_HEAD", "CHERRY_PICK_HEAD", "SQUASH_MSG", "MERGE_MSG",
                "flow-pending-trailers.json")  # repo/pending.PENDING_FILE
_MAX_CHANGES = 64  # beyond this, the normal hook (a read of the whole index) is as fast
_PLAIN_MODES = ("100644", "100755")


class _Fallback(Exception):
    """The normal hook answers."""


def pre_commit(staged: bytes) -> int | None:
    """0 when the normal pre-commit hook would find nothing to report; None when it must run.
    ``staged``: what the index changes under .flow/ (hookfast.staged_under_flow)."""
    try:
        return _pre_commit(staged)
    except _Fallback:
        return None
    except Exception:
        if os.environ.get("FLOW_DEBUG"):
            raise
        return None  # a bug here must not cost a check: the normal hook makes it


def _pre_commit(staged: bytes) -> int | None:
    where = _git(".", "rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir",
                 "--show-toplevel", "HEAD", f"HEAD:{FLOW_DIR}").decode("utf-8", "surrogateescape").split("\n")
    if len(where) < 5:
        raise _Fallback
    git_dir, common_dir, root, head, flow_tree = where[:5]
    if any(os.path.exists(os.path.join(git_dir, name)) for name in _IN_PROGRESS):
        raise _Fallback
    changes = _raw_changes(staged.split(b"\0"), "")
    if not changes:
        raise _Fallback

    _defer_inspect()
    from git_flowctl.guard.validate import ItemStore, check_change, new_findings

    store = ItemStore(common_dir, root)
    parent = _head_snapshot(root, store, head, flow_tree)

    def read(path: str) -> bytes:
        return _blob(root, path, changes[path])

    after = parent.derive("index", dict(changes), read, {})
    findings = check_change([parent], after, message=None)
    findings.extend(new_findings(parent.findings(), after.findings()))
    if findings:
        raise _Fallback  # the normal hook prints them, in its words
    store.save()
    return 0


def _defer_inspect() -> None:
    """Import ``dataclasses`` with its ``import inspect`` deferred to first use.

    dataclasses uses inspect only to write a docstring for a class that has none (every one the
    validator loads has one), and importing inspect (ast, dis, tokenize) costs a third of this
    hook's imports. The stand-in loads the real module the first time anything is asked of it,
    so nothing changes but when it is loaded; other modules that import inspect get the real one.
    """
    import sys

    if "dataclasses" in sys.modules or "inspect" in sys.modules:
        return
    import types

    class _Deferred(types.ModuleType):
        def __getattr__(self, name: str) -> object:
            import importlib

            if sys.modules.get("inspect") is self:
                del sys.modules["inspect"]
            real = importlib.import_module("inspect")
            self.__dict__.update(real.__dict__)
            return getattr(real, name)

    stand_in = _Deferred("inspect")
    sys.modules["inspect"] = stand_in
    try:
        import dataclasses  # noqa: F401  (with the stand-in as its ``inspect``)
    finally:
        if sys.modules.get("inspect") is stand_in:
            del sys.modules["inspect"]


def _git(root: str, *args: str) -> bytes:
    found = leangit.output(root, *args)
    if found is None:
        raise _Fallback
    return found


def _raw_changes(fields: list[bytes], prefix: str) -> dict[str, str | None]:
    """The changes of git's ``--raw -z`` output, paths under ``prefix``; only plain files."""
    changes: dict[str, str | None] = {}
    index = 0
    while index + 1 < len(fields) and fields[index].startswith(b":"):
        meta = fields[index][1:].decode("ascii").split(" ")
        path = prefix + fields[index + 1].decode("utf-8", "surrogateescape")
        index += 2
        if len(meta) != 5:
            raise _Fallback
        _, new_mode, _, new_blob, status = meta
        if any(part.startswith(".") for part in path[len(FLOW_DIR) + 1:].split("/")):
            raise _Fallback  # a hidden file or directory: the normal hook decides what counts
        if status == "D":
            changes[path] = None
        elif status in ("A", "M") and new_mode in _PLAIN_MODES:
            changes[path] = new_blob
        else:
            raise _Fallback  # unmerged, a type change, a link or a submodule
    if index < len(fields) - 1 or len(changes) > _MAX_CHANGES:
        raise _Fallback
    return changes


def _blob(root: str, path: str, blob: str | None) -> bytes:
    """The staged content of ``path``: the work tree's file when it is the staged blob (git's
    hash says so), else git's copy."""
    if blob is None:
        raise _Fallback
    from git_flowctl.repo.catalog import blob_id

    try:
        with open(os.path.join(root, path), "rb") as handle:
            data = handle.read()
    except OSError:
        data = None
    if data is not None and blob_id(data) == blob:
        return data
    return _git(root, "cat-file", "blob", blob)


def _head_snapshot(root: str, store: ItemStore, head: str, flow_tree: str) -> Snapshot:
    """HEAD's plan as the validator reads it: stored by tree, or derived from its parent's."""
    cache = store.plan_cache
    found = _stored(cache, store, head, flow_tree)
    if found is not None:
        return found
    base_tree, changes = _from_parent(root, cache, head, flow_tree)
    base = _stored(cache, store, head, base_tree)
    if base is None:
        raise _Fallback  # the normal hook reads HEAD whole and stores it

    def read(path: str) -> bytes:
        blob = changes[path]
        if blob is None:
            raise _Fallback
        return _git(root, "cat-file", "blob", blob)

    snapshot: Snapshot = base.derive(head[:7], changes, read, store)
    snapshot.content = f"tree:{flow_tree}"
    record = snapshot.record()
    if record is not None:
        cache.save_checked(flow_tree, record)
    return snapshot


def _stored(cache: PlanCache, store: ItemStore, head: str, flow_tree: str) -> Snapshot | None:
    from git_flowctl.guard.validate import Snapshot

    snapshot = Snapshot.from_record(head[:7], cache.load_checked(flow_tree))
    if snapshot is not None:
        snapshot.content = f"tree:{flow_tree}"
        snapshot._store = store
    return snapshot


def _from_parent(root: str, cache: PlanCache, head: str, flow_tree: str) -> tuple[str, dict[str, str | None]]:
    """(a ``.flow`` tree whose snapshot is stored, the changes from it to ``flow_tree``): a
    diff the writer stored, else HEAD's first parent's tree and git's diff of the two."""
    for key, changes in cache.tree_diffs().items():
        old, _, new = key.partition(":")
        if new == flow_tree and cache.has_checked(old):
            return old, changes
    parent_tree = _git(root, "rev-parse", f"{head}^:{FLOW_DIR}").decode().strip()
    raw = _git(root, "diff-tree", "-r", "-z", "--raw", "--no-renames", "--no-abbrev",
               parent_tree, flow_tree).split(b"\0")
    return parent_tree, _raw_changes(raw, FLOW_DIR + "/")
