"""`import flowctl`: the real flowctl 0.26 fixture, row by row of its README, and the edges."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, Repo

from git_flowctl.model.document import Document

FLOWCTL = FIXTURES / "flowctl-0.26"
EPIC1 = "fn-1-add-oauth-login"
EPIC2 = "fn-2-billing-dashboard-fur-kunden"

# The README's table: task -> (status, dependencies, assignee, blocked reason).
README_ROWS: dict[str, tuple[str, list[str], str | None, str | None]] = {
    f"{EPIC1}.1": ("done", [], "alice@example.com", None),
    f"{EPIC1}.2": ("in_progress", [f"{EPIC1}.1"], "alice@example.com", None),
    f"{EPIC1}.3": ("blocked", [f"{EPIC1}.1"], None, "Waiting on UI design review."),
    f"{EPIC1}.4": ("todo", [f"{EPIC1}.2", f"{EPIC1}.3"], None, None),
    f"{EPIC2}.1": ("todo", [], None, None),
    f"{EPIC2}.2": ("todo", [f"{EPIC2}.1"], None, None),
}


def fixture_copy(tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the fixture: (flowctl's .flow/, its state directory)."""
    target = tmp_path / "flowctl-project"
    shutil.copytree(FLOWCTL, target)
    return target / "repo-flow", target / "flow-state"


def import_fixture(repo: Repo, tmp_path: Path) -> dict[str, Any]:
    flow_dir, state_dir = fixture_copy(tmp_path)
    return repo.ok("import", "flowctl", str(flow_dir), "--state-dir", str(state_dir))


def frontmatter(repo: Repo, path: str) -> dict[str, Any]:
    return Document.parse(repo.read(path), path).data


def test_fixture_imports_exactly_what_its_readme_lists(repo: Repo, tmp_path: Path) -> None:
    before = repo.head()
    result = import_fixture(repo, tmp_path)
    assert result["warnings"] == []
    assert result["state_files"] == 3
    assert repo.git("rev-parse", "HEAD~1").strip() == before  # one commit
    assert repo.status() == ""

    listing = repo.ok("list")
    assert [e["id"] for e in listing["epics"]] == [EPIC1, EPIC2]
    assert [e["status"] for e in listing["epics"]] == ["open", "open"]
    assert sorted(t["id"] for t in listing["tasks"]) == sorted(README_ROWS)
    epic2 = repo.ok("show", EPIC2)
    assert epic2["depends_on_epics"] == [EPIC1]
    assert epic2["title"] == "Billing dashboard für Kunden"

    for task_id, (status, deps, assignee, reason) in README_ROWS.items():
        shown = repo.ok("show", task_id)
        assert shown["status"] == status, task_id
        assert shown["depends_on"] == deps, task_id
        assert shown.get("assignee") == assignee, task_id
        assert shown.get("blocked_reason") == reason, task_id

    done = repo.ok("show", f"{EPIC1}.1")
    assert done["done_summary"] == "Schema defined in docs/tokens.md"
    assert done["evidence"] == ("- Commits: abc1234\n- Tests: pytest -q tests/test_tokens.py\n"
                                "- PRs: #12")
    assert done["priority"] == 1
    assert done["description"] == "Define claims and expiry."

    message = repo.message()
    for task_id, (status, *_rest) in README_ROWS.items():
        assert f"Flow-Transition: {task_id} none->{status} action=import " in message
    assert f"Flow-Transition: {EPIC1} none->open action=import " in message
    assert (f"Flow-Evidence: {EPIC1}.1 commits=abc1234 tests=\"pytest -q tests/test_tokens.py\" "
            "prs=#12") in message
    assert message.count("Flow-Evidence:") == 1
    assert repo.ok("validate")["valid"] is True
    assert repo.flow("check", "--base", before).exit_code == 0


