"""doctor: check this setup; each problem comes with the command that fixes it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from git_flowctl.cli.common import get_output, open_workspace

if TYPE_CHECKING:
    from rich.console import Console

_MARKS = {"pass": "[green]✓ pass[/green]", "warn": "[yellow]! warn[/yellow]",
          "fail": "[bold red]✗ fail[/bold red]"}


@click.command("doctor")
def doctor_command() -> None:
    """Check this repository's setup: identity, hooks, merge driver, .gitattributes, history,
    cache, git and libgit2, and every .flow/ file.

    Each check passes, warns or fails, with the command that fixes it. Exits 1 when any check
    fails.
    """
    from git_flowctl.views import doctor

    out = get_output()
    ws = open_workspace(out)
    checks = doctor.run(ws)
    counts = doctor.summary(checks)
    payload: dict[str, Any] = {"checks": [check.as_dict() for check in checks], "summary": counts,
                               "ok": counts["fail"] == 0}

    def render(console: Console) -> None:
        from rich.markup import escape
        from rich.table import Table

        table = Table(show_edge=False, show_header=False, pad_edge=False, box=None)
        table.add_column("status", no_wrap=True)
        table.add_column("check", no_wrap=True)
        table.add_column("what")
        for check in checks:
            text = escape(check.message)
            if check.fix:
                text += f"\n[dim]fix:[/dim] [bold]{escape(check.fix)}[/bold]"
            table.add_row(_MARKS[check.status], escape(check.name), text)
        console.print(table)
        console.print(f"\n{counts['pass']} passed, {counts['warn']} warned, "
                      f"{counts['fail']} failed", highlight=False)

    if counts["fail"]:
        failed = ", ".join(check.name for check in checks if check.status == "fail")
        if out.json_mode:
            out.fail(payload, f"doctor: {counts['fail']} failed: {failed}")
        else:
            render(out.console)
            out.exit_code = 1
        return
    out.emit(payload, render)
