"""mcp: the MCP server for coding agents (git_flowctl/mcp/, issue #18)."""

from __future__ import annotations

from pathlib import Path

import click

from git_flowctl.cli.common import get_output
from git_flowctl.model.errors import FlowError

INSTALL_HINT = "pip install 'git-flowctl[mcp]' (or pipx inject git-flowctl 'mcp>=2.3,<3')"


@click.command("mcp")
@click.option("--repo", type=click.Path(file_okay=False, path_type=Path), metavar="PATH",
              help="Serve this repository (default: the one the server is started in).")
@click.option("--actor", metavar="NAME",
              help="Who acts by default (else FLOW_ACTOR, git user.email, user.name, $USER).")
def mcp_command(repo: Path | None, actor: str | None) -> None:
    """Serve this repository to AI agents over MCP (stdio): tools next, ready, show, tasks,
    status, start, done, block, fail, release, heartbeat, log, task_create, dep_add, validate,
    prompt, queue, files, restart, run_status, land; the prompt `worker`.

    Each tool takes the command's options and returns its --json object; a refusal is a tool
    error with the same error and hint and the exit code. The resources flow://status and
    flow://task/{id} hold the plan; the instructions are `prime`'s primer. Needs the mcp
    extra: pip install 'git-flowctl[mcp]'. docs/agents.md has the clients' configuration.
    """
    from git_flowctl.cli import COMMANDS
    from git_flowctl.repo.workspace import Workspace

    get_output()
    ws = Workspace(repo)  # before the SDK's import (a second or so): a wrong place fails fast
    try:
        from git_flowctl.mcp import server
    except ImportError as exc:
        raise FlowError(f"the MCP server needs the mcp package, which is not installed ({exc})",
                        hint=INSTALL_HINT) from None
    server.serve(ws.root, actor=actor, available=set(COMMANDS))
