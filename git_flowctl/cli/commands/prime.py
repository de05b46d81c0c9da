"""prime: a primer for AI agents about this repository."""

from __future__ import annotations

import sys

import click

from git_flowctl.cli.common import get_output, open_workspace, rev_option


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
    from git_flowctl.views.reads import offer_for

    plan = ws.load_plan(rev)
    setup = primer.setup_for(ws)
    text = primer.build(plan, setup, available=set(COMMANDS), offer=offer_for(ws, plan, rev))
    if out.json_mode:
        out.emit({"primer": text, "words": len(text.split()), "characters": len(text),
                  "actor": setup.actor})
    else:
        sys.stdout.write(text)