def test_fields_without_a_home_are_kept_unchanged(repo: Repo, tmp_path: Path) -> None:
    import_fixture(repo, tmp_path)
    task = frontmatter(repo, f".flow/tasks/{EPIC1}.1.md")
    assert task["claim_note"] == ""
    assert task["claimed_at"] == "2026-11-28T10:08:02.952193Z"  # from the state file
    assert "spec_path" not in task  # the spec is this file's body now
    assert task["updated_at"] == "2026-11-28T10:08:03.321564Z"  # the state's, newer
    assert task["created"] == "2026-11-28T10:08:00.012589Z"
    assert "created_at" not in task and "evidence" not in task
    untouched = frontmatter(repo, f".flow/tasks/{EPIC2}.1.md")
    assert untouched["claimed_at"] is None and "priority" not in untouched
    assert untouched["updated_at"] == "2026-11-28T10:08:01.491601Z"
    epic = frontmatter(repo, f".flow/epics/{EPIC1}.md")
    assert epic["branch"] == EPIC1 and "branch_name" not in epic
    assert epic["next_task"] == 1
    assert epic["plan_review_status"] == "unknown"
    assert epic["plan_reviewed_at"] is None
    assert "spec_path" not in epic  # specs/ is gone after an in-place import (issue #12)
    assert epic["created"] == "2026-11-28T10:07:58.841585Z"
    config = repo.ok("config", "get", "flowctl")["value"]
    assert config == {"config": {"memory": {"enabled": True},
                                 "planSync": {"crossEpic": False, "enabled": True},
                                 "review": {"backend": None}, "scouts": {"github": False}},
                      "meta": {"next_epic": 1, "schema_version": 2}}
    assert repo.ok("config", "get", "prefix")["value"] == "fn"


def test_spec_bodies_drop_only_a_header_that_repeats_id_and_title(repo: Repo, tmp_path: Path) -> None:
    import_fixture(repo, tmp_path)
    epic2 = repo.ok("cat", EPIC2)["body"]
    assert epic2.startswith("## Overview\nTBD\n")
    assert "## Quick commands\n<!-- Required" in epic2
    epic1 = repo.ok("cat", EPIC1)["body"]
    assert epic1.startswith("## Overview\nLet users sign in")
    assert "## Quick commands\n```bash\npytest -q\n```" in epic1
    task = repo.ok("cat", f"{EPIC1}.3")["body"]
    assert task.startswith("## Description\nTBD\n")
    # the reason moved to blocked_reason; the Done summary no longer repeats it (issue #12)
    assert "Blocked:" not in task and "## Done summary\n" in task
    assert repo.ok("show", f"{EPIC1}.3")["blocked_reason"] == "Waiting on UI design review."


def test_second_import_of_the_same_data_does_nothing(repo: Repo, tmp_path: Path) -> None:
    flow_dir, state_dir = fixture_copy(tmp_path)
    repo.ok("import", "flowctl", str(flow_dir), "--state-dir", str(state_dir))
    head = repo.head()
    again = repo.flow("import", "flowctl", str(flow_dir), "--state-dir", str(state_dir))
    assert again.exit_code == 0, again
    assert "nothing to import" in again.stdout and "already here" in again.stdout
    as_json = repo.ok("import", "flowctl", str(flow_dir), "--state-dir", str(state_dir))
    assert as_json["changed"] is False and as_json["created"] == []
    assert len(as_json["unchanged"]) == 8
    assert repo.head() == head


def test_import_over_tasks_that_differ_is_refused_and_lists_them(repo: Repo, tmp_path: Path) -> None:
    flow_dir, state_dir = fixture_copy(tmp_path)
    repo.ok("import", "flowctl", str(flow_dir), "--state-dir", str(state_dir))
    repo.ok("start", f"{EPIC2}.1", "--force")  # its epic waits for epic 1
    repo.ok("block", f"{EPIC1}.4", "--reason", "waiting")
    head = repo.head()
    refused = repo.refused("import", "flowctl", str(flow_dir), "--state-dir", str(state_dir),
                           "--json")
    data = refused.json
    assert data["differing"] == [f"{EPIC1}.4", f"{EPIC2}.1"]
    assert "never overwrites" in data["hint"]
    assert repo.head() == head and repo.status() == ""


def test_dry_run_writes_nothing_and_shows_the_commit(repo: Repo, tmp_path: Path) -> None:
    flow_dir, state_dir = fixture_copy(tmp_path)
    head = repo.head()
    result = repo.ok("import", "flowctl", str(flow_dir), "--state-dir", str(state_dir),
                     "--dry-run")
    assert result["dry_run"] is True
    assert f"+++ b/.flow/tasks/{EPIC1}.1.md" in result["diff"]
    assert "action=import" in result["commit_message"]
    assert repo.head() == head and repo.status() == ""


