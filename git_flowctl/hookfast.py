"""The cheap checks at the front of the commit hooks: is there anything for flow-task to do?

Imports only the standard library, so a commit that touches no task file costs one
`git diff --cached --quiet` (a few milliseconds) on top of interpreter start-up (issue #4,
bench/bench_hooks.py). When in doubt every function answers "not sure" and the full hook runs.
"""

from __future__ import annotations

import os
import re
import subprocess

# `link_commits: <anything but an explicit false>` might be on: the full hook decides.
_LINK_COMMITS = re.compile(r"^link_commits[ \t]*:(?![ \t]*(false|no|off|null|~)?[ \t]*(#.*)?$)",
                           re.MULTILINE | re.IGNORECASE)


def nothing_staged_under_flow() -> bool:
    """True when the index git is committing (GIT_INDEX_FILE) has no change under .flow/."""
    try:
        result = subprocess.run(
            ["git", "diff", "--cached", "--quiet", "--no-ext-diff", "--", ":/.flow"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            check=False)
    except OSError:
        return False
    return result.returncode == 0


def _message_mentions_flow(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return b"flow-" in handle.read().lower()
    except OSError:
        return True


def _link_commits_off() -> bool:
    """At the top of a work tree (where git runs hooks), is link_commits surely off?"""
    if not os.path.exists(".git"):
        return False
    try:
        with open(os.path.join(".flow", "config.yaml"), encoding="utf-8", errors="replace") as handle:
            return _LINK_COMMITS.search(handle.read()) is None
    except FileNotFoundError:
        return True
    except OSError:
        return False


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
