"""Which guard and invariant commands this clone has agreed to run (docs/security.md).

The guard's commands (``guard:`` in ``.flow/config.yaml``) and the invariants' ``verify:``
lines (``.flow/invariants.md``) come with the repository: a clone, a pull or a merged task
branch can change them. A command line runs only once someone on this machine has trusted it,
the way direnv asks for ``direnv allow`` and mise for ``mise trust``: ``guard trust`` records
the SHA-256 of each command line in ``<git common dir>/flow-trust`` (never committed, shared by
the worktrees of one clone). Commands this tool writes at the user's request (``guard detect
--write``, ``config set guard.NAME ...``) are trusted as they are written. A command line that
changes, even by one character, is a new command and needs trusting again; its name, timeout
and ``when`` do not matter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from git_flowctl.model.errors import FlowError
from git_flowctl.repo.writer import atomic_write

if TYPE_CHECKING:
    from git_flowctl.gates.guard import Check
    from git_flowctl.repo.workspace import Workspace

TRUST_FILE = "flow-trust"  # under the common git directory
_HEADER = ("# Command lines of .flow/config.yaml's guard and .flow/invariants.md that this clone\n"
           "# runs: `git flow-task guard trust` adds them (docs/security.md). One SHA-256 a line.\n")


def digest(command: str) -> str:
    return hashlib.sha256(command.encode("utf-8")).hexdigest()


def trusted_digests(ws: Workspace) -> set[str]:
    try:
        text = (ws.common_dir / TRUST_FILE).read_text("utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return set()
    return {line.split()[0] for line in text.splitlines()
            if line.strip() and not line.startswith("#")}


def untrusted(ws: Workspace, checks: Iterable[Check]) -> list[Check]:
    known = trusted_digests(ws)
    return [check for check in checks if digest(check.run) not in known]


def trust(ws: Workspace, commands: Iterable[tuple[str, str]]) -> list[str]:
    """Record ``(label, command line)`` pairs as trusted; returns the labels newly trusted."""
    path = ws.common_dir / TRUST_FILE
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        text = _HEADER
    known = trusted_digests(ws)
    added: list[str] = []
    lines = [text if text.endswith("\n") else text + "\n"]
    for label, command in commands:
        hashed = digest(command)
        if hashed in known:
            continue
        known.add(hashed)
        added.append(label)
        lines.append(f"{hashed}  {' '.join(label.split())}\n")
    if added:
        atomic_write(path, "".join(lines).encode("utf-8"))
    return added


def require_trusted(ws: Workspace, checks: Sequence[Check]) -> None:
    """Refuse (exit 1, nothing run) when a check's command line is not trusted here."""
    strangers = untrusted(ws, checks)
    if not strangers:
        return
    first = strangers[0]
    more = f" and {len(strangers) - 1} more" if len(strangers) > 1 else ""
    raise FlowError(
        f"not running {first.key} (`{first.run}`, {first.origin}){more}: this clone has not "
        "trusted the command lines the repository gives its guard",
        hint="read them (`git flow-task guard trust --list` lists them), then "
             "`git flow-task guard trust` (recorded under .git/, for this clone only)",
        untrusted=[{"check": check.key, "run": check.run, "origin": check.origin}
                   for check in strangers])
