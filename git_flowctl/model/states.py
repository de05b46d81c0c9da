"""The state machine and the gates (DESIGN §3), one table for every command and validator.

Stored states live in files. ``upstream_failed`` is derived on every read from the graph and never
written, so it clears by itself when the upstream task is retried and done. Views also derive
``ready`` (todo or up_for_retry with every dependency satisfied) and ``waiting``.
"""

from __future__ import annotations

from git_flowctl.model.errors import FlowError

TYPE_CHECKING = False  # typing and dataclasses cost start-up time that the lean reads avoid
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any, NamedTuple
else:
    from git_flowctl.model.tuples import NamedTuple

TO_DO, IN_PROGRESS, BLOCKED, DONE = "todo", "in_progress", "blocked", "done"
SKIPPED, FAILED, UP_FOR_RETRY = "skipped", "failed", "up_for_retry"
UPSTREAM_FAILED, READY, WAITING = "upstream_failed", "ready", "waiting"
MISSING = "missing"  # a dependency that names no task

FINISHED = frozenset({DONE, SKIPPED})
STARTABLE = frozenset({TO_DO, UP_FOR_RETRY})


class Action(NamedTuple):
    name: str
    sources: tuple[str | None, ...]
    targets: tuple[str, ...]
    summary: str


ACTIONS: dict[str, Action] = {action.name: action for action in (
    Action("create", (None,), (TO_DO,), "a new task"),
    Action("start", (TO_DO, UP_FOR_RETRY), (IN_PROGRESS,), "claim and begin work"),
    Action("done", (IN_PROGRESS,), (DONE,), "finish, with summary and evidence"),
    Action("block", (TO_DO, IN_PROGRESS), (BLOCKED,), "cannot go on, with a reason"),
    Action("unblock", (BLOCKED,), (TO_DO,), "the blocker is gone"),
    Action("fail", (IN_PROGRESS,), (UP_FOR_RETRY, FAILED),
           "up_for_retry while attempts < max_retries, else failed"),
    Action("retry", (FAILED,), (TO_DO,), "try a failed task again (attempts reset)"),
    Action("skip", (TO_DO, BLOCKED, UP_FOR_RETRY, FAILED), (SKIPPED,), "will not be done, with a reason"),
    Action("split", (TO_DO, BLOCKED, UP_FOR_RETRY, FAILED), (SKIPPED,),
           "replaced by smaller tasks (`task split`); its dependents wait for the parts"),
    Action("reopen", (DONE, SKIPPED), (TO_DO,), "needs work again"),
    Action("release", (IN_PROGRESS,), (TO_DO,), "give the claim back"),
    # Issue #16: a claim whose lease ran out is a failed attempt, counted on the branch where it
    # is noticed: in progress there (the holder's own branch, or a run's), or still startable
    # there (the holder recorded its start on another branch).
    Action("expire", (IN_PROGRESS, TO_DO, UP_FOR_RETRY), (UP_FOR_RETRY, FAILED),
           "a claim's lease ran out: a failed attempt, up_for_retry while attempts remain"),
    Action("restart", (IN_PROGRESS, BLOCKED, DONE, SKIPPED, FAILED, UP_FOR_RETRY), (TO_DO,),
           "back to todo with everything downstream (`restart`), attempts reset"),
    # `land` (issue #17) records this when a task's branch cannot land on the target (a conflict,
    # a failing guard): the work is not on the target, so the task is not done there.
    Action("land", (IN_PROGRESS, DONE), (FAILED, BLOCKED),
           "its branch could not land (conflicts, a failing guard): failed, or blocked by config"),
)}

# Actions that set a state by authority rather than by the table (bulk tools).
AUTHORITATIVE_ACTIONS = frozenset({"import", "recover"})
# `checkpoint restore` (issue #15): any change the table has, whichever action has it.
RESTORE_ACTION = "restore"

EPIC_ACTIONS: dict[str, Action] = {action.name: action for action in (
    Action("create", (None,), ("open",), "a new epic"),
    Action("close", ("open",), ("done",), "all tasks done or skipped"),
    Action("reopen", ("done",), ("open",), "more work to do"),
)}

