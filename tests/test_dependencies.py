"""Issue #3: dependencies (any epic), cycles refused at write time, split, epic dependencies."""

from __future__ import annotations

import pytest
from conftest import Repo
from plans import PREFIX, tid

EPIC2 = "fn-2-billing"


@pytest.fixture
def two_epics(flow_repo: Repo) -> Repo:
    flow_repo.ok("epic", "create", "--title", "Billing")
    flow_repo.ok("task", "create", "--epic", "fn-2", "--title", "Invoices")
    return flow_repo


def test_dep_add_and_rm_across_epics(two_epics: Repo) -> None:
    repo = two_epics
    added = repo.ok("dep", "add", "fn-2.1", "fn-1.2", "fn-1-add-oauth-login.3")
    assert added["task"] == tid(1, EPIC2)
    assert added["depends_on"] == [tid(2), tid(3)]
    assert added["added"] == [tid(2), tid(3)]
    assert "Flow-Transition" not in repo.message()  # no state changed
    assert repo.git("diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD").split() == [
        f".flow/tasks/{tid(1, EPIC2)}.md"]
    assert repo.ok("show", "fn-2.1")["blocked_by"] == [tid(2), tid(3)]
    assert repo.refused("start", "fn-2.1").exit_code == 1
    again = repo.ok("dep", "add", "fn-2.1", "fn-1.2")
    assert again["changed"] is False and again["added"] == []
    removed = repo.ok("dep", "rm", "fn-2.1", "fn-1.2")
    assert removed["removed"] == [tid(2)] and removed["depends_on"] == [tid(3)]
    not_there = repo.refused("dep", "rm", "fn-2.1", "fn-1.1")
    assert f"does not depend on {tid(1)}" in not_there.stderr


