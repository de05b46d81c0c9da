"""Claims per second: 8 worktrees racing on one machine, and 3 clones racing through a bare remote.

Each racer is one long-lived process looping `next --claim` then `done` through the CLI in
process (pick, claim the ref, record the start commit; then the done commit and the finished
record) until nothing is left, all starting at once. A claim's life touches its ref twice (created, then turned
into the finished record), so the floors, measured in the same run with the same number of
processes, do those two ref changes with bare git per task: a create-only `git update-ref` and a
compare-and-swap `git update-ref` locally; a create and an update `git push` through the remote.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import compile_bytecode, finish, report
from _util import git as run_git

TASKS_LOCAL = 48
TASKS_REMOTE = 24
ENV = {
    "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "NO_COLOR": "1",
}

RACER = """
import contextlib, io, json, sys, time, pathlib
go = pathlib.Path(sys.argv[1])
while not go.exists():
    time.sleep(0.001)
from git_flowctl.cli import run

def call(*args):
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        if run([*args, "--json"]) != 0:
            raise SystemExit(f"{args} failed: {buffer.getvalue()}")
    return json.loads(buffer.getvalue())

count = 0
while True:
    answer = call("next", "--claim")
    if answer["status"] != "work":
        break
    call("done", answer["task"])
    count += 1
print(count)
"""

UPDATE_REF_FLOOR = """
import subprocess, sys, time, pathlib
go, start, stop, oid, oid2 = pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:6]
while not go.exists():
    time.sleep(0.001)
for n in range(start, stop):
    subprocess.run(["git", "update-ref", f"refs/flow/floor/{n}", oid, ""], check=True)
    subprocess.run(["git", "update-ref", f"refs/flow/floor/{n}", oid2, oid], check=True)
"""

PUSH_FLOOR = """
import subprocess, sys, time, pathlib
go, start, stop, oid, oid2 = pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:6]
while not go.exists():
    time.sleep(0.001)
for n in range(start, stop):
    ref = f"refs/flow/floor/{n}"
    subprocess.run(["git", "push", "-q", f"--force-with-lease={ref}:", "origin", f"{oid}:{ref}"],
                   check=True)
    subprocess.run(["git", "push", "-q", f"--force-with-lease={ref}:{oid}", "origin",
                    f"{oid2}:{ref}"], check=True)
"""


def git(cwd: Path, *args: str) -> str:
    return run_git(cwd, *args, env=ENV)


def flow(cwd: Path, *args: str) -> None:
    from git_flowctl.cli import run

    old = os.getcwd()
    os.chdir(cwd)
    try:
        code = run([*args, "--json"])
    finally:
        os.chdir(old)
    if code != 0:
        raise SystemExit(f"setup failed: {' '.join(args)}")


def make_plan(path: Path, tasks: int, remote: Path | None = None) -> None:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("bench\n")
    git(path, "add", "README.md")
    git(path, "commit", "-q", "-m", "init")
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        flow(path, "init")
        flow(path, "epic", "create", "--title", "Bench")
        for number in range(1, tasks + 1):
            flow(path, "task", "create", "--epic", "fn-1", "--title", f"Task {number}")
        if remote is not None:
            flow(path, "config", "set", "claims.remote", "origin")
    if remote is not None:
        git(path, "remote", "add", "origin", str(remote))
        git(path, "push", "-q", "origin", "main")


def race(scripts: list[tuple[list[str], Path, dict[str, str]]], go: Path) -> tuple[float, list[str]]:
    processes = [subprocess.Popen(argv, cwd=cwd, env={**os.environ, **ENV, **env},
                                  stdout=subprocess.PIPE, text=True)
                 for argv, cwd, env in scripts]
    time.sleep(0.5)  # let every racer import and reach the barrier
    start = time.perf_counter()
    go.touch()
    outputs = []
    for process in processes:
        out, _ = process.communicate(timeout=1800)
        if process.returncode != 0:
            raise SystemExit(f"a racer failed ({process.returncode})")
        outputs.append(out.strip())
    return time.perf_counter() - start, outputs


def local(root: Path) -> None:
    repo = root / "local"
    make_plan(repo, TASKS_LOCAL)
    worktrees = []
    for n in range(8):
        path = root / f"w{n}"
        git(repo, "worktree", "add", "-q", "-b", f"w{n}", str(path))
        worktrees.append(path)
    go = root / "go-local"
    elapsed, outputs = race([([sys.executable, "-c", RACER, str(go)], path, {"FLOW_ACTOR": f"r{n}"})
                             for n, path in enumerate(worktrees)], go)
    claimed = sum(int(out) for out in outputs)
    assert claimed == TASKS_LOCAL, outputs
    oid, oid2 = git(repo, "rev-parse", "HEAD", "HEAD~1").split()
    go_floor = root / "go-floor"
    share = TASKS_LOCAL // 8
    floor, _ = race([([sys.executable, "-c", UPDATE_REF_FLOOR, str(go_floor), str(n * share),
                       str((n + 1) * share), oid, oid2], repo, {}) for n in range(8)], go_floor)
    print(f"local: {claimed / elapsed:.1f} claims/s (next --claim + done) with 8 worktrees; "
          f"floor {TASKS_LOCAL / floor:.1f}/s (create + compare-and-swap `git update-ref`, "
          "8 processes)")
    report("claims_8_worktrees_per_claim", elapsed / claimed, floor / TASKS_LOCAL, goal=50)


def remote(root: Path) -> None:
    bare = root / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    make_plan(root / "seed", TASKS_REMOTE, remote=bare)
    clones = []
    for name in ("a", "b", "c"):
        git(root, "clone", "-q", str(bare), name)
        clones.append(root / name)
    go = root / "go-remote"
    elapsed, outputs = race([([sys.executable, "-c", RACER, str(go)], path, {"FLOW_ACTOR": path.name})
                             for path in clones], go)
    claimed = sum(int(out) for out in outputs)
    assert claimed == TASKS_REMOTE, outputs
    oid, oid2 = git(clones[0], "rev-parse", "origin/main", "origin/main~1").split()
    go_floor = root / "go-push"
    share = TASKS_REMOTE // 3
    floor, _ = race([([sys.executable, "-c", PUSH_FLOOR, str(go_floor), str(n * share),
                       str((n + 1) * share), oid, oid2], path, {}) for n, path in enumerate(clones)],
                    go_floor)
    print(f"remote: {claimed / elapsed:.1f} claims/s (next --claim + done) with 3 clones through "
          f"a bare remote; floor {TASKS_REMOTE / floor:.1f}/s (create + leased update "
          "`git push`, 3 processes)")
    report("claims_3_clones_per_claim", elapsed / claimed, floor / TASKS_REMOTE, goal=8)


def main() -> int:
    compile_bytecode()
    with tempfile.TemporaryDirectory(prefix="flow-bench-claims-") as tmp:
        root = Path(tmp)
        local(root)
        remote(root)
    return finish()


if __name__ == "__main__":
    raise SystemExit(main())