# Actions only their own command records: a change of theirs is legal only under their name, so
# a `checkpoint restore` or an unexplained edit does not get to make it (`land`'s done -> failed).
COMMAND_ONLY_ACTIONS = frozenset({"land"})

LEGAL_TASK_CHANGES: frozenset[tuple[str | None, str]] = frozenset(
    (source, target) for action in ACTIONS.values() if action.name not in COMMAND_ONLY_ACTIONS
    for source in action.sources for target in action.targets
)
LEGAL_EPIC_CHANGES: frozenset[tuple[str | None, str]] = frozenset(
    (source, target) for action in EPIC_ACTIONS.values()
    for source in action.sources for target in action.targets
)


def actions_for_change(source: str | None, target: str) -> list[str]:
    return [a.name for a in ACTIONS.values() if source in a.sources and target in a.targets]


def check_action(task_id: str, status: str, action: str, *, force: bool = False) -> None:
    """Refuse an action the table does not allow from ``status`` (unless forced)."""
    spec = ACTIONS[action]
    if status in spec.sources or force:
        return
    allowed = ", ".join(str(s) for s in spec.sources)
    raise FlowError(
        f"cannot {action} {task_id}: it is {status} ({action} needs {allowed})",
        hint=_hint_for(action, status) or "use --force to repair a state by hand (it is recorded)",
        id=task_id, status=status)


def check_epic_action(epic_id: str, status: str, action: str, *, force: bool = False) -> None:
    """Refuse an epic action the table does not allow from ``status`` (unless forced)."""
    spec = EPIC_ACTIONS[action]
    if status in spec.sources or force:
        return
    already = {"close": "it is already closed", "reopen": "it is open"}.get(action)
    raise FlowError(f"cannot {action} epic {epic_id}: {already or f'it is {status}'}",
                    hint="use --force to repair a state by hand (it is recorded)",
                    id=epic_id, status=status)


def _hint_for(action: str, status: str) -> str | None:
    hints = {
        (DONE, "start"): "it is finished; `reopen` it to work on it again",
        (IN_PROGRESS, "start"): "it is already in progress",
        (TO_DO, "done"): "start it first",
        (BLOCKED, "start"): "unblock it first",
        (FAILED, "start"): "retry it first",
        (IN_PROGRESS, "skip"): "`release` it first (the claim goes back), then skip it",
        (IN_PROGRESS, "split"): "`release` it first (the claim goes back), then split it",
        (DONE, "skip"): "it is finished; `reopen` it first to skip it instead",
        (BLOCKED, "done"): "`unblock` it, then `start` and finish it",
    }
    return hints.get((status, action))


# What moves a dependency in each state forward, for the messages of a refused start or done.
_FORWARD = {
    TO_DO: "start and finish {deps}",
    UP_FOR_RETRY: "start and finish {deps} (up for retry)",
    IN_PROGRESS: "finish {deps} (in progress)",
    BLOCKED: "`unblock` {deps} once the blocker is gone, then finish it",
    FAILED: "`retry` {deps}, or `skip` it if the work is not needed",
    UPSTREAM_FAILED: "{deps} cannot run: an upstream task failed (`git flow-task blocked` shows which)",
    MISSING: "{deps} does not exist: `dep rm` it, or create it",
}


def unsatisfied_hint(found: Mapping[str, str]) -> str:
    """The next step for each unsatisfied dependency, grouped by its state."""
    by_state: dict[str, list[str]] = {}
    for dep, state in found.items():
        by_state.setdefault(state, []).append(dep)
    steps = [(_FORWARD.get(state) or "finish {deps}").format(deps=", ".join(deps))
             for state, deps in by_state.items()]
    return "; ".join(steps)


def epic_wait_hint(epics: list[str]) -> str:
    """The next step for an epic whose epic dependencies are open."""
    listed = ", ".join(epics)
    return (f"finish the tasks of {listed} and close {'it' if len(epics) == 1 else 'them'} "
            f"(`git flow-task epic close {epics[0]}`), or start it anyway with --force (recorded)")


