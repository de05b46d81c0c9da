"""Reading a repository through the ``git`` command: where it is, config, refs, objects.

Read commands on the work tree (``next``, ``ready``, ``show``, ``tasks``, ``list``, ``status``)
reach git through this module and never import pygit2: the import alone costs more than their
whole work (bench/bench_startup.py). git also reads what libgit2 cannot (reftable refs,
``GIT_CONFIG_PARAMETERS`` from ``git -c``), so answers come from git's own rules. Writes stay on
pygit2 (writer.py, the claims' compare-and-swap); once a command has opened pygit2, its reads use
it too (``Workspace.repo_is_open``). Only the standard library is imported here, and records
are NamedTuples (a dataclass costs about 1 ms of start-up each).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import weakref
from collections.abc import Callable
from typing import NamedTuple

from git_flowctl.model.errors import FlowError
from git_flowctl.repo.leangit import Ref as Ref  # re-exported: the refs every reader sees
from git_flowctl.repo.leangit import parse_refs, refs_format


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
    """git's last ``fatal:`` or ``error:`` line without the prefix (the advice git prints
    after it is left out), else its last line on stderr."""
    lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
    for line in reversed(lines):
        for prefix in ("fatal: ", "error: "):
            if line.startswith(prefix):
                return line.removeprefix(prefix)
    return lines[-1] if lines else f"git exited {result.returncode}"


def promisor_remotes(cwd: str) -> list[str]:
    """The remotes a partial clone (``git clone --filter``) fetches missing objects from; empty
    in a full clone. git marks them ``remote.<name>.promisor`` (and, in newer repositories,
    ``extensions.partialClone``)."""
    result = run_git(cwd, "config", "-z", "--get-regexp", r"^(remote\..*\.promisor|extensions\.partialclone)$")
    remotes: list[str] = []
    for record in result.stdout.decode("utf-8", "replace").split("\0"):
        key, _, value = record.partition("\n")
        if key.startswith("remote.") and value.lower() in ("true", "yes", "on", "1"):
            remotes.append(key[len("remote."):-len(".promisor")])
        elif key == "extensions.partialclone" and value and value not in remotes:
            remotes.append(value)
    return remotes


def missing_objects_error(cwd: str, oids: list[str] | None = None) -> FlowError:
    """What to say when git has no object it was asked for: in a partial clone, git fetches
    missing blobs from the promisor remote on demand, so it could not reach that remote (issue
    #13, finding 9); anywhere else the repository is damaged."""
    shown = f" ({', '.join(oid[:7] for oid in oids[:3])}{', ...' if len(oids) > 3 else ''})" \
        if oids else ""
    remotes = promisor_remotes(cwd)
    if remotes:
        return FlowError(
            f"these blobs are not in this partial clone and the remote cannot be reached{shown}",
            hint=f"reach {remotes[0]} again (`git remote get-url {remotes[0]}`) and repeat the "
                 "command (git fetches missing blobs on demand), or work in a full clone")
    return FlowError(f"objects are missing from the repository{shown}",
                     hint="check the repository with `git fsck`")


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
        problem = last_error(result)
        hint = "check that this is a readable git repository"
        if "dubious ownership" in problem:  # another user's repository (git's safe.directory)
            hint = "if you trust it: git config --global --add safe.directory " \
                + problem.rsplit(" at ", 1)[-1].strip("'")
        raise NotARepositoryError(f"cannot open the repository: {problem}", hint=hint)
    git_dir = lines[1]
    common_dir = os.path.realpath(os.path.join(cwd, lines[2]))
    work_tree = lines[3] if result.returncode == 0 and len(lines) > 3 and lines[3] else None
    return Location(git_dir, common_dir, work_tree, lines[0] == "true")


def _not_a_repository(cwd: str) -> NotARepositoryError:
    return NotARepositoryError(f"not a git repository: {cwd}",
                               hint="run this inside a git work tree (or `git init` one)")


# Reading ---------------------------------------------------------------------------------------


class GitObject(NamedTuple):
    oid: str
    type: str
    data: bytes


class Reader:
    """``git`` in a work tree, for reading: config, refs, and objects through one
    ``git cat-file --batch`` asked one object at a time.

    That process starts on the first object read (a read the document cache answers never
    starts it) and ends when the reader is closed or collected, or at exit. One thread at a
    time (every caller is single-threaded).
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self._objects: subprocess.Popen[bytes] | None = None
        self._stop_objects: Callable[[], object] | None = None

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
        result = self.run("for-each-ref", refs_format(messages), "--", *patterns)
        if result.returncode != 0:
            raise FlowError(f"cannot list refs: {last_error(result)}")
        return parse_refs(result.stdout)

    def object(self, name: str) -> GitObject | None:
        """The object ``name`` names (an object ID, ``REV^{commit}``, ``REV:PATH``), or None
        when there is none (or the name is ambiguous)."""
        if "\n" in name:
            return None  # git reads one name per line: no object has such a name
        process = self._object_process()
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(name.encode("utf-8", "surrogateescape") + b"\n")
            process.stdin.flush()
            header = process.stdout.readline().decode("utf-8", "replace").rstrip("\n").split(" ")
            if len(header) == 3 and header[1] in _OBJECT_TYPES and header[2].isdigit():
                data = process.stdout.read(int(header[2]))
                process.stdout.read(1)  # the newline after the content
                return GitObject(header[0], header[1], data)
            if header == [""]:
                raise BrokenPipeError
        except BrokenPipeError:
            self.close()
            if promisor_remotes(self.root):  # it died fetching a missing blob
                raise missing_objects_error(self.root) from None
            raise FlowError("git cat-file stopped while reading objects",
                            hint="check the repository with `git fsck`") from None
        return None  # "<name> missing" or "<name> ambiguous"

    def _object_process(self) -> subprocess.Popen[bytes]:
        if self._objects is None:
            try:
                self._objects = subprocess.Popen(
                    ["git", "cat-file", "--batch"], cwd=self.root, stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                    env={**os.environ, "LC_ALL": "C"})
            except OSError as exc:
                raise FlowError(f"cannot run git: {exc.strerror}",
                                hint="is git installed and on PATH?") from None
            self._stop_objects = weakref.finalize(self, _stop, self._objects)
        return self._objects

    def close(self) -> None:
        """End the object reader (a later read starts a new one)."""
        if self._stop_objects is not None:
            self._stop_objects()
        self._objects = self._stop_objects = None


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End ``git cat-file --batch``: it exits when its input ends."""
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def tree_entries(data: bytes, hash_size: int) -> list[tuple[str, str, str]]:
    """A tree object's entries as ``(name, kind, object ID)``; kind is blob, tree or commit
    (a submodule). Format: ``<octal mode> <name>\\0<raw ID>`` repeated."""
    entries: list[tuple[str, str, str]] = []
    position = 0
    while position < len(data):
        space = data.index(b" ", position)
        nul = data.index(b"\0", space)
        mode = data[position:space]
        kind = "tree" if mode == b"40000" else "commit" if mode == b"160000" else "blob"
        oid = data[nul + 1:nul + 1 + hash_size].hex()
        entries.append((data[space + 1:nul].decode("utf-8", "surrogateescape"), kind, oid))
        position = nul + 1 + hash_size
    return entries


_OBJECT_TYPES = frozenset({"blob", "tree", "commit", "tag"})
