"""Issue #4: the tree rules of the one validator, through `git flow-task validate`."""

from __future__ import annotations

from conftest import Repo

from git_flowctl.guard import validate
from git_flowctl.model.trailers import Transition

EPIC = ".flow/epics/fn-1-add-oauth-login.md"
TASK1 = ".flow/tasks/fn-1-add-oauth-login.1.md"
TASK2 = ".flow/tasks/fn-1-add-oauth-login.2.md"
TASK3 = ".flow/tasks/fn-1-add-oauth-login.3.md"
ID1, ID2, ID3 = "fn-1-add-oauth-login.1", "fn-1-add-oauth-login.2", "fn-1-add-oauth-login.3"

BODY = "## Description\nTBD\n\n## Acceptance\n- [ ] TBD\n\n## Done summary\n\n## Evidence\n"


def task_file(task_id: str, *, epic: str = "fn-1-add-oauth-login", status: str = "todo",
              deps: str = "[]", extra: str = "", body: str = BODY) -> str:
    return (f"---\nid: {task_id}\nepic: {epic}\ntitle: T\nstatus: {status}\ndepends_on: {deps}\n"
            f"{extra}---\n{body}")


def by_rule(data: dict[str, object]) -> dict[str, list[dict[str, object]]]:
    grouped: dict[str, list[dict[str, object]]] = {}
    findings = data["findings"]
    assert isinstance(findings, list)
    for item in findings:
        grouped.setdefault(item["rule"], []).append(item)
    return grouped


def test_a_valid_plan_is_valid(flow_repo: Repo) -> None:
    data = flow_repo.ok("validate")
    assert data["valid"] is True and data["findings"] == [] and data["errors"] == []
    assert data["total_epics"] == 1 and data["total_tasks"] == 3
    human = flow_repo.flow("validate")
    assert human.exit_code == 0
    assert "✓ .flow/ in the working tree is valid (1 epic, 3 tasks)" in human.stdout


