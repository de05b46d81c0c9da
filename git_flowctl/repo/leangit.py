"""git for the lean read path (views/lean.py): where the repository is, config, refs.

Standard library only, and not even ``subprocess`` (its import costs more than a git process):
git runs through ``os.posix_spawnp``. Every function answers only the plain cases and says
None when anything is unusual, and the caller then takes the normal path, which asks git
everything (gitcli.py). Parsing shared with the normal path lives here too, so both read git's
answers the same way.
"""

from __future__ import annotations

import os

from git_flowctl.model.layout import CONFIG_PATH, PLAN_DIRS

TYPE_CHECKING = False  # typing costs start-up time that the lean reads avoid (model/tuples.py)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import NamedTuple
else:
    from git_flowctl.model.tuples import NamedTuple

# Environment variables that change where git finds things, or how: with any of them set the
# lean path leaves discovery to git.
_DISCOVERY_VARIABLES = (
    "GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE", "GIT_CONFIG", "GIT_CONFIG_COUNT",
    "GIT_CONFIG_PARAMETERS", "GIT_REPLACE_REF_BASE", "GIT_NO_REPLACE_OBJECTS")


class Place(NamedTuple):
    """A work tree found the plain way: its top, its git directory, the common directory."""

    root: str
    git_dir: str
    common_dir: str


def locate(cwd: str | None = None) -> Place | None:
    """The work tree around ``cwd`` as git would find it, in the plain case only: a ``.git``
    directory (or a linked worktree's ``.git`` file) here or above, owned by this user, with no
    ``core.worktree``, ``core.bare``, includes or per-worktree config that could move it.
    None otherwise (the caller asks git)."""
    if any(name in os.environ for name in _DISCOVERY_VARIABLES):
        return None
    try:
        directory = os.path.realpath(cwd or os.getcwd())
    except OSError:
        return None
    while True:
        dotgit = os.path.join(directory, ".git")
        if os.path.isdir(dotgit):
            if os.path.exists(os.path.join(dotgit, "commondir")) \
                    or not os.path.isfile(os.path.join(dotgit, "HEAD")):
                return None
            git_dir = common_dir = dotgit
            break
        if os.path.isfile(dotgit):
            try:
                with open(dotgit, encoding="utf-8") as handle:
                    pointer = handle.read().strip()
                if not pointer.startswith("gitdir: "):
                    return None
                git_dir = os.path.realpath(os.path.join(directory, pointer[8:]))
                with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as handle:
                    common_dir = os.path.realpath(os.path.join(git_dir, handle.read().strip()))
            except OSError:
                return None  # a submodule, or something else: let git say
            if os.path.exists(os.path.join(git_dir, "config.worktree")):
                return None
            break
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent
    if not _plain_config(common_dir) or not _owned(directory) or not _owned(git_dir):
        return None
    return Place(directory, git_dir, common_dir)


def _plain_config(common_dir: str) -> bool:
    """No setting in the repository's config that moves the work tree or pulls in more config
    (git's own rules would be needed to read them)."""
    try:
        with open(os.path.join(common_dir, "config"), "rb") as handle:
            text = handle.read().lower()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return not any(word in text for word in (b"worktree", b"bare = true", b"bare=true", b"include"))


def _owned(path: str) -> bool:
    """git refuses a repository another user owns (safe.directory): so does the lean path."""
    try:
        return os.stat(path).st_uid == os.geteuid()
    except OSError:
        return False


