"""`export --json` and `import json`: one versioned document, and a round trip that loses nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from conftest import FIXTURES, Repo, make_repo


def export(repo: Repo, *args: str) -> dict[str, Any]:
    return repo.ok("export", *args)


def without_commit(document: dict[str, Any]) -> dict[str, Any]:
    """The document minus ``source.commit``: a commit ID names an object of one repository
    (another repository's import commit has another parent, author time and ID). Everything
    else, the config, every field, body and derived state, must be identical."""
    copy = json.loads(json.dumps(document))
    copy["source"].pop("commit")
    return copy


def worked_plan(repo: Repo) -> Repo:
    """flow_repo after some work: done with evidence, blocked, a failure, an unknown key, an edit."""
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1", "--summary", "Schema in docs/tokens.md",
            "--evidence", "commits=abc1234", "--evidence", 'tests="pytest -q"')
    repo.ok("start", "fn-1.2")
    repo.ok("fail", "fn-1.2", "--reason", "flaky CI")
    repo.ok("block", "fn-1.3", "--reason", "Waiting on design")
    repo.ok("epic", "create", "--title", "Billing", "--deps", "fn-1")
    repo.ok("task", "create", "--epic", "fn-2", "--title", "Invoices", "--deps", "fn-1.3",
            "--domain", "backend", "--files", "src/billing.py")
    repo.ok("epic", "create", "--title", "Old work")
    repo.ok("task", "create", "--epic", "fn-3", "--title", "Legacy cleanup")
    repo.ok("start", "fn-3.1")
    repo.ok("done", "fn-3.1")
    repo.ok("epic", "close", "fn-3")
    repo.ok("epic", "archive", "fn-3")
    repo.ok("task", "create", "--epic", "fn-2", "--title", "After the cleanup",
            "--deps", "fn-3-old-work.1")
    path = ".flow/tasks/fn-2-billing.1.md"
    text = repo.read(path).replace("status: todo\n", "status: todo\nreviewer: bob  # kept\n")
    repo.write(path, text.replace("## Acceptance\n", "## Acceptance\n- [ ] invoices list\n"))
    repo.commit_all("hand edit: a reviewer and an acceptance line")
    return repo


def test_round_trip_into_an_empty_repository_is_identical(flow_repo: Repo, tmp_path: Path) -> None:
    first = export(worked_plan(flow_repo))
    assert first["format"] == "git-flow-task-export" and first["version"] == 1
    assert first["source"]["commit"] == flow_repo.head()
    file = tmp_path / "plan.json"
    file.write_text(json.dumps(first))

    empty = make_repo(tmp_path / "empty", initial_commit=False)  # not even a first commit
    result = empty.ok("import", "json", str(file))
    assert result["created"] == ([e["id"] for e in first["epics"]] + [t["id"] for t in first["tasks"]]
                                 + ["fn-3-old-work", "fn-3-old-work.1"])
    assert (empty.path / ".flow/archive/tasks/fn-3-old-work.1.md").exists()
    assert "action=import" in empty.message()
    second = export(empty)
    assert second["source"]["commit"] == empty.head() != first["source"]["commit"]
    assert without_commit(second) == without_commit(first)
    assert empty.status() == ""
    assert empty.ok("validate")["valid"] is True

    again = empty.flow("import", "json", str(file))
    assert again.exit_code == 0 and "nothing to import" in again.stdout


def test_document_holds_fields_extra_bodies_and_derived_states(flow_repo: Repo) -> None:
    document = export(worked_plan(flow_repo))
    tasks = {t["id"]: t for t in document["tasks"]}
    failed = tasks["fn-1-add-oauth-login.2"]
    assert failed["status"] == "up_for_retry" and failed["attempts"] == 1
    assert failed["derived"]["view_state"] == "ready"
    blocked = tasks["fn-1-add-oauth-login.3"]
    assert blocked["blocked_reason"] == "Waiting on design"
    assert [e["id"] for e in document["archive"]["epics"]] == ["fn-3-old-work"]
    archived = document["archive"]["tasks"][0]
    assert archived["id"] == "fn-3-old-work.1" and archived["status"] == "done"
    assert archived["path"] == ".flow/archive/tasks/fn-3-old-work.1.md" and "derived" not in archived
    after_cleanup = tasks["fn-2-billing.2"]["derived"]
    assert after_cleanup["blocked_by"] == []  # its archived dependency is satisfied
    # but its epic waits for fn-1, which is open (docs/states.md#epic-dependencies)
    assert after_cleanup["view_state"] == "waiting" and after_cleanup["waiting_on"] == ["fn-1-add-oauth-login"]
    invoices = tasks["fn-2-billing.1"]
    assert invoices["extra"] == {"reviewer": "bob"}
    assert invoices["domain"] == "backend" and invoices["files"] == ["src/billing.py"]
    assert "- [ ] invoices list" in invoices["body"]
    assert invoices["derived"] == {"state": "todo", "view_state": "waiting",
                                   "blocked_by": ["fn-1-add-oauth-login.3"],
                                   "waiting_on": ["fn-1-add-oauth-login.3", "fn-1-add-oauth-login"],
                                   "dependents": []}
    done = tasks["fn-1-add-oauth-login.1"]
    assert "## Evidence\n- Commits: abc1234\n- Tests: pytest -q" in done["body"]
    assert {"task": "fn-2-billing.1", "depends_on": "fn-1-add-oauth-login.3"} \
        in document["dependencies"]
    assert document["epic_dependencies"] == [{"epic": "fn-2-billing",
                                              "depends_on": "fn-1-add-oauth-login"}]
    epic = document["epics"][0]
    assert epic["derived"]["total"] == 3 and epic["derived"]["done"] == 1
    assert document["counts"]["states"]["up_for_retry"] == 1
    assert document["config"]["prefix"] == "fn"


def test_imported_flowctl_plan_round_trips_with_its_unknown_keys(repo: Repo, tmp_path: Path) -> None:
    project = tmp_path / "flowctl"
    shutil.copytree(FIXTURES / "flowctl-0.26", project)
    repo.ok("import", "flowctl", str(project / "repo-flow"), "--state-dir",
            str(project / "flow-state"))
    first = export(repo)
    epic = first["epics"][0]
    assert epic["extra"]["plan_review_status"] == "unknown" and epic["extra"]["next_task"] == 1
    file = tmp_path / "plan.json"
    file.write_text(json.dumps(first))
    other = make_repo(tmp_path / "other")
    other.ok("import", "json", str(file))
    assert without_commit(export(other)) == without_commit(first)


def test_export_of_a_revision_equals_the_export_made_then(flow_repo: Repo) -> None:
    before = export(flow_repo)
    flow_repo.ok("start", "fn-1.1")
    flow_repo.ok("done", "fn-1.1")
    assert export(flow_repo) != before
    assert export(flow_repo, "--rev", "HEAD~2") == before
    assert export(flow_repo, "--rev", "HEAD") == export(flow_repo)


def test_without_json_the_bare_document_is_printed(flow_repo: Repo) -> None:
    result = flow_repo.flow("export")
    assert result.exit_code == 0
    bare = json.loads(result.stdout)
    assert "success" not in bare and bare["format"] == "git-flow-task-export"


def test_import_json_over_a_task_that_differs_is_refused(flow_repo: Repo, tmp_path: Path) -> None:
    file = tmp_path / "plan.json"
    file.write_text(json.dumps(export(flow_repo)))
    other = make_repo(tmp_path / "other")
    other.ok("import", "json", str(file))
    other.ok("start", "fn-1.1")
    head = other.head()
    refused = other.refused("import", "json", str(file), "--json")
    assert refused.json["differing"] == ["fn-1-add-oauth-login.1"]
    assert other.head() == head


def test_import_json_from_stdin(flow_repo: Repo, tmp_path: Path) -> None:
    text = flow_repo.flow("export").stdout
    other = make_repo(tmp_path / "other")
    result = other.ok("import", "json", "-", input=text)
    assert len(result["tasks"]) == 3


def test_bad_documents_are_refused_with_a_reason(repo: Repo, tmp_path: Path) -> None:
    cases = {
        "not-json.json": ("{", "invalid JSON"),
        "other.json": ('{"success": true, "tasks": []}', "is not a git flow-task export"),
        "future.json": ('{"format": "git-flow-task-export", "version": 2}', "version 2"),
        "bad-task.json": (json.dumps({"format": "git-flow-task-export", "version": 1,
                                      "epics": [], "tasks": [{"id": "nope", "body": ""}]}),
                          "is not a task ID"),
        "bad-status.json": (json.dumps({
            "format": "git-flow-task-export", "version": 1,
            "epics": [{"id": "fn-1-a", "title": "A", "status": "open", "body": ""}],
            "tasks": [{"id": "fn-1-a.1", "epic": "fn-1-a", "title": "T", "status": "started",
                       "body": ""}]}), "`status: started` is not a task status"),
    }
    head = repo.head()
    for name, (content, expected) in cases.items():
        (tmp_path / name).write_text(content)
        refused = repo.refused("import", "json", str(tmp_path / name))
        assert expected in refused.stderr, (name, refused)
    missing = repo.refused("import", "json", str(tmp_path / "absent.json"), code=2)
    assert "no such file" in missing.stderr
    assert repo.head() == head and repo.status() == ""


def test_an_export_with_other_settings_imports_with_keep_config(flow_repo: Repo,
                                                                 tmp_path: Path) -> None:
    """Issue #14, item 8: a config that differs was a dead end; --keep-config is the way through."""
    file = tmp_path / "plan.json"
    file.write_text(json.dumps(export(flow_repo)))
    other = make_repo(tmp_path / "other")
    other.ok("init")
    other.ok("config", "set", "slug_max", "12")
    refused = other.refused("import", "json", str(file), "--json")
    assert refused.json["differing"] == [".flow/config.yaml"]
    assert "--keep-config" in refused.json["hint"]
    result = other.ok("import", "json", str(file), "--keep-config")
    assert len(result["tasks"]) == 3 and result["config_written"] is False
    assert other.ok("config", "get", "slug_max")["value"] == 12
    # Settings of the wrong type in an export are refused, not written.
    document = export(flow_repo)
    document["config"]["slug_max"] = "a b"
    file.write_text(json.dumps(document))
    third = make_repo(tmp_path / "third")
    wrong = third.refused("import", "json", str(file), "--json")
    assert "slug_max must be" in wrong.json["error"] and "--keep-config" in wrong.json["hint"]
    assert third.ok("import", "json", str(file), "--keep-config")["config_written"] is True


def test_help_with_json_is_json(repo: Repo) -> None:
    for args in (("start", "--help", "--json"), ("--json", "task", "create", "-h")):
        data = repo.ok(*args)
        assert data["help"].startswith("Usage: git flow-task") and data["command"].startswith(
            "git flow-task ")
