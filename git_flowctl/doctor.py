"""`doctor`: what is wrong with this setup, and the command that fixes each thing.

Each check returns ``pass``, ``warn`` or ``fail`` with a message and, when it is not a pass, the
command to run. ``fail`` means git flow-task cannot work as designed here (no identity, files
that do not parse); ``warn`` means it works with a rule unenforced or a feature degraded
(no hooks, a shallow clone). The checks read; none writes.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from git_flowctl.errors import FlowError
from git_flowctl.workspace import Workspace

PASS, WARN, FAIL = "pass", "warn", "fail"
MIN_GIT = (2, 30)
MIN_LIBGIT2 = (1, 7)


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    message: str
    fix: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def identity(ws: Workspace) -> Check:
    try:
        author, _committer = ws.identities
    except FlowError:
        return Check("identity", FAIL, "git does not know who commits: every transition is a "
                     "commit", 'git config --global user.name "Your Name" && '
                     "git config --global user.email you@example.com")
    actor = ws.actor()
    return Check("identity", PASS, f"commits as {author.name} <{author.email}>; acts as {actor}")


def initialized(ws: Workspace) -> Check:
    if (ws.root / ".flow" / "config.yaml").exists():
        return Check("plan", PASS, ".flow/config.yaml is here")
    if (ws.root / ".flow").is_dir():
        return Check("plan", WARN, ".flow/ has no config.yaml (defaults apply)",
                     "git flow-task init")
    return Check("plan", WARN, "no .flow/ plan in this repository", "git flow-task init")


def shallow(ws: Workspace) -> Check:
    if ws.repo.is_shallow:
        return Check("history", WARN, "shallow clone: history is incomplete, so what is read "
                     "from it (transitions, evidence) stops at the cut", "git fetch --unshallow")
    return Check("history", PASS, "full history")


def libgit2_version(ws: Workspace) -> Check:
    from importlib.metadata import version as installed_version

    import pygit2

    version = tuple(pygit2.LIBGIT2_VER[:2])
    text = f"libgit2 {pygit2.LIBGIT2_VERSION} (pygit2 {installed_version('pygit2')})"
    if version < MIN_LIBGIT2:
        return Check("libgit2", WARN, f"{text} is older than "
                     f"{'.'.join(map(str, MIN_LIBGIT2))}", "pip install --upgrade pygit2")
    return Check("libgit2", PASS, text)


def git_version(ws: Workspace) -> Check:
    try:
        output = subprocess.run(["git", "--version"], capture_output=True, text=True,
                                check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return Check("git", FAIL, "the git command is not available", "install git")
    match = re.search(r"(\d+)\.(\d+)", output)
    if match and (int(match.group(1)), int(match.group(2))) < MIN_GIT:
        return Check("git", WARN, f"{output} is older than {'.'.join(map(str, MIN_GIT))}",
                     "upgrade git")
    return Check("git", PASS, output)


CHECKS: list[Callable[[Workspace], Check]] = [
    identity, initialized, git_version, libgit2_version, shallow,
]


def run(ws: Workspace) -> list[Check]:
    return [check(ws) for check in CHECKS]


def summary(checks: list[Check]) -> dict[str, int]:
    return {status: sum(1 for c in checks if c.status == status) for status in (PASS, WARN, FAIL)}