def test_dep_add_that_closes_a_cycle_exits_1_names_it_and_changes_nothing(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("task", "create", "--epic", "fn-1", "--title", "After 2", "--deps", "fn-1.2")
    head, status = repo.head(), repo.status()
    result = repo.refused("dep", "add", "fn-1.1", "fn-1.4")
    cycle = f"{tid(1)} -> {tid(4)} -> {tid(2)} -> {tid(1)}"
    assert f"cycle {cycle}" in result.stderr
    assert repo.head() == head and repo.status() == status
    data = repo.flow("dep", "add", "fn-1.1", "fn-1.4", "--json").json
    assert data["success"] is False and data["cycle"] == [tid(1), tid(4), tid(2), tid(1)]
    self_loop = repo.refused("dep", "add", "fn-1.1", "fn-1.1")
    assert f"cycle {tid(1)} -> {tid(1)}" in self_loop.stderr
    set_deps = repo.refused("task", "set-deps", "fn-1.1", "--deps", "fn-1.3")
    assert f"cycle {tid(1)} -> {tid(3)} -> {tid(1)}" in set_deps.stderr
    assert repo.head() == head and repo.status() == status


def test_task_create_deps_refuse_a_cycle_through_a_dangling_reference(flow_repo: Repo) -> None:
    """A hand-edited depends_on may name a task not created yet; creating it must not close a loop."""
    repo = flow_repo
    path = repo.path / f".flow/tasks/{tid(2)}.md"
    path.write_text(path.read_text().replace(f"depends_on: [{tid(1)}]", f"depends_on: [{tid(1)}, {tid(4)}]"))
    repo.commit_all("plan ahead by hand")
    head = repo.head()
    result = repo.refused("task", "create", "--epic", "fn-1", "--title", "Loop", "--deps", "fn-1.2")
    assert f"cycle {tid(4)} -> {tid(2)} -> {tid(4)}" in result.stderr
    assert repo.head() == head
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Fine", "--deps", "fn-1.3")


def test_set_deps_replaces_and_clears(two_epics: Repo) -> None:
    repo = two_epics
    data = repo.ok("task", "set-deps", "fn-1.3", "--deps", "fn-1.2,fn-2.1")
    assert data["depends_on"] == [tid(2), tid(1, EPIC2)]
    assert data["removed"] == [tid(1)]
    cleared = repo.ok("task", "set-deps", "fn-1.3", "--deps", "")
    assert cleared["depends_on"] == []
    assert "depends_on: []" in repo.read(f".flow/tasks/{tid(3)}.md")


def test_an_epic_is_not_a_task_dependency(two_epics: Repo) -> None:
    result = two_epics.refused("dep", "add", "fn-1.2", "fn-2", code=2)
    assert "is an epic" in result.stderr and "epic add-dep" in result.stderr


def test_unfinished_dependency_on_a_started_task_needs_force(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Standalone")
    repo.ok("start", "fn-1.1")
    head = repo.head()
    result = repo.flow("dep", "add", "fn-1.1", "fn-1.4", "--json")
    assert result.exit_code == 1 and "in_progress" in result.json["error"]
    assert result.json["blocked_by"] == [tid(4)]
    assert repo.head() == head
    repo.ok("dep", "rm", "fn-1.2", "fn-1.1")  # removing is always fine
    repo.ok("dep", "add", "fn-1.1", "fn-1.4", "--force")
    assert "force" not in repo.message()  # no transition, so nothing to mark


def test_dangling_dependency_is_removed_by_its_text(flow_repo: Repo) -> None:
    repo = flow_repo
    path = repo.path / f".flow/tasks/{tid(3)}.md"
    path.write_text(path.read_text().replace(f"depends_on: [{tid(1)}]", f"depends_on: [{tid(1)}, fn-7-gone.1]"))
    repo.commit_all("dangling")
    assert repo.ok("show", "fn-1.3")["blocked_by"] == [tid(1), "fn-7-gone.1"]
    assert repo.ok("dep", "rm", "fn-1.3", "fn-7-gone.1")["depends_on"] == [tid(1)]


# Split --------------------------------------------------------------------------------------------


def _split_setup(repo: Repo) -> None:
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Docs", "--deps", "fn-1.2,fn-1.3")
    repo.ok("epic", "create", "--title", "Billing")
    repo.ok("task", "create", "--epic", "fn-2", "--title", "Charge", "--deps", "fn-1.2")


def test_split_gives_parts_the_next_numbers_and_dependents_wait_for_every_part(flow_repo: Repo) -> None:
    repo = flow_repo
    _split_setup(repo)
    head = repo.head()
    data = repo.ok("task", "split", "fn-1.2", "--titles", "Claims | Signing|Rotation")
    parts = [tid(5), tid(6), tid(7)]
    assert data["split_into"] == parts and data["status"] == "skipped"
    assert sorted(data["rewired"]) == [tid(4), tid(1, EPIC2)]
    assert repo.git("rev-list", "--count", f"{head}..HEAD").strip() == "1"
    message = repo.message()
    assert f"Flow-Transition: {tid(2)} todo->skipped action=split" in message
    assert f"into={','.join(parts)}" in message
    for part in parts:
        assert f"Flow-Transition: {part} none->todo action=create" in message
    titles = [repo.ok("show", part)["title"] for part in parts]
    assert titles == ["Claims", "Signing", "Rotation"]
    for part in parts:
        shown = repo.ok("show", part)
        assert shown["depends_on"] == [tid(1)] and shown["priority"] == 2
        assert shown["split_from"] == tid(2)
    original = repo.ok("show", "fn-1.2")
    assert original["stored_status"] == "skipped" and original["split_into"] == parts
    assert repo.ok("show", "fn-1.4")["depends_on"] == [*parts, tid(3)]
    assert repo.ok("show", "fn-2.1")["depends_on"] == parts
    # nothing downstream starts early: the skipped original no longer satisfies anyone
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1")
    assert repo.ok("show", "fn-2.1")["view_state"] == "waiting"
    assert repo.ok("status")["ready"] == [tid(3), *parts]


def test_split_chain_orders_the_parts_and_dependents_wait_for_the_last(flow_repo: Repo) -> None:
    repo = flow_repo
    _split_setup(repo)
    data = repo.ok("task", "split", "fn-1.2", "--titles", "A|B|C", "--chain")
    parts = [tid(5), tid(6), tid(7)]
    assert data["chain"] is True
    assert [repo.ok("show", p)["depends_on"] for p in parts] == [[tid(1)], [tid(5)], [tid(6)]]
    assert repo.ok("show", "fn-1.4")["depends_on"] == [tid(7), tid(3)]
    assert repo.ok("show", "fn-2.1")["depends_on"] == [tid(7)]


def test_split_is_refused_for_started_work_and_needs_two_titles(flow_repo: Repo) -> None:
    repo = flow_repo
    head = repo.head()
    assert "at least two" in repo.refused("task", "split", "fn-1.2", "--titles", "Only", code=2).stderr
    repo.ok("start", "fn-1.1")
    head = repo.head()
    result = repo.refused("task", "split", "fn-1.1", "--titles", "A|B")
    assert "cannot split" in result.stderr and "in_progress" in result.stderr
    assert repo.head() == head


# Epic dependencies --------------------------------------------------------------------------------


def test_epic_dependencies_and_their_cycles(two_epics: Repo) -> None:
    repo = two_epics
    repo.ok("epic", "create", "--title", "Launch")
    data = repo.ok("epic", "add-dep", "fn-3", "fn-2")
    assert data["depends_on_epics"] == [EPIC2]
    assert "Flow-Transition" not in repo.message()
    repo.ok("epic", "add-dep", "fn-2", "fn-1")
    head = repo.head()
    result = repo.refused("epic", "add-dep", "fn-1", "fn-3")
    assert f"cycle {PREFIX} -> fn-3-launch -> {EPIC2} -> {PREFIX}" in result.stderr
    assert repo.head() == head
    data = repo.ok("epic", "add-dep", "fn-3", "fn-1")
    assert data["depends_on_epics"] == [EPIC2, PREFIX]
    assert repo.refused("epic", "add-dep", "fn-1", "fn-1").exit_code == 1
    assert repo.refused("epic", "add-dep", "fn-1", "fn-2.1", code=2).exit_code == 2
    removed = repo.ok("epic", "rm-dep", "fn-3", "fn-2")
    assert removed["depends_on_epics"] == [PREFIX] and removed["removed"] == [EPIC2]
    next_work = repo.ok("next", "--epic", "fn-3")
    assert next_work["status"] == "none" and next_work["passed_over"] == [
        {"epic": "fn-3-launch", "waiting_on": [PREFIX]}]


def test_task_edit_changes_fields_and_text_only(flow_repo: Repo) -> None:
    repo = flow_repo
    data = repo.ok("task", "edit", "fn-1.2", "--title", "JWT middleware", "--priority", "none",
                   "--domain", "backend", "--files", "src/auth.py,src/jwt.py", "--max-retries", "4",
                   "--estimate", "3", "--description", "Verify tokens.", "--acceptance", "- [ ] tests")
    assert data["edited"] == ["title", "priority", "domain", "files", "max_retries", "estimate",
                              "description", "acceptance"]
    shown = repo.ok("show", "fn-1.2")
    assert shown["title"] == "JWT middleware" and shown.get("priority") is None
    assert shown["files"] == ["src/auth.py", "src/jwt.py"] and shown["max_retries"] == 4
    assert shown["estimate"] == 3 and shown["description"] == "Verify tokens."
    assert shown["stored_status"] == "todo"
    assert shown["id"] == tid(2)  # the ID never changes
    text = repo.read(f".flow/tasks/{tid(2)}.md")
    assert "estimate: 3\n" in text and "priority" not in text
    repo.ok("task", "edit", "fn-1.2", "--domain", "", "--files", "")
    text = repo.read(f".flow/tasks/{tid(2)}.md")
    assert "domain" not in text and "files" not in text
    assert repo.refused("task", "edit", "fn-1.2", code=2).stderr.startswith("error: nothing to edit")
    assert repo.refused("task", "edit", "fn-1.2", "--priority", "high", code=2).exit_code == 2
    assert repo.refused("task", "edit", "fn-1.2", "--title", " ", code=2).exit_code == 2
