"""The repository a command runs in: discovery, identity, actor, and the plan's sources.

Found from any subdirectory and from linked worktrees, as git finds it (``GIT_DIR`` and friends
honoured). Paths in messages are shown relative to where the user stands.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from git_flowctl.errors import FlowError
from git_flowctl.plan import Plan
from git_flowctl.sources import IndexSource, TreeSource, WorkTreeSource

if TYPE_CHECKING:
    import pygit2

    from git_flowctl.cache import DocumentCache

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


class NotARepositoryError(FlowError):
    pass


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


class Workspace:
    """An open, non-bare repository and the directory the user stands in."""

    def __init__(self, cwd: Path | str | None = None, *, from_env: bool = False) -> None:
        """``from_env`` opens the repository as git's own commands do inside a hook: the index is
        ``GIT_INDEX_FILE`` when set (`git commit -a` and `git commit FILE` use a temporary one)."""
        import pygit2

        self.cwd = Path(cwd or os.getcwd()).absolute()
        try:
            if from_env or os.environ.get("GIT_DIR"):
                repo = pygit2.Repository(str(self.cwd), pygit2.enums.RepositoryOpenFlag.FROM_ENV)
            else:
                found = pygit2.discover_repository(str(self.cwd))
                if found is None:
                    raise NotARepositoryError(
                        f"not a git repository: {self.cwd}",
                        hint="run this inside a git work tree (or `git init` one)")
                repo = pygit2.Repository(found)
        except pygit2.GitError as exc:
            raise NotARepositoryError(f"cannot open the repository: {exc}",
                                      hint="check that this is a readable git repository") from None
        if repo.is_bare or repo.workdir is None:
            raise NotARepositoryError(
                f"{repo.path.rstrip('/')} is a bare repository; git flow-task needs a work tree",
                hint="run it in a clone or worktree of this repository")
        self.repo: pygit2.Repository = repo
        self.root = Path(repo.workdir).absolute()

    # Paths ----------------------------------------------------------------------------------

    @property
    def git_dir(self) -> Path:
        return Path(self.repo.path)

    @cached_property
    def common_dir(self) -> Path:
        """The directory shared by every worktree (refs, config, claims, the cache)."""
        commondir = self.git_dir / "commondir"
        if commondir.exists():
            return (self.git_dir / commondir.read_text().strip()).resolve()
        return self.git_dir

    def rel(self, repo_path: str) -> str:
        """A repository-relative path as the user should see it from where they stand."""
        return os.path.relpath(self.root / repo_path, self.cwd)

    # git itself -----------------------------------------------------------------------------

    def git(self, *args: str, input: bytes | None = None, check: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        full_env = {**os.environ, "LC_ALL": "C", **(env or {})}
        result = subprocess.run(["git", *args], cwd=self.root, input=input, capture_output=True,
                                env=full_env, check=False)
        if check and result.returncode != 0:
            message = result.stderr.decode(errors="replace").strip().splitlines()
            raise FlowError(f"git {args[0]} failed: {message[-1] if message else result.returncode}")
        return result

    def config_value(self, key: str) -> str | None:
        try:
            value = self.repo.config[key]
        except KeyError:
            return None
        return str(value)

    def config_bool(self, key: str) -> bool:
        try:
            return bool(self.repo.config.get_bool(key))
        except (KeyError, Exception):
            return False

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
        for candidate in (override, os.environ.get("FLOW_ACTOR"), self.config_value("user.email"),
                          os.environ.get("GIT_AUTHOR_EMAIL"), os.environ.get("EMAIL"),
                          self.config_value("user.name"), os.environ.get("USER"),
                          os.environ.get("USERNAME")):
            if candidate and candidate.strip():
                return candidate.strip()
        raise FlowError("no actor: cannot tell who is acting",
                        hint="set FLOW_ACTOR, pass --actor, or set git user.email")

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
        (``origin/HEAD``), else main or master (remote-tracking first); None when there is none."""
        refs = self.repo.references
        candidates: list[str] = []
        if configured:
            candidates += [f"refs/remotes/origin/{configured}", f"refs/heads/{configured}", configured]
        try:
            origin_head = refs["refs/remotes/origin/HEAD"]
            if isinstance(origin_head.target, str):
                candidates.append(origin_head.target)
        except KeyError:
            pass
        for name in ("main", "master"):
            candidates += [f"refs/remotes/origin/{name}", f"refs/heads/{name}"]
        for candidate in candidates:
            if candidate in refs:
                return candidate
        return None

    # Sources and plans ----------------------------------------------------------------------

    def work_tree_source(self) -> WorkTreeSource:
        return WorkTreeSource(self.root)

    def revision_source(self, rev: str) -> TreeSource:
        import pygit2

        try:
            commit = self.repo.revparse_single(rev).peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            raise FlowError(f"unknown revision {rev!r}",
                            hint="give a branch, tag or commit (`git log --oneline` lists them)") from None
        return TreeSource(self.repo, commit.tree, label=rev)

    def index_source(self) -> IndexSource:
        index = self.repo.index
        index.read(force=False)
        return IndexSource(self.repo, index)

    @cached_property
    def document_cache(self) -> DocumentCache:
        """Parsed files by blob ID, under the common directory (git_flowctl/cache.py)."""
        from git_flowctl.cache import DocumentCache

        return DocumentCache(self.common_dir)

    def load_plan(self, rev: str | None = None, *, strict: bool = True) -> Plan:
        source = self.revision_source(rev) if rev else self.work_tree_source()
        return Plan.load(source, strict=strict, cache=self.document_cache if rev else None)