def output(root: str, *args: str) -> bytes | None:
    """What ``git ARGS`` prints in ``root`` (English messages), None when it fails."""
    stdout, stdout_end = os.pipe()
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
    except OSError:
        os.close(stdout)
        os.close(stdout_end)
        return None
    try:
        pid = os.posix_spawnp("git", ["git", "-C", root, *args],
                              {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"},
                              file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 0),
                                            (os.POSIX_SPAWN_DUP2, stdout_end, 1),
                                            (os.POSIX_SPAWN_DUP2, devnull, 2)])
    except OSError:
        os.close(stdout)
        return None
    finally:
        os.close(stdout_end)
        os.close(devnull)
    with open(stdout, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    return data if os.waitstatus_to_exitcode(status) == 0 else None


def config_value(root: str, key: str) -> str | None:
    """``git config -z --get KEY``: the value git uses, or None when unset (gitcli.Reader)."""
    found = output(root, "config", "-z", "--get", key)
    return None if found is None else found.decode("utf-8", "replace").removesuffix("\0")


def find_actor(override: str | None, config: Callable[[str], str | None]) -> str | None:
    """Who acts: --actor, FLOW_ACTOR, git's email (user.email, GIT_AUTHOR_EMAIL, EMAIL),
    user.name, then $USER; each looked up only when those before it are unset (``config``
    runs git). None when nothing names anyone."""
    candidates: tuple[Callable[[], str | None], ...] = (
        lambda: override, lambda: os.environ.get("FLOW_ACTOR"), lambda: config("user.email"),
        lambda: os.environ.get("GIT_AUTHOR_EMAIL"), lambda: os.environ.get("EMAIL"),
        lambda: config("user.name"), lambda: os.environ.get("USER"),
        lambda: os.environ.get("USERNAME"))
    for candidate in candidates:
        value = candidate()
        if value and value.strip():
            return value.strip()
    return None


# Refs: `git for-each-ref`, read the same way on both paths ------------------------------------


class Ref(NamedTuple):
    """One ref as ``git for-each-ref`` shows it."""

    name: str
    oid: str  # what it points at (a symbolic ref: its target's object)
    type: str  # commit, tag, tree or blob
    symref: str  # the ref a symbolic ref points to; "" otherwise
    checked_out: bool  # HEAD is a symbolic ref to this one
    message: str  # the commit's (or tag's) message, when asked for; else ""


def refs_format(messages: bool) -> str:
    return "--format=%(refname)%00%(objectname)%00%(objecttype)%00%(symref)%00%(HEAD)%00" \
        + ("%(contents)" if messages else "") + "%00"


def parse_refs(data: bytes) -> list[Ref]:
    """``for-each-ref`` output in ``refs_format``: each record is six NUL-terminated fields
    and git's newline; only the message may hold newlines, and nothing holds a NUL, so the next
    record's name starts after "\\n"."""
    tokens = data.decode("utf-8", "replace").split("\0")
    found: list[Ref] = []
    for start in range(0, len(tokens) - 6, 6):
        name, oid, kind, symref, head, message = tokens[start:start + 6]
        found.append(Ref(name.lstrip("\n"), oid, kind, symref, head == "*", message))
    return found


def refs(root: str, *patterns: str, messages: bool = False) -> list[Ref] | None:
    found = output(root, "for-each-ref", refs_format(messages), "--", *patterns)
    return None if found is None else parse_refs(found)


ORIGIN_HEAD = "refs/remotes/origin/HEAD"


def default_candidates(configured: str | None, origin_head_target: str | None,
                       main_head: str | None = None) -> list[str]:
    """The refs tried for the default branch, in order (``Workspace.default_branch``)."""
    candidates: list[str] = []
    if configured:
        candidates += [f"refs/remotes/origin/{configured}", f"refs/heads/{configured}"]
        if configured.startswith("refs/"):
            candidates.append(configured)  # a full ref name
    if origin_head_target:
        candidates.append(origin_head_target)
    for name in ("main", "master"):
        candidates += [f"refs/remotes/origin/{name}", f"refs/heads/{name}"]
    if main_head:
        candidates.append(main_head)
    return candidates


def main_worktree_branch(common_dir: str) -> str | None:
    """The branch the main worktree has checked out: what a clone of this repository takes as
    its default branch (its origin/HEAD), so the right answer for a repository with no remote
    and neither main nor master (issue #12). The file, not `git symbolic-ref`: one read."""
    try:
        with open(os.path.join(common_dir, "HEAD"), encoding="utf-8") as handle:
            text = handle.read().strip()
    except (OSError, UnicodeDecodeError):
        return None
    ref = text.removeprefix("ref:").strip() if text.startswith("ref:") else None
    return ref if ref and ref.startswith("refs/heads/") else None


REPOSITORY_ID_FILE = "flow-repository-id"  # in the common directory (Workspace.repository_id)


def read_repository_id(common_dir: str) -> str | None:
    """This repository's ID as ``Workspace.repository_id(create=False)`` reads it; None when
    none was made yet (or the file does not hold one)."""
    try:
        with open(os.path.join(common_dir, REPOSITORY_ID_FILE), encoding="ascii") as handle:
            text = handle.read().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text if text.isalnum() and 10 <= len(text) <= 64 else None


def default_branch_ref(listed: dict[str, Ref], configured: str | None,
                       main_head: str | None = None) -> Ref | None:
    """The default branch among refs listed with ``ORIGIN_HEAD`` and the candidates; None when
    origin/HEAD points at a ref that was not listed (the caller lists it) or none exists."""
    origin_head = listed.get(ORIGIN_HEAD)
    target = origin_head.symref if origin_head is not None and origin_head.symref else None
    for candidate in default_candidates(configured, target, main_head):
        if candidate in listed:
            return listed[candidate]
    return None


def plan_listing(ls_tree: bytes) -> tuple[str | None, dict[str, str]]:
    """(the ``.flow`` tree ID, ``{path: blob ID}`` of the plan files) from ``git ls-tree -r -t
    -z COMMIT -- .flow``: config.yaml and the regular files directly inside the plan
    directories, as sources.plan_listing gives them."""
    flow_tree = None
    found: dict[str, str] = {}
    for record in ls_tree.decode("utf-8", "surrogateescape").split("\0"):
        meta, _, path = record.partition("\t")
        fields = meta.split(" ")
        if len(fields) != 3:
            continue
        _, kind, oid = fields
        if path == ".flow":
            flow_tree = oid if kind == "tree" else None
            continue
        if kind != "blob":
            continue
        directory, _, name = path.rpartition("/")
        if path == CONFIG_PATH or (directory in PLAN_DIRS and not name.startswith(".")):
            found[path] = oid
    return flow_tree, found
