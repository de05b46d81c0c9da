"""`prime`: a short primer for AI agents, about the repository at hand.

It stays under 1,000 tokens (fewer than 750 words and 5,000 characters; a test holds it there)
however large the plan: it lists at most ``MAX_EPICS`` open epics and ``MAX_READY`` ready tasks.
It names only commands this installation has (``available``), so an agent is never told to run
one that does not exist.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from git_flowctl.model import states
from git_flowctl.repo.plan import Plan

if TYPE_CHECKING:
    from git_flowctl.coordination.queries import Offer
    from git_flowctl.repo.workspace import Workspace

MAX_EPICS = 8
MAX_READY = 5


@dataclass(frozen=True)
class Setup:
    """What the primer says about this repository's setup besides the plan."""

    actor: str
    actor_source: str  # "FLOW_ACTOR", "git user.email", ...
    hooks: str | None = None  # "installed", "not installed", or None when unknown


def setup_for(ws: Workspace) -> Setup:
    """This repository's setup as `prime` reports it: the actor (and where it comes from) and
    whether the hooks are installed."""
    from git_flowctl.views.doctor import PASS, hooks

    actor = ws.actor()
    return Setup(actor=actor, actor_source=_actor_source(ws, actor),
                 hooks="installed" if hooks(ws).status == PASS else "not installed")


def _actor_source(ws: Workspace, actor: str) -> str:
    if os.environ.get("FLOW_ACTOR", "").strip() == actor:
        return "from FLOW_ACTOR"
    if ws.config_value("user.email") == actor:
        return "git user.email"
    if ws.config_value("user.name") == actor:
        return "git user.name"
    return "from the environment"


def build(plan: Plan, setup: Setup, available: Collection[str], offer: Offer | None = None) -> str:
    """The primer; "Ready now" names what ``offer`` (queries.Offer: the actor's claims and
    holdbacks) calls ready, or, without one, what the plan does."""
    prefix = plan.config.prefix
    cmd = "git flow-task"
    parts = [
        "# Working here with git flow-task\n",
        "Plans live in `.flow/` as Markdown files (`.flow/epics/`, `.flow/tasks/`); every state "
        "change is a git commit carrying `Flow-Transition` trailers. Change task state only "
        f"through `{cmd}` commands, never by editing `.flow/` files: the commands check the "
        "state machine and the dependencies and record who did what.\n",
        "## This repository\n",
    ]
    parts.append(f"- IDs: epics `{prefix}-N-slug`, tasks `{prefix}-N-slug.M`; short forms work "
                 f"(`{prefix}-2`, `{prefix}-2.3`).")
    if plan.initialized:
        parts.extend(_plan_lines(plan, offer))
    else:
        parts.append(f"- No plan yet: `{cmd} init`, then `{cmd} epic create --title ...` and "
                     f"`{cmd} task create --epic {prefix}-1 --title ...`.")
    parts.append(f"- You act as `{setup.actor}` ({setup.actor_source}). Agents working in "
                 "parallel need distinct actors: `export FLOW_ACTOR=agent-1` or `--actor agent-1`.")
    if "claims" in available:  # claim refs exist in this installation
        parts.append(_claims_line(plan.config.get("claims.remote")))
    if setup.hooks == "installed":
        parts.append("- Hooks are installed: a commit or push that breaks the rules is refused.")
    elif setup.hooks is not None:
        parts.append(f"- Hooks are not installed (`{cmd} hooks install` adds them).")
    parts.append("- `done` requires `--evidence`." if plan.config.require_evidence
                 else "- Evidence on `done` is optional but expected.")
    if "guard" in available and (plan.config.require_verify or plan.config.get("guard")):
        lead = ("`done` requires `--verify`" if plan.config.require_verify
                else "Finish with `done ID --verify`")
        parts.append(f"- {lead}: it runs the project's checks (`{cmd} guard`) first, refuses "
                     "unless they pass, and records their results.")
    if "review" in available and plan.config.require_review:
        kinds = " and ".join(sorted(plan.config.require_review))
        parts.append(f"- A SHIP {kinds} review is required (`{cmd} review ID --verdict ...`); "
                     "`next` says when one is due.")
    parts.append("")
    parts.extend(_loop(cmd, set(available), setup))
    parts.append(
        "\n## The --json contract\n"
        "Every command takes `--json` and prints one object: `{\"success\": true, ...}` or "
        "`{\"success\": false, \"error\": \"...\", \"hint\": \"...\"}`. Exit codes: 0 ok; "
        "1 refused or invalid (read `error` and `hint`, do not retry unchanged); 2 usage "
        "(fix the command line); 3 lost a race or claimed by another (pick another task).")
    reads = [f"`{cmd} {name}`" for name, _ in _READS if name.split()[0] in available]
    if reads:
        parts.append("\nMore to read: " + ", ".join(reads) + ".")
    return "\n".join(parts).strip() + "\n"


def _claims_line(remote: str | None) -> str:
    if remote:
        return (f"- Claims are pushed to the `{remote}` remote: of two agents starting one task "
                "anywhere, one wins and the other gets exit code 3.")
    return ("- Claims are local to this repository (no `claims.remote`): its worktrees cannot "
            "take the same task; other clones can.")


