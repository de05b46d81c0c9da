"""The repository a command runs in: discovery, identity, actor, and the plan's sources.

Found from any subdirectory and from linked worktrees, as git finds it (``GIT_DIR`` and friends
honoured). Paths in messages are shown relative to where the user stands.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from git_flowctl.model.errors import FlowError
from git_flowctl.repo import gitcli
from git_flowctl.repo.gitcli import NotARepositoryError
from git_flowctl.repo.leangit import ORIGIN_HEAD as ORIGIN_HEAD  # re-exported
from git_flowctl.repo.leangit import (
    REPOSITORY_ID_FILE,
    find_actor,
    main_worktree_branch,
    read_repository_id,
)
from git_flowctl.repo.leangit import default_candidates as _default_candidates
from git_flowctl.repo.plan import Plan
from git_flowctl.repo.sources import GitTreeSource, IndexSource, TreeSource, WorkTreeSource

if TYPE_CHECKING:
    import pygit2

    from git_flowctl.repo.catalog import PlanCache

_IDENT = re.compile(r"^(?P<name>.*?) <(?P<email>[^>]*)> (?P<time>-?\d+) (?P<offset>[+-]\d{4})$")

_OPERATIONS = {
    "MERGE": ("a merge", "finish it with `git commit` or abandon it with `git merge --abort`"),
    "REBASE": ("a rebase", "finish it with `git rebase --continue` or `git rebase --abort`"),
    "REBASE_INTERACTIVE": ("a rebase", "finish it with `git rebase --continue` or `git rebase --abort`"),
    "REBASE_MERGE": ("a rebase", "finish it with `git rebase --continue` or `git rebase --abort`"),
    "APPLY_MAILBOX": ("a `git am`", "finish it with `git am --continue` or `git am --abort`"),
    "APPLY_MAILBOX_OR_REBASE": ("a rebase or `git am`", "finish it (--continue) or abort it (--abort)"),
    "CHERRYPICK": ("a cherry-pick", "finish it with `git cherry-pick --continue` or `--abort`"),
    "CHERRYPICK_SEQUENCE": ("a cherry-pick", "finish it with `git cherry-pick --continue` or `--abort`"),
    "REVERT": ("a revert", "finish it with `git revert --continue` or `git revert --abort`"),
    "REVERT_SEQUENCE": ("a revert", "finish it with `git revert --continue` or `git revert --abort`"),
    "BISECT": ("a bisect", "end it with `git bisect reset`"),
}


@dataclass(frozen=True)
class Identity:
    name: str
    email: str
    time: int
    offset_minutes: int

    def signature(self) -> pygit2.Signature:
        import pygit2

        return pygit2.Signature(self.name, self.email, self.time, self.offset_minutes)

    def iso(self) -> str:
        """The ident's time in UTC, ISO 8601 with a Z (``2026-11-28T10:08:02Z``)."""
        return datetime.fromtimestamp(self.time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def local_datetime(self) -> datetime:
        zone = timezone(timedelta(minutes=self.offset_minutes))
        return datetime.fromtimestamp(self.time, zone)


def parse_ident(text: str) -> Identity | None:
    match = _IDENT.match(text.strip())
    if match is None:
        return None
    offset = match.group("offset")
    minutes = int(offset[1:3]) * 60 + int(offset[3:5])
    return Identity(match.group("name"), match.group("email"), int(match.group("time")),
                    -minutes if offset[0] == "-" else minutes)




class DefaultBranch(NamedTuple):
    """Where work lands (``Workspace.default_branch_tip``)."""

    name: str  # the ref, e.g. refs/remotes/origin/main
    commit: str  # the commit it points at
    checked_out: bool  # HEAD is this branch (a symbolic ref to it)


def _read_repository_id(path: Path) -> str | None:
    return read_repository_id(str(path.parent)) if path.name == REPOSITORY_ID_FILE else None


def _main_worktree_branch(common_dir: Path) -> str | None:
    return main_worktree_branch(str(common_dir))


_TREE_CACHE_LIMIT = 64 << 20  # bytes: a tree object up to this size stays parsed in libgit2's cache


class Workspace:
    """A non-bare repository and the directory the user stands in.

    Found by git itself (``git rev-parse``, gitcli.locate). The pygit2 repository opens on
    first use of ``repo`` (writes, validation, hooks, ``--rev``); until then config, refs and
    objects are read through ``git`` (gitcli.Reader), so a read command never imports
    pygit2. Both ways give the same answers (tests/test_lean_reads.py).
    """

    def __init__(self, cwd: Path | str | None = None, *, from_env: bool = False) -> None:
        """``from_env`` opens the repository as git's own commands do inside a hook: the index is
        ``GIT_INDEX_FILE`` when set (`git commit -a` and `git commit FILE` use a temporary one)."""
        self.cwd = Path(cwd or os.getcwd()).absolute()
        self._from_env = from_env
        self._repo: pygit2.Repository | None = None
        where = gitcli.locate(str(self.cwd))
        if where.bare:
            raise NotARepositoryError(
                f"{where.git_dir} is a bare repository; git flow-task needs a work tree",
                hint="run it in a clone or worktree of this repository")
        self._git_dir = Path(where.git_dir)
        self.common_dir = Path(where.common_dir)
        if where.work_tree is None:
            # Standing inside the git directory: git names no work tree there, libgit2 does
            # (core.worktree, or the directory holding .git).
            workdir = self.repo.workdir
            if workdir is None:
                raise NotARepositoryError(
                    f"{where.git_dir} has no work tree; git flow-task needs one",
                    hint="run it in a clone or worktree of this repository")
            self.root = Path(workdir).absolute()
        else:
            self.root = Path(where.work_tree)
        self.reader = gitcli.Reader(str(self.root))

    @property
    def repo(self) -> pygit2.Repository:
        """The pygit2 repository, opened on first use: the one git found, with git's work tree."""
        if self._repo is None:
            self._repo = self._open_repo()
        return self._repo

    @property
    def repo_is_open(self) -> bool:
        """pygit2 is open already: reads use it (no process to start); else they use git."""
        return self._repo is not None

    def _open_repo(self) -> pygit2.Repository:
        import pygit2

        # libgit2 caches no tree larger than 4 KiB: a .flow/tasks of 5,000 files (240 KiB)
        # was read and parsed again for every path looked up in it (1.3 ms each, issue #11).
        pygit2.settings.cache_object_limit(pygit2.enums.ObjectType.TREE, _TREE_CACHE_LIMIT)
        flags = pygit2.enums.RepositoryOpenFlag.DEFAULT
        if self._from_env or os.environ.get("GIT_DIR"):
            flags = pygit2.enums.RepositoryOpenFlag.FROM_ENV  # GIT_INDEX_FILE and friends
        try:
            repo = pygit2.Repository(str(self._git_dir), flags)
        except pygit2.GitError as exc:
            raise NotARepositoryError(f"cannot open the repository: {exc}",
                                      hint="check that this is a readable git repository") from None
        root = getattr(self, "root", None)
        if root is not None and (repo.workdir is None or Path(repo.workdir) != root):
            # GIT_WORK_TREE, or GIT_DIR without it (the current directory is the work tree):
            # libgit2 ignores both, git does not.
            repo.workdir = str(root)
        return repo

    # Paths ----------------------------------------------------------------------------------

    @property
    def git_dir(self) -> Path:
        return self._git_dir

    def rel(self, repo_path: str) -> str:
        """A repository-relative path as the user should see it from where they stand."""
        return os.path.relpath(self.root / repo_path, self.cwd)

    def repository_id(self, *, create: bool = True) -> str | None:
        """This repository's ID (a ULID in ``<git-common-dir>/flow-repository-id``), made on
        first use and shared by its worktrees; clones each have their own. A claim names it, so
        a clone tells its own claims from those of another clone with the same git identity
        (DESIGN §6). ``create=False``: None when none was made yet (then no claim is ours)."""
        path = self.common_dir / REPOSITORY_ID_FILE
        found = _read_repository_id(path)
        if found is not None or not create:
            return found
        from git_flowctl.model.ulid import new_ulid

        temp = path.with_name(f".{REPOSITORY_ID_FILE}.{os.getpid()}.{new_ulid()}")
        try:
            temp.write_text(new_ulid() + "\n", "ascii")
            with contextlib.suppress(FileExistsError):
                os.link(temp, path)  # atomic: of two processes making one, the first wins
        except OSError as exc:
            raise FlowError(f"cannot record this repository's ID in {path}: {exc.strerror}",
                            hint="check that the git directory is writable") from None
        finally:
            with contextlib.suppress(OSError):
                temp.unlink()
        found = _read_repository_id(path)
        if found is None:
            raise FlowError(f"{path} does not hold a repository ID",
                            hint=f"remove it; the next command makes a new one ({path})")
        return found

    # git itself -----------------------------------------------------------------------------

    def git(self, *args: str, input: bytes | None = None, check: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        result = gitcli.run_git(str(self.root), *args, input=input, env=env)
        if check and result.returncode != 0:
            raise FlowError(f"git {args[0]} failed: {gitcli.last_error(result)}")
        return result

    def worktrees_by_branch(self) -> dict[str, Path]:
        """Branch ref -> the worktree that has it checked out (``git worktree list``)."""
        result = self.git("worktree", "list", "--porcelain", check=False)
        found: dict[str, Path] = {}
        path: Path | None = None
        for line in result.stdout.decode("utf-8", errors="replace").splitlines():
            if line.startswith("worktree "):
                path = Path(line[len("worktree "):])
            elif line.startswith("branch ") and path is not None:
                found[line[len("branch "):]] = path
            elif line == "bare":
                path = None
        return found

    def config_value(self, key: str) -> str | None:
        """The value git uses for ``key``, through ``git config`` even when pygit2 is open:
        libgit2 sees neither ``git -c`` (GIT_CONFIG_PARAMETERS), nor GIT_CONFIG_COUNT/KEY/VALUE,
        nor GIT_CONFIG_GLOBAL (issue #13), and a setting must mean what it means to git."""
        return self.reader.config(key)

    def config_bool(self, key: str) -> bool:
        """``key`` as git reads a boolean (``git config --type=bool``); False when unset or not
        a boolean."""
        result = self.reader.run("config", "--type=bool", "--get", key)
        return result.returncode == 0 and result.stdout.strip() == b"true"

    @cached_property
    def identities(self) -> tuple[Identity, Identity]:
        """Author and committer, by git's own rules (``GIT_AUTHOR_*`` and config included)."""
        found: list[Identity] = []
        for var in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT"):
            result = self.git("var", var, check=False)
            ident = parse_ident(result.stdout.decode("utf-8", errors="replace"))
            if result.returncode != 0 or ident is None or not ident.email:
                raise FlowError(
                    "no git identity: git cannot tell who is committing",
                    hint='set it with `git config --global user.name "Your Name"` and '
                         '`git config --global user.email you@example.com`')
            found.append(ident)
        return found[0], found[1]

    def actor(self, override: str | None = None) -> str:
        """Who acts: --actor, FLOW_ACTOR, git's email (user.email, GIT_AUTHOR_EMAIL, EMAIL),
        user.name, then $USER."""
        from git_flowctl.model.text import one_line_field

        found = find_actor(override, self.config_value)
        if found is None:
            raise FlowError("no actor: cannot tell who is acting",
                            hint="set FLOW_ACTOR, pass --actor, or set git user.email")
        # It goes into trailers, claim records and commit subjects: one line of UTF-8.
        return one_line_field(found, "the actor")

    def operation_in_progress(self) -> tuple[str, str] | None:
        """(what, how to finish it) while a merge, rebase, cherry-pick, revert or bisect runs."""
        import pygit2

        state = self.repo.state()
        if state == pygit2.enums.RepositoryState.NONE:
            return None
        name = pygit2.enums.RepositoryState(state).name or ""
        return _OPERATIONS.get(name, (f"a git operation ({name.lower()})",
                                      "finish or abort it first"))

    def default_branch(self, configured: str | None = None) -> str | None:
        """The ref where work lands: config ``default_branch``, else the remote's HEAD
        (``origin/HEAD``), else main or master (remote-tracking first), else the branch of the
        main worktree; None when there is none."""
        if not self.repo_is_open:
            found = self._default_branch_ref(configured)
            return found.name if found else None
        refs = self.repo.references
        origin_head = refs.get(ORIGIN_HEAD)
        target = origin_head.target if origin_head is not None else None
        for candidate in _default_candidates(configured, target if isinstance(target, str) else None,
                                             _main_worktree_branch(self.common_dir)):
            if candidate in refs:
                return candidate
        return None

    def default_branch_tip(self, configured: str | None = None) -> DefaultBranch | None:
        """``default_branch`` with the commit it points at and whether HEAD is that branch;
        None when there is no default branch or it names no commit."""
        if not self.repo_is_open:
            found = self._default_branch_ref(configured)
            if found is None:
                return None
            commit = found.oid if found.type == "commit" else self.resolve_commit(found.oid)
            return DefaultBranch(found.name, commit, found.checked_out) if commit else None
        import pygit2

        name = self.default_branch(configured)
        if name is None:
            return None
        try:
            tip = self.repo.revparse_single(name).peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError):
            return None
        head = self.repo.references.get("HEAD")
        checked_out = head is not None and head.type == pygit2.enums.ReferenceType.SYMBOLIC \
            and str(head.target) == name
        return DefaultBranch(name, str(tip.id), checked_out)

    def _default_branch_ref(self, configured: str | None) -> gitcli.Ref | None:
        """git's side of ``default_branch``: one ``for-each-ref`` over the candidates (and a
        second only when origin/HEAD points somewhere else)."""
        main_head = _main_worktree_branch(self.common_dir)
        listed = {ref.name: ref for ref in self.reader.refs(
            ORIGIN_HEAD, *_default_candidates(configured, None, main_head))}
        origin_head = listed.get(ORIGIN_HEAD)
        target = origin_head.symref if origin_head is not None and origin_head.symref else None
        if target is not None and target not in listed:
            listed.update((ref.name, ref) for ref in self.reader.refs(target))
        for candidate in _default_candidates(configured, target, main_head):
            if candidate in listed:
                return listed[candidate]
        return None

    def files_at(self, commit: str, paths: list[str]) -> dict[str, tuple[str, bytes | None]]:
        """``{path: (object ID, content)}`` of the paths present in the commit's tree; the
        content is None where the path is not a file (a directory, a submodule)."""
        if not self.repo_is_open:
            entries: dict[str, tuple[str, bytes | None]] = {}
            for path in paths:
                found = self.reader.object(f"{commit}:{path}")
                if found is not None:
                    entries[path] = (found.oid, found.data if found.type == "blob" else None)
            return entries
        import pygit2

        tree = self.repo[commit].peel(pygit2.Commit).tree
        entries = {}
        for path in paths:
            try:
                entry = tree[path]
            except KeyError:
                continue
            entries[path] = (str(entry.id), bytes(entry.data) if isinstance(entry, pygit2.Blob) else None)
        return entries

    def resolve_commit(self, rev: str) -> str | None:
        """The commit REV names, None when it names none."""
        if not self.repo_is_open:
            found = self.reader.object(f"{rev}^{{commit}}")
            return found.oid if found is not None else None
        import pygit2

        try:
            return str(self.repo.revparse_single(rev).peel(pygit2.Commit).id)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            return None

    # Sources and plans ----------------------------------------------------------------------

    def work_tree_source(self) -> WorkTreeSource:
        self.require_flow_checked_out()
        return WorkTreeSource(self.root)

    def flow_outside_sparse_checkout(self) -> bool:
        """`.flow/` is committed but left out of this sparse checkout (its index entries are
        skip-worktree): the work tree lacks a plan that exists. One `git ls-files`, asked only
        when the work tree has no `.flow/`."""
        if (self.root / ".flow").is_dir():
            return False
        listed = self.git("ls-files", "-t", "-z", "--", ":/.flow", check=False).stdout
        return any(record.startswith(b"S ") for record in listed.split(b"\0"))

    def require_flow_checked_out(self) -> None:
        """Refuse up front in a sparse checkout without `.flow/` (issue #13, finding 5): reading
        the work tree would find no plan, and writing would leave lone files outside it."""
        if self.flow_outside_sparse_checkout():
            raise FlowError(".flow/ is outside your sparse checkout",
                            hint="include it: `git sparse-checkout add .flow` (read commands also "
                                 "read a commit without a checkout: --rev HEAD)")

    def revision_source(self, rev: str) -> TreeSource | GitTreeSource:
        """REV's tree, read from git objects (no checkout): through pygit2 when it is open."""
        commit = self.resolve_commit(rev)
        if commit is None:
            raise FlowError(f"unknown revision {rev!r}",
                            hint="give a branch, tag or commit (`git log --oneline` lists them)")
        if not self.repo_is_open:
            return GitTreeSource(self.reader, commit, label=rev)
        import pygit2

        return TreeSource(self.repo, self.repo[commit].peel(pygit2.Commit).tree, label=rev)

    def index_source(self) -> IndexSource:
        from git_flowctl.repo.gitindex import open_index

        return IndexSource(self.repo, open_index(self))

    @cached_property
    def plan_cache(self) -> PlanCache:
        """The plan snapshots under the common directory (repo/catalog.py)."""
        from git_flowctl.repo.catalog import PlanCache

        return PlanCache(self.common_dir, self.root)

    def load_plan(self, rev: str | None = None, *, strict: bool = True) -> Plan:
        source = self.revision_source(rev) if rev else self.work_tree_source()
        return Plan.load(source, strict=strict, cache=self.plan_cache)