def test_every_problem_is_reported_with_file_line_and_rule(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.write(TASK1, task_file(ID1, deps=f"[{ID3}]"))  # 1 -> 3 -> 1: a cycle
    repo.write(TASK2, "---\nid: fn-1-add-oauth-login.2\ntitle: [unclosed\n---\n")
    repo.write(".flow/tasks/fn-1-add-oauth-login.4.md",
               task_file("fn-1-add-oauth-login.4", deps="[fn-1-add-oauth-login.9]", extra="priority: high\n"))
    repo.write(".flow/tasks/fn-2-ghost.1.md", task_file("fn-2-ghost.1", epic="fn-2-ghost"))
    repo.write(".flow/tasks/fn-1-add-oauth-login.5.md",
               task_file("fn-1-add-oauth-login.5", body="## Description\nx\n## Description\ny\n"))
    repo.write(".flow/epics/fn-1-other.md",
               "---\nid: fn-1-other\ntitle: Other\nstatus: open\ndepends_on_epics: [fn-7-nope]\n---\n")
    repo.write(EPIC, repo.read(EPIC).replace("status: open", "status: done"))
    repo.write(".flow/tasks/fn-1-add-oauth-login.6.md", task_file("fn-1-add-oauth-login.7"))
    repo.write(".flow/config.yaml", "prefix: [fn\n")

    result = repo.flow("validate", "--json")

    assert result.exit_code == 1
    data = result.json
    assert data["success"] is False and data["valid"] is False
    found = by_rule(data)
    assert found["file-unreadable"][0]["file"] == TASK2
    assert found["file-unreadable"][0]["line"] == 3
    assert "invalid YAML" in found["file-unreadable"][0]["message"]
    assert found["config-invalid"][0]["file"] == ".flow/config.yaml"
    assert found["dependency-cycle"][0]["message"] == f"dependency cycle: {ID1} -> {ID3} -> {ID1}"
    assert found["dependency-cycle"][0]["file"] == TASK1 and found["dependency-cycle"][0]["line"] == 6
    assert found["dependency-missing"][0]["message"] == \
        "fn-1-add-oauth-login.4 depends on fn-1-add-oauth-login.9, which does not exist"
    assert any(f["message"] == "`priority` must be a whole number" for f in found["field-invalid"])
    assert any("does not match the file name" in str(f["message"]) for f in found["field-invalid"])
    assert found["epic-missing"][0]["subject"] == "fn-2-ghost.1"
    assert found["section-duplicate"][0]["line"] == 10
    assert {f["message"] for f in found["section-missing"]} >= {"no `## Acceptance` section"}
    assert found["duplicate-epic-number"][0]["subject"] == "fn-1-other"
    assert found["epic-dependency-missing"][0]["subject"] == "fn-1-other"
    assert found["epic-done-unfinished"][0]["file"] == EPIC
    warnings = [f for f in data["findings"] if f["severity"] == "warning"]
    assert {f["rule"] for f in warnings} == {"section-missing"}  # the epic's sections
    assert data["total_errors"] == len(data["errors"]) >= 12


def test_human_output_is_one_line_per_problem_with_a_hint(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.write(TASK1, task_file(ID1, deps=f"[{ID3}]"))
    result = repo.flow("validate")
    assert result.exit_code == 1
    assert (f"{TASK1}:6: error [dependency-cycle] dependency cycle: {ID1} -> {ID3} -> {ID1}"
            in result.stdout)
    assert "    hint: remove one of these dependencies" in result.stdout
    assert "✗ .flow/ in the working tree: 1 error" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_validate_rev_and_staged(flow_repo: Repo) -> None:
    repo = flow_repo
    good = repo.head()
    repo.write(TASK1, task_file(ID1, deps=f"[{ID3}]"))
    repo.git("add", TASK1)
    assert repo.flow("validate", "--staged").exit_code == 1
    repo.git("commit", "-q", "--no-verify", "-m", "cycle")
    assert repo.flow("validate", "--rev", "HEAD").exit_code == 1
    assert repo.ok("validate", "--rev", good)["source"] == good
    repo.refused("validate", "--rev", good, "--staged", code=2)


def test_validate_github_format(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.write(TASK1, task_file(ID1, deps=f"[{ID3}]"))
    result = repo.flow("validate", "--format", "github")
    assert result.exit_code == 1
    assert result.stdout.startswith(f"::error file={TASK1},line=6,title=flow-task dependency-cycle::")


def test_validate_without_a_plan_says_so(repo: Repo) -> None:
    result = repo.refused("validate")
    assert "no .flow/ plan in the working tree" in result.stderr
    assert "git flow-task init" in result.stderr


def test_duplicate_id_across_tasks_and_archive(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.write(f".flow/archive/old/{ID1}.md", repo.read(TASK1))
    data = repo.flow("validate", "--json").json
    assert [f["rule"] for f in data["findings"]] == ["duplicate-id"]
    assert data["findings"][0]["file"] == f".flow/archive/old/{ID1}.md"


def test_rule_table_is_complete_and_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "validation.md").read_text()
    for name, rule in validate.RULES.items():
        assert f"`{name}`" in doc, name
        assert rule.severity in validate.SEVERITIES


def test_find_chain_does_not_depend_on_message_order() -> None:
    # start, release, start again, done: minted in the same millisecond, listed out of order
    links = [Transition("t", "in_progress", "todo", "release", "a", "01A"),
             Transition("t", "in_progress", "done", "done", "a", "01B"),
             Transition("t", "todo", "in_progress", "start", "a", "01C"),
             Transition("t", "todo", "in_progress", "start", "a", "01D")]
    chain = validate.find_chain(links, "todo", "done")
    assert chain is not None
    assert [(link.source, link.target) for link in chain] == [
        ("todo", "in_progress"), ("in_progress", "todo"), ("todo", "in_progress"),
        ("in_progress", "done")]
    assert validate.find_chain(links, "todo", "in_progress") is None
    assert validate.find_chain([], "todo", "todo") == []


def test_validate_one_epic(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("epic", "create", "--title", "Billing")
    repo.ok("task", "create", "--epic", "fn-2", "--title", "Invoices")
    repo.write(TASK1, task_file(ID1, deps=f"[{ID3}]"))
    data = repo.flow("validate", "--epic", "fn-1", "--json").json
    assert data["valid"] is False and data["epic"] == "fn-1-add-oauth-login" and data["task_count"] == 3
    other = repo.ok("validate", "--epic", "fn-2")
    assert other["valid"] is True and other["task_count"] == 1
    assert repo.refused("validate", "--epic", "fn-9").exit_code == 1


def test_a_branchs_snapshots_derived_commit_by_commit_equal_whole_reads(flow_repo: Repo) -> None:
    """History reads each commit's plan from its parent's and the files that changed
    (issue #11); every snapshot, and every tree's findings, equal a whole read of that tree:
    transitions, a new task, a deleted one, a config change, a duplicate ID, an archive move."""
    import pygit2

    from git_flowctl.repo.sources import TreeSource

    repo = flow_repo
    base = repo.head()
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Extra")
    repo.ok("config", "set", "max_retries", "5")
    repo.write(".flow/tasks/fn-1-add-oauth-login.9.md",
               repo.read(".flow/tasks/fn-1-add-oauth-login.3.md"))  # a copy: duplicate id
    repo.commit_all("duplicate")
    repo.git("rm", "-q", ".flow/tasks/fn-1-add-oauth-login.9.md")
    repo.commit_all("undo duplicate")
    repo.ok("start", "fn-1.2")
    repo.ok("done", "fn-1.2")
    repo.ok("start", "fn-1.3")
    repo.ok("done", "fn-1.3")
    repo.ok("start", "fn-1.4")
    repo.ok("done", "fn-1.4")
    repo.ok("epic", "close", "fn-1")
    repo.ok("epic", "archive", "fn-1")
    pyrepo = pygit2.Repository(str(repo.path))
    history = validate.History(pyrepo)
    walker = pyrepo.walk(pyrepo.head.target, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
    walker.hide(pygit2.Oid(hex=base))
    history.snapshot(pyrepo[base])
    derived = 0
    for commit in walker:
        history.check_commit(commit)
        ours = history.snapshot(commit)
        whole = validate.Snapshot.load(TreeSource(pyrepo, commit.tree, "whole"))
        derived += ours.derived_from is not None
        assert [(i.path, i.id, i.status) for i in ours.items] == \
            [(i.path, i.id, i.status) for i in whole.items], commit.message
        assert list(ours.tasks) == list(whole.tasks) and list(ours.epics) == list(whole.epics)
        assert ours.statuses() == whole.statuses()
        assert ours.blobs == whole.blobs
        assert ours.config.raw == whole.config.raw
        assert [f.key() for f in ours.findings()] == [f.key() for f in whole.findings()]
    assert derived >= 10


def test_a_parsed_item_keeps_the_lines_of_its_keys_not_its_document() -> None:
    """The rules read a few keys' lines, not the document: a cold `validate` of 50,000 files
    held every body (issue #11)."""
    raw = b"---\nid: fn-1-a.1\nepic: fn-1-a\ntitle: T\nstatus: todo\ndepends_on: [fn-1-a.9]\n---\n\n# T\n"
    item = validate.parse_item(".flow/tasks/fn-1-a.1.md", raw, "task")
    assert item.doc is None
    assert (item.line("id"), item.line("epic"), item.line("status"), item.line("depends_on")) == (2, 3, 5, 6)
    assert item.line("completion_review_status") is None
