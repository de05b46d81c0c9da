"""The transition writer (DESIGN §2): the only code that writes ``.flow/`` files.

One call, ``apply``, turns a ``Change`` into a commit on the current branch whose only changes are
the change's files, without touching anything else the user has staged or modified:

1. Lock the worktree's writer lock, refuse during a merge, rebase, cherry-pick, revert or bisect.
2. Read the plan from the base (HEAD's tree; the index with ``--no-commit``) and let the caller
   build and validate the change against it (state machine, gates).
3. Refuse when a file to change has edits of the user's own (``git status`` not clean for it).
4. Build the new tree in memory from the base tree (git-revise style: the index is not used),
   create the commit (signed through ``git commit-tree -S`` when ``commit.gpgsign`` asks),
   and compare-and-swap the branch ref against the HEAD that was read. When another process moved
   the branch meanwhile, start again from step 2 on the new HEAD.
5. Write each work tree file atomically (temp file, fsync, rename, mode kept) and update only
   those paths' index entries.

Objects are created before any visible change and the ref moves in one atomic step, so a crash
leaves the old state or the new one. Between steps 4 and 5 a journal in the git directory
(``flow-transition.json``: the commit and each path's blob before and after) says what was
being done, so the next transition, or ``recover --apply``, completes a work tree and index that
a crash left behind HEAD, and sweeps the temporary files it left (docs/architecture.md).
"""

from __future__ import annotations

import contextlib
import difflib
import enum
import errno
import json
import os
import random
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from git_flowctl.model.errors import ConflictError, FlowError
from git_flowctl.model.layout import CONFIG_PATH, FLOW_DIR, PLAN_DIRS, is_gap_path
from git_flowctl.model.trailers import Evidence, Record, Transition, compose_message
from git_flowctl.repo import gitindex, pending
from git_flowctl.repo.catalog import with_entries, written_entries
from git_flowctl.repo.locks import refuse_if_stale, stale_lock_error, wait_until_gone
from git_flowctl.repo.plan import Plan
from git_flowctl.repo.sources import IndexSource, Source, TreeSource, blob_bytes

if TYPE_CHECKING:
    import pygit2

    from git_flowctl.repo.workspace import Workspace

_CAS_ATTEMPTS = 50
_DURABLE_WRITES = 16  # more files than this are written without an fsync each
# The attributes that make git's checkout change a blob's bytes (gitattributes(5)).
_FILTER_ATTRIBUTES = ("filter", "text", "eol", "crlf", "ident", "working-tree-encoding")
_INDEX_ATTEMPTS = 100
JOURNAL = "flow-transition.json"  # in the worktree's git directory, while one is being recorded


class Mode(enum.Enum):
    COMMIT = "commit"
    STAGE = "stage"  # --no-commit: write and stage; prepare-commit-msg adds the trailers
    DRY_RUN = "dry-run"


@dataclass
class Change:
    """What a command wants recorded: files (None deletes), trailers, and its JSON result."""

    subject: str
    writes: dict[str, bytes | None]
    transitions: list[Transition] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)  # Flow-Rename, Flow-Archive
    # Paths the change brings back although they are deleted from the work tree or the index
    # (`recover`): not refused as "uncommitted edits", and written even when HEAD already has them.
    restores: frozenset[str] = frozenset()
    # Record the commit even when no file changes (`recover` adopting a file history missed).
    allow_empty: bool = False

    def trailer_lines(self) -> list[str]:
        return ([t.line() for t in self.transitions] + [e.line() for e in self.evidence]
                + [r.line() for r in self.records])


@dataclass
class Outcome:
    change: Change
    mode: Mode
    message: str
    commit: str | None = None
    diff: str = ""
    noop: bool = False

    def payload(self) -> dict[str, Any]:
        """The JSON fields every mutating command adds to its result."""
        data: dict[str, Any] = dict(self.change.result)
        data["commit"] = self.commit
        if self.mode is Mode.DRY_RUN:
            data["dry_run"] = True
            data["diff"] = self.diff
            data["commit_message"] = self.message
        if self.mode is Mode.STAGE:
            data["staged"] = sorted(self.change.writes)
            data["trailers"] = self.change.trailer_lines()
        if self.noop:
            data["changed"] = False
        return data


Builder = Callable[[Plan], Change]


