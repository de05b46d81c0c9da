"""checkpoint save|list|diff|restore|delete (issue #15, docs/gates.md#checkpoints)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from git_flowctl.cli import complete
from git_flowctl.cli.common import (
    context_for,
    force_option,
    get_output,
    mode_of,
    mutating,
    open_workspace,
)
from git_flowctl.model.errors import FlowError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from git_flowctl.coordination.claims import RemoteClaims
    from git_flowctl.gates.checkpoints import Checkpoint
    from git_flowctl.repo.workspace import Workspace

remote_option = click.option(
    "--remote", metavar="NAME", help="Push to (or fetch from) this git remote (default: claims.remote).")


def _remote(ws: Workspace, name: str | None) -> RemoteClaims | None:
    """The claims remote, for checkpoint refs: None when there is none."""
    from git_flowctl.coordination.claims import Claims, RemoteClaims
    from git_flowctl.gates.checkpoints import PREFIX, REMOTE_PREFIX

    remote_name = Claims.open(ws, name).remote_name
    if remote_name is None:
        return None
    remote = RemoteClaims(ws, remote_name, PREFIX, REMOTE_PREFIX)
    return remote if remote.exists() else None


def _epic_id(ws: Workspace, ref: str) -> str:
    plan = ws.load_plan("HEAD")
    plan.require_initialized()
    return plan.resolve_epic(ref)


def epic_arguments(func: Any) -> Any:
    """EPIC as an argument, or flowctl's `--epic EPIC`."""
    func = click.option("--epic", "epic_option", shell_complete=complete.epic_ids, metavar="EPIC",
                        help="The epic (flowctl's spelling of the EPIC argument).")(func)
    return click.argument("epic", shell_complete=complete.epic_ids, required=False)(func)


def _one_epic(epic: str | None, epic_option: str | None, name: str | None = None,
              *, takes_name: bool = False) -> tuple[str, str | None]:
    """(the epic, the name): `restore --epic E N` puts N where EPIC stands."""
    if epic_option is not None and epic is not None:
        if not takes_name or name is not None:
            raise UsageError("give the epic once: EPIC or --epic EPIC")
        epic, name = None, epic
    found = epic if epic is not None else epic_option
    if found is None:
        raise UsageError("which epic? give EPIC (or --epic EPIC)",
                         hint="git flow-task checkpoint list shows the checkpoints")
    return found, name


@click.group("checkpoint")
def checkpoint_group() -> None:
    """An epic's state at a commit, kept as a ref: save, list, diff, restore, delete."""


@checkpoint_group.command("save")
@epic_arguments
@click.option("--name", metavar="NAME", help="The checkpoint's name (default: the UTC time).")
@click.option("--force", is_flag=True, help="Move an existing checkpoint of that name to HEAD.")
@remote_option
def checkpoint_save_command(epic: str | None, epic_option: str | None, name: str | None,
                            force: bool, remote: str | None) -> None:
    """Save EPIC's state at HEAD as refs/flow/checkpoints/<epic>/<name>.

    The ref is pushed to claims.remote when one is set, so another clone can restore it.
    """
    from git_flowctl.gates import checkpoints

    out = get_output()
    epic, _ = _one_epic(epic, epic_option)
    ws = open_workspace(out)
    epic_id = _epic_id(ws, epic)
    previous = checkpoints.get(ws, epic_id, name) if name and force else None
    saved = checkpoints.save(ws, epic_id, name or checkpoints.default_name(), force=force)
    payload: dict[str, Any] = {**saved.as_json(), "epic_id": epic_id, "pushed": None}
    pushed_to = _push(ws, remote, saved, previous.commit if previous else None, payload)
    payload["message"] = (f"checkpoint {saved.name} of {epic_id} saved at {saved.commit[:12]}"
                          + (f", pushed to {pushed_to}" if pushed_to else ""))
    out.emit(payload)


