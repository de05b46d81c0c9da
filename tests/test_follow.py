"""PlanFacts.follow (issue #11): the states derived before a few tasks changed, followed to
the tasks that changed and those that depend on them, equal the states computed whole. Random
plans (dependency chains and diamonds across epics, every stored state, both trigger rules,
archived dependencies, cycles) and random changes: a status, the dependencies, a task added or
removed."""

from __future__ import annotations

import os
import random

import pytest

from git_flowctl.model.facts import EpicFacts, PlanFacts, TaskFacts

STATES = ("todo", "todo", "todo", "done", "skipped", "failed", "blocked", "in_progress",
          "up_for_retry")
RULES = ("all_success", "none_failed_min_one_success")
STRESS = max(1, int(os.environ.get("FLOW_STRESS", "1") or 1))  # as test_one_truth_property


def _task(rng: random.Random, epic: int, number: int, others: list[str]) -> TaskFacts:
    deps = rng.sample(others, min(len(others), rng.choice((0, 1, 1, 2, 3))))
    if rng.random() < 0.05:
        deps.append("fn-99-gone.1")  # archived
    return TaskFacts(f"fn-{epic}-e.{number}", f"fn-{epic}-e", f"Task {number}", rng.choice(STATES),
                     deps, None, None, None, rng.choice(RULES), None, None, 0, None, epic, number)


ARCHIVED = TaskFacts("fn-99-gone.1", "fn-99-gone", "Old", "done", [], None, None, None,
                     "all_success", None, None, 0, None, 99, 1)


def _facts(tasks: dict[str, TaskFacts], epics: dict[str, EpicFacts]) -> PlanFacts:
    return PlanFacts(tasks, epics,
                     archived_task=lambda task_id: ARCHIVED if task_id == ARCHIVED.id else None)


def _plan(rng: random.Random) -> tuple[dict[str, TaskFacts], dict[str, EpicFacts]]:
    epics = {f"fn-{e}-e": EpicFacts(f"fn-{e}-e", f"Epic {e}", "open",
                                    [f"fn-{e - 1}-e"] if e > 1 and rng.random() < 0.3 else [],
                                    None, None, e) for e in range(1, 5)}
    tasks: dict[str, TaskFacts] = {}
    for epic in range(1, 5):
        for number in range(1, 9):
            task = _task(rng, epic, number, list(tasks))
            tasks[task.id] = task
    return tasks, epics


def _change(rng: random.Random, tasks: dict[str, TaskFacts]) -> tuple[dict[str, TaskFacts], list[str]]:
    changed = dict(tasks)
    names: list[str] = []
    for _ in range(rng.randint(1, 3)):
        kind = rng.random()
        task_id = rng.choice(list(changed))
        if kind < 0.4:
            changed[task_id] = changed[task_id]._replace(status=rng.choice(STATES))
        elif kind < 0.65:  # new dependencies, maybe a cycle
            changed[task_id] = changed[task_id]._replace(depends_on=rng.sample(list(changed), 2))
        elif kind < 0.85:
            del changed[task_id]
        else:
            task_id = f"fn-1-e.{100 + len(changed)}"
            changed[task_id] = _task(rng, 1, 100 + len(changed), list(changed))
        names.append(task_id)
    return changed, names


@pytest.mark.parametrize("seed", range(40 * STRESS))
def test_followed_states_equal_states_computed_whole(seed: int) -> None:
    rng = random.Random(seed)
    tasks, epics = _plan(rng)
    before = _facts(tasks, epics)
    before.view_states()
    derived = before.derived()
    for _ in range(4):
        tasks, names = _change(rng, tasks)
        whole = _facts(tasks, epics)
        followed = _facts(tasks, epics)
        followed.follow(derived, names)
        assert followed.effective_states() == whole.effective_states()
        assert followed.view_states() == whole.view_states()
        assert list(followed.view_states()) == list(whole.view_states())  # the plan's order
        if derived.get("acyclic"):
            assert followed.acyclic == whole.acyclic
        derived = followed.derived()


def test_nothing_is_followed_from_a_plan_with_a_cycle() -> None:
    """States around a cycle depend on where the walk began: a change is computed whole."""
    rng = random.Random(1)
    tasks, epics = _plan(rng)
    first, second = "fn-1-e.1", "fn-1-e.2"
    tasks[first] = tasks[first]._replace(status="todo", depends_on=[second])
    tasks[second] = tasks[second]._replace(status="todo", depends_on=[first])
    before = _facts(tasks, epics)
    before.view_states()
    assert before.acyclic is False
    later = dict(tasks)
    later["fn-2-e.3"] = later["fn-2-e.3"]._replace(status="done")
    followed = _facts(later, epics)
    followed.follow(before.derived(), ["fn-2-e.3"])
    assert followed._effective is None  # not taken: computed whole when asked
    assert followed.effective_states() == _facts(later, epics).effective_states()


@pytest.mark.parametrize("seed", range(5))
def test_the_first_dependents_question_is_answered_as_the_index_answers_it(seed: int) -> None:
    """`show` of one task scans for its dependents instead of indexing 50,000 tasks; every
    later question uses the index: both give the same tasks in the same order."""
    tasks, epics = _plan(random.Random(seed))
    for task_id in tasks:
        scanned = _facts(tasks, epics).dependents(task_id)
        indexed = _facts(tasks, epics)
        indexed.dependents("fn-0-none.1")
        assert scanned == indexed.dependents(task_id)