class Writer:
    def __init__(self, workspace: Workspace, *, message: str | None = None,
                 load: Callable[[Source], Any] | None = None) -> None:
        self.ws = workspace
        self.repo = workspace.repo
        self.extra_message = message
        # What a builder is given: the base's Plan, or (``load``) something else read from the
        # base's source; `recover` repairs trees that do not load as a Plan.
        self._load = load

    def _plan(self, source: Source) -> Any:
        if self._load is not None:
            return self._load(source)
        return Plan.load(source, cache=self.ws.plan_cache)

    # The one entry point ----------------------------------------------------------------------

    def apply(self, build: Builder, mode: Mode = Mode.COMMIT) -> Outcome:
        if mode is Mode.DRY_RUN:
            return self._dry_run(build)
        self.ws.require_flow_checked_out()
        self._refuse_during_operation()
        with self._lock():
            self.finish_interrupted()
            if mode is Mode.STAGE:
                return self._stage(build)
            return self._commit(build)

    # Modes ------------------------------------------------------------------------------------

    def _commit(self, build: Builder) -> Outcome:
        for attempt in range(_CAS_ATTEMPTS):
            head = _Head.read(self.repo)
            plan = self._plan(TreeSource(self.repo, head.tree, label="HEAD"))
            change = build(plan)
            message = self._message(change)
            if not change.writes and not change.allow_empty:
                return Outcome(change, Mode.COMMIT, message, noop=True)
            check_contents(change)
            self._refuse_dirty(change, head.tree, staged_ok=False)
            tree_id, blobs = self._build_tree(head.tree, change.writes)
            if head.tree is not None and tree_id == head.tree.id and not change.allow_empty:
                if change.restores:  # HEAD has them already: bring back the files only
                    restored = {path: change.writes[path] for path in change.restores}
                    self._journal(None, _blob_ids(head.tree, restored), blobs)
                    self._update_work_tree(restored, blobs)
                    self._update_index(restored, blobs)
                    self._journal_done()
                    return Outcome(change, Mode.COMMIT, message)
                return Outcome(change, Mode.COMMIT, message, noop=True)
            # The index is rewritten after the commit: a lock left by a crashed git is met now,
            # while nothing is committed yet, not after (issue #14).
            refuse_if_stale(self._index_lock(), "the index")
            commit_id = self._create_commit(tree_id, head.parents, message)
            self._journal(str(commit_id), _blob_ids(head.tree, change.writes), blobs)
            _crash_point("before-ref")
            if head.advance(self.repo, commit_id, f"flow: {change.subject}"):
                _crash_point("after-ref")
                self._update_work_tree(change.writes, blobs)
                _crash_point("after-work-tree")
                self._update_index(change.writes, blobs, committed=True)
                _crash_point("after-index")
                self._journal_done()
                self._note_in_snapshot(plan, head.tree, tree_id, commit_id, change.writes, blobs)
                return Outcome(change, Mode.COMMIT, message, commit=str(commit_id))
            self._journal_done()  # lost the race: that commit never became HEAD
            head.refuse_stale_lock(self.ws)
            time.sleep(random.uniform(0.001, 0.005) * (1 + attempt))
        raise ConflictError("gave up: the branch kept moving while recording the change",
                            hint="another process is committing quickly; try again")

    def _stage(self, build: Builder) -> Outcome:
        index = gitindex.open_index(self.ws)
        plan = self._plan(IndexSource(self.repo, index))
        change = build(plan)
        message = self._message(change)
        if not change.writes:
            return Outcome(change, Mode.STAGE, message, noop=True)
        check_contents(change)
        head = _Head.read(self.repo)
        self._refuse_dirty(change, head.tree, staged_ok=True)
        previous = {path: IndexSource(self.repo, index).blob_id(path) for path in change.writes}
        committed = {path: TreeSource(self.repo, head.tree, "HEAD").blob_id(path)
                     for path in change.writes}
        blobs = {path: self.repo.create_blob(content)
                 for path, content in change.writes.items() if content is not None}
        refuse_if_stale(self._index_lock(), "the index")
        waiting = self._pending_record(change, blobs, previous, committed)
        self._journal(None, previous, blobs, waiting)
        self._update_work_tree(change.writes, blobs)
        _crash_point("staged-work-tree")
        self._update_index(change.writes, blobs)
        _crash_point("staged-index")
        pending.record(self.ws.git_dir, **waiting)
        self._journal_done()
        return Outcome(change, Mode.STAGE, message)

    def _dry_run(self, build: Builder) -> Outcome:
        head = _Head.read(self.repo)
        plan = self._plan(TreeSource(self.repo, head.tree, label="HEAD"))
        change = build(plan)
        message = self._message(change)
        check_contents(change)
        self._refuse_dirty(change, head.tree, staged_ok=False)
        diff_parts: list[str] = []
        for path, content in sorted(change.writes.items()):
            old = _blob_text(self.repo, head.tree, path)
            new = content.decode("utf-8", errors="replace") if content is not None else ""
            diff_parts.extend(difflib.unified_diff(
                old.splitlines(keepends=True), new.splitlines(keepends=True),
                fromfile=f"a/{path}" if old else "/dev/null",
                tofile=f"b/{path}" if content is not None else "/dev/null"))
        return Outcome(change, Mode.DRY_RUN, message, diff="".join(diff_parts),
                       noop=not change.writes)

    # Steps ------------------------------------------------------------------------------------

    def _message(self, change: Change) -> str:
        return compose_message(change.subject, self.extra_message, change.trailer_lines())

    def _refuse_during_operation(self) -> None:
        operation = self.ws.operation_in_progress()
        if operation is not None:
            what, how = operation
            raise FlowError(f"{what} is in progress; flow state changes wait until it is over",
                            hint=how)

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        """Serialize this worktree's writers (read, commit, work tree and index as one step)."""
        return worktree_lock(self.ws.git_dir)

    def _refuse_dirty(self, change: Change, head_tree: pygit2.Tree | None, *, staged_ok: bool) -> None:
        import pygit2

        fs = pygit2.enums.FileStatus
        unstaged = fs.WT_MODIFIED | fs.WT_DELETED | fs.WT_TYPECHANGE | fs.WT_RENAMED | fs.WT_NEW
        staged = fs.INDEX_NEW | fs.INDEX_MODIFIED | fs.INDEX_DELETED | fs.INDEX_RENAMED | fs.INDEX_TYPECHANGE
        for path in sorted(change.writes):
            try:
                flags = self.repo.status_file(path)
            except KeyError:
                continue  # exists nowhere: a new file
            except pygit2.GitError as exc:
                if not gitindex.libgit2_cannot_read(exc):
                    raise
                flags = gitindex.status_flags(self.ws, path)  # a split or sparse index
            shown = self.ws.rel(path)
            if path in change.restores and not flags & ~(fs.WT_DELETED | fs.INDEX_DELETED):
                continue  # deleted, and being restored: nothing of the user's is lost
            if flags & fs.CONFLICTED:
                raise FlowError(f"{shown} has a merge conflict", hint="resolve it and commit first")
            if flags & fs.WT_NEW and not flags & staged:
                raise FlowError(f"{shown} exists but is not committed; it would be overwritten",
                                hint=f"commit it (`git add {shown} && git commit`) or remove it")
            if flags & unstaged:
                raise FlowError(
                    f"{shown} has uncommitted edits; the change would mix them into its commit",
                    hint=f"commit them (`git commit {shown}`) or discard them "
                         f"(`git restore --staged --worktree {shown}`), then try again")
            if flags & staged and not staged_ok:
                raise FlowError(
                    f"{shown} has staged changes that are not committed",
                    hint="commit them first (`git commit`), or use --no-commit to add to them")

    def _build_tree(self, base: pygit2.Tree | None,
                    writes: dict[str, bytes | None]) -> tuple[pygit2.Oid, dict[str, pygit2.Oid]]:
        """The base tree with ``writes`` applied: only the trees along the written paths are
        rebuilt (git-revise style), so a commit of one file costs the same in a plan of 50
        tasks or 50,000 (an in-memory index read and wrote every entry: issue #11)."""
        blobs = {path: self.repo.create_blob(content)
                 for path, content in writes.items() if content is not None}
        changes: dict[str, pygit2.Oid | None] = {path: blobs.get(path) for path in writes}
        tree_id = self._rebuilt(base, changes)
        return (tree_id if tree_id is not None else self.repo.TreeBuilder().write()), blobs

    def _rebuilt(self, tree: pygit2.Tree | None, changes: dict[str, pygit2.Oid | None]) -> pygit2.Oid | None:
        """``tree`` with ``changes`` (path below it -> blob, or None to delete); None when
        nothing is left in it (git keeps no empty trees)."""
        import pygit2

        builder = self.repo.TreeBuilder(tree) if tree is not None else self.repo.TreeBuilder()
        below: dict[str, dict[str, pygit2.Oid | None]] = {}
        for path, blob in changes.items():
            name, _, rest = path.partition("/")
            if rest:
                below.setdefault(name, {})[rest] = blob
                continue
            existing = builder.get(name)
            if blob is None:
                if existing is not None:
                    builder.remove(name)
                continue
            mode = existing.filemode if existing is not None \
                and existing.type == pygit2.enums.ObjectType.BLOB else pygit2.enums.FileMode.BLOB
            builder.insert(name, blob, mode)
        for name, sub_changes in below.items():
            existing = builder.get(name)
            subtree = self.repo[existing.id] if existing is not None \
                and existing.type == pygit2.enums.ObjectType.TREE else None
            assert subtree is None or isinstance(subtree, pygit2.Tree)
            rebuilt = self._rebuilt(subtree, sub_changes)
            if rebuilt is None:
                if existing is not None:
                    builder.remove(name)
            else:
                builder.insert(name, rebuilt, pygit2.enums.FileMode.TREE)
        if len(builder) == 0:
            return None
        return builder.write()

    def _create_commit(self, tree_id: pygit2.Oid, parents: list[pygit2.Oid], message: str) -> pygit2.Oid:
        import pygit2

        author, committer = self.ws.identities
        if not self.ws.config_bool("commit.gpgsign"):
            return self.repo.create_commit(None, author.signature(), committer.signature(),
                                           message, tree_id, parents)
        # Sign exactly as git would, with the user's gpg.format, gpg.program and signing key.
        args = ["commit-tree", str(tree_id), "-S", "-F", "-"]
        for parent in parents:
            args[2:2] = ["-p", str(parent)]
        env = {
            "GIT_AUTHOR_NAME": author.name, "GIT_AUTHOR_EMAIL": author.email,
            "GIT_AUTHOR_DATE": f"@{author.time} {_offset(author.offset_minutes)}",
            "GIT_COMMITTER_NAME": committer.name, "GIT_COMMITTER_EMAIL": committer.email,
            "GIT_COMMITTER_DATE": f"@{committer.time} {_offset(committer.offset_minutes)}",
        }
        result = self.ws.git(*args, input=message.encode("utf-8"), check=False, env=env)
        if result.returncode != 0:
            detail = result.stderr.decode(errors="replace").strip().splitlines()
            raise FlowError(
                f"commit.gpgsign is set but signing failed: {detail[-1] if detail else 'no output'}",
                hint="fix the signing setup (try `git commit --allow-empty -S -m test`), or "
                     "record this one unsigned: `git -c commit.gpgsign=false flow-task ...`")
        return pygit2.Oid(hex=result.stdout.decode().strip())

    def _update_work_tree(self, writes: dict[str, bytes | None],
                          blobs: dict[str, pygit2.Oid]) -> None:
        import pygit2

        through_git = not gitindex.libgit2_reads_index(self.ws)
        # A change of many files (an import) is written as git's own checkout writes: each file
        # atomically, without an fsync each (thousands of them took longer than the rest); the
        # commit holds the content.
        durable = len(writes) <= _DURABLE_WRITES
        autocrlf = None if through_git else self.ws.config_value("core.autocrlf")
        unfiltered = autocrlf is None or autocrlf.lower() in ("false", "no", "off", "0")
        filtered = set() if through_git or not unfiltered else self._filtered_paths(
            [path for path, content in writes.items() if content is not None])
        for path, content in writes.items():
            target = self.ws.root / path
            if content is None:
                with contextlib.suppress(FileNotFoundError):
                    target.unlink()
                if is_gap_path(path):
                    _remove_emptied_folders(target, self.ws.root / FLOW_DIR)
                continue
            if through_git:  # a split or sparse index: libgit2 cannot read the attributes' index
                atomic_write(target, gitindex.checkout_bytes(self.ws, str(blobs[path]), path),
                             durable=durable)
                continue
            if unfiltered and path not in filtered:
                atomic_write(target, content, durable=durable)  # no filter: the blob's bytes
                continue
            # Check out as git would: the blob through the path's filters (eol, smudge).
            blob = self.repo[blobs[path]]
            assert isinstance(blob, pygit2.Blob)
            with pygit2.BlobIO(blob, as_path=path) as stream:
                on_disk = stream.read()
            atomic_write(target, on_disk, durable=durable)

    def _filtered_paths(self, paths: list[str]) -> set[str]:
        """The paths whose checkout runs a filter or converts line endings (an attribute of
        ``_FILTER_ATTRIBUTES`` says something): one `git check-attr` for many paths, libgit2 for
        a few (each lookup costs tens of microseconds in pygit2, a process a few milliseconds)."""
        if len(paths) <= _DURABLE_WRITES:
            return {path for path in paths
                    if any(self.repo.get_attr(path, name) is not None for name in _FILTER_ATTRIBUTES)}
        result = self.ws.git("check-attr", "-z", "--stdin", *_FILTER_ATTRIBUTES,
                             input="\0".join(paths).encode("utf-8", "surrogateescape"), check=False)
        if result.returncode != 0:
            return set(paths)  # cannot tell: every file through its filters
        fields = result.stdout.decode("utf-8", "surrogateescape").split("\0")
        return {fields[index] for index in range(0, len(fields) - 2, 3)
                if fields[index + 2] != "unspecified"}

    def _update_index(self, writes: dict[str, bytes | None], blobs: dict[str, pygit2.Oid],
                      *, committed: bool = False) -> None:
        import pygit2

        last_error: Exception | None = None
        for attempt in range(_INDEX_ATTEMPTS):
            try:
                index = self.repo.index
                index.read(force=True)
            except pygit2.GitError as exc:
                if not gitindex.libgit2_cannot_read(exc):
                    raise
                gitindex.update_entries(self.ws, writes, {p: str(b) for p, b in blobs.items()})
                return
            try:
                for path, content in writes.items():
                    if content is None:
                        with contextlib.suppress(KeyError, OSError, pygit2.GitError):
                            index.remove(path)
                        continue
                    index.add(path)  # hashes the file just written; fills in its stat data
                    if index[path].id != blobs[path]:
                        try:
                            mode = index[path].mode
                        except KeyError:
                            mode = pygit2.enums.FileMode.BLOB
                        index.add(pygit2.IndexEntry(path, blobs[path], mode))
                index.write()
                return
            except (pygit2.GitError, OSError) as exc:
                last_error = exc
                time.sleep(min(0.002 * (attempt + 1), 0.05))
        lock = self._index_lock()
        if lock.exists():
            raise stale_lock_error(lock, "the index", done="the change is committed"
                                   if committed else "the files are written")
        paths = " ".join(self.ws.rel(p) for p in writes)
        raise FlowError(
            f"the index could not be updated: {last_error}",
            hint=f"`git flow-task recover --apply` completes it (or `git reset -q -- {paths}`)")

    def _note_in_snapshot(self, plan: Any, base_tree: pygit2.Tree | None, tree_id: pygit2.Oid | None,
                          commit_id: pygit2.Oid, writes: dict[str, bytes | None],
                          blobs: dict[str, pygit2.Oid]) -> None:
        """Tell the plan snapshot (repo/catalog.py) what this change wrote: the catalog of the
        commit's tree, the base's with the files written (the next read of the work tree finds
        them there by blob ID), so that the next command parses nothing; the diff between the
        two ``.flow`` trees, so that `check` and the hooks walk this commit without comparing
        trees; and the commit's ``.flow`` tree. The snapshot only saves time: whatever goes
        wrong here is left for the next read to rebuild."""
        written = {path: (content, str(blobs[path])) if content is not None else None
                   for path, content in writes.items()}
        cache = self.ws.plan_cache
        try:
            new_flow = _flow_tree_id(self.repo, tree_id)
            if new_flow is None:
                return
            base = getattr(plan, "catalog", None)
            old_flow = _flow_tree_id(self.repo, base_tree.id if base_tree is not None else None)
            if base is not None:
                entries = written_entries(written)
                catalog = with_entries(base, entries)
                catalog.depth = base.depth + 1
                cache.save_tree(new_flow, catalog, base=old_flow, entries=entries)
            if old_flow is not None and base is not None:
                changes: dict[str, str | None] = {}
                for path, item in written.items():
                    if not path.startswith(FLOW_DIR + "/"):
                        continue
                    blob = item[1] if item is not None else None
                    known = base.entry(path)
                    if known is None and (path == CONFIG_PATH or path.rpartition("/")[0] in PLAN_DIRS):
                        old = None  # the catalog lists every file of these directories
                    elif known is not None:
                        old = known[0] or None
                    else:
                        assert base_tree is not None
                        old = TreeSource(self.repo, base_tree, "HEAD").blob_id(path)
                    if old != blob:
                        changes[path] = blob
                cache.remember_tree_diffs({f"{old_flow}:{new_flow}": changes})
            cache.remember_commit_tree(str(commit_id), new_flow)
        except Exception:
            if os.environ.get("FLOW_DEBUG"):
                raise

    # Crashes --------------------------------------------------------------------------------------

    def _index_lock(self) -> Path:
        index = Path(os.environ.get("GIT_INDEX_FILE") or Path(self.repo.path) / "index")
        return index.with_name(index.name + ".lock")

    def _journal(self, commit: str | None, befores: dict[str, str | None],
                 blobs: dict[str, pygit2.Oid], waiting: dict[str, Any] | None = None) -> None:
        """Say what is about to change in the work tree and index, before it does: the commit
        (None: the index only), each path's blob before and after (None: absent), and for
        --no-commit the pending trailers to record once the index holds the change."""
        paths = {path: [before, str(blobs[path]) if path in blobs else None]
                 for path, before in befores.items()}
        data = json.dumps({"commit": commit, "paths": paths, "pending": waiting}).encode()
        target = self.ws.git_dir / JOURNAL
        temp = target.with_name(f".{JOURNAL}.{os.getpid()}")
        temp.write_bytes(data)
        os.replace(temp, target)

    def _journal_done(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.ws.git_dir / JOURNAL).unlink()

    def interrupted(self) -> dict[str, tuple[str | None, str | None]]:
        """The paths a crashed transition left behind HEAD (committed, but its work tree or
        index not updated): path -> (blob before, blob after); {} when there are none."""
        data = read_journal(self.ws.git_dir)
        if data is None or data[0] is None:
            return {}
        commit, paths, _ = data
        try:
            head = str(self.repo.revparse_single("HEAD").id)
        except (KeyError, ValueError):
            return {}
        return paths if head == commit else {}

    def finish_interrupted(self) -> list[str]:
        """Complete what a crash cut short (the journal), before anything else: the work tree
        and index of a transition committed to HEAD are brought to HEAD's blobs, where they
        still hold what the transition found or wrote (a later edit of the user's is left
        alone); the temporary files it left are removed. Returns the paths completed."""
        data = read_journal(self.ws.git_dir)
        if data is None:
            return []
        import pygit2

        commit, paths, waiting = data
        # A commit: only if HEAD is still that commit. --no-commit: the index is the target.
        cut_short = self.interrupted() if commit is not None else paths if waiting else {}
        completed: dict[str, bytes | None] = {}
        blobs: dict[str, pygit2.Oid] = {}
        consistent = True
        for path, (before, after) in cut_short.items():
            index = gitindex.open_index(self.ws)  # a split or sparse index too
            try:
                staged: str | None = str(index[path].id)
            except KeyError:
                staged = None
            if staged not in (before, after) or self._work_tree_blob(path) not in (before, after):
                consistent = False
                continue  # changed since the crash: the user's now; recover reports it
            if staged == after and self._work_tree_blob(path) == after:
                continue
            if after is None:
                completed[path] = None
            else:
                blob = self.repo[after]
                assert isinstance(blob, pygit2.Blob)
                completed[path], blobs[path] = blob.data, blob.id
        if completed:
            self._update_work_tree(completed, blobs)
            self._update_index(completed, blobs, committed=commit is not None)
        if commit is None and waiting and consistent:
            pending.record(self.ws.git_dir, **waiting)  # its trailers, for the next `git commit`
        for path in paths:
            sweep_temp_files(self.ws.root / path)
        self._journal_done()
        return sorted(completed)

    def _work_tree_blob(self, path: str) -> str | None:
        """The blob the work tree file would be (git's clean filters applied), None if absent.
        Through git: libgit2 may not read a split index's attributes (gitindex.py)."""
        if not (self.ws.root / path).is_file():
            return None
        result = self.ws.git("hash-object", "--", path, check=False)
        return result.stdout.decode().strip() or None if result.returncode == 0 else None

    def _pending_record(self, change: Change, blobs: dict[str, pygit2.Oid],
                        previous: dict[str, str | None],
                        committed: dict[str, str | None]) -> dict[str, Any]:
        """What a --no-commit change leaves for prepare-commit-msg (``pending.record``'s
        arguments): its trailer lines by path, and the blobs they describe."""
        lines_by_path: dict[str, list[str]] = {}
        for transition in change.transitions:
            file_path = _path_for_subject(change, transition.subject)
            lines_by_path.setdefault(file_path, []).append(transition.line())
        for item in [*change.evidence, *change.records]:
            file_path = _path_for_subject(change, item.subject)
            lines_by_path.setdefault(file_path, []).append(item.line())
        staged = {path: str(blobs[path]) if path in blobs else None for path in change.writes}
        return {"staged": staged, "previous": previous, "committed": committed,
                "lines_by_path": lines_by_path}