def _push(ws: Workspace, remote_name: str | None, checkpoint: Checkpoint, expected: str | None,
          payload: dict[str, Any], *, delete: bool = False) -> str | None:
    remote = _remote(ws, remote_name)
    if remote is None:
        payload["note"] = "local only: no claims.remote configured"
        return None
    key = f"{checkpoint.epic}/{checkpoint.name}"
    result = remote.push(key, expected, None if delete else checkpoint.commit)
    if result.ok:
        payload["pushed"] = remote.name
        return remote.name
    what = ("the remote holds another commit under that name, or none" if delete
            else "the remote has another checkpoint of that name")
    payload["note"] = (f"not {'deleted on' if delete else 'pushed to'} {remote.name}: "
                       + (what if result.rejected else result.problem or "the push failed"))
    return None


@checkpoint_group.command("list")
@click.option("--epic", "epic_ref", shell_complete=complete.epic_ids, metavar="EPIC",
              help="Only this epic's checkpoints.")
def checkpoint_list_command(epic_ref: str | None) -> None:
    """List checkpoints: epic, name, commit and when that commit was made."""
    from git_flowctl.gates import checkpoints

    out = get_output()
    ws = open_workspace(out)
    epic_id = _epic_id(ws, epic_ref) if epic_ref else None
    found = checkpoints.listing(ws, epic_id)
    payload = {"epic": epic_id, "count": len(found), "checkpoints": [c.as_json() for c in found]}

    def render(console: Console) -> None:
        from rich.markup import escape

        if not found:
            console.print("no checkpoints", highlight=False)
        for checkpoint in found:
            console.print(f"{escape(checkpoint.epic)} [bold]{escape(checkpoint.name)}[/bold] "
                          f"[yellow]{checkpoint.commit[:7]}[/yellow] [dim]{checkpoint.time}[/dim]",
                          highlight=False)

    out.emit(payload, render)


def _find(ws: Workspace, epic_ref: str, name: str | None, remote: str | None) -> Checkpoint:
    """A local checkpoint (no name: the newest of the epic), else one fetched from the claims
    remote."""
    from git_flowctl.gates import checkpoints

    epic_id = _epic_id(ws, epic_ref)
    if name is None:
        newest = checkpoints.newest(ws, epic_id)
        if newest is None:
            raise FlowError(f"{epic_id} has no checkpoint",
                            hint=f"git flow-task checkpoint save {epic_id} --name NAME")
        return newest
    found = checkpoints.get(ws, epic_id, checkpoints.check_name(name))
    if found is None:
        claims_remote = _remote(ws, remote)
        if claims_remote is not None and claims_remote.fetch(f"{epic_id}/{name}") is None:
            mirrored = {c.name: c for c in checkpoints.listing(
                ws, epic_id, prefix=f"{checkpoints.REMOTE_PREFIX}{claims_remote.name}/")}
            if name in mirrored:
                return mirrored[name]
        return checkpoints.require(ws, epic_id, name)
    return found


@checkpoint_group.command("diff")
@epic_arguments
@click.argument("name", required=False)
@remote_option
def checkpoint_diff_command(epic: str | None, epic_option: str | None, name: str | None,
                            remote: str | None) -> None:
    """What changed in EPIC's files (its file, its tasks, its gaps) since checkpoint NAME
    (default: the newest)."""
    from git_flowctl.gates import checkpoints

    out = get_output()
    epic, name = _one_epic(epic, epic_option, name, takes_name=True)
    ws = open_workspace(out)
    found = _find(ws, epic, name, remote)
    then = checkpoints.epic_files(ws.revision_source(found.commit), found.epic)
    now = checkpoints.epic_files(ws.revision_source("HEAD"), found.epic)
    payload = {**found.as_json(), **checkpoints.diff(then, now)}

    def render(console: Console) -> None:
        from rich.markup import escape

        if not payload["changes"]:
            console.print(f"{escape(found.epic)}: nothing changed since {escape(found.name)}",
                          highlight=False)
        for change in payload["changes"]:
            status = change.get("status")
            moved = f" ({status['from'] or 'none'} -> {status['to'] or 'none'})" if status else ""
            console.print(f"{change['change']:<8} {escape(change['path'])}{escape(moved)}",
                          highlight=False)
        if payload["diff"]:
            console.print(payload["diff"].rstrip(), markup=False, highlight=False)

    out.emit(payload, render)


