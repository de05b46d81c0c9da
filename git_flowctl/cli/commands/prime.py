"""prime: a primer for AI agents about this repository."""

from __future__ import annotations

import os
import sys

import click

from git_flowctl.cli.common import get_output, open_workspace, rev_option
from git_flowctl.repo.workspace import Workspace


@click.command("prime")
@rev_option
def prime_command(rev: str | None) -> None:
    """Print a short primer for AI agents: the workflow, the --json contract and exit codes,
    for this repository (its ID prefix, its epics, claims, hooks).

    Under 1,000 tokens, meant to be pasted into an agent's context or run by it first.
    """
    from git_flowctl.cli import COMMANDS
    from git_flowctl.views import primer

    out = get_output()
    ws = open_workspace(out)
    plan = ws.load_plan(rev)
    actor = ws.actor()
    setup = primer.Setup(actor=actor, actor_source=_actor_source(ws, actor), hooks=_hooks(ws))
    text = primer.build(plan, setup, available=set(COMMANDS))
    if out.json_mode:
        out.emit({"primer": text, "words": len(text.split()), "characters": len(text),
                  "actor": actor})
    else:
        sys.stdout.write(text)


def _hooks(ws: Workspace) -> str:
    from git_flowctl.views.doctor import PASS, hooks

    return "installed" if hooks(ws).status == PASS else "not installed"


def _actor_source(ws: Workspace, actor: str) -> str:
    if os.environ.get("FLOW_ACTOR", "").strip() == actor:
        return "from FLOW_ACTOR"
    if ws.config_value("user.email") == actor:
        return "git user.email"
    if ws.config_value("user.name") == actor:
        return "git user.name"
    return "from the environment"
