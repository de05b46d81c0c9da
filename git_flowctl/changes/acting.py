"""How a mutating command acts: its recording mode and its context (actor, time, force).

Shared by the CLI's options (cli/common.py) and the MCP server's tool arguments (mcp/), so a
tool call and a command line record the same change. Imports stay light: ops and the writer load
only when a change is really built.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from git_flowctl.model.errors import FlowError, UsageError

if TYPE_CHECKING:
    from git_flowctl.changes.ops import Context
    from git_flowctl.repo.workspace import Workspace
    from git_flowctl.repo.writer import Mode


def mode_of(no_commit: bool, dry_run: bool) -> Mode:
    from git_flowctl.repo.writer import Mode

    if no_commit and dry_run:
        raise UsageError("--no-commit and --dry-run cannot be combined")
    if dry_run:
        return Mode.DRY_RUN
    return Mode.STAGE if no_commit else Mode.COMMIT


def context_for(ws: Workspace, actor: str | None, mode: Mode, force: bool = False) -> Context:
    from git_flowctl.changes.ops import Context
    from git_flowctl.repo.writer import Mode

    if mode is Mode.COMMIT:
        now = ws.identities[0].iso()
    else:
        try:
            now = ws.identities[0].iso()
        except FlowError:
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Context(actor=ws.actor(actor), now=now, force=force)
