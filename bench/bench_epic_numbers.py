"""Epic numbers at scale: `epic create` reads .flow/epics of every local and remote-tracking branch.

The floor is the same `epic create --dry-run` in the same repository before the branches exist;
the goal is that 2,000 branches (half of them remote-tracking, a few hundred with their own
.flow tree) cost little on top of it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import compile_bytecode, finish, git, report, time_command

EXE = str(Path(sys.executable).parent / "git-flow-task")
BRANCHES = 2000
OWN_TREES = 300  # branches whose .flow differs (an epic of their own)


def main() -> int:
    compile_bytecode()
    env = {"GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
    os.environ.update(env)
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        git(repo, "commit", "-q", "--allow-empty", "-m", "init")
        subprocess.run([EXE, "init"], cwd=repo, check=True, capture_output=True)
        for number in range(10):
            subprocess.run([EXE, "epic", "create", "--title", f"Epic {number}"], cwd=repo,
                           check=True, capture_output=True)
        command = [EXE, "epic", "create", "--title", "Measured", "--dry-run", "--json"]
        floor = time_command(command, cwd=str(repo), runs=11)
        # Branches whose .flow trees differ: one commit each adds an epic file (plumbing, fast).
        base = git(repo, "rev-parse", "HEAD").strip()
        updates = []
        for index in range(BRANCHES):
            if index < OWN_TREES:
                blob = git(repo, "hash-object", "-w", "--stdin",
                           input=f"---\nid: fn-{100 + index}-b\ntitle: b\nstatus: open\n---\n")
                git(repo, "read-tree", base)
                git(repo, "update-index", "--add", "--cacheinfo",
                    f"100644,{blob.strip()},.flow/epics/fn-{100 + index}-b.md")
                tree = git(repo, "write-tree").strip()
                commit = git(repo, "commit-tree", tree, "-p", base, "-m", "b").strip()
            else:
                commit = base
            kind = "refs/heads" if index % 2 else "refs/remotes/origin"
            updates.append(f"create {kind}/b{index} {commit}\n")
        git(repo, "update-ref", "--stdin", input="".join(updates))
        git(repo, "read-tree", base)
        value = time_command(command, cwd=str(repo), runs=11)
        result = subprocess.run(command, cwd=repo, capture_output=True, text=True)
        assert f'"id": "fn-{100 + OWN_TREES}-measured"' in result.stdout, result.stdout
    report(f"epic_create_{BRANCHES}_branches", value, floor, goal=1.3)
    return finish()


if __name__ == "__main__":
    raise SystemExit(main())
