"""Issue #12, item 1: one definition of ready, waiting and why, used by every command.

An epic dependency is a dependency of every task of the epic (docs/states.md#epic-dependencies):
`status`, `show`, `tasks --status ready`, `graph`, `board`, `ready`, `next`, `run --dry-run`
and `critical-path` say so, `start` refuses (exit 1, naming the epic, unless --force), and the
hooks and `check --base` refuse a start recorded by hand. A task someone else holds, or one a
retry backoff or someone else's files hold back, is waiting too, and `start` refuses it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from conftest import Repo
from plans import PREFIX, tid
from test_board import import_fixture

BILLING = "fn-2-billing"
INVOICES = f"{BILLING}.1"


def epic_waiting_plan(repo: Repo) -> Repo:
    """fn-1 (1 <- 2, 1 <- 3) open; fn-2 depends on fn-1 and has one task with no dependencies."""
    repo.ok("epic", "create", "--title", "Billing", "--deps", "fn-1")
    repo.ok("task", "create", "--epic", "fn-2", "--title", "Invoices")
    return repo


def ready_everywhere(repo: Repo, *, actor_env: dict[str, str] | None = None) -> dict[str, set[str]]:
    """What each command calls ready, by command."""
    env = actor_env or {}
    every = [row["id"] for row in repo.ok("tasks", env=env)["tasks"]]
    graph = repo.ok("graph", env=env)
    mermaid = repo.flow("graph", "--format", "mermaid", env=env).stdout
    found = {
        "status": set(repo.ok("status", env=env)["ready"]),
        "ready": {row["id"] for row in repo.ok("ready", env=env)["ready"]},
        "tasks --status ready": {row["id"] for row in
                                 repo.ok("tasks", "--status", "ready", env=env)["tasks"]},
        "show": {task for task in every
                 if repo.ok("show", task, env=env)["view_state"] == "ready"},
        "graph": {node["id"] for node in graph["nodes"]
                  if node["status"] == "ready" and not node["external"]},
        "mermaid": {task for task in every
                    if f'{mermaid_id(task)}["' in mermaid
                    and any(line.startswith(f"  {mermaid_id(task)}[") and line.endswith(":::ready")
                            for line in mermaid.splitlines())},
        "board": set(repo.ok("board", env=env)["ready"]),
        "run --dry-run": set((dry_run(repo, env)["waves"] or [[]])[0]),
    }
    return found


def dry_run(repo: Repo, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = repo.flow("--json", "run", "--dry-run", "--", "true", env=env)
    assert result.exit_code == 0, result
    return result.json  # type: ignore[no-any-return]


def mermaid_id(task: str) -> str:
    return "t_" + task.replace("-", "_").replace(".", "_")


def assert_agree(found: dict[str, set[str]], expected: set[str]) -> None:
    for command, ready in found.items():
        assert ready == expected, (command, ready, expected)


# The quoted reproduction: epic fn-2 depends on open epic fn-1 ---------------------------------


def test_a_task_whose_epic_waits_is_waiting_in_every_command(flow_repo: Repo) -> None:
    repo = epic_waiting_plan(flow_repo)
    assert_agree(ready_everywhere(repo), {tid(1)})
    shown = repo.ok("show", INVOICES)
    assert shown["view_state"] == "waiting" and shown["waiting_on"] == [PREFIX]
    assert shown["blocked_by"] == []  # its own dependencies: none
    assert "todo, waiting" in repo.flow("show", INVOICES).stdout
    blocked = {row["id"]: row for row in repo.ok("ready")["blocked"]}
    assert blocked[INVOICES]["blocked_by"] == [f"epic={PREFIX}"]
    assert repo.ok("next")["task"] == tid(1)
    excluded = dry_run(repo)["excluded"]
    assert "waits for epic" in excluded[INVOICES]


def test_start_refuses_a_task_whose_epic_waits_and_force_overrides(flow_repo: Repo) -> None:
    repo = epic_waiting_plan(flow_repo)
    head = repo.head()
    refused = repo.refused("start", INVOICES, "--json")
    data = refused.json
    assert data["error"] == (f"cannot start {INVOICES}: its epic {BILLING} waits for epic "
                             f"{PREFIX} (open)")
    assert f"git flow-task epic close {PREFIX}" in data["hint"] and "--force" in data["hint"]
    assert data["waiting_on"] == [{"epic": PREFIX, "state": "open"}]
    assert repo.head() == head and repo.status() == ""
    human = repo.refused("start", INVOICES)
    assert f"its epic {BILLING} waits for epic {PREFIX} (open)" in human.stderr
    assert "Traceback" not in human.stderr
    forced = repo.ok("start", INVOICES, "--force")
    assert forced["status"] == "in_progress"
    # work under way finishes: done is not refused for the epic (only start is)
    assert repo.ok("done", INVOICES)["status"] == "done"


def test_the_epic_closing_makes_its_dependents_ready_everywhere(flow_repo: Repo) -> None:
    repo = epic_waiting_plan(flow_repo)
    for task in (tid(1), tid(2), tid(3)):
        repo.ok("start", task)
        repo.ok("done", task)
    # fn-1's tasks are finished but fn-1 is open: nothing is ready, and next says to close it
    assert_agree(ready_everywhere(repo), set())
    nothing = repo.ok("next")
    assert (nothing["status"], nothing["reason"], nothing["epic"]) == (
        "none", "all_done_close_epic", PREFIX)
    assert nothing["suggest"] == f"git flow-task epic close {PREFIX}"
    repo.ok("epic", "close", "fn-1")
    assert_agree(ready_everywhere(repo), {INVOICES})
    assert repo.ok("start", INVOICES)["status"] == "in_progress"


def test_critical_path_and_graph_include_epic_dependencies(flow_repo: Repo) -> None:
    repo = epic_waiting_plan(flow_repo)
    path = [row["id"] for row in repo.ok("critical-path")["path"]]
    assert path == [tid(1), tid(2), INVOICES]  # fn-1's last tasks come before fn-2's first
    graph = repo.ok("graph")
    assert graph["epic_edges"] == [{"from": PREFIX, "to": BILLING, "open": True}]
    assert {(link["from"], link["to"]) for link in graph["epic_links"]} == {
        (tid(2), INVOICES), (tid(3), INVOICES)}
    assert graph["layers"][-1] == [INVOICES]  # after fn-1's last layer
    ascii_art = repo.flow("graph").stdout
    assert f"{BILLING} waits for {PREFIX}" in ascii_art
    assert "fn-1.2 (epic), fn-1.3 (epic)" in ascii_art
    mermaid = repo.flow("graph", "--format", "mermaid").stdout
    assert f"  {mermaid_id(tid(2))} ==>|epic| {mermaid_id(INVOICES)}" in mermaid
    dot = repo.flow("graph", "--format", "dot").stdout
    assert f'"{tid(3)}" -> "{INVOICES}" [style=bold, label="epic"];' in dot
    # one epic's picture shows the tasks it waits for, outside it
    alone = repo.ok("graph", "--epic", "fn-2")
    outside = {node["id"] for node in alone["nodes"] if node["external"]}
    assert outside == {tid(2), tid(3)}
    assert [row["id"] for row in repo.ok("critical-path", "--epic", "fn-2")["path"]] == [
        tid(1), tid(2), INVOICES]


def test_hooks_and_check_refuse_a_start_whose_epic_waits(flow_repo: Repo) -> None:
    repo = epic_waiting_plan(flow_repo)
    base = repo.head()
    path = f".flow/tasks/{INVOICES}.md"
    repo.write(path, repo.read(path).replace("status: todo", "status: in_progress"))
    repo.git("add", "-A")
    message = ("start invoices by hand\n\n"
               f"Flow-Transition: {INVOICES} todo->in_progress start by=alice@example.com\n")
    repo.git("commit", "-q", "-m", message)
    result = repo.flow("check", "--base", base, "--json")
    assert result.exit_code == 1
    gate = [f for f in result.json["findings"] if f["rule"] == "gate-unsatisfied"]
    assert gate and gate[0]["message"] == (
        f"{INVOICES} entered in_progress while its epic {BILLING} waits for epic {PREFIX} (open)")
    assert f"git flow-task epic close {PREFIX}" in gate[0]["hint"]
    # the pre-commit hook refuses the same change before it is committed
    repo.git("reset", "-q", "--hard", base)
    repo.ok("hooks", "install")
    repo.write(path, repo.read(path).replace("status: todo", "status: in_progress"))
    repo.git("add", "-A")
    commit = subprocess.run(["git", "commit", "-m", message], cwd=repo.path, capture_output=True,
                            text=True)
    assert commit.returncode != 0 and "[gate-unsatisfied]" in commit.stderr, commit.stderr
    assert f"waits for epic {PREFIX} (open)" in commit.stderr
    assert repo.head() == base


# A task someone else holds --------------------------------------------------------------------


def bob_starts_on_his_branch(repo: Repo, tmp_path: Path, task: str) -> Path:
    bob = tmp_path / "bob"
    repo.git("worktree", "add", "-q", str(bob), "-b", "bob")
    repo.ok("start", task, cwd=bob, env={"FLOW_ACTOR": "bob"})
    return bob


def test_a_task_claimed_by_another_agent_is_waiting_everywhere(flow_repo: Repo,
                                                               tmp_path: Path) -> None:
    repo = flow_repo
    bob_starts_on_his_branch(repo, tmp_path, tid(1))
    # on main fn-1.1 is still todo, but bob holds it: nobody else can start it
    assert_agree(ready_everywhere(repo), set())
    shown = repo.ok("show", tid(1))
    assert shown["view_state"] == "waiting" and shown["waiting_on"] == ["claimed_by=bob"]
    nothing = repo.ok("next")
    assert (nothing["status"], nothing["reason"]) == ("none", "claimed_by_others")
    assert nothing["claimed_by"] == [{"task": tid(1), "holder": "bob"}]
    assert nothing["suggest"] == "git flow-task claims"
    refused = repo.refused("start", tid(1), code=3)
    assert "bob" in refused.stderr
    # bob sees it as his own: in progress on his branch
    assert repo.ok("next", cwd=tmp_path / "bob", env={"FLOW_ACTOR": "bob"})["reason"] == \
        "resume_in_progress"


def test_next_says_the_work_waits_on_another_branch(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    bob = bob_starts_on_his_branch(repo, tmp_path, tid(1))
    repo.ok("done", tid(1), cwd=bob, env={"FLOW_ACTOR": "bob"})
    nothing = repo.ok("next")
    assert (nothing["status"], nothing["reason"]) == ("none", "waiting_on_other_branch")
    assert nothing["waiting_on"][0] == {"task": tid(1), "dependency": None, "branch": "bob"}
    assert nothing["suggest"] == "git merge bob"
    repo.git("merge", "-q", "bob")
    assert_agree(ready_everywhere(repo), {tid(2), tid(3)})


def test_blocked_by_epic_deps_only_when_that_is_the_cause(repo: Repo) -> None:
    repo.ok("init")
    repo.ok("epic", "create", "--title", "Groundwork")  # open, with no tasks
    repo.ok("epic", "create", "--title", "Feature", "--deps", "fn-1")
    repo.ok("task", "create", "--epic", "fn-2", "--title", "Build it")
    nothing = repo.ok("next")
    assert (nothing["status"], nothing["reason"]) == ("none", "blocked_by_epic_deps")
    assert nothing["passed_over"] == [{"epic": "fn-2-feature", "waiting_on": ["fn-1-groundwork"]}]
    assert nothing["suggest"] == "git flow-task show fn-1-groundwork"


def test_next_after_importing_flowctl_names_what_holds_fn_1(repo: Repo, tmp_path: Path) -> None:
    """The quoted case: fn-1 waits for nothing; its tasks are in progress or blocked."""
    import_fixture(repo, tmp_path)
    nothing = repo.ok("next", "--actor", "bob")
    assert nothing["reason"] == "in_progress_elsewhere", nothing
    assert [row["task"] for row in nothing["in_progress"]] == ["fn-1-add-oauth-login.2"]


def test_a_retry_backoff_holds_a_task_back_everywhere(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("config", "set", "retry_backoff.base", "3600")
    repo.ok("task", "edit", tid(1), "--max-retries", "3")
    repo.ok("start", tid(1))
    repo.ok("fail", tid(1), "--reason", "flaky")
    assert_agree(ready_everywhere(repo), set())
    shown = repo.ok("show", tid(1))
    assert shown["view_state"] == "waiting" and shown["waiting_on"][0].startswith("retry_after=")
    refused = repo.refused("start", tid(1), "--json")
    assert "up for retry after" in refused.json["error"] and "--force" in refused.json["hint"]
    assert repo.ok("start", tid(1), "--force")["status"] == "in_progress"


def test_files_someone_else_holds_hold_a_task_back_and_start_exits_3(flow_repo: Repo,
                                                                    tmp_path: Path) -> None:
    repo = flow_repo
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Other", "--files", "src/auth.py")
    repo.ok("task", "edit", tid(1), "--files", "src/auth.py")
    bob_starts_on_his_branch(repo, tmp_path, "fn-1.4")
    assert_agree(ready_everywhere(repo), set())
    refused = repo.refused("start", tid(1), "--json", code=3)
    assert refused.json["error"] == (f"cannot start {tid(1)}: its files overlap "
                                     "fn-1-add-oauth-login.4 held by bob (src/auth.py)")


def test_json_of_every_next_answer_names_a_suggestion(flow_repo: Repo) -> None:
    answer = flow_repo.ok("next")
    assert answer["suggest"] == f"git flow-task start {tid(1)}"
    flow_repo.ok("start", tid(1))
    resumed = flow_repo.ok("next")
    assert resumed["suggest"] == f"git flow-task done {tid(1)}"
    assert json.loads(flow_repo.flow("next", "--json").stdout)["success"] is True


def test_an_up_for_retry_task_says_so_on_the_board_and_in_the_graph(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("task", "edit", tid(1), "--max-retries", "2", "--retry-backoff", "0")
    repo.ok("start", tid(1))
    repo.ok("fail", tid(1), "--reason", "flaky")
    card = next(card for card in repo.ok("board")["columns"]["ready"] if card["id"] == tid(1))
    assert card["retry"] == "retry 1 of 2"
    assert "fn-1-add-oauth-login.1  Design token schema  (retry 1 of 2)" in repo.flow("board").stdout
    node = next(node for node in repo.ok("graph")["nodes"] if node["id"] == tid(1))
    assert (node["status"], node["retry"]) == ("ready", "retry 1 of 2")
    assert "[ready, retry 1 of 2] fn-1.1" in repo.flow("graph").stdout
    mermaid = repo.flow("graph", "--format", "mermaid").stdout
    assert f'{mermaid_id(tid(1))}["fn-1.1 Design token schema<br/>ready, retry 1 of 2"]:::ready' \
        in mermaid


def test_blocked_and_next_name_the_epic_a_task_waits_for(flow_repo: Repo) -> None:
    repo = epic_waiting_plan(flow_repo)
    rows = {row["id"]: row for row in repo.ok("blocked")["blocked"]}
    assert rows[INVOICES]["blocked_by"] == [f"epic={PREFIX}"]
    assert rows[INVOICES]["waiting_on"] == {PREFIX: "open"}
    assert f"{PREFIX} (open)" in repo.flow("blocked").stdout
    repo.ok("start", tid(1))
    human = repo.flow("next", "--actor", "bob").stdout
    assert "nothing to do: what is left waits for work in progress under other assignees" in human
    assert f"passed over {BILLING}: waits for {PREFIX}" in human


def test_next_claim_says_who_took_the_only_ready_task(flow_repo: Repo, tmp_path: Path) -> None:
    """The quoted case: `next --claim` said `none` with `lost_races: []`."""
    repo = flow_repo
    bob_starts_on_his_branch(repo, tmp_path, tid(1))
    answer = repo.ok("next", "--claim")
    assert (answer["status"], answer["reason"]) == ("none", "claimed_by_others"), answer
    assert answer["claimed_by"] == [{"task": tid(1), "holder": "bob"}]
    assert "the ready tasks are claimed by other agents" in repo.flow("next", "--claim").stdout


def test_blocked_lists_a_task_another_agent_holds(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    bob_starts_on_his_branch(repo, tmp_path, tid(1))
    rows = {row["id"]: row for row in repo.ok("blocked")["blocked"]}
    assert rows[tid(1)]["status"] == "waiting" and rows[tid(1)]["blocked_by"] == ["claimed_by=bob"]
    assert "claimed_by=bob" in repo.flow("blocked").stdout


def test_prime_names_only_what_the_actor_may_start(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    assert f"Ready now: `{tid(1)}`." in repo.ok("prime")["primer"]
    bob_starts_on_his_branch(repo, tmp_path, tid(1))
    assert "Nothing is ready now." in repo.ok("prime")["primer"]


def test_a_branch_name_from_a_claim_record_is_suggested_only_when_plain(flow_repo: Repo,
                                                                         tmp_path: Path) -> None:
    """A claim record (maybe another clone's, through the claims remote) names its branch, and
    git allows `;`, `$` and parentheses in one: that text never becomes a suggested command."""
    repo = flow_repo
    hostile = "x;id$(uname)"
    bob = tmp_path / "bob"
    repo.git("worktree", "add", "-q", str(bob), "-b", hostile)
    repo.ok("start", tid(1), cwd=bob, env={"FLOW_ACTOR": "bob"})
    repo.ok("done", tid(1), cwd=bob, env={"FLOW_ACTOR": "bob"})
    nothing = repo.ok("next")
    assert nothing["reason"] == "waiting_on_other_branch"
    assert nothing["waiting_on"][0]["branch"] == hostile  # reported, as data
    assert nothing["suggest"] == "git flow-task claims"