def dependency_satisfied(rule: str, dep_states: Mapping[str, str]) -> bool:
    """Does a task with trigger rule ``rule`` have what it needs from its dependencies?

    ``dep_states`` maps each dependency to its effective state (derived ``upstream_failed``
    included). all_success: every dependency done or skipped. none_failed_min_one_success: every
    dependency finished, none failed, at least one done. all_done: every dependency reached an end
    state, failed ones included.
    """
    states = list(dep_states.values())
    if rule == "none_failed_min_one_success":
        return all(s in FINISHED for s in states) and (not states or DONE in states)
    if rule == "all_done":
        return all(s in FINISHED or s in (FAILED, UPSTREAM_FAILED) for s in states)
    return all(s in FINISHED for s in states)


def can_never_run(rule: str, dep_states: Mapping[str, str]) -> bool:
    """True when an upstream failure means the rule can never be satisfied (upstream_failed)."""
    if rule == "all_done":
        return False
    return any(s in (FAILED, UPSTREAM_FAILED) for s in dep_states.values())


def unsatisfied(rule: str, dep_states: Mapping[str, str]) -> list[str]:
    """The dependencies that stand in the way, for messages."""
    if dependency_satisfied(rule, dep_states):
        return []
    if rule == "all_done":
        return [d for d, s in dep_states.items() if s not in FINISHED | {FAILED, UPSTREAM_FAILED}]
    if rule == "none_failed_min_one_success" and all(s in FINISHED for s in dep_states.values()):
        return list(dep_states)  # all skipped: none succeeded
    return [d for d, s in dep_states.items() if s not in FINISHED]



def effective_states(stored: Mapping[str, str], deps: Mapping[str, list[str]],
                     rules: Mapping[str, str]) -> dict[str, str]:
    """Each task's state as readers see it: the stored one, or ``upstream_failed``.

    A todo or up_for_retry task whose trigger rule can never be met because a dependency failed
    (or is itself upstream_failed) reads as upstream_failed. Nothing is written: once the
    upstream task is retried the derived state disappears.
    """
    result: dict[str, str] = {}
    resolve = effective_resolver(stored.get, lambda task_id: deps.get(task_id, []),
                                 lambda task_id: rules.get(task_id, "all_success"), result)
    for task_id in stored:
        resolve(task_id)
    return result


def effective_resolver(stored_of: Callable[[str], str | None],
                       deps_of: Callable[[str], Sequence[str]],
                       rule_of: Callable[[str], str],
                       result: dict[str, str],
                       cycles: list[str] | None = None) -> Callable[[str], str]:
    """``effective_states`` one task at a time: ``resolve(task_id)`` fills ``result`` with the
    task and what it needed, in the order the whole computation would. A depth-first walk with
    its own stack, so a chain of 50,000 dependencies does not hit Python's recursion limit; a
    task met again while its own dependencies are being resolved (a cycle) counts with its
    stored state, and is added to ``cycles`` (the answer then depends on where the walk
    began: see facts.PlanFacts.state_of)."""
    visiting: set[str] = set()
    # A frame: [task, stored state, its dependencies, next index, their states, pending dependency]
    stack: list[list[Any]] = []

    def enter(task_id: str) -> str | None:
        """The task's state when known now; None when its frame was pushed."""
        if task_id in result:
            return result[task_id]
        state = stored_of(task_id)
        if state is None:
            return MISSING
        if state in STARTABLE:
            if task_id not in visiting:
                visiting.add(task_id)
                stack.append([task_id, state, deps_of(task_id), 0, {}, None])
                return None
            if cycles is not None:
                cycles.append(task_id)
        result[task_id] = state
        return state

    def resolve(task_id: str) -> str:
        known = enter(task_id)
        if known is not None:
            return known
        while stack:
            frame = stack[-1]
            deps = frame[2]
            if frame[3] < len(deps):
                dep = deps[frame[3]]
                frame[3] += 1
                found = enter(dep)
                if found is None:
                    frame[5] = dep
                else:
                    frame[4][dep] = found
                continue
            current, state, _, _, dep_states, _ = stack.pop()
            visiting.discard(current)
            if can_never_run(rule_of(current), dep_states):
                state = UPSTREAM_FAILED
            result[current] = state
            if stack:
                stack[-1][4][stack[-1][5]] = state
        return result[task_id]

    return resolve
