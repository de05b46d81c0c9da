"""Scale (issue #11): a plan of 5,000 or 50,000 tasks answers as fast as a plan of 50.

Plans in the documented file format (bench/_scale_plan.py): 250 epics x 20 tasks and
2,500 x 20, chains with diamonds, every fifth epic depending on the one before, a quarter done,
some in progress, blocked, failed and skipped; written and committed on main (the default
branch, so `status` and `show` compare done tasks with it). Every command runs as the installed
console script, alternately with `python -c pass` (the floor), and the median ratio is printed
as a RATIO line with its goal.

- reads (all `--json`): at 5,000 tasks at most 6x; at 50,000 at most 20x, and 60x for `tasks`,
  `list` and `validate`, whose output or work grows with the plan; peak RSS at 50,000 at most
  200 MB.
- a cold read (the snapshot deleted) at 5,000: at most 60x; the read after it is warm.
- transitions (`start`, `done --evidence`, `block`, `next --claim`) at 5,000 against the same
  at 200 tasks: at most 1.2x.
- the pre-commit hook on a commit that changes one task at 5,000: at most 6x; `check --base`
  over 200 transition commits at 5,000: at most 20x.

`--quick` runs the 5,000-task plan only (a minute or two); the whole run takes several minutes
on a 2-core machine, most of it writing and committing 50,000 files.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _scale_plan import epic_id, task_id, task_status, write_plan
from _util import compile_bytecode, finish, git, paired, report, settle

BIN = Path(sys.executable).parent
FLOW = shutil.which("git-flow-task", path=str(BIN)) or "git-flow-task"
PER_EPIC = 20
MB = 1024 * 1024
RSS_GOAL_MB = 200


def make_plan(root: Path, epics: int) -> Path:
    repo = root / f"plan-{epics * PER_EPIC}"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write_plan(repo, epics, PER_EPIC)
    (repo / ".gitattributes").write_text(".flow/**/*.md merge=flow-task\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"plan of {epics * PER_EPIC} tasks")
    return repo


def flow(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([FLOW, *args], cwd=repo, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise SystemExit(f"{args} failed in {repo}:\n{result.stdout}{result.stderr}")
    return result


def peak_rss(argv: Sequence[str], cwd: Path) -> float:
    """The command's peak resident set size in bytes (its own, from wait4)."""
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(process.pid, 0)
    process.returncode = 0
    return float(usage.ru_maxrss) * 1024  # Linux: kilobytes


def reads(epics: int) -> list[tuple[str, list[str]]]:
    middle = epics // 2
    return [
        ("status", ["status", "--json"]),
        ("show_task", ["show", task_id(middle, 7), "--json"]),
        ("tasks", ["tasks", "--json"]),
        ("list", ["list", "--json"]),
        ("epics", ["epics", "--json"]),
        ("ready_epic", ["ready", "--epic", epic_id(middle), "--json"]),
        ("ready", ["ready", "--json"]),
        ("next", ["next", "--json"]),
        ("blocked", ["blocked", "--json"]),
        ("validate", ["validate", "--json"]),
    ]


GROWING = {"tasks", "list", "validate"}  # output or work grows with the plan


def measure_reads(repo: Path, epics: int, runs: int) -> None:
    size = epics * PER_EPIC
    for name, args in reads(epics):
        flow(repo, *args, check=name != "validate")  # warm: builds the snapshot
        value, floor = paired([FLOW, *args], str(repo), runs=runs)
        goal = 6.0 if size <= 5000 else 60.0 if name in GROWING else 20.0
        report(f"scale_{size}_{name}", value, floor, goal=goal)
    if size > 5000:
        for name, args in reads(epics):
            rss = max(peak_rss([FLOW, *args], repo) for _ in range(2))
            report(f"scale_{size}_{name}_peak_rss", rss / MB, RSS_GOAL_MB, goal=1.0, unit="MB")


def measure_cold(repo: Path, runs: int) -> None:
    """A read with no snapshot (a fresh clone, or the cache deleted), then the read after it."""
    cache = repo / ".git" / "flow-cache"
    floor_argv = [sys.executable, "-c", "pass"]
    colds, warms, floors = [], [], []
    for _ in range(runs):
        shutil.rmtree(cache, ignore_errors=True)
        for argv, samples in ((floor_argv, floors), ([FLOW, "status", "--json"], colds),
                              ([FLOW, "status", "--json"], warms)):
            start = time.perf_counter()
            subprocess.run(argv, cwd=repo, capture_output=True, check=False)
            samples.append(time.perf_counter() - start)
    floor = statistics.median(floors)
    report("scale_5000_cold_status", statistics.median(colds), floor, goal=60.0)
    report("scale_5000_status_after_cold", statistics.median(warms), floor, goal=6.0)


