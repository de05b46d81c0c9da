"""`git flow-task land` (issue #17): task branches merge into the target with their state, one at
a time in dependency order, in a temporary worktree, with a guard, a compare-and-swap and
`--push` retries. Real git throughout: worktrees, `run`, a bare remote and a second clone."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from conftest import Repo, make_repo


def script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def plan(repo: Repo, *tasks: tuple[str, list[int]], max_retries: int = 0) -> list[str]:
    """Tasks as (title, dependencies by number); returns their IDs."""
    repo.ok("init")
    repo.ok("config", "set", "max_retries", str(max_retries))
    repo.ok("epic", "create", "--title", "Land")
    ids = []
    for title, deps in tasks:
        args = ["task", "create", "--epic", "fn-1", "--title", title]
        for dep in deps:
            args += ["--deps", f"fn-1.{dep}"]
        ids.append(repo.ok(*args)["id"])
    return ids


def writes_its_file(tmp_path: Path, content: str = "$FLOW_TASK_ID") -> str:
    """A task command that commits file-<task>.txt (or writes ``content`` to a shared file)."""
    return script(tmp_path / "work.sh",
                  f'echo "{content}" > "file-$FLOW_TASK_ID.txt"\n'
                  'git add -A && git commit -q -m "work on $FLOW_TASK_ID"\n')


def run(repo: Repo, *args: str, code: int = 0) -> dict[str, Any]:
    result = repo.flow("--json", "run", *args)
    assert result.exit_code == code, result
    data: dict[str, Any] = result.json
    return data


def land(repo: Repo, *args: str, code: int = 0, cwd: Path | None = None) -> dict[str, Any]:
    result = repo.flow("--json", "land", *args, cwd=cwd)
    assert result.exit_code == code, result
    assert "Traceback" not in result.stderr
    data: dict[str, Any] = result.json
    return data


def status_at(repo: Repo, task: str, rev: str = "main") -> str:
    text = repo.git("show", f"{rev}:.flow/tasks/{task}.md")
    return next(line.split(":", 1)[1].strip() for line in text.splitlines()
                if line.startswith("status:"))


def trailers(repo: Repo, rev: str) -> list[str]:
    """The trailer block of a commit, as git reads it (the last paragraph)."""
    message = repo.message(rev)
    return repo.git("interpret-trailers", "--parse", input=message).splitlines()


def first_parents(repo: Repo, since: str, rev: str = "main") -> list[str]:
    return repo.git("rev-list", "--first-parent", "--reverse", f"{since}..{rev}").split()


def flow_branches(repo: Repo) -> list[str]:
    return repo.git("for-each-ref", "--format=%(refname:short)", "refs/heads/flow/").split()


def check_passes(repo: Repo) -> None:
    root = repo.git("rev-list", "--max-parents=0", "HEAD").split()[-1]
    result = repo.flow("check", "--base", root, "--json")
    assert result.exit_code == 0, result
    assert result.json["success"] is True


# The plain run, then land -------------------------------------------------------------------------


def test_a_diamond_run_then_land_all_done(repo: Repo, tmp_path: Path) -> None:
    a, b, c, d = plan(repo, ("A", []), ("B", [1]), ("C", [1]), ("D", [2, 3]))
    run(repo, "--jobs", "2", "--", writes_its_file(tmp_path))
    # done on main, but no code of theirs there: not landed
    status = repo.ok("status")
    assert status["landed"] == [] and status["not_landed"] == [a, b, c, d]
    assert all(row["landed"] is False for row in repo.ok("tasks")["tasks"])
    human = repo.flow("status")
    assert f"done, not landed on main: {a}, {b}, {c}, {d}" in human.stdout
    assert "not landed" in repo.flow("tasks").stdout
    assert repo.ok("claims", "--prune")["pruned"] == []  # their work is not on main yet
    before = repo.head()

    data = land(repo, "--all-done")
    assert data["order"][0] == a and data["order"][-1] == d
    assert data["landed"] == data["order"] and data["failed"] == []
    landings = first_parents(repo, before)
    assert len(landings) == 4
    for commit, task in zip(landings, data["order"], strict=True):
        lines = trailers(repo, commit)
        assert any(line.startswith(f"Flow-Landed: {task} commit=") for line in lines), lines
        assert repo.git("rev-list", "--parents", "-n1", commit).count(" ") == 2  # a merge
    for task in (a, b, c, d):
        assert repo.git("show", f"main:file-{task}.txt").strip() == task
        assert status_at(repo, task) == "done"
    assert flow_branches(repo) == []
    assert repo.status() == "" and (repo.path / f"file-{d}.txt").exists()  # the work tree followed
    status = repo.ok("status")
    assert status["landed"] == [a, b, c, d] and status["not_landed"] == []
    assert {row["id"]: row["landed"] for row in repo.ok("tasks")["tasks"]} == dict.fromkeys(
        [a, b, c, d], True)
    board = repo.ok("board")
    assert all(card["landed"] is True for card in board["columns"]["done"])
    events = repo.ok("log", a)["events"]
    assert events[-1]["event"] == "landed" and events[-1]["extra"]["commit"]
    pruned = repo.ok("claims", "--prune")["pruned"]
    assert sorted(record["id"] for record in pruned) == [a, b, c, d]
    assert repo.ok("recover")["clean"] is True  # history and files agree through the merges
    check_passes(repo)
    # landing again finds nothing to do
    again = land(repo, "--all-done")
    assert again["order"] == [] and repo.head() == landings[-1]


def test_two_tasks_editing_the_same_line(repo: Repo, tmp_path: Path) -> None:
    first, second, other = plan(repo, ("First", []), ("Second", []), ("Other", []))
    command = script(tmp_path / "cmd.sh",
                     f'if [ "$FLOW_TASK_ID" = "{other}" ]; then echo other > other.txt\n'
                     'else echo "line of $FLOW_TASK_ID" > shared.txt; fi\n'
                     'git add -A && git commit -q -m "work on $FLOW_TASK_ID"\n')
    run(repo, "--", command)
    second_tip = repo.git("rev-parse", f"flow/{second}").strip()
    data = land(repo, first, second, other, code=1)
    assert data["landed"] == [first, other] and data["failed"] == [second]
    outcome = {task["id"]: task for task in data["tasks"]}[second]
    assert outcome["outcome"] == "failed" and outcome["paths"] == ["shared.txt"]
    assert "shared.txt" in outcome["reason"] and outcome["recorded"] == "failed"
    # the target has none of the second task's code; its branch is kept as it was
    assert repo.git("show", "main:shared.txt").strip() == f"line of {first}"
    assert repo.git("rev-parse", f"flow/{second}").strip() == second_tip
    assert flow_branches(repo) == [f"flow/{second}"]
    assert repo.git("show", "main:other.txt").strip() == "other"
    # recorded failed, with the path in the reason, by a commit of land's own
    assert status_at(repo, second) == "failed"
    recorded = repo.git("log", "--format=%H", "--grep", f"land {second}", "main").split()[0]
    assert any(f"Flow-Transition: {second} done->failed action=land" in line
               for line in trailers(repo, recorded))
    assert "shared.txt" in repo.read(f".flow/tasks/{second}.md")
    assert repo.ok("show", second)["landed"] is False
    assert repo.ok("stats")["failures"]["failed_attempts"] == 1  # the landing that failed
    check_passes(repo)


def test_a_failing_guard_lands_nothing(repo: Repo, tmp_path: Path) -> None:
    (task,) = plan(repo, ("Guarded", []))
    repo.ok("config", "set", "guard.unit", "test ! -e file-broken.txt")
    repo.ok("config", "set", "land.on_failure", "block")
    run(repo, "--", writes_its_file(tmp_path))
    # the branch breaks the guard only once it is merged: the run's own guard passed
    repo.git("checkout", "-q", f"flow/{task}")
    repo.write("file-broken.txt", "x\n")
    repo.commit_all("breaks the guard")
    repo.git("checkout", "-q", "main")
    code_before = repo.git("rev-parse", "main^{tree}")
    data = land(repo, task, code=1)
    outcome = data["tasks"][0]
    assert outcome["outcome"] == "blocked" and outcome["checks"] == ["unit"]
    assert "unit" in outcome["reason"] and outcome["guard"]["passed"] is False
    assert status_at(repo, task) == "blocked"
    assert "unit" in repo.ok("show", task)["blocked_reason"]
    changed = repo.git("diff", "--name-only", code_before.strip(), "main").split()
    assert changed == [f".flow/tasks/{task}.md"]  # the state, and no code
    assert f"flow/{task}" in flow_branches(repo)


def test_dry_run_prints_the_order_and_changes_nothing(repo: Repo, tmp_path: Path) -> None:
    a, b = plan(repo, ("A", []), ("B", [1]))
    run(repo, "--", writes_its_file(tmp_path))
    before = (repo.head(), repo.git("for-each-ref"), repo.status(), repo.git("worktree", "list"))
    data = land(repo, b, a, "--dry-run")
    assert data["dry_run"] is True and data["order"] == [a, b]
    assert [step["records"] for step in data["tasks"]] == ["Flow-Landed (done before)"] * 2
    assert "merge" in data["tasks"][0]["would"] and data["commit"] is None
    assert data["commit_message"].startswith(f"flow: land {a}")
    assert f"file-{a}.txt" in data["diff"]
    human = repo.flow("land", b, a, "--dry-run")
    assert human.exit_code == 0 and human.stdout.startswith("dry run: nothing written")
    assert human.stdout.index(f"1. {a}") < human.stdout.index(f"2. {b}")
    after = (repo.head(), repo.git("for-each-ref"), repo.status(), repo.git("worktree", "list"))
    assert after == before


# A task in progress lands with its done ---------------------------------------------------------------


def in_progress_on_a_branch(repo: Repo, task: str, branch: str, files: dict[str, str]) -> str:
    """Start ``task`` on main and commit ``files`` on ``branch`` (from main); its tip."""
    repo.ok("start", task)
    repo.git("branch", branch)
    worktree = repo.path.parent / f"wt-{branch.replace('/', '-')}"
    repo.git("worktree", "add", "-q", str(worktree), branch)
    for path, text in files.items():
        (worktree / path).parent.mkdir(parents=True, exist_ok=True)
        (worktree / path).write_text(text)
    repo.git("add", "-A", cwd=worktree)
    repo.git("commit", "-q", "-m", f"code of {task}", cwd=worktree)
    repo.git("worktree", "remove", str(worktree))
    return repo.git("rev-parse", branch).strip()


def test_an_in_progress_task_lands_with_its_done(repo: Repo) -> None:
    (task,) = plan(repo, ("Mine", []))
    tip = in_progress_on_a_branch(repo, task, "feature", {"src/app.py": "print('hi')\n"})
    data = land(repo, task, "--branch", "feature")
    outcome = data["tasks"][0]
    assert outcome["outcome"] == "landed" and outcome["recorded"] == "done"
    commit = outcome["commit"]
    assert commit == repo.head() and repo.git("rev-parse", f"{commit}^2").strip() == tip
    lines = trailers(repo, commit)  # in the trailer block, as git reads it
    assert any(line.startswith(f"Flow-Transition: {task} in_progress->done action=done ")
               for line in lines), lines
    assert any(line.startswith(f"Flow-Evidence: {task} ") and "branch=feature" in line
               for line in lines)
    assert f"Flow-Landed: {task} commit={tip} by=alice@example.com" in lines
    assert status_at(repo, task) == "done" and repo.read("src/app.py") == "print('hi')\n"
    record = repo.ok("claims")["claims"][0]
    assert record["state"] == "done" and record["commit"] == commit
    assert record["branch"] == "refs/heads/main"
    assert repo.ok("show", task)["landed"] is True
    events = repo.ok("log", task)["events"]
    assert [e["action"] for e in events][-2:] == ["done", "land"]
    assert f"{task} landed {tip[:12]} by alice@example.com" in repo.flow("log", task).stdout
    assert repo.ok("recover")["clean"] is True
    check_passes(repo)


@pytest.mark.parametrize("strategy", ["squash", "rebase"])
def test_squash_and_rebase(repo: Repo, strategy: str) -> None:
    first, second = plan(repo, ("First", []), ("Second", []))
    in_progress_on_a_branch(repo, first, f"flow/{first}", {"a.txt": "a\n"})
    repo.write("base.txt", "moved on\n")
    repo.commit_all("main moves on")
    before = repo.head()
    data = land(repo, first, "--strategy", strategy)
    commit = data["tasks"][0]["commit"]
    assert repo.git("rev-list", "--parents", "-n1", commit).count(" ") == 1  # no merge
    assert repo.git("rev-list", "--count", f"{before}..main").strip() == "1"
    assert f"Flow-Landed: {first} commit=" in repo.message(commit)
    assert status_at(repo, first) == "done" and repo.git("show", "main:a.txt") == "a\n"
    assert flow_branches(repo) == []  # landed, so gone: it is not merged (by ancestry) anywhere
    assert repo.ok("show", first)["landed"] is True
    if strategy == "rebase":  # the rebased commit itself carries the state
        assert repo.message(commit).startswith(f"code of {first}")
    check_passes(repo)
    assert second  # untouched
    assert status_at(repo, second) == "todo"


# The target's work tree, other targets --------------------------------------------------------------


def test_a_landing_never_overwrites_uncommitted_changes(repo: Repo, tmp_path: Path) -> None:
    first, second = plan(repo, ("First", []), ("Second", []))
    command = script(tmp_path / "cmd.sh", 'echo "$FLOW_TASK_ID" > "$FLOW_TASK_ID.txt"\n'
                                          'git add -A && git commit -q -m work\n')
    run(repo, "--", command)
    repo.write(f"{first}.txt", "my own edit, not committed\n")  # untracked here: would be lost
    repo.write("notes.txt", "unrelated\n")
    head = repo.head()
    data = land(repo, first, second, code=1)
    refused = {task["id"]: task for task in data["tasks"]}[first]
    assert refused["outcome"] == "error" and "uncommitted" in refused["reason"]
    assert refused["recorded"] is None and status_at(repo, first) == "done"
    assert repo.read(f"{first}.txt") == "my own edit, not committed\n"
    # the other task landed, and the work tree followed it with the user's changes kept
    assert data["landed"] == [second] and repo.read(f"{second}.txt").strip() == second
    assert repo.read("notes.txt") == "unrelated\n" and repo.head() != head
    assert repo.git("status", "--porcelain").split() == ["??", f"{first}.txt", "??", "notes.txt"]


def test_landing_into_a_branch_checked_out_nowhere(repo: Repo, tmp_path: Path) -> None:
    (task,) = plan(repo, ("Elsewhere", []))
    repo.git("checkout", "-q", "-b", "release")
    run(repo, "--", writes_its_file(tmp_path))  # done on release, its code on flow/<task>
    repo.git("checkout", "-q", "-b", "side", "main")
    data = land(repo, task, "--into", "release")
    assert data["into"] == "release" and data["landed"] == [task]
    assert repo.git("show", f"release:file-{task}.txt").strip() == task
    assert repo.git("symbolic-ref", "HEAD").strip() == "refs/heads/side"
    assert repo.status() == "" and not (repo.path / f"file-{task}.txt").exists()


def test_a_task_finished_on_another_branch_lands_there(repo: Repo, tmp_path: Path) -> None:
    (task,) = plan(repo, ("Finished on main", []))
    repo.git("branch", "release")
    run(repo, "--", writes_its_file(tmp_path))  # done on main; release has it todo
    head = repo.git("rev-parse", "release").strip()
    result = repo.flow("land", task, "--into", "release", "--json")
    assert result.exit_code == 3, result
    assert "finished by alice@example.com on main" in result.json["error"]
    assert "--into" in result.json["hint"]
    assert repo.git("rev-parse", "release").strip() == head


# Push, and a race with another clone -----------------------------------------------------------------


def clone(bare: Path, path: Path) -> Repo:
    other = Repo(path)
    other.git("clone", "-q", str(bare), str(path), cwd=path.parent)
    return other


def test_land_push_retries_when_another_clone_pushed(tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    ours = make_repo(tmp_path / "ours")
    (task,) = plan(ours, ("Raced", []))
    marker = tmp_path / "pushed-once"
    theirs_path = tmp_path / "theirs"
    # The guard runs between building the landing and pushing it: the first time, the other
    # clone pushes to the remote there, so the lease on the tip we built on no longer holds.
    race = script(tmp_path / "race.sh",
                  '[ -z "$FLOW_LAND_INTO" ] && exit 0\n'  # run's own guard: not yet
                  f'[ -e "{marker}" ] && exit 0\ntouch "{marker}"\n'
                  f'cd "{theirs_path}" && echo theirs > theirs.txt && git add theirs.txt '
                  '&& git commit -q -m "their work" && git push -q origin main\n')
    ours.ok("config", "set", "guard.race", race)
    ours.git("init", "-q", "--bare", str(bare))
    ours.git("remote", "add", "origin", str(bare))
    ours.git("push", "-q", "-u", "origin", "main")
    theirs = clone(bare, theirs_path)
    run(ours, "--", writes_its_file(tmp_path))  # its start and done are not pushed yet
    unpushed = ours.head()

    data = land(ours, task, "--push")
    outcome = data["tasks"][0]
    assert outcome["outcome"] == "landed" and outcome["attempts"] == 2, outcome
    assert any("moved" in note for note in outcome["notes"])
    assert marker.exists()
    remote_main = ours.git("--git-dir", str(bare), "rev-parse", "main").strip()
    assert remote_main == outcome["commit"] == ours.head()
    # nothing is lost: their commit and ours are both under the landing, the task's file on top
    for kept in (theirs.head(), unpushed):
        ours.git("merge-base", "--is-ancestor", kept, remote_main)
    assert ours.git("--git-dir", str(bare), "show", "main:theirs.txt").strip() == "theirs"
    assert ours.git("--git-dir", str(bare), "show", f"main:file-{task}.txt").strip() == task
    assert status_at(ours, task, remote_main) == "done"
    assert ours.git("rev-parse", "origin/main").strip() == remote_main
    assert ours.status() == "" and ours.read("theirs.txt").strip() == "theirs"
    check_passes(ours)


def test_land_push_builds_on_the_remote_when_it_is_ahead(tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    ours = make_repo(tmp_path / "ours")
    (task,) = plan(ours, ("Behind", []))
    ours.git("init", "-q", "--bare", str(bare))
    ours.git("remote", "add", "origin", str(bare))
    run(ours, "--", writes_its_file(tmp_path))
    ours.git("push", "-q", "-u", "origin", "main")
    ours.ok("hooks", "install")  # the pre-push hook checks what land pushes
    theirs = clone(bare, tmp_path / "theirs")
    theirs.write("ahead.txt", "ahead\n")
    theirs.commit_all("the remote is ahead")
    theirs.git("push", "-q", "origin", "main")
    data = land(ours, task, "--push")
    assert data["tasks"][0]["attempts"] == 1
    assert ours.read("ahead.txt") == "ahead\n"  # the local main fast-forwarded with it
    assert ours.git("--git-dir", str(bare), "rev-parse", "main").strip() == ours.head()


# Refusals ----------------------------------------------------------------------------------------


def test_what_cannot_land_is_refused_before_anything_happens(repo: Repo, tmp_path: Path) -> None:
    a, b, c = plan(repo, ("A", []), ("B", [1]), ("C", []))
    run(repo, "--max-tasks", "2", "--", writes_its_file(tmp_path))
    head = repo.head()
    refused = repo.refused("land", c, "--json")
    assert "cannot land" in refused.json["error"] and "todo" in refused.json["error"]
    refused = repo.refused("land", b, "--json")  # its dependency has not landed
    assert a in refused.json["error"] and f"land {a} {b}" in refused.json["hint"]
    repo.ok("start", c)
    head = repo.head()
    refused = repo.refused("land", c, "--json")
    assert "no branch to land" in refused.json["error"] and "--branch" in refused.json["hint"]
    repo.refused("land", "--json", code=2)
    repo.refused("land", a, "--all-done", "--json", code=2)
    repo.refused("land", a, "--strategy", "octopus", code=2)
    assert "merge, rebase or squash" in repo.refused("config", "set", "land.strategy",
                                                     "octopus").stderr
    repo.refused("land", a, "--into", "nowhere", "--json")
    assert repo.head() == head and repo.ok("status")["not_landed"] == [a, b]


def test_someone_elses_task_in_progress_is_theirs_to_land(repo: Repo) -> None:
    (task,) = plan(repo, ("Theirs", []))
    in_progress_on_a_branch(repo, task, "feature", {"x.txt": "x\n"})
    result = repo.flow("land", task, "--branch", "feature", "--actor", "bob@example.com", "--json")
    assert result.exit_code == 3 and "alice@example.com" in result.json["error"]


# check --base and recover know Flow-Landed ----------------------------------------------------------------


def test_check_refuses_a_landing_whose_task_is_not_done(repo: Repo) -> None:
    (task,) = plan(repo, ("Not done", []))
    base = repo.head()
    repo.write("code.txt", "x\n")
    repo.commit_all("pretends to land", "-m",
                    f"Flow-Landed: {task} commit={base} by=mallory@example.com")
    result = repo.flow("check", "--base", base, "--json")
    assert result.exit_code == 1
    rules = [finding["rule"] for finding in result.json["findings"]]
    assert rules == ["landed-not-done"]
    problems = repo.ok("recover")["problems"]
    assert [p["kind"] for p in problems] == ["landed_not_done"]
    broken = repo.flow("check", "--base", base, "--json")
    assert json.dumps(broken.json).count("landed-not-done") == 1


def test_landed_reads_the_same_through_git_and_pygit2(repo: Repo, tmp_path: Path) -> None:
    from test_lean_reads import both_ways

    a, b = plan(repo, ("A", []), ("B", []))
    run(repo, "--", writes_its_file(tmp_path))
    land(repo, a)
    status = both_ways(repo, "status")
    assert status["landed"] == [a] and status["not_landed"] == [b]
    rows = both_ways(repo, "tasks")["tasks"]
    assert {row["id"]: row["landed"] for row in rows} == {a: True, b: False}
    assert both_ways(repo, "show", b)["landed"] is False
    assert both_ways(repo, "show", a)["landed"] is True


def test_a_failed_landing_is_fixed_on_its_branch_and_lands_again(repo: Repo, tmp_path: Path) -> None:
    first, second = plan(repo, ("First", []), ("Second", []))
    command = script(tmp_path / "cmd.sh", 'echo "line of $FLOW_TASK_ID" > shared.txt\n'
                                          'git add -A && git commit -q -m "work on $FLOW_TASK_ID"\n')
    run(repo, "--", command)
    land(repo, first, second, code=1)
    assert status_at(repo, second) == "failed"
    # resolve on the kept branch, then take the task up again and land it
    fix = repo.path.parent / "fix"
    repo.git("worktree", "add", "-q", str(fix), f"flow/{second}")
    repo.git("merge", "-q", "main", cwd=fix, check=False)
    (fix / "shared.txt").write_text(f"line of {first}\nline of {second}\n")
    repo.git("add", "shared.txt", cwd=fix)
    repo.git("commit", "-q", "--no-edit", "--no-verify", cwd=fix)
    repo.git("worktree", "remove", str(fix))
    repo.ok("retry", second)
    repo.ok("start", second)
    data = land(repo, second)
    assert data["tasks"][0]["recorded"] == "done"
    assert repo.read("shared.txt") == f"line of {first}\nline of {second}\n"
    assert status_at(repo, second) == "done" and flow_branches(repo) == []
    assert repo.ok("status")["not_landed"] == []
    check_passes(repo)


# run --land ---------------------------------------------------------------------------------------------


def test_a_diamond_run_with_land(repo: Repo, tmp_path: Path) -> None:
    a, b, c, d = plan(repo, ("A", []), ("B", [1]), ("C", [1]), ("D", [2, 3]))
    seen = tmp_path / "seen"
    seen.mkdir()
    # each command commits its file and notes which dependency files it found in its worktree
    command = script(tmp_path / "cmd.sh",
                     f'ls file-*.txt 2>/dev/null | tr "\\n" " " > "{seen}/$FLOW_TASK_ID"\n'
                     'echo "$FLOW_TASK_ID" > "file-$FLOW_TASK_ID.txt"\n'
                     'git add "file-$FLOW_TASK_ID.txt" && git commit -q -m "work on $FLOW_TASK_ID"\n')
    before = repo.head()
    data = run(repo, "--land", "--jobs", "2", "--", command)
    assert sorted(data["done"]) == sorted([a, b, c, d]) and data["failed"] == []
    assert sorted(data["landed"]) == sorted([a, b, c, d]) and data["land_command"] is None
    for task in (a, b, c, d):
        assert repo.git("show", f"main:file-{task}.txt").strip() == task
        assert status_at(repo, task) == "done"
        attempt = data["tasks"][task]["attempts"][0]
        assert attempt["landing"]["outcome"] == "landed" and attempt["landing"]["recorded"] == "done"
    # dependents started from main with their dependencies' code in it (no flow/ merges)
    assert (seen / d).read_text().split() == [f"file-{a}.txt", f"file-{b}.txt", f"file-{c}.txt"]
    assert f"file-{a}.txt" in (seen / b).read_text() and f"file-{a}.txt" in (seen / c).read_text()
    # one landing commit per task, in dependency order, each recording the task's done
    landings = [commit for commit in first_parents(repo, before)
                if "Flow-Landed:" in repo.message(commit)]
    order = [next(line.split()[1] for line in trailers(repo, commit)
                  if line.startswith("Flow-Landed:")) for commit in landings]
    assert len(order) == 4 and order[0] == a and order[-1] == d and set(order[1:3]) == {b, c}
    for commit, task in zip(landings, order, strict=True):
        assert any(line.startswith(f"Flow-Transition: {task} in_progress->done action=done")
                   for line in trailers(repo, commit))
    status = repo.ok("status")
    assert status["landed"] == [a, b, c, d] and status["not_landed"] == []
    assert flow_branches(repo) == [] and repo.status() == ""
    check_passes(repo)


def test_run_land_records_a_conflict_and_goes_on(repo: Repo, tmp_path: Path) -> None:
    first, second, other = plan(repo, ("First", []), ("Second", []), ("Other", []))
    command = script(tmp_path / "cmd.sh",
                     f'if [ "$FLOW_TASK_ID" = "{other}" ]; then echo other > other.txt\n'
                     'else echo "line of $FLOW_TASK_ID" > shared.txt; fi\n'
                     'git add -A && git commit -q -m "work on $FLOW_TASK_ID"\n')
    data = run(repo, "--land", "--jobs", "3", "--", command, code=1)
    assert sorted(data["landed"]) == sorted([t for t in (first, second, other)
                                             if t not in data["failed"]])
    (lost,) = data["failed"]  # whichever of the two landed second
    assert lost in (first, second) and other in data["landed"]
    landing = data["tasks"][lost]["attempts"][0]["landing"]
    assert landing["outcome"] == "failed" and landing["paths"] == ["shared.txt"]
    assert status_at(repo, lost) == "failed" and f"flow/{lost}" in flow_branches(repo)
    assert "shared.txt" in repo.read(f".flow/tasks/{lost}.md")
    check_passes(repo)


def test_run_without_land_ends_with_the_land_command(repo: Repo, tmp_path: Path) -> None:
    a, b = plan(repo, ("A", []), ("B", [1]))
    data = run(repo, "--", writes_its_file(tmp_path))
    assert data["landed"] == [] and data["not_landed"] == [a, b]
    assert data["land_command"] == f"git flow-task land {a} {b}"
    human = repo.flow("run", "--", writes_its_file(tmp_path))  # nothing left to run
    assert human.exit_code == 0
    land(repo, a, b)
    repo.ok("task", "create", "--epic", "fn-1", "--title", "C")
    repo.git("checkout", "-q", "-b", "work")
    human = repo.flow("run", "--", writes_its_file(tmp_path))
    assert human.exit_code == 0, human
    assert "land it: git flow-task land --into work fn-1-land.3" in human.stdout


def test_run_land_runs_the_guard_on_the_merged_result(repo: Repo, tmp_path: Path) -> None:
    good, bad = plan(repo, ("Good", []), ("Bad", []))
    repo.ok("config", "set", "require_verify", "true")
    repo.ok("config", "set", "guard.unit", "test ! -e file-broken.txt")
    command = script(tmp_path / "cmd.sh",
                     f'[ "$FLOW_TASK_ID" = "{bad}" ] && touch file-broken.txt\n'
                     'echo x > "file-$FLOW_TASK_ID.txt"\n'
                     'git add -A && git commit -q -m "work on $FLOW_TASK_ID"\n')
    data = run(repo, "--land", "--", command, code=1)
    assert data["landed"] == [good] and data["failed"] == [bad]
    landing = data["tasks"][bad]["attempts"][0]["landing"]
    assert landing["checks"] == ["unit"] and "unit" in landing["reason"]
    landed = data["tasks"][good]["attempts"][0]["landing"]["commit"]
    assert any(line.startswith(f"Flow-Evidence: {good} guard.unit=pass")
               for line in trailers(repo, landed))
    assert not repo.git("ls-tree", "main", "file-broken.txt").strip()
    check_passes(repo)  # require_verify: the landing's done carries passing guard evidence


def test_an_agent_lands_its_own_branch_from_its_worktree(repo: Repo) -> None:
    (task,) = plan(repo, ("By hand", []))
    agent = repo.path.parent / "agent"
    repo.git("worktree", "add", "-q", "-b", "agent", str(agent))
    repo.ok("start", task, cwd=agent)  # claimed and started on the agent's branch
    (agent / "feature.txt").write_text("done by hand\n")
    repo.git("add", "feature.txt", cwd=agent)
    repo.git("commit", "-q", "-m", "the feature", cwd=agent)
    agent_tip = repo.git("rev-parse", "agent").strip()
    data = land(repo, task, cwd=agent)  # the claim names the branch
    outcome = data["tasks"][0]
    assert outcome["branch"] == "agent" and outcome["recorded"] == "done"
    assert repo.read("feature.txt") == "done by hand\n"  # main's work tree followed
    assert status_at(repo, task) == "done" and repo.git("rev-parse", "agent").strip() == agent_tip
    record = repo.ok("claims")["claims"][0]
    assert record["state"] == "done" and record["branch"] == "refs/heads/main"
    assert repo.ok("show", task)["landed"] is True
    check_passes(repo)


def test_check_verifies_a_landing_merge_really_makes_its_task_done(repo: Repo) -> None:
    (task,) = plan(repo, ("Claimed done", []))
    in_progress_on_a_branch(repo, task, "feature", {"f.txt": "f\n"})
    base = repo.head()
    repo.git("merge", "-q", "--no-ff", "--no-commit", "feature")
    transition = (f"Flow-Transition: {task} in_progress->done action=done by=alice@example.com "
                  "id=01JD3Q6X5M3N8Q2R7T9VWXYZ9Z")
    landed = f"Flow-Landed: {task} commit={repo.git('rev-parse', 'feature').strip()}"
    repo.git("commit", "-q", "--no-verify", "-m", f"flow: land {task}", "-m",
             f"{transition}\n{landed}")  # the file still says in_progress
    result = repo.flow("check", "--base", base, "--json")
    assert result.exit_code == 1
    rules = sorted(finding["rule"] for finding in result.json["findings"])
    assert rules == ["landed-not-done", "trailer-without-change"]


def test_a_target_that_moves_while_landing_is_landed_on_again(repo: Repo, tmp_path: Path) -> None:
    (task,) = plan(repo, ("Moving target", []))
    marker = tmp_path / "moved-once"
    # between building the landing and moving the ref, someone commits on main
    mover = script(tmp_path / "mover.sh",
                   '[ -z "$FLOW_LAND_INTO" ] && exit 0\n'
                   f'[ -e "{marker}" ] && exit 0\ntouch "{marker}"\n'
                   f'cd "{repo.path}" && echo moved > moved.txt && git add moved.txt '
                   '&& git commit -q -m "someone else"\n')
    repo.ok("config", "set", "guard.mover", mover)
    run(repo, "--", writes_its_file(tmp_path))
    data = land(repo, task)
    outcome = data["tasks"][0]
    assert outcome["outcome"] == "landed" and outcome["attempts"] == 2, outcome
    someone = repo.git("log", "--format=%H", "--grep", "someone else", "main").split()[0]
    assert repo.git("rev-parse", "HEAD^1").strip() == someone  # built on the new tip
    assert repo.read("moved.txt") == "moved\n" and repo.status() == ""


def test_land_push_runs_the_pre_push_hook(tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    ours = make_repo(tmp_path / "ours")
    first, second = plan(ours, ("Landed", []), ("Edited by hand", []))
    ours.git("init", "-q", "--bare", str(bare))
    ours.git("remote", "add", "origin", str(bare))
    run(ours, "--max-tasks", "1", "--", writes_its_file(tmp_path))
    ours.git("push", "-q", "-u", "origin", "main")
    ours.ok("hooks", "install")
    path = f".flow/tasks/{second}.md"
    ours.write(path, ours.read(path).replace("status: todo", "status: done"))
    ours.commit_all("a hand edit the hook refuses")  # --no-verify: only pre-push sees it
    remote_before = ours.git("--git-dir", str(bare), "rev-parse", "main").strip()
    local_before = ours.head()
    data = land(ours, first, "--push", code=1)
    outcome = data["tasks"][0]
    assert outcome["outcome"] == "error" and "refused" in outcome["reason"]
    assert ours.git("--git-dir", str(bare), "rev-parse", "main").strip() == remote_before
    assert ours.head() == local_before  # nothing landed locally either