def test_state_directory_defaults_to_the_git_common_dir_then_flow_state_dir(
        repo: Repo, tmp_path: Path) -> None:
    flow_dir, state_dir = fixture_copy(tmp_path)
    shutil.copytree(state_dir, repo.path / ".git" / "flow-state")
    # PATH lies outside any repository, so the state is looked up in this one's common dir.
    shutil.move(str(flow_dir), str(tmp_path / "elsewhere"))
    moved = tmp_path / "elsewhere"
    dry = repo.ok("import", "flowctl", str(moved), "--dry-run")
    assert dry["state_dir"] == str(repo.path / ".git" / "flow-state")
    assert dry["state_files"] == 3 and dry["warnings"] == []
    other = tmp_path / "other-state"
    shutil.copytree(state_dir, other)
    (other / "tasks" / f"{EPIC1}.3.state.json").unlink()
    result = repo.ok("import", "flowctl", str(moved), env={"FLOW_STATE_DIR": str(other)})
    assert result["state_dir"] == str(other) and result["state_files"] == 2
    assert repo.ok("show", f"{EPIC1}.3")["status"] == "todo"  # no state file: the definition
    assert repo.ok("show", f"{EPIC1}.1")["status"] == "done"


def test_missing_state_directory_is_a_warning_not_silence(repo: Repo, tmp_path: Path) -> None:
    flow_dir, _state_dir = fixture_copy(tmp_path)
    result = repo.ok("import", "flowctl", str(flow_dir), "--state-dir", str(tmp_path / "none"))
    assert result["state_files"] == 0
    assert any("no flowctl state directory" in w for w in result["warnings"])
    assert {repo.ok("show", t)["status"] for t in README_ROWS} == {"todo"}
    human = repo.flow("import", "flowctl", str(flow_dir), "--state-dir", str(tmp_path / "none"))
    assert "warning: no flowctl state directory" in human.stdout


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def test_older_deps_key_and_definition_status_without_state_file(repo: Repo, tmp_path: Path) -> None:
    flow = tmp_path / "old" / ".flow"
    write_json(flow / "meta.json", {"schema_version": 1, "next_epic": 2})
    write_json(flow / "epics" / "fn-1.json", {"id": "fn-1", "title": "Legacy epic",
                                               "status": "done"})
    write_json(flow / "tasks" / "fn-1.1.json", {"id": "fn-1.1", "epic": "fn-1", "title": "First",
                                                "status": "done", "deps": [], "impl": "codex"})
    write_json(flow / "tasks" / "fn-1.2.json", {"id": "fn-1.2", "epic": "fn-1", "title": "Second",
                                                "status": "todo", "deps": ["fn-1.1"],
                                                "priority": None, "domain": "backend",
                                                "files": ["src/a.py"]})
    write_json(flow / "tasks" / "fn-1.3.json", {"id": "fn-1.3", "epic": "fn-1", "title": "Third",
                                                "status": "upstream_failed", "deps": ["fn-1.2"]})
    write_json(flow / "tasks" / "fn-1.4.json", {"id": "fn-1.4", "epic": "fn-1", "title": "Fourth",
                                                "status": "blocked", "deps": []})
    (flow / "tasks" / "fn-1.2.md").write_text("# Notes from the kickoff\n\n## Description\nX\n")
    (flow / "tasks" / "fn-1.4.md").write_text("# fn-1.4 Fourth\n\n## Description\nY\n\n"
                                              "## Done summary\nBlocked:\nNeeds an API key.\n")
    result = repo.ok("import", "flowctl", str(flow), "--state-dir", str(tmp_path / "no-state"))
    assert result["epics"] == ["fn-1"]
    assert result["warnings"] == ["fn-1 is done, but not its tasks fn-1.2, fn-1.3, fn-1.4: "
                                  "reopen the epic or finish them",
                                  f"no flowctl state directory at {tmp_path / 'no-state'}: "
                                  "statuses, assignees and evidence come from the definitions "
                                  "alone (pass --state-dir if flowctl kept its state elsewhere)"]
    first, second, third = (repo.ok("show", f"fn-1.{n}") for n in (1, 2, 3))
    assert first["status"] == "done" and first["depends_on"] == []
    assert first["impl"] == "codex"
    assert second["depends_on"] == ["fn-1.1"] and second["status"] == "todo"
    assert second["domain"] == "backend" and second["files"] == ["src/a.py"]
    assert "deps" not in frontmatter(repo, ".flow/tasks/fn-1.2.md")
    assert third["status"] == "todo"  # upstream_failed is derived here, never stored
    fourth = repo.ok("show", "fn-1.4")  # blocked by flowctl 0.26: the reason only in the spec
    assert fourth["status"] == "blocked" and fourth["blocked_reason"] == "Needs an API key."
    assert repo.ok("cat", "fn-1.4")["body"].startswith("## Description\nY\n")
    assert "Blocked:" not in repo.ok("cat", "fn-1.4")["body"]
    body = repo.ok("cat", "fn-1.2")["body"]
    assert body.startswith("# Notes from the kickoff\n")  # not a repeat of id and title: kept
    assert "## Acceptance\n" in body and "## Evidence\n" in body  # missing sections added
    epic_body = repo.ok("cat", "fn-1")["body"]  # no spec: our template
    assert epic_body.startswith("## Overview\nTBD")


