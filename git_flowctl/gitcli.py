"""Reading a repository through the ``git`` command: where it is, config, refs, objects.

Read commands on the work tree (``next``, ``ready``, ``show``, ``tasks``, ``list``, ``status``)
reach git through this module and never import pygit2: the import alone costs more than their
whole work (bench/bench_startup.py). git also reads what libgit2 cannot (reftable refs,
``GIT_CONFIG_PARAMETERS`` from ``git -c``), so answers come from git's own rules. Writes stay on
pygit2 (writer.py, the claims' compare-and-swap); once a command has opened pygit2, its reads use
it too (``Workspace.repo_is_open``). Only the standard library is imported here, and records are NamedTuples (a dataclass costs
about 1 ms of start-up each).
"""

from __future__ import annotations

import os
import subprocess
from typing import NamedTuple

from git_flowctl.errors import FlowError


class NotARepositoryError(FlowError):
    pass


def run_git(cwd: str, *args: str, input: bytes | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """``git ARGS`` in ``cwd`` with English messages (some are matched), ``env`` added."""
    try:
        return subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True,
                              env={**os.environ, "LC_ALL": "C", **(env or {})}, check=False)
    except OSError as exc:
        raise FlowError(f"cannot run git: {exc.strerror}", hint="is git installed and on PATH?") from None


def last_error(result: subprocess.CompletedProcess[bytes]) -> str:
    """git's last line on stderr without its ``fatal:`` or ``error:`` prefix."""
    lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
    if not lines:
        return f"git exited {result.returncode}"
    line = lines[-1]
    for prefix in ("fatal: ", "error: "):
        line = line.removeprefix(prefix)
    return line


# Discovery -------------------------------------------------------------------------------------


class Location(NamedTuple):
    """Where git finds the repository from a directory."""

    git_dir: str  # this worktree's git directory (absolute)
    common_dir: str  # the directory every worktree shares: refs, config, objects (absolute, real)
    work_tree: str | None  # None: bare, or standing inside the git directory
    bare: bool


def locate(cwd: str) -> Location:
    """Ask git where the repository is (one ``git rev-parse``), so ``GIT_DIR``,
    ``GIT_WORK_TREE``, ``core.worktree``, ``GIT_CEILING_DIRECTORIES`` and linked worktrees mean
    what they mean to git. Raises NotARepositoryError outside a repository."""
    if not os.path.isdir(cwd):
        raise _not_a_repository(cwd)
    # --show-toplevel comes last: git dies on it in a bare repository or inside the git
    # directory, after printing the answers before it.
    result = run_git(cwd, "rev-parse", "--is-bare-repository", "--absolute-git-dir",
                     "--git-common-dir", "--show-toplevel")
    lines = result.stdout.decode("utf-8", "surrogateescape").split("\n")
    if len(lines) < 3 or lines[0] not in ("true", "false"):
        if "not a git repository" in result.stderr.decode("utf-8", "replace"):
            raise _not_a_repository(cwd)
        raise NotARepositoryError(f"cannot open the repository: {last_error(result)}",
                                  hint="check that this is a readable git repository")
    git_dir = lines[1]
    common_dir = os.path.realpath(os.path.join(cwd, lines[2]))
    work_tree = lines[3] if result.returncode == 0 and len(lines) > 3 and lines[3] else None
    return Location(git_dir, common_dir, work_tree, lines[0] == "true")


def _not_a_repository(cwd: str) -> NotARepositoryError:
    return NotARepositoryError(f"not a git repository: {cwd}",
                               hint="run this inside a git work tree (or `git init` one)")


# Reading ---------------------------------------------------------------------------------------


class Ref(NamedTuple):
    """One ref as ``git for-each-ref`` shows it."""

    name: str
    oid: str  # what it points at (a symbolic ref: its target's object)
    type: str  # commit, tag, tree or blob
    symref: str  # the ref a symbolic ref points to; "" otherwise
    checked_out: bool  # HEAD is a symbolic ref to this one
    message: str  # the commit's (or tag's) message, when asked for; else ""


class GitObject(NamedTuple):
    oid: str
    type: str
    data: bytes


class GitReader:
    """Runs ``git`` in a work tree to read config, refs and objects."""

    def __init__(self, root: str) -> None:
        self.root = root

    def run(self, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return run_git(self.root, *args, input=input)

    def config(self, key: str) -> str | None:
        """The value git uses for ``key`` (the last one wins), or None when unset."""
        result = self.run("config", "-z", "--get", key)
        if result.returncode != 0:
            return None
        return result.stdout.decode("utf-8", "replace").removesuffix("\0")

    def refs(self, *patterns: str, messages: bool = False) -> list[Ref]:
        """Refs matching ``patterns`` (``git for-each-ref`` rules: a pattern names a ref or a
        hierarchy, ``refs/flow/claims/`` holds all below), sorted by name. Broken refs are
        skipped, as git skips them. ``messages`` also reads each commit's message."""
        fields = "%(refname)%00%(objectname)%00%(objecttype)%00%(symref)%00%(HEAD)%00" \
            + ("%(contents)" if messages else "") + "%00"
        result = self.run("for-each-ref", f"--format={fields}", "--", *patterns)
        if result.returncode != 0:
            raise FlowError(f"cannot list refs: {last_error(result)}")
        # Each record is six NUL-terminated fields and git's newline; only the message may hold
        # newlines, and nothing holds a NUL, so the next record's name starts after "\n".
        tokens = result.stdout.decode("utf-8", "replace").split("\0")
        found: list[Ref] = []
        for start in range(0, len(tokens) - 6, 6):
            name, oid, kind, symref, head, message = tokens[start:start + 6]
            found.append(Ref(name.lstrip("\n"), oid, kind, symref, head == "*", message))
        return found

    def read_objects(self, names: list[str]) -> list[GitObject | None]:
        """Each name's object (an object ID, or ``REV:PATH``), None when there is none; one
        ``git cat-file --batch`` for all."""
        if not names:
            return []
        if any("\n" in name for name in names):
            raise ValueError("object names cannot hold a newline")
        result = self.run("cat-file", "--batch", input="".join(f"{name}\n" for name in names).encode())
        if result.returncode != 0:
            raise FlowError(f"cannot read objects: {last_error(result)}")
        out = result.stdout
        found: list[GitObject | None] = []
        position = 0
        for _ in names:
            end = out.index(b"\n", position)
            header = out[position:end].decode("utf-8", "replace").split(" ")
            position = end + 1
            if len(header) == 3 and header[2].isdigit() and header[1] in _OBJECT_TYPES:
                size = int(header[2])
                found.append(GitObject(header[0], header[1], out[position:position + size]))
                position += size + 1  # the content, then a newline
            else:
                found.append(None)  # "<name> missing" (or ambiguous)
        return found


_OBJECT_TYPES = frozenset({"blob", "tree", "commit", "tag"})
