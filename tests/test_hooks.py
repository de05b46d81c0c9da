"""Issue #4, must hold: real hooks installed by `hooks install`, real `git commit` and `git push`."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Repo, make_repo

TASK1 = ".flow/tasks/fn-1-add-oauth-login.1.md"
TASK2 = ".flow/tasks/fn-1-add-oauth-login.2.md"
TASK3 = ".flow/tasks/fn-1-add-oauth-login.3.md"
ID1, ID2, ID3 = "fn-1-add-oauth-login.1", "fn-1-add-oauth-login.2", "fn-1-add-oauth-login.3"


def git(repo: Repo, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """git with its exit status (hooks may refuse), never raising."""
    return subprocess.run(["git", *args], cwd=repo.path, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def set_status(repo: Repo, path: str, old: str, new: str) -> None:
    text = repo.read(path)
    assert f"status: {old}\n" in text
    repo.write(path, text.replace(f"status: {old}\n", f"status: {new}\n"))


def bare_remote(repo: Repo, tmp_path: Path, name: str = "origin") -> Path:
    bare = tmp_path / f"{name}.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    repo.git("remote", "add", name, str(bare))
    return bare


# Must hold 1 ---------------------------------------------------------------------------------


def test_hand_edit_to_done_is_refused_by_commit_then_push_then_check(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    repo.ok("hooks", "install")
    bare = bare_remote(repo, tmp_path)
    pushed = git(repo, "push", "-q", "origin", "main")
    assert pushed.returncode == 0, pushed.stderr  # the whole valid history passes pre-push
    repo.git("checkout", "-q", "-b", "feature")
    set_status(repo, TASK2, "todo", "done")
    head = repo.head()

    commit = git(repo, "commit", "-am", "finish the middleware by hand")

    assert commit.returncode != 0
    assert repo.head() == head
    assert f"{ID2} entered done but its dependencies are not satisfied: {ID1} (todo)" in commit.stderr
    assert "[gate-unsatisfied]" in commit.stderr and "[transition-illegal]" in commit.stderr
    assert f"{TASK2}:5:" in commit.stderr

    repo.git("commit", "-q", "--no-verify", "-am", "finish the middleware by hand")
    push = git(repo, "push", "origin", "feature")

    assert push.returncode != 0
    assert f"{ID2} entered done but its dependencies are not satisfied: {ID1} (todo)" in push.stderr
    assert "[trailer-missing]" in push.stderr
    assert "push refused" in push.stderr
    assert subprocess.run(["git", "ls-remote", str(bare), "refs/heads/feature"], capture_output=True,
                          text=True, check=True).stdout == ""

    check = repo.flow("check", "--base", "main", "--format", "github")
    assert check.exit_code == 1, check
    assert re.search(rf"^::error file={re.escape(TASK2)},line=5,title=flow-task gate-unsatisfied::"
                     rf"{re.escape(ID2)} entered done", check.stdout, re.MULTILINE), check.stdout
    assert "::error file=" in check.stdout and "title=flow-task trailer-missing" in check.stdout


def test_commit_all_and_commit_file_read_the_index_git_is_writing(flow_repo: Repo) -> None:
    """`git commit -a` and `git commit FILE` stage into a temporary index (GIT_INDEX_FILE)."""
    repo = flow_repo
    repo.ok("hooks", "install")
    set_status(repo, TASK2, "todo", "done")  # in the work tree only: .git/index has nothing staged
    assert repo.git("diff", "--cached", "--name-only") == ""

    for args in (["commit", "-a", "-m", "all"], ["commit", TASK2, "-m", "one file"]):
        result = git(repo, *args)
        assert result.returncode != 0, (args, result)
        assert "[gate-unsatisfied]" in result.stderr, (args, result.stderr)
    # and a legal hand edit through `git commit FILE` passes, with its trailer added
    repo.git("checkout", "--", TASK2)
    set_status(repo, TASK1, "todo", "in_progress")
    result = git(repo, "commit", TASK1, "-m", "start by hand")
    assert result.returncode == 0, result.stderr
    assert re.search(rf"^Flow-Transition: {re.escape(ID1)} todo->in_progress action=start "
                     r"by=alice@example\.com id=\w{26}$", repo.message(), re.MULTILINE), repo.message()
    assert repo.flow("check", "--base", "HEAD~1").exit_code == 0


# Must hold 2 ---------------------------------------------------------------------------------


def test_done_no_commit_then_git_commit_records_code_file_and_trailer_together(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("hooks", "install")
    repo.ok("start", "fn-1.1")
    repo.write("src/tokens.py", "SCHEMA = {}\n")
    repo.git("add", "src/tokens.py")
    staged = repo.ok("done", "fn-1.1", "--no-commit", "--summary", "Schema in src/tokens.py",
                     "--evidence", "tests=pytest -q")
    before = repo.head()
    assert staged["trailers"][0].startswith(f"Flow-Transition: {ID1} in_progress->done action=done")

    result = git(repo, "commit", "-m", "Add the token schema")

    assert result.returncode == 0, result.stderr
    assert repo.git("rev-parse", "HEAD~1").strip() == before
    changed = repo.git("diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD").split()
    assert sorted(changed) == [TASK1, "src/tokens.py"]
    message = repo.message()
    assert message.startswith("Add the token schema\n\n")
    assert staged["trailers"][0] in message.splitlines()
    assert f'Flow-Evidence: {ID1} tests="pytest -q"' in message
    assert repo.git("log", "-1", "--format=%(trailers:key=Flow-Transition,valueonly)").startswith(
        f"{ID1} in_progress->done")
    assert "status: done" in repo.git("show", f"HEAD:{TASK1}")
    assert repo.status() == ""
    assert repo.flow("check", "--base", before).exit_code == 0


def test_two_no_commit_steps_and_commit_all_give_one_commit_with_the_chain(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("hooks", "install")
    repo.write("app.py", "v1\n")
    repo.commit_all("app")
    repo.ok("start", "fn-1.1", "--no-commit")
    repo.ok("done", "fn-1.1", "--no-commit")
    repo.write("app.py", "v2\n")  # tracked, modified, not staged: `commit -a` picks it up

    result = git(repo, "commit", "-a", "-m", "Implement and finish")

    assert result.returncode == 0, result.stderr
    transitions = re.findall(r"^Flow-Transition: (\S+ \S+) action=(\w+)", repo.message(), re.MULTILINE)
    assert transitions == [(f"{ID1} todo->in_progress", "start"), (f"{ID1} in_progress->done", "done")]
    assert sorted(repo.git("diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD").split()) == \
        [TASK1, "app.py"]
    assert repo.flow("check", "--base", "HEAD~1").exit_code == 0
    # the pending lines were consumed: the next --no-commit starts a fresh chain
    repo.ok("start", "fn-1.2", "--no-commit")
    result = git(repo, "commit", "-m", "start 2")
    assert result.returncode == 0, result.stderr
    assert len(re.findall(r"^Flow-Transition:", repo.message(), re.MULTILINE)) == 1


def test_amend_keeps_the_trailers_valid(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("hooks", "install")
    repo.ok("start", "fn-1.1", "--no-commit")
    assert git(repo, "commit", "-m", "begin").returncode == 0
    repo.write("more.py", "x = 1\n")
    repo.git("add", "more.py")
    amended = git(repo, "commit", "--amend", "--no-edit")
    assert amended.returncode == 0, amended.stderr
    assert len(re.findall(r"^Flow-Transition:", repo.message(), re.MULTILINE)) == 1
    assert repo.flow("check", "--base", "HEAD~1").exit_code == 0


def test_revert_of_a_transition_commit_passes_hooks_and_check(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("hooks", "install")
    base = repo.head()
    repo.ok("start", "fn-1.1")
    result = git(repo, "revert", "--no-edit", "HEAD")
    assert result.returncode == 0, result.stderr
    assert "status: todo" in repo.read(TASK1)
    check = repo.flow("check", "--base", base, "--json")
    assert check.exit_code == 0, check


def test_link_commits_adds_flow_task_to_code_commits(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("config", "set", "link_commits", "true")
    repo.ok("hooks", "install")
    repo.ok("start", "fn-1.1")
    repo.write("code.py", "pass\n")
    repo.git("add", "code.py")
    assert git(repo, "commit", "-m", "work on the schema").returncode == 0
    assert f"Flow-Task: {ID1}" in repo.message().splitlines()
    # another actor's task is not linked
    repo.write("code.py", "pass  # 2\n")
    repo.git("add", "code.py")
    assert git(repo, "commit", "-m", "someone else", env={"FLOW_ACTOR": "bob"}).returncode == 0
    assert "Flow-Task" not in repo.message()


def test_code_only_commit_message_mentioning_no_flow_is_untouched(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("hooks", "install")
    repo.write("a.py", "1\n")
    repo.git("add", "a.py")
    assert git(repo, "commit", "-m", "plain").returncode == 0
    assert repo.message().rstrip("\n") == "plain"


def test_trailer_without_change_is_refused_by_commit_msg(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("hooks", "install")
    repo.write("a.py", "1\n")
    repo.git("add", "a.py")
    message = (f"claim a transition\n\nFlow-Transition: {ID1} todo->in_progress action=start "
               "by=alice@example.com id=01JD3Q0000000000000000000A\n")
    result = git(repo, "commit", "-m", message)
    assert result.returncode != 0
    assert "[trailer-without-change]" in result.stderr


# Must hold 3 ---------------------------------------------------------------------------------

ORIGINAL_HOOK = b"""#!/bin/sh
# the team's own hook
echo ran >> "$(git rev-parse --git-dir)/original-hook-ran"
if [ -f fail-original ]; then echo "original hook says no" >&2; exit 3; fi
exit 0
"""


def test_existing_hook_is_chained_and_restored_byte_for_byte(flow_repo: Repo) -> None:
    repo = flow_repo
    hooks = repo.path / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "pre-commit").write_bytes(ORIGINAL_HOOK)
    os.chmod(hooks / "pre-commit", 0o750)
    marker = repo.path / ".git" / "original-hook-ran"

    installed = repo.ok("hooks", "install")

    assert (hooks / "pre-commit.pre-flow-task").read_bytes() == ORIGINAL_HOOK
    assert installed["hooks"][0]["action"] == "installed, chaining the existing hook"
    status = repo.ok("hooks", "status")
    assert status["installed"] is True
    assert status["hooks"][0]["chained"] == str(hooks / "pre-commit.pre-flow-task")
    # both run: the original leaves its mark, ours refuses an illegal edit
    set_status(repo, TASK2, "todo", "done")
    refused = git(repo, "commit", "-am", "illegal")
    assert refused.returncode != 0 and "[gate-unsatisfied]" in refused.stderr
    assert marker.read_text() == "ran\n"
    repo.git("checkout", "--", TASK2)
    # the original's failure counts, even when ours is happy
    repo.write("fail-original", "")
    repo.write("a.py", "1\n")
    repo.git("add", "a.py")
    failed = git(repo, "commit", "-m", "code")
    assert failed.returncode != 0 and "original hook says no" in failed.stderr
    assert marker.read_text() == "ran\nran\n"
    (repo.path / "fail-original").unlink()
    assert git(repo, "commit", "-m", "code").returncode == 0

    removed = repo.ok("hooks", "uninstall")

    assert (hooks / "pre-commit").read_bytes() == ORIGINAL_HOOK
    assert stat.S_IMODE((hooks / "pre-commit").stat().st_mode) == 0o750
    assert not (hooks / "pre-commit.pre-flow-task").exists()
    for name in ("prepare-commit-msg", "commit-msg", "pre-push"):
        assert not (hooks / name).exists()
    assert removed["merge_driver_removed"] is True
    assert repo.git("config", "--get-regexp", "^merge\\.", check=False) == ""
    assert {hook["state"] for hook in repo.ok("hooks", "status")["hooks"]} == {"foreign", "absent"}


def test_core_hooks_path_is_honoured(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.git("config", "core.hooksPath", "team-hooks")
    # ignored: this clone's own directory (a tracked one is tests/test_citizen_hooks.py's)
    (repo.path / ".git" / "info").mkdir(exist_ok=True)
    (repo.path / ".git" / "info" / "exclude").write_text("team-hooks/\n")
    result = repo.ok("hooks", "install")
    assert result["hooks_dir"] == str(repo.path / "team-hooks")
    assert (repo.path / "team-hooks" / "pre-commit").exists()
    assert not (repo.path / ".git" / "hooks" / "pre-commit").exists()
    set_status(repo, TASK2, "todo", "done")
    assert git(repo, "commit", "-am", "illegal").returncode != 0
    repo.git("checkout", "--", TASK2)
    repo.ok("hooks", "uninstall")
    assert sorted(p.name for p in (repo.path / "team-hooks").iterdir()) == []


def test_install_is_idempotent_and_shims_use_this_interpreter(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("hooks", "install")
    again = repo.ok("hooks", "install")
    assert {hook["action"] for hook in again["hooks"]} == {"unchanged"}
    shim = (repo.path / ".git" / "hooks" / "pre-commit").read_text()
    assert f"flow_python={os.path.abspath(sys.executable)}" in shim or \
        f"flow_python='{os.path.abspath(sys.executable)}'" in shim
    assert repo.git("config", "merge.flow-task.driver").strip() == \
        f"{os.path.abspath(sys.executable)} -P -m git_flowctl merge-driver %O %A %B %L %P"
    assert not (repo.path / ".git" / "hooks" / "pre-commit.pre-flow-task").exists()


def test_hooks_in_a_linked_worktree(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    repo.ok("hooks", "install")
    other = tmp_path / "wt"
    repo.git("worktree", "add", "-q", "-b", "side", str(other))
    linked = Repo(other)
    set_status(linked, TASK2, "todo", "done")
    refused = git(linked, "commit", "-am", "illegal")
    assert refused.returncode != 0 and "[gate-unsatisfied]" in refused.stderr
    linked.git("checkout", "--", TASK2)
    linked.ok("start", "fn-1.1", "--no-commit")
    assert git(linked, "commit", "-m", "start in the worktree").returncode == 0
    assert f"Flow-Transition: {ID1} todo->in_progress" in linked.message()


# pre-push ------------------------------------------------------------------------------------


def test_pre_push_checks_every_ref_of_a_multi_ref_push(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    repo.ok("hooks", "install")
    bare_remote(repo, tmp_path)
    assert git(repo, "push", "-q", "origin", "main").returncode == 0
    repo.git("checkout", "-q", "-b", "good")
    repo.ok("start", "fn-1.1")
    repo.git("checkout", "-q", "-b", "bad", "main")
    set_status(repo, TASK3, "todo", "in_progress")
    # --no-verify skips pre-commit and commit-msg; prepare-commit-msg still adds `action=start`
    repo.git("commit", "-q", "--no-verify", "-am", "start 3 by hand before its dependency")
    assert f"Flow-Transition: {ID3} todo->in_progress action=start" in repo.message()

    both = git(repo, "push", "origin", "good", "bad")

    assert both.returncode != 0
    assert f"{ID3} entered in_progress but its dependencies are not satisfied: {ID1} (todo)" in both.stderr
    assert "(commit " in both.stderr
    only_good = git(repo, "push", "-q", "origin", "good")
    assert only_good.returncode == 0, only_good.stderr
    # deleting a branch and pushing a claim-style ref are not checked
    assert git(repo, "push", "-q", "origin", "--delete", "good").returncode == 0
    blob = repo.git("hash-object", "-w", "--stdin", input="claim\n").strip()
    assert git(repo, "push", "-q", "origin", f"{blob}:refs/flow/claims/{ID1}").returncode == 0


def test_pre_push_new_branch_is_checked_from_its_merge_base(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    bare_remote(repo, tmp_path)
    # history on main that breaks the rules, pushed before the hooks existed
    set_status(repo, TASK3, "todo", "in_progress")
    repo.git("commit", "-q", "--no-verify", "-am", "old sin")
    repo.git("push", "-q", "origin", "main")
    repo.ok("hooks", "install")
    repo.git("checkout", "-q", "-b", "topic")
    repo.ok("start", "fn-1.1")
    result = git(repo, "push", "origin", "topic")
    assert result.returncode == 0, result.stderr  # the old sin is below the merge base


# Speed ---------------------------------------------------------------------------------------


def test_pre_commit_fast_path_imports_nothing_heavy(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.write("a.py", "1\n")
    repo.git("add", "a.py")
    code = (
        "import sys\n"
        "from git_flowctl.entry import main\n"
        "codes = [main(['hook', 'pre-commit']), main(['hook', 'prepare-commit-msg', '.git/MSG', 'message']),\n"
        "         main(['hook', 'commit-msg', '.git/MSG'])]\n"
        "heavy = [m for m in ('pygit2', 'yaml', 'click', 'rich', 'networkx') if m in sys.modules]\n"
        "print(codes, heavy)\n"
        "sys.exit(1 if heavy or any(codes) else 0)\n"
    )
    (repo.path / ".git" / "MSG").write_text("just code\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=repo.path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hooks_do_nothing_in_a_repository_without_flow(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "plain")
    repo.ok("hooks", "install")
    repo.write("a.py", "1\n")
    repo.git("add", "a.py")
    assert git(repo, "commit", "-m", "plain code").returncode == 0
    assert repo.message().rstrip("\n") == "plain code"


@pytest.mark.parametrize("hook", ["pre-commit", "commit-msg", "pre-push"])
def test_hook_json_output(flow_repo: Repo, hook: str) -> None:
    repo = flow_repo
    msg = repo.path / ".git" / "MSG"
    msg.write_text("x\n")
    args = {"pre-commit": [], "commit-msg": [str(msg)], "pre-push": ["origin"]}[hook]
    data = repo.ok("hook", hook, *args)
    assert data["valid"] is True and data["hook"] == hook and data["findings"] == []


def test_merge_driver_only_installs_no_shims(flow_repo: Repo) -> None:
    repo = flow_repo
    result = repo.ok("hooks", "install", "--merge-driver-only")
    assert result["hooks"] == []
    assert not (repo.path / ".git" / "hooks" / "pre-commit").exists()
    assert result["merge_driver"].endswith("-m git_flowctl merge-driver %O %A %B %L %P")
    assert result["gitattributes"] is True


def test_verbose_commit_diff_below_the_scissors_is_not_read_as_trailers(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("hooks", "install")
    example = (f"Flow-Transition: {ID1} todo->in_progress action=start by=x "
               "id=01JD3Q0000000000000000000Z\n")
    repo.write("docs/trailers.md", f"# Example\n\n{example}\nold line\n")
    repo.commit_all("docs")
    repo.write("docs/trailers.md", f"# Example\n\n{example}\nnew line\n")
    repo.git("add", "docs/trailers.md")
    editor = "sh -c 'printf \"Reword the example\\n\" | cat - \"$1\" > \"$1.new\" && mv \"$1.new\" \"$1\"' -"
    result = git(repo, "-c", f"core.editor={editor}", "commit", "-v")
    assert result.returncode == 0, result.stderr
    assert repo.message().startswith("Reword the example")


def test_pre_push_under_the_pre_commit_framework_environment(flow_repo: Repo) -> None:
    repo = flow_repo
    base = repo.head()
    set_status(repo, TASK2, "todo", "done")
    repo.commit_all("by hand")
    env = {"PRE_COMMIT_FROM_REF": base, "PRE_COMMIT_TO_REF": "HEAD",
           "PRE_COMMIT_LOCAL_BRANCH": "refs/heads/main", "PRE_COMMIT_REMOTE_BRANCH": "refs/heads/main",
           "PRE_COMMIT_REMOTE_NAME": "origin"}
    refused = repo.flow("hook", "pre-push", env=env)
    assert refused.exit_code == 1 and "[gate-unsatisfied]" in refused.stderr
    # the way out of a refused push is rewriting that commit; a --force repair cannot help it
    short = repo.head()[:7]
    assert f"{short} is not pushed yet: rewrite it (`git rebase -i {short}^`" in refused.stderr
    assert "--force" not in refused.stderr
    fine = repo.flow("hook", "pre-push", env={**env, "PRE_COMMIT_FROM_REF": "HEAD"})
    assert fine.exit_code == 0, fine


def test_a_shim_whose_interpreter_is_gone_fails_closed(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("hooks", "install")
    shim = repo.path / ".git" / "hooks" / "pre-commit"
    text = shim.read_text()
    shim.write_text(re.sub(r"^flow_python=.*$", "flow_python=/nonexistent/python", text, flags=re.MULTILINE))
    repo.write("a.py", "1\n")
    repo.git("add", "a.py")
    result = git(repo, "commit", "-m", "code")
    assert result.returncode != 0
    assert "/nonexistent/python is gone; run `git flow-task hooks install` again" in result.stderr
    status = repo.ok("hooks", "status")
    assert status["installed"] is False and status["hooks"][0]["python_exists"] is False
    repo.ok("hooks", "install")  # repairs it
    assert git(repo, "commit", "-m", "code").returncode == 0


def test_install_refuses_to_overwrite_a_kept_hook(flow_repo: Repo) -> None:
    repo = flow_repo
    hooks = repo.path / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "commit-msg").write_text("#!/bin/sh\nexit 0\n")
    (hooks / "commit-msg.pre-flow-task").write_text("#!/bin/sh\nexit 0\n")
    result = repo.refused("hooks", "install")
    assert "commit-msg.pre-flow-task exists already" in result.stderr
    assert not (hooks / "pre-commit").exists()  # nothing half-installed


def test_init_adds_the_merge_attribute_to_an_existing_gitattributes(repo: Repo) -> None:
    repo.write(".gitattributes", "*.png binary")  # no newline at the end
    repo.commit_all("attributes")
    data = repo.ok("init")
    assert data["actions"] == ["created .flow/config.yaml",
                               "added `.flow/**/*.md merge=flow-task` to .gitattributes"]
    assert repo.read(".gitattributes") == (
        "*.png binary\n\n# git flow-task: merge task and epic files field by field (docs/hooks.md)\n"
        ".flow/**/*.md merge=flow-task\n")
    assert sorted(repo.git("diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD").split()) == \
        [".flow/config.yaml", ".gitattributes"]
    assert repo.git("check-attr", "merge", "--", ".flow/tasks/x.md").strip().endswith("flow-task")


def test_init_refuses_politely_when_gitattributes_has_uncommitted_edits(repo: Repo) -> None:
    repo.write(".gitattributes", "*.png binary\n")
    repo.commit_all("attributes")
    repo.write(".gitattributes", "*.png binary\n*.jpg binary\n")
    head = repo.head()
    result = repo.refused("init")
    assert ".gitattributes has uncommitted edits" in result.stderr and "hint:" in result.stderr
    assert repo.head() == head and not (repo.path / ".flow").exists()


def test_install_adds_the_claims_fetch_refspec_when_a_claims_remote_is_set(
        flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    repo.git("remote", "add", "origin", str(remote))
    first = repo.ok("hooks", "install")
    assert first["claims_refspec_added"] is None  # no claims.remote configured
    assert "refs/flow" not in repo.git("config", "--get-all", "remote.origin.fetch")
    repo.ok("config", "set", "claims.remote", "origin")
    repo.git("config", "--unset-all", "remote.origin.fetch", "refs/flow")
    second = repo.ok("hooks", "install")
    assert second["claims_refspec_added"] == "origin"
    assert "refs/flow/claims/" in repo.git("config", "--get-all", "remote.origin.fetch")
    assert repo.ok("hooks", "install")["claims_refspec_added"] is None  # already there
