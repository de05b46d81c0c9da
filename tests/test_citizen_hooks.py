"""Issue #13, finding 1: `hooks install` under core.hooksPath. husky 9's layout made by hand (a
dispatcher that runs `.husky/$(basename "$0")`), a tracked hooks directory (husky 5-8 style),
and a global core.hooksPath; real `git commit` and `git push` through them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Repo

from git_flowctl.guard.hookinstall import HUSKY_LINES, LEFTHOOK_YAML, PRE_COMMIT_YAML, SCRIPT_LINES

TASK1 = ".flow/tasks/fn-1-add-oauth-login.1.md"
TASK2 = ".flow/tasks/fn-1-add-oauth-login.2.md"
ID1 = "fn-1-add-oauth-login.1"
HOOKS = ("pre-commit", "prepare-commit-msg", "commit-msg", "pre-push")

# What husky 9 writes into .husky/_ (`husky` on npm install): a stub per hook that sources `h`,
# and `h`, which runs the user's .husky/<name> chosen by the name it was called by.
HUSKY_H = """#!/usr/bin/env sh
n=$(basename "$0")
s=$(dirname "$(dirname "$0")")/$n
[ ! -f "$s" ] && exit 0
[ "${HUSKY-}" = "0" ] && exit 0
sh -e "$s" "$@"
c=$?
[ $c != 0 ] && echo "husky - $n script failed (code $c)"
exit $c
"""
HUSKY_STUB = '#!/usr/bin/env sh\n. "${0%/*}/h"'
USER_HOOK = 'echo "$(basename "$0") ran" >> "$(git rev-parse --git-dir)/team-hook-ran"\n'


def git(repo: Repo, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=repo.path, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def husky9(repo: Repo) -> Path:
    """A husky 9 checkout: tracked .husky/pre-commit, generated (ignored) .husky/_."""
    repo.write(".husky/pre-commit", USER_HOOK)
    repo.commit_all("husky: pre-commit")
    generated = repo.path / ".husky" / "_"
    generated.mkdir()
    (generated / ".gitignore").write_text("*")
    (generated / "husky.sh").write_text("")
    (generated / "h").write_text(HUSKY_H)
    for name in (*HOOKS, "post-checkout"):
        (generated / name).write_text(HUSKY_STUB)
        (generated / name).chmod(0o755)
    repo.git("config", "core.hooksPath", ".husky/_")
    assert repo.status() == ""
    return generated


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {str(path.relative_to(directory)): (path.read_bytes(), path.stat().st_mode)
            for path in sorted(directory.rglob("*")) if path.is_file()}


def team_hook_runs(repo: Repo) -> list[str]:
    marker = repo.path / ".git" / "team-hook-ran"
    return marker.read_text().splitlines() if marker.exists() else []


def illegal_edit_is_refused(repo: Repo, env: dict[str, str] | None = None) -> None:
    repo.write(TASK2, repo.read(TASK2).replace("status: todo\n", "status: done\n"))
    refused = git(repo, "commit", "-qam", "by hand", env=env)
    assert refused.returncode != 0 and "[gate-unsatisfied]" in refused.stderr, refused
    repo.git("checkout", "--", TASK2)


def legal_edit_gets_its_trailer(repo: Repo, env: dict[str, str] | None = None) -> None:
    repo.write(TASK1, repo.read(TASK1).replace("status: todo\n", "status: in_progress\n"))
    done = git(repo, "commit", "-qam", "start by hand", env=env)
    assert done.returncode == 0, done.stderr
    assert f"Flow-Transition: {ID1} todo->in_progress action=start" in repo.message()


# husky 9 ---------------------------------------------------------------------------------------


def test_husky9_install_refuses_and_prints_the_husky_lines(flow_repo: Repo) -> None:
    repo = flow_repo
    generated = husky9(repo)
    before = snapshot(repo.path / ".husky")

    refused = repo.refused("hooks", "install")

    assert "core.hooksPath is .husky/_" in refused.stderr and "managed by husky" in refused.stderr
    assert "--modify-hooks-path" in refused.stderr
    for name, line in HUSKY_LINES.items():
        assert f".husky/{name}: {line}\n" in refused.stderr
    assert "lefthook" in refused.stderr and "flow-task-pre-commit" in refused.stderr
    assert snapshot(repo.path / ".husky") == before and repo.status() == ""
    assert repo.git("config", "--get-regexp", "^merge\\.", check=False) == ""  # nothing half-done
    as_json = repo.flow("hooks", "install", "--json")
    assert as_json.exit_code == 1 and as_json.json["hooks_dir"]["kind"] == "husky"
    assert HUSKY_LINES["pre-push"] in as_json.json["recipes"]

    status = repo.ok("hooks", "status")
    assert status["hooks_dir"] == str(generated) and status["hooks_dir_kind"] == "husky"
    assert {hook["state"] for hook in status["hooks"]} == {"foreign"}
    assert status["installed"] is False
    human = repo.flow("hooks", "status").stdout
    assert "managed by husky" in human and "another hook, which does not run flow-task" in human
    doctor = {check["name"]: check for check in repo.ok("doctor")["checks"]}["hooks"]
    assert doctor["status"] == "warn" and "managed by husky" in doctor["message"]


def test_husky9_with_the_printed_lines_runs_every_hook(flow_repo: Repo, tmp_path: Path) -> None:
    repo = flow_repo
    husky9(repo)
    for name, line in HUSKY_LINES.items():
        path = repo.path / ".husky" / name
        path.write_text((path.read_text() if path.exists() else "") + line + "\n")
    repo.commit_all("husky: run flow-task")
    repo.ok("hooks", "install", "--merge-driver-only")

    status = repo.ok("hooks", "status")
    assert [(hook["state"], hook["via"]) for hook in status["hooks"]] == [("wired", "husky")] * 4
    assert status["installed"] is True
    doctor = {check["name"]: check for check in repo.ok("doctor")["checks"]}["hooks"]
    assert doctor["status"] == "pass" and "through husky" in doctor["message"]

    illegal_edit_is_refused(repo)
    legal_edit_gets_its_trailer(repo)  # prepare-commit-msg got its arguments through husky
    assert team_hook_runs(repo) == ["pre-commit ran", "pre-commit ran"]
    # pre-push reads the ref lines through husky's dispatcher
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    repo.git("remote", "add", "origin", str(bare))
    repo.write(TASK2, repo.read(TASK2).replace("status: todo\n", "status: done\n"))
    repo.git("commit", "-qam", "skip the hooks", "--no-verify")
    pushed = git(repo, "push", "origin", "main")
    assert pushed.returncode != 0 and "push refused" in pushed.stderr, pushed.stderr


def test_husky9_modify_flag_chains_the_stub_under_its_own_name(flow_repo: Repo) -> None:
    repo = flow_repo
    generated = husky9(repo)
    before = snapshot(generated)

    installed = repo.ok("hooks", "install", "--modify-hooks-path")

    assert installed["hooks_dir_info"]["kind"] == "husky"
    assert (generated / "pre-commit.pre-flow-task").read_text() == HUSKY_STUB
    illegal_edit_is_refused(repo)
    # the stub ran as `.husky/_/pre-commit`, so husky's dispatcher found .husky/pre-commit
    assert team_hook_runs(repo) == ["pre-commit ran"]
    legal_edit_gets_its_trailer(repo)
    assert team_hook_runs(repo) == ["pre-commit ran", "pre-commit ran"]
    assert repo.status() == ""  # .husky/_ is ignored: nothing to commit by mistake

    assert "--modify-hooks-path" in repo.refused("hooks", "uninstall").stderr
    repo.ok("hooks", "uninstall", "--modify-hooks-path")
    assert snapshot(generated) == before


# A tracked hooks directory (husky 5-8 style, or a team's own) ----------------------------------


def tracked_hooks(repo: Repo) -> Path:
    hooks = repo.path / ".githooks"
    (hooks).mkdir()
    (hooks / "pre-commit").write_text("#!/bin/sh\n" + USER_HOOK)
    (hooks / "pre-commit").chmod(0o755)
    repo.git("add", ".githooks")
    repo.git("update-index", "--chmod=+x", ".githooks/pre-commit")
    repo.commit_all("team hooks")
    repo.git("config", "core.hooksPath", ".githooks")
    return hooks


def test_tracked_hooks_directory_is_left_alone_and_the_lines_are_printed(flow_repo: Repo) -> None:
    repo = flow_repo
    hooks = tracked_hooks(repo)
    before = snapshot(hooks)

    refused = repo.refused("hooks", "install")

    assert "tracked: what is installed there is committed for everyone" in refused.stderr
    for name, line in SCRIPT_LINES.items():
        assert f".githooks/{name}: {line}\n" in refused.stderr
    assert snapshot(hooks) == before and repo.status() == ""
    status = repo.ok("hooks", "status")
    assert status["hooks_dir_kind"] == "tracked" and status["hooks_dir_info"]["tracked"] is True
    # an untracked, unignored directory in the work tree would be committed by `git add -A`
    repo.git("config", "core.hooksPath", "new-hooks")
    assert repo.ok("hooks", "status")["hooks_dir_kind"] == "tracked"
    repo.refused("hooks", "install")
    assert not (repo.path / "new-hooks").exists()


def test_tracked_hooks_directory_with_the_flag_gets_no_machine_path(flow_repo: Repo,
                                                                     tmp_path: Path) -> None:
    repo = flow_repo
    hooks = tracked_hooks(repo)
    original = (hooks / "pre-commit").read_bytes()

    installed = repo.ok("hooks", "install", "--modify-hooks-path")

    actions = {action["hook"]: action["action"] for action in installed["hooks"]}
    assert actions["pre-commit"] == "added the flow-task line to the existing hook"
    assert actions["commit-msg"] == "installed"
    assert not (hooks / "pre-commit.pre-flow-task").exists()  # the tracked file stays in place
    for path in hooks.iterdir():
        assert str(Path(sys.executable).parent) not in path.read_text(), path
    assert sorted(repo.status().splitlines()) == [
        " M .githooks/pre-commit", "?? .githooks/commit-msg", "?? .githooks/pre-push",
        "?? .githooks/prepare-commit-msg"]
    illegal_edit_is_refused(repo)
    assert team_hook_runs(repo) == []  # ours runs first and refuses: the script stops there
    legal_edit_gets_its_trailer(repo)
    assert team_hook_runs(repo) == ["pre-commit ran"]  # the team's line ran, under its name
    status = repo.ok("hooks", "status")
    assert [hook["state"] for hook in status["hooks"]] == ["wired", "installed", "installed", "installed"]
    assert status["installed"] is True and status["hooks"][1]["python"] is None

    # committed, a teammate's clone runs them with `git flow-task` from PATH
    repo.git("add", ".githooks")
    repo.git("commit", "-qm", "run flow-task from the team hooks", "--no-verify")
    teammate = Repo(tmp_path / "teammate")
    repo.git("clone", "-q", str(repo.path), str(teammate.path))
    teammate.git("config", "core.hooksPath", ".githooks")
    illegal_edit_is_refused(teammate)

    removed = repo.ok("hooks", "uninstall", "--modify-hooks-path")
    assert {action["action"] for action in removed["hooks"]} == {
        "removed the flow-task line from the hook", "removed"}
    assert (hooks / "pre-commit").read_bytes() == original


def test_the_pre_push_line_in_a_tracked_hook_leaves_the_refs_for_the_hook(flow_repo: Repo,
                                                                           tmp_path: Path) -> None:
    repo = flow_repo
    hooks = tracked_hooks(repo)
    (hooks / "pre-push").write_text('#!/bin/sh\ncat > "$(git rev-parse --git-dir)/refs-seen"\n')
    (hooks / "pre-push").chmod(0o755)
    repo.ok("hooks", "install", "--modify-hooks-path")
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    repo.git("remote", "add", "origin", str(bare))

    pushed = git(repo, "push", "-q", "origin", "main")

    assert pushed.returncode == 0, pushed.stderr
    seen = (repo.path / ".git" / "refs-seen").read_text()
    assert seen == f"refs/heads/main {repo.head()} refs/heads/main {'0' * 40}\n"


# A global core.hooksPath -----------------------------------------------------------------------


@pytest.fixture
def global_hooks(tmp_path: Path) -> tuple[dict[str, str], Path]:
    directory = tmp_path / "global-hooks"
    directory.mkdir()
    config = tmp_path / "global-gitconfig"
    config.write_text(Path(os.environ["GIT_CONFIG_GLOBAL"]).read_text()
                      + f"[core]\n\thooksPath = {directory}\n")
    return {"GIT_CONFIG_GLOBAL": str(config)}, directory


def test_global_hooks_path_needs_the_flag(flow_repo: Repo,
                                          global_hooks: tuple[dict[str, str], Path]) -> None:
    repo, (env, directory) = flow_repo, global_hooks

    refused = repo.refused("hooks", "install", env=env)

    assert "every repository on this machine" in refused.stderr
    assert list(directory.iterdir()) == []
    status = repo.ok("hooks", "status", env=env)
    assert status["hooks_dir_info"]["scope"] == "global" and status["hooks_dir_kind"] == "global"
    doctor = {check["name"]: check for check in repo.ok("doctor", env=env)["checks"]}["hooks"]
    assert doctor["status"] == "warn" and "every repository on this machine" in doctor["message"]

    repo.ok("hooks", "install", "--modify-hooks-path", env=env)

    assert sorted(path.name for path in directory.iterdir()) == sorted(HOOKS)
    illegal_edit_is_refused(repo, env=env)
    refused = repo.refused("hooks", "uninstall", env=env)
    assert "--modify-hooks-path" in refused.stderr and len(list(directory.iterdir())) == 4
    repo.ok("hooks", "uninstall", "--modify-hooks-path", env=env)
    assert list(directory.iterdir()) == []


# Chaining in this repository's own hooks -------------------------------------------------------


def test_a_chained_hook_runs_under_its_own_name(flow_repo: Repo) -> None:
    repo = flow_repo
    hooks = repo.path / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    for name, shebang in (("pre-commit", "#!/bin/sh"), ("commit-msg", "#!/usr/bin/env bash")):
        (hooks / name).write_text(f"{shebang}\n{USER_HOOK}")
        (hooks / name).chmod(0o755)
    repo.ok("hooks", "install")
    repo.write("a.py", "1\n")
    repo.git("add", "a.py")
    assert git(repo, "commit", "-qm", "code").returncode == 0
    assert team_hook_runs(repo) == ["pre-commit ran", "commit-msg ran"]


def test_docs_show_the_recipes_exactly() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "hooks.md").read_text()
    for name, line in HUSKY_LINES.items():
        assert f"{line}" in text, (name, line)
    for line in SCRIPT_LINES.values():
        assert line in text
    assert LEFTHOOK_YAML in text

    def bare(block: str) -> list[str]:  # the YAML without its comments
        return [line.split("#")[0].rstrip() for line in block.splitlines()]

    documented = next(block for block in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
                      if "repos:" in block)
    assert bare(documented) == bare(PRE_COMMIT_YAML)


def test_lefthook_config_naming_flow_task_counts_as_running_it(flow_repo: Repo) -> None:
    """lefthook's own hook (its generated script runs `lefthook run <name>`), made by hand: the
    status follows lefthook.yml."""
    repo = flow_repo
    hooks = repo.path / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    for name in HOOKS:
        (hooks / name).write_text(f'#!/bin/sh\n# lefthook\ncall_lefthook run "{name}" "$@"\n')
        (hooks / name).chmod(0o755)
    assert {hook["state"] for hook in repo.ok("hooks", "status")["hooks"]} == {"foreign"}
    repo.write("lefthook.yml", LEFTHOOK_YAML)
    status = repo.ok("hooks", "status")
    assert [(hook["state"], hook["via"]) for hook in status["hooks"]] == [("wired", "lefthook")] * 4
    assert status["installed"] is True


# What husky 5-8 writes into .husky/_/husky.sh: the hook script sources it, and it runs the
# script again under `sh -e` (so lines above the source line would run twice).
HUSKY8_SH = """#!/usr/bin/env sh
if [ -z "$husky_skip_init" ]; then
  readonly hook_name="$(basename -- "$0")"
  readonly husky_skip_init=1
  export husky_skip_init
  sh -e "$0" "$@"
  exitCode="$?"
  [ $exitCode != 0 ] && echo "husky - $hook_name hook exited with code $exitCode (error)"
  exit $exitCode