def check_contents(change: Change) -> None:
    """Read back every file about to be written (issue #14): a task or epic file must parse and,
    when a Document rendered it, hold exactly the values it was rendered from; config.yaml must
    parse (`config set` checks the type of what it sets). Refused (exit 1) before anything is
    written."""
    from git_flowctl.model.config import CONFIG_PATH, Config
    from git_flowctl.model.document import Document, DocumentError, Rendered, identical

    for path, content in sorted(change.writes.items()):
        if content is None:
            continue
        try:
            if path == CONFIG_PATH:
                Config.parse(content)
                continue
            plan_file = path.endswith(".md") and path.startswith(
                (".flow/tasks/", ".flow/epics/", ".flow/archive/"))
            if not plan_file and not isinstance(content, Rendered):
                continue  # not a frontmatter file (.flow/invariants.md is plain Markdown)
            again = Document.parse(content, path)
        except DocumentError as exc:
            raise FlowError(f"refused to write {path}: it would not read back ({exc.problem})",
                            hint=exc.hint or "nothing was written; fix the value and try again",
                            file=path) from None
        if isinstance(content, Rendered) and (not identical(again.data, content.intended)
                                              or again.body != content.body):
            changed = sorted(key for key in {*again.data, *content.intended}
                             if not identical(again.data.get(key), content.intended.get(key)))
            raise FlowError(f"refused to write {path}: it would read back differently "
                            f"({', '.join(changed) or 'the body'})",
                            hint="nothing was written; this is a bug in git flow-task, "
                                 "please report it with the file", file=path)


