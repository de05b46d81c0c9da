"""Start-up of the commands agents call most, on a plan of 200 tasks in 10 epics.

Agents run `next --json`, `ready --json`, `show ID --json`, `tasks --json` and `status --json`
thousands of times, so their cost is mostly start-up: the interpreter, click, PyYAML and our own
modules. Reading the work tree they never import pygit2 (gitcli.py reaches git through the `git`
command), and they skip the writer. Each is timed as the installed console script, against the
floor `python -c pass` with the same interpreter, the two run alternately (so a busy machine
loads both alike; bench_hooks.py measures the same way). `start` then `release` (two mutating commands, which do import pygit2 and the
writer) is one sample against twice the floor.

The repository: 10 epics of 20 tasks (chains of dependencies), 20 done, 5 in progress under
other actors (claims held), the default branch checked out, so `status` and `show` read the
default branch for landed work and `ready`/`next` read every claim ref.

Goals (ratio to the floor): see READ_GOAL and WRITE_GOAL below. tests/test_lean_reads.py is
what guarantees that these commands never import pygit2; this script watches the whole cost.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import compile_bytecode, finish, init_repo, paired, report

BIN = Path(sys.executable).parent
FLOW = shutil.which("git-flow-task", path=str(BIN)) or "git-flow-task"
EPICS = 10
TASKS_PER_EPIC = 20
RUNS = 21
# Measured on a loaded 2-core box (load average 2 to 4): reads 9.7x to 11.9x the floor (before
# they left pygit2 behind: 15x to 16.8x), start + release 15.5x to 18.4x per command. The goals
# leave about 20% (reads) and 30% (writes) for a noisier CI machine.
READ_GOAL = 14.0
WRITE_GOAL = 24.0

# Builds the plan in one process (the CLI in process): 200 commands as subprocesses would take
# minutes on a small machine.
BUILD = """
import contextlib, io, json, os, sys
from git_flowctl.cli import run

def call(*args, actor=None):
    if actor:
        os.environ["FLOW_ACTOR"] = actor
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = run([*args, "--json"])
    os.environ.pop("FLOW_ACTOR", None)
    if code != 0:
        raise SystemExit(f"{args} failed: {buffer.getvalue()}")
    return json.loads(buffer.getvalue())

call("init")
first = None
for epic_number in range(%(epics)d):
    epic = call("epic", "create", "--title", f"Epic {epic_number}")["id"]
    previous = None
    for number in range(%(tasks)d):
        args = ["task", "create", "--epic", epic, "--title", f"Task {number} of {epic_number}"]
        if previous and number %% 4:
            args += ["--deps", previous]
        previous = call(*args)["id"]
        first = first or previous
for epic_number in range(1, 6):  # 20 done: the first four tasks of epics 1 to 5
    for number in range(1, 5):
        task = f"fn-{epic_number}.{number}"
        call("start", task)
        call("done", task, "--summary", "done")
for worker in range(5):  # 5 in progress, each held by another actor
    call("start", f"fn-{worker + 1}.5", actor=f"worker{worker}@example.com")
print(first)
"""


def make_repo(root: Path) -> tuple[Path, str]:
    repo = init_repo(root / "repo")
    built = subprocess.run([sys.executable, "-c", BUILD % {"epics": EPICS, "tasks": TASKS_PER_EPIC}],
                           cwd=repo, capture_output=True, text=True)
    if built.returncode != 0:
        raise SystemExit(f"building the plan failed:\n{built.stdout}{built.stderr}")
    return repo, built.stdout.strip()


def main() -> int:
    compile_bytecode()
    # Bytecode is written on the warm-up run of each command (an installed package ships it;
    # PYTHONDONTWRITEBYTECODE=1 would make every run compile what it imports).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ.update({"GIT_CONFIG_NOSYSTEM": "1", "NO_COLOR": "1",
                       "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"})
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "FLOW_ACTOR", "GIT_AUTHOR_NAME",
                 "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        os.environ.pop(name, None)
    with tempfile.TemporaryDirectory(prefix="flow-bench-startup-") as temp:
        home = Path(temp) / "home"
        home.mkdir()
        (home / ".gitconfig").write_text("[user]\n\tname = Bench\n\temail = bench@example.com\n")
        os.environ["HOME"] = str(home)
        os.environ["GIT_CONFIG_GLOBAL"] = str(home / ".gitconfig")
        repo, first_task = make_repo(Path(temp))
        cwd = str(repo)
        reads = [
            ("next", ["next", "--json"], READ_GOAL),
            ("ready", ["ready", "--json"], READ_GOAL),
            ("show", ["show", first_task, "--json"], READ_GOAL),
            ("status", ["status", "--json"], READ_GOAL),
            ("tasks", ["tasks", "--json"], READ_GOAL),
        ]
        for name, args, goal in reads:
            value, floor = paired([FLOW, *args], cwd, runs=RUNS)
            report(f"startup_{name}_json", value, floor, goal=goal)
        task = "fn-6.1"
        pair = ["sh", "-c", '"$0" start "$1" --json >/dev/null && "$0" release "$1" --json >/dev/null',
                FLOW, task]
        value, floor = paired(pair, cwd, runs=11)
        report("startup_start_release_per_command", value / 2, floor, goal=WRITE_GOAL)
    return finish()


if __name__ == "__main__":
    raise SystemExit(main())