fi
"""


def test_husky8_tracked_hooks_get_the_line_after_husky_sh(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.write(".husky/pre-commit", '#!/usr/bin/env sh\n. "$(dirname -- "$0")/_/husky.sh"\n\n'
               + USER_HOOK)
    (repo.path / ".husky" / "pre-commit").chmod(0o755)
    repo.git("add", ".husky")
    repo.git("update-index", "--chmod=+x", ".husky/pre-commit")
    repo.commit_all("husky 8")
    (repo.path / ".husky" / "_").mkdir()
    (repo.path / ".husky" / "_" / ".gitignore").write_text("*")
    (repo.path / ".husky" / "_" / "husky.sh").write_text(HUSKY8_SH)
    repo.git("config", "core.hooksPath", ".husky")
    original = (repo.path / ".husky" / "pre-commit").read_bytes()

    refused = repo.refused("hooks", "install")
    assert "managed by husky, and tracked" in refused.stderr
    repo.ok("hooks", "install", "--modify-hooks-path")

    lines = (repo.path / ".husky" / "pre-commit").read_text().splitlines()
    assert lines[1].endswith('/_/husky.sh"') and lines[2].startswith("# >>> git flow-task hook")
    illegal_edit_is_refused(repo)
    legal_edit_gets_its_trailer(repo)
    assert team_hook_runs(repo) == ["pre-commit ran"]  # once: husky.sh ran the script once more
    repo.ok("hooks", "uninstall", "--modify-hooks-path")
    assert (repo.path / ".husky" / "pre-commit").read_bytes() == original