Journal = tuple[str | None, dict[str, tuple[str | None, str | None]], dict[str, Any] | None]


def read_journal(git_dir: Path) -> Journal | None:
    """The journal a crashed writer left: the commit (None: a --no-commit change or files
    restored), path -> (blob before, blob after), and the pending trailers of a --no-commit
    change; None when there is none or it cannot be read (nothing it could describe)."""
    try:
        data = json.loads((git_dir / JOURNAL).read_text("utf-8"))
        commit, waiting = data["commit"], data.get("pending")
        paths = {str(path): (pair[0], pair[1]) for path, pair in data["paths"].items()}
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None
    if (commit is not None and not isinstance(commit, str)) \
            or (waiting is not None and not isinstance(waiting, dict)):
        return None
    return commit, paths, waiting


def _blob_ids(tree: pygit2.Tree | None, paths: dict[str, bytes | None]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for path in paths:
        try:
            found[path] = str(tree[path].id) if tree is not None else None
        except KeyError:
            found[path] = None
    return found


def _remove_emptied_folders(removed: Path, top: Path) -> None:
    """The folders a removed gap file leaves empty go, as `git rm` removes them (an archived or
    renumbered epic's gap folder, then ``.flow/gaps`` when it was the last)."""
    folder = removed.parent
    while folder != top and top in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return  # not empty (or not ours to remove): what is above is not empty either
        folder = folder.parent


def sweep_temp_files(target: Path) -> None:
    """Remove the temporary files ``atomic_write`` made for ``target`` and left (a crash)."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(target.parent):
            name = entry.name
            if name.startswith(f".{target.name}.") and name.endswith(".tmp") \
                    and len(name) == len(target.name) + 14:  # "." name "." 8 random ".tmp"
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _crash_point(name: str) -> None:
    """Die here when FLOW_CRASH_AT names this point (tests/test_crashes.py kills a transition
    at each step it can stop between; nothing else sets it)."""
    if os.environ.get("FLOW_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def worktree_lock(git_dir: Path) -> contextlib.AbstractContextManager[None]:
    """The writer lock of the worktree whose git directory this is: its writers, and `land`
    moving the branch checked out there, take turns."""
    return exclusive_lock(git_dir / "flow-writer.lock", seconds=30,
                          busy="another git flow-task command holds the writer lock")


@contextlib.contextmanager
def exclusive_lock(path: Path, *, seconds: float, busy: str) -> Iterator[None]:
    """An flock on ``path``, waited for up to ``seconds`` (then exit 3 with ``busy``)."""
    import fcntl

    with open(path, "a+b") as handle:
        deadline = time.monotonic() + seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                    raise ConflictError(busy, hint=f"wait for it to finish ({path})") from None
                time.sleep(0.005)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _path_for_subject(change: Change, subject: str) -> str:
    written = sorted(change.writes, key=lambda path: change.writes[path] is None)
    for path in written:  # a file written before one deleted (a rename or an archive move)
        if Path(path).stem == subject:
            return path
    return next(iter(change.writes))


def _offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}{minutes % 60:02d}"


def _blob_text(repo: pygit2.Repository, tree: pygit2.Tree | None, path: str) -> str:
    if tree is None:
        return ""
    try:
        entry = tree[path]
    except KeyError:
        return ""
    return blob_bytes(repo, entry.id).decode("utf-8", errors="replace")


@dataclass
class _Head:
    """HEAD as read at the start of an attempt; ``advance`` is the compare-and-swap."""

    branch: str | None  # refs/heads/x, or None when detached
    reference: pygit2.Reference | None  # the ref to swap; None for an unborn branch
    parents: list[pygit2.Oid]
    tree: pygit2.Tree | None

    @classmethod
    def read(cls, repo: pygit2.Repository) -> _Head:
        import pygit2

        head = repo.lookup_reference("HEAD")
        if head.type == pygit2.enums.ReferenceType.SYMBOLIC:
            branch = str(head.target)
            try:
                reference = repo.lookup_reference(branch)
            except KeyError:
                return cls(branch, None, [], None)
        else:
            branch, reference = None, head
        commit = repo[reference.target].peel(pygit2.Commit)
        return cls(branch, reference, [commit.id], commit.tree)

    def refuse_stale_lock(self, ws: Workspace) -> None:
        """After a failed compare-and-swap: a lock on the branch that does not go is one a
        crashed git left (exit 1, named), not a race to retry."""
        name = self.branch or "HEAD"
        lock = (ws.common_dir if name.startswith("refs/") else ws.git_dir) / f"{name}.lock"
        if not wait_until_gone(lock):
            raise stale_lock_error(lock, f"the branch {name.removeprefix('refs/heads/')}")

    def advance(self, repo: pygit2.Repository, commit_id: pygit2.Oid, reflog: str) -> bool:
        import pygit2

        try:
            if self.reference is None:
                assert self.branch is not None
                repo.references.create(self.branch, commit_id, force=False)
            else:
                self.reference.set_target(commit_id, reflog)
            return True
        except (pygit2.GitError, pygit2.AlreadyExistsError, OSError, ValueError):
            return False


def atomic_write(target: Path, content: bytes, *, durable: bool = True) -> None:
    """Write a file so that readers see the old content or the new, never a part (mode kept);
    ``durable``: on disk before this returns (fsync of the file and its directory)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode: int | None = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(temp_name, mode)
        _crash_point("mid-work-tree")
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    if not durable:
        return
    with contextlib.suppress(OSError):
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _flow_tree_id(repo: pygit2.Repository, tree_id: pygit2.Oid | None) -> str | None:
    """The ID of the ``.flow`` tree in the tree ``tree_id`` (None: no such tree)."""
    import pygit2

    if tree_id is None:
        return None
    tree = repo[tree_id]
    entry = tree[FLOW_DIR] if isinstance(tree, pygit2.Tree) and FLOW_DIR in tree else None
    if entry is None or entry.type != pygit2.enums.ObjectType.TREE:
        return None
    return str(entry.id)
