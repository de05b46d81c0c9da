"""The cheap checks at the front of the commit hooks: is there anything for flow-task to do?

Only ``os`` (loaded by the interpreter anyway): no ``subprocess``, no ``re`` on the common path,
so a commit that touches no task file costs one `git diff --cached --quiet` (a few
milliseconds) on top of interpreter start-up (issue #4, bench/bench_hooks.py). When in doubt
every function answers "not sure" and the full hook runs.
"""

from __future__ import annotations

import os

_FALSE_WORDS = ("false", "no", "off", "null", "~", "")


def _git_quietly(*args: str) -> int | None:
    """Run git with no output; its exit status, or None when it could not run."""
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
    except OSError:
        return None
    try:
        actions = [(os.POSIX_SPAWN_DUP2, devnull, fd) for fd in (0, 1, 2)]
        pid = os.posix_spawnp("git", ["git", *args], os.environ, file_actions=actions)
        _, status = os.waitpid(pid, 0)
    except OSError:
        return None
    finally:
        os.close(devnull)
    return os.waitstatus_to_exitcode(status)


def _git_output(*args: str) -> bytes | None:
    """What git prints, or None when it could not run or failed."""
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
    except OSError:
        return None
    reading, writing = os.pipe()
    try:
        actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, writing, 1),
                   (os.POSIX_SPAWN_DUP2, devnull, 2)]
        pid = os.posix_spawnp("git", ["git", *args], os.environ, file_actions=actions)
    except OSError:
        os.close(reading)
        return None
    finally:
        os.close(writing)
        os.close(devnull)
    with open(reading, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    return data if os.waitstatus_to_exitcode(status) == 0 else None


def staged_under_flow() -> bytes | None:
    """What the index git is committing changes under .flow/ against HEAD: `git diff-index`'s
    raw listing (empty: nothing), or None when git could not say (an unborn branch)."""
    return _git_output("diff-index", "--cached", "-z", "--raw", "--no-renames", "--no-abbrev",
                       "HEAD", "--", ":/.flow")


def nothing_staged_under_flow() -> bool:
    """True when the index git is committing (GIT_INDEX_FILE) has no change under .flow/."""
    return _git_quietly("diff", "--cached", "--quiet", "--no-ext-diff", "--", ":/.flow") == 0


def _message_mentions_flow(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return b"flow-" in handle.read().lower()
    except OSError:
        return True


def _link_commits_off() -> bool:
    """At the top of a work tree (where git runs hooks), is link_commits surely off?

    Only an explicit false (or no such key) counts; anything else leaves it to the full hook,
    which reads the staged config properly.
    """
    if not os.path.exists(".git"):
        return False
    try:
        with open(os.path.join(".flow", "config.yaml"), encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        setting = value.split("#", 1)[0].strip().lower()
        if colon and key.strip().lower() == "link_commits" and not line[:1].isspace() \
                and setting not in _FALSE_WORDS:
            return False
    return True


def nothing_to_do(hook: str, args: list[str]) -> bool:
    """True when the hook surely has nothing to check or add (so it may exit 0 at once)."""
    if "--json" in args:
        return False
    if hook == "pre-commit":
        return nothing_staged_under_flow()
    if hook == "commit-msg":
        message = next((arg for arg in args if not arg.startswith("-")), None)
        return message is not None and not _message_mentions_flow(message) \
            and nothing_staged_under_flow()
    if hook == "prepare-commit-msg":
        return _link_commits_off() and nothing_staged_under_flow()
    return False