def test_in_place_migration_replaces_flowctl_files_in_one_commit(repo: Repo, tmp_path: Path) -> None:
    flow_dir, state_dir = fixture_copy(tmp_path)
    shutil.copytree(flow_dir, repo.path / ".flow")
    (repo.path / ".flow" / "usage.md").write_text("flowctl usage notes\n")
    repo.commit_all("Track flowctl's .flow/")
    shutil.copytree(state_dir, repo.path / ".git" / "flow-state")
    result = repo.ok("import", "flowctl", ".flow")
    assert result["in_place"] is True
    assert ".flow/meta.json" in result["removed"]
    assert f".flow/tasks/{EPIC1}.1.json" in result["removed"]
    assert f".flow/specs/{EPIC2}.md" in result["removed"]
    assert repo.status() == ""
    tracked = set(repo.git("ls-files", ".flow").split())
    assert not any(name.endswith(".json") for name in tracked)
    assert ".flow/usage.md" in tracked  # not flowctl's plan: left alone
    assert len([n for n in tracked if n.startswith(".flow/tasks/")]) == 6
    assert repo.ok("show", f"{EPIC1}.2")["status"] == "in_progress"
    assert repo.ok("cat", f"{EPIC1}.1")["body"].startswith("## Description\nDefine claims")
    assert repo.ok("validate")["valid"] is True
    checked = repo.flow("check", "--base", "HEAD~1")  # flowctl's specs became task files
    assert checked.exit_code == 0, checked
    head = repo.head()
    again = repo.flow("import", "flowctl", ".flow")
    assert again.exit_code == 0 and "already in git flow-task format" in again.stdout
    assert repo.head() == head


def test_into_an_initialized_repository_keeps_its_config(repo: Repo, tmp_path: Path) -> None:
    repo.ok("init")
    repo.ok("config", "set", "max_retries", "5")
    import_fixture(repo, tmp_path)
    text = repo.read(".flow/config.yaml")
    assert "max_retries: 5" in text and "# Reference: docs/file-format.md#config" in text
    assert "\nflowctl:\n" in text


def test_epic_number_taken_by_another_epic_is_refused(repo: Repo, tmp_path: Path) -> None:
    repo.ok("init")
    repo.ok("epic", "create", "--title", "Something else")
    flow_dir, state_dir = fixture_copy(tmp_path)
    refused = repo.refused("import", "flowctl", str(flow_dir), "--state-dir", str(state_dir),
                           "--json")
    assert refused.json["differing"] == [f"{EPIC1} (number taken by fn-1-something-else)"]


@pytest.mark.parametrize(("relative", "content", "expected"), [
    (f"tasks/{EPIC1}.2.json", '{"id": "x",\n  "title": }', f"tasks/{EPIC1}.2.json:2: invalid JSON"),
    (f"tasks/{EPIC1}.4.json", '{"id": "fn-1-add-oauth-login.4", "title": "T", "status": "weird"}',
     "`status: weird` is not a task status"),
    (f"epics/{EPIC2}.json", '{"id": "fn-2-other", "title": "T"}', "does not match the file name"),
    ("meta.json", '{"schema_version": 9}', "schema_version 9"),
])
def test_bad_input_is_one_line_with_the_file_and_nothing_written(
        repo: Repo, tmp_path: Path, relative: str, content: str, expected: str) -> None:
    flow_dir, state_dir = fixture_copy(tmp_path)
    (flow_dir / relative).write_text(content)
    head = repo.head()
    refused = repo.refused("import", "flowctl", str(flow_dir), "--state-dir", str(state_dir))
    assert expected in refused.stderr
    assert refused.stderr.startswith("error: ")
    assert repo.head() == head and repo.status() == ""


def test_not_a_flowctl_directory(repo: Repo, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    refused = repo.refused("import", "flowctl", str(tmp_path / "empty"))
    assert "no flowctl plan" in refused.stderr and "hint:" in refused.stderr
    missing = repo.refused("import", "flowctl", str(tmp_path / "absent"))
    assert "is not a directory" in missing.stderr


def test_import_export_and_primer_modules_import_neither_click_nor_rich() -> None:
    code = ("import sys\n"
            "import git_flowctl.views.importers.flowctl, git_flowctl.views.export, git_flowctl.views.primer\n"
            "bad = [m for m in ('click', 'rich') if m in sys.modules]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True)