@checkpoint_group.command("restore")
@epic_arguments
@click.argument("name", required=False)
@remote_option
@force_option
@mutating
def checkpoint_restore_command(epic: str | None, epic_option: str | None, name: str | None,
                               remote: str | None, force: bool, no_commit: bool, dry_run: bool,
                               message: str | None, actor: str | None) -> None:
    """Bring EPIC's files back to checkpoint NAME (default: the newest) in one commit.

    Each status change is recorded as a `Flow-Transition` with action=restore, refused where the
    state machine has no such change (--force restores anyway, recorded). Tasks and gaps created
    since the checkpoint are left as they are (listed as `kept`); claims are not changed.
    """
    from git_flowctl.gates import checkpoints

    out = get_output()
    epic, name = _one_epic(epic, epic_option, name, takes_name=True)
    ws = open_workspace(out)
    found = _find(ws, epic, name, remote)
    then = checkpoints.epic_files(ws.revision_source(found.commit), found.epic)
    mode = mode_of(no_commit, dry_run)
    ctx = context_for(ws, actor, mode, force)
    from git_flowctl.repo.writer import Mode, Writer

    outcome = Writer(ws, message=message).apply(
        lambda plan: checkpoints.restore(plan, found, then, ctx), mode)
    if mode is not Mode.DRY_RUN and not outcome.noop:
        outcome.change.result["claims"] = _give_back_claims(ws, outcome.change.result, ctx.actor)
    from git_flowctl.cli.common import emit_outcome

    emit_outcome(out, outcome)


def _give_back_claims(ws: Workspace, result: dict[str, Any], actor: str) -> list[dict[str, Any]]:
    """A task restored out of in_progress or done gives back the actor's claim or finished
    record (as `release` and `reopen` do), so it can be started again; another actor's claim
    is left alone and named."""
    from git_flowctl.coordination.claims import Claims
    from git_flowctl.model import states

    claims = Claims.open(ws)
    changed = []
    for change in result.get("status_changes", []):
        task_id = change["id"]
        if "." not in task_id or change["to"] in (states.IN_PROGRESS, states.DONE):
            continue
        record = claims.get(task_id)
        if record is None:
            continue
        if record.is_finished or record.holder == actor:
            changed.append(claims.drop(task_id, record, actor))
        else:
            changed.append({"id": task_id, "released": False,
                            "note": f"claimed by {record.holder}: left alone"})
    return changed


@checkpoint_group.command("delete")
@epic_arguments
@click.argument("name", required=False)
@remote_option
def checkpoint_delete_command(epic: str | None, epic_option: str | None, name: str | None,
                              remote: str | None) -> None:
    """Delete checkpoint NAME (default: the newest) of EPIC, here and on claims.remote when it
    was pushed there."""
    from git_flowctl.gates import checkpoints

    out = get_output()
    epic, name = _one_epic(epic, epic_option, name, takes_name=True)
    ws = open_workspace(out)
    epic_id = _epic_id(ws, epic)
    if name is None:
        newest = checkpoints.newest(ws, epic_id)
        if newest is None:
            raise FlowError(f"{epic_id} has no checkpoint", hint="git flow-task checkpoint list")
        found = newest
    else:
        found = checkpoints.require(ws, epic_id, name)
    checkpoints.delete(ws, found)
    payload: dict[str, Any] = {**found.as_json(), "deleted": True, "pushed": None}
    _push(ws, remote, found, found.commit, payload, delete=True)
    payload["message"] = f"checkpoint {found.name} of {found.epic} deleted"
    out.emit(payload)