def ready_chain(epics: int) -> list[str]:
    """Tasks that become ready one after the other when each is started and done: the first
    todo task of each epic whose chain is free, then the next one."""
    chain = []
    for number in range(PER_EPIC // 4 + 2, PER_EPIC + 1):
        for epic in range(1, epics + 1):
            if epic % 10 in (1, 3, 5, 7) or (epic % 5 == 0) or epic % 25 == 0:
                continue  # a blocked, failed or in-progress task or an epic dependency in the way
            chain.append((epic, number))
    return [task_id(epic, number) for epic, number in sorted(chain, key=lambda t: (t[1], t[0]))]


def measure_transitions(small: Path, large: Path, runs: int) -> None:
    """Each transition at 5,000 tasks against the same transition at 200, alternately."""
    for repo in (small, large):
        for epic in range(1, 11):  # the in-progress tasks and the first ready one: started by us
            first = task_id(epic, PER_EPIC // 4 + 1)
            if task_status(epic, PER_EPIC // 4 + 1, PER_EPIC) == "in_progress":
                flow(repo, "release", first, "--force")
    tasks = {repo: iter(ready_chain(10)) for repo in (small, large)}
    kinds = {"start": [], "done": [], "block": [], "next_claim": []}  # type: ignore[var-annotated]
    samples: dict[tuple[str, Path], list[float]] = {(kind, repo): [] for kind in kinds for repo in (small, large)}

    def timed(kind: str, repo: Path, *args: str) -> None:
        start = time.perf_counter()
        flow(repo, *args)
        samples[(kind, repo)].append(time.perf_counter() - start)

    for _ in range(runs):
        for repo in (small, large):
            task = next(tasks[repo])
            timed("start", repo, "start", task)
            timed("done", repo, "done", task, "--evidence", "tests=pytest -q")
        for repo in (small, large):
            waiting = task_id(2, PER_EPIC - len(samples[("block", repo)]))
            timed("block", repo, "block", waiting, "--reason", "waiting on the vendor")
        for repo in (small, large):
            timed("next_claim", repo, "next", "--claim", "--json")
            claimed = flow(repo, "next", "--json").stdout
            import json

            current = json.loads(claimed)["task"]
            flow(repo, "done", current)
    for kind in kinds:
        value = statistics.median(samples[(kind, large)])
        floor = statistics.median(samples[(kind, small)])
        report(f"scale_5000_transition_{kind}_vs_200", value, floor, goal=1.2)


def measure_hook(repo: Path, runs: int) -> None:
    """The pre-commit hook git runs for a commit that changes one task file."""
    path = repo / ".flow" / "tasks" / f"{task_id(3, 20)}.md"
    original = path.read_text()
    path.write_text(original.replace("title: Step 20 of epic 3", "title: Step twenty of epic 3"))
    git(repo, "add", str(path))
    value, floor = paired([FLOW, "hook", "pre-commit"], str(repo), runs=runs)
    report("scale_5000_hook_pre_commit_one_task", value, floor, goal=6.0)
    git(repo, "reset", "-q", "--", str(path))
    path.write_text(original)


def measure_check(repo: Path, runs: int) -> None:
    """`check --base` over a branch of 200 transition commits."""
    git(repo, "checkout", "-q", "-b", "bench-check")
    chain = ready_chain(250)
    for task in chain[:100]:
        flow(repo, "start", task)
        flow(repo, "done", task, "--evidence", "tests=ok")
    value, floor = paired([FLOW, "check", "--base", "main", "--json"], str(repo), runs=runs)
    report("scale_5000_check_base_200_commits", value, floor, goal=20.0)
    git(repo, "checkout", "-q", "main")


def main() -> int:
    compile_bytecode()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ.update({"GIT_CONFIG_NOSYSTEM": "1", "NO_COLOR": "1",
                       "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"})
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "FLOW_ACTOR", "GIT_AUTHOR_NAME",
                 "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        os.environ.pop(name, None)
    quick = "--quick" in sys.argv
    runs = 15 if quick else 21
    with tempfile.TemporaryDirectory(prefix="flow-bench-scale-") as temp:
        home = Path(temp) / "home"
        home.mkdir()
        (home / ".gitconfig").write_text("[user]\n\tname = Bench\n\temail = bench@example.com\n")
        os.environ["HOME"] = str(home)
        os.environ["GIT_CONFIG_GLOBAL"] = str(home / ".gitconfig")
        large = make_plan(Path(temp), 250)
        small = make_plan(Path(temp), 10)
        settle()
        measure_reads(large, 250, runs)
        measure_cold(large, 7)
        measure_hook(large, runs)
        measure_transitions(small, large, 9 if quick else 15)
        measure_check(large, 7)
        if not quick:
            huge = make_plan(Path(temp), 2500)
            settle()
            measure_reads(huge, 2500, 7)
    return finish()


if __name__ == "__main__":
    raise SystemExit(main())
