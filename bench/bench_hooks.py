"""The commit hooks on a commit that touches nothing under .flow/ (issue #4).

Such a commit (most commits) must pay little more than interpreter start-up: the hooks return
after one `git diff --cached --quiet -- :/.flow`, before importing pygit2, PyYAML or click.
Floor: `python -c pass` with the same interpreter. Goal: each at most 2x the floor.

Measured for pre-commit, prepare-commit-msg and commit-msg: the shim `hooks install` writes
(`sh` + `python -P -c 'from git_flowctl.entry import main ...'`), the hook git really runs, goal
2x; and the console script (`git-flow-task hook ...`, what the pre-commit framework and
hand-written hooks call), goal 2.5x, because the wrapper pip generates imports `re` (about 7 ms)
before our code runs. Each is timed alternately with the floor, so a busy machine loads both
alike. The slow path (a staged task file) is printed for reference.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import compile_bytecode, finish, git, init_repo, paired, report, time_command

BIN = Path(sys.executable).parent
FLOW = shutil.which("git-flow-task", path=str(BIN)) or "git-flow-task"


def make_repo(root: Path) -> Path:
    repo = init_repo(root / "repo")
    for args in (["init"], ["epic", "create", "--title", "Bench"],
                 *[["task", "create", "--epic", "fn-1", "--title", f"Task {n}"] for n in range(20)]):
        subprocess.run([FLOW, *args], cwd=repo, check=True, capture_output=True)
    subprocess.run([FLOW, "hooks", "install"], cwd=repo, check=True, capture_output=True)
    (repo / "code.py").write_text("print('hello')\n")
    git(repo, "add", "code.py")  # staged code, nothing under .flow/
    (repo / ".git" / "BENCH_MSG").write_text("Add code\n")
    return repo


def main() -> int:
    compile_bytecode()
    env = {
        "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
        "GIT_CONFIG_NOSYSTEM": "1", "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    os.environ.update(env)
    with tempfile.TemporaryDirectory(prefix="flow-bench-hooks-") as temp:
        home = Path(temp) / "home"
        home.mkdir()
        os.environ["HOME"] = str(home)
        os.environ["GIT_CONFIG_GLOBAL"] = str(home / ".gitconfig")
        repo = make_repo(Path(temp))
        cwd = str(repo)
        hooks = repo / ".git" / "hooks"
        cases = [
            ("pre-commit", []),
            ("prepare-commit-msg", [".git/BENCH_MSG", "message"]),
            ("commit-msg", [".git/BENCH_MSG"]),
        ]
        for name, args in cases:
            script, floor = paired([FLOW, "hook", name, *args], cwd, runs=31)
            report(f"hook_{name.replace('-', '_')}_console_script", script, floor, goal=2.5)
            shim, floor = paired([str(hooks / name), *args], cwd, runs=31)
            report(f"hook_{name.replace('-', '_')}_installed_shim", shim, floor, goal=2.0)
        git(repo, "reset", "-q")
        task = next((repo / ".flow" / "tasks").iterdir())
        task.write_text(task.read_text().replace("title: Task", "title: Renamed task"))
        git(repo, "add", str(task))
        slow = time_command([FLOW, "hook", "pre-commit"], runs=5, cwd=cwd)
        print(f"INFO hook_pre_commit_with_a_staged_task_file {slow * 1000:.1f} ms "
              f"({slow / floor:.1f}x the floor; imports pygit2 and validates)")
    return finish()


if __name__ == "__main__":
    raise SystemExit(main())