_READS = (("status --json", "counts"), ("ready --json", "what can start"),
          ("tasks --status in_progress --json", "work in flight"), ("cat ID", "a task's text"),
          ("log ID", "its history"))


def _plan_lines(plan: Plan, offer: Offer | None) -> list[str]:
    lines: list[str] = []
    open_epics = [epic for epic in plan.sorted_epics() if epic.status != "done"]
    done_epics = len(plan.epics) - len(open_epics)
    if not plan.epics:
        lines.append("- No epics yet.")
    elif open_epics:
        lines.append(f"- Epics: {len(open_epics)} open, {done_epics} done. Open:")
    else:
        lines.append(f"- All {done_epics} epics are done.")
    for epic in open_epics[:MAX_EPICS]:
        tasks = plan.tasks_of(epic.id)
        counts: dict[str, int] = {}
        for task in tasks:
            state = plan.state_of(task.id)
            counts[state] = counts.get(state, 0) + 1
        finished = counts.get(states.DONE, 0) + counts.get(states.SKIPPED, 0)
        details = [f"{finished}/{len(tasks)} finished"]
        details += [f"{counts[s]} {s}" for s in (states.IN_PROGRESS, states.BLOCKED,
                                                 states.FAILED, states.UPSTREAM_FAILED)
                    if counts.get(s)]
        waiting = [dep for dep in epic.depends_on_epics
                   if dep not in plan.epics or plan.epics[dep].status != "done"]
        if waiting:
            details.append("waits for " + ", ".join(waiting))
        lines.append(f"  - `{epic.id}` {epic.title}: " + ", ".join(details))
    if len(open_epics) > MAX_EPICS:
        lines.append(f"  - and {len(open_epics) - MAX_EPICS} more")
    is_ready = offer.is_ready if offer is not None else (
        lambda task_id: plan.view_state(task_id) == states.READY)
    ready = [task.id for task in sorted(plan.tasks.values(), key=lambda t: t.sort_key())
             if is_ready(task.id)]
    if ready:
        shown = ", ".join(f"`{task_id}`" for task_id in ready[:MAX_READY])
        more = f" and {len(ready) - MAX_READY} more" if len(ready) > MAX_READY else ""
        lines.append(f"- Ready now: {shown}{more}.")
    elif plan.tasks:
        lines.append("- Nothing is ready now.")
    return lines


def _loop(cmd: str, available: set[str], setup: Setup) -> list[str]:
    steps = ["## The loop"]
    if "claims" in available and "next" in available:
        # Claims exist: picking and claiming is one atomic step, so agents never collide.
        steps += [
            f"1. `{cmd} next --claim --json` picks the best ready task and starts it for you "
            "(claimed, one commit), or resumes your own in-progress one: `{\"status\": "
            "\"work\", \"task\": ID, ...}`. A race lost to another agent moves on by itself. "
            "`\"status\": \"none\"` means nothing is ready: stop and report (with "
            "`\"reason\": \"waiting_for_retry\"`, try again at `retry_after`).",
            f"2. `{cmd} prompt ID`: the task's spec and acceptance, what its dependencies did, "
            "the files it owns, and the exact commands to finish, fail or block it."
            if "prompt" in available else
            f"2. `{cmd} show ID --json`: read `description` and `acceptance` first.",
        ]
    else:
        if "next" in available:
            pick = (f"1. `{cmd} next --json` gives `{{\"status\": \"work\", \"task\": ID, "
                    "\"reason\": ...}`: your own in-progress task first, else the best ready "
                    "one. `\"status\": \"none\"` means nothing is ready: stop and report.")
        else:
            pick = (f"1. `{cmd} tasks --status ready --json` lists what can start: take the "
                    "lowest `priority`. An empty list means nothing is ready: stop and report.")
        steps += [
            pick,
            f"2. `{cmd} show ID --json`: read `description` and `acceptance` first, then "
            f"`{cmd} start ID --json` (one commit). Exit 1 while a dependency is unfinished "
            "or when someone started it already: go back to 1.",
        ]
    steps += [
        "3. Do the work and commit your code as usual.",
        f"4. `{cmd} done ID --summary \"what changed\" --evidence commits=SHA "
        "--evidence tests=\"the test command\" --json`.",
        f"   Stuck on something outside your control: `{cmd} block ID --reason \"why\"`. "
        f"Cannot go on now: `{cmd} release ID`. The attempt failed: "
        f"`{cmd} fail ID --reason \"why\"` (it comes back as up_for_retry).",
    ]
    if setup.hooks == "installed":
        steps.append(f"   To record the state change in the same commit as your code: "
                     f"`{cmd} done ID ... --no-commit`, then `git commit`.")
    if "land" in available:
        steps.append(f"   Working on a branch of your own? `{cmd} land ID --json` instead of "
                     "`done` merges it into the default branch with the task's done in one "
                     "commit.")
    if "heartbeat" in available:
        steps.append(f"   Long work: `{cmd} heartbeat ID` now and then keeps your claim alive.")
    steps.append("5. Repeat from 1.")
    return steps
