"""Scale (issue #11): a plan of 5,000 or 50,000 tasks answers as fast as a plan of 50.

Plans in the documented file format (bench/_scale_plan.py): 250 epics x 20 tasks and
2,500 x 20, chains with diamonds, every fifth epic depending on the one before, a quarter done,
some in progress, blocked, failed and skipped; written and committed on main (the default
branch, so `status` and `show` compare done tasks with it). Every command runs as the installed
console script, alternately with `python -c pass` (the floor), and the median ratio is printed
as a RATIO line with its goal.

- reads (`--json`, and the human text of `status`, `tasks`, `list`, `ready` and `blocked` to a
  pipe, `_human`): at 5,000 tasks at most 6x; at 50,000 at most 20x, and 60x for `tasks`,
  `list` and `validate`, whose output or work grows with the plan; peak RSS at 50,000 at most
  200 MB, of a repeated read and of the first read after an edit. A read of a plan that has not
  changed since the last read is answered from the plan snapshot; the first read after a change
  computes: INFO lines give those times (the issue sets no separate goal for them).
- a cold read (the snapshot deleted) at 5,000: at most 60x; the read after it is warm (6x).
- `board --plain` at 5,000: at most 10x; `board --watch` redraws within 1 s of a transition.
- the pre-commit hook on a commit that changes one task at 5,000: at most 6x; `check --base`
  over 200 transition commits at 5,000: at most 20x.
- transitions (`start`, `done --evidence`, `block`, `next --claim`) at 5,000 against the same
  at 200 tasks: at most 1.2x.
- `import flowctl` of a 5,000-task flowctl plan: at most 5x `git add -A && git commit` of the
  files it writes.

On a loaded machine a command of 200 ms is preempted more often than `python -c pass`, so its
wall-time ratio grows with the load average: INFO `_cpu` lines give the ratios of CPU times
(user + system, with the git processes a command waits for), which the load changes far less.

`--quick` runs the 5,000-task measurements only (a few minutes); the whole run adds the
50,000-task plan (writing and committing 50,000 files takes minutes on a 2-core machine).
`--check` exits 1 when a goal is missed.
"""

from __future__ import annotations

import json
import os
import queue
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _scale_plan import epic_id, task_id, write_flowctl_plan, write_plan
from _util import compile_bytecode, finish, git, report, settle

from git_flowctl.repo.catalog import RACY_NS

BIN = Path(sys.executable).parent
FLOW = shutil.which("git-flow-task", path=str(BIN)) or "git-flow-task"
FLOOR = [sys.executable, "-c", "pass"]
PER_EPIC = 20
MB = 1024 * 1024
RSS_GOAL_MB = 200
# output or work grows with the plan
GROWING = {"tasks", "list", "validate", "tasks_human", "list_human"}


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


def timed(argv: Sequence[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, capture_output=True, check=False)
    return time.perf_counter() - start


def cpu_timed(argv: Sequence[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system of the command and the processes it waited
    for). On a loaded machine the wall time of a 200 ms command grows more than that of
    `python -c pass` (it is preempted more often); its CPU time does not."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def paired(command: Sequence[str], cwd: str, runs: int = 15, name: str | None = None) -> tuple[float, float]:
    """Median wall times of ``command`` and of `python -c pass`, run alternately (one warm-up
    run each first); with ``name``, an INFO line gives the ratio of their median CPU times."""
    for argv in (FLOOR, command):
        subprocess.run(argv, cwd=cwd, capture_output=True, check=False)
    samples: dict[str, list[tuple[float, float]]] = {"floor": [], "value": []}
    for _ in range(runs):
        for argv, kind in ((FLOOR, "floor"), (command, "value")):
            samples[kind].append(cpu_timed(argv, Path(cwd)))
    value, floor = (statistics.median(wall for wall, _ in samples[kind]) for kind in ("value", "floor"))
    if name is not None:
        cpu, cpu_floor = (statistics.median(cpu for _, cpu in samples[kind]) for kind in ("value", "floor"))
        print(f"INFO {name}_cpu {cpu / cpu_floor:.2f}x the floor's CPU time [{cpu * 1000:.1f} ms vs "
              f"{cpu_floor * 1000:.1f} ms]", flush=True)
    return value, floor


# Runs the command given and prints its peak RSS: the largest of this small process's children.
_PEAK = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
         "stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def peak_rss(argv: Sequence[str], cwd: Path) -> float:
    """The command's own peak resident set size in bytes. Not this process's wait4 rusage of
    it: Linux keeps the largest RSS across exec, so a child forked from this script (tens of MB
    after writing a plan) would report this script's size. A fresh interpreter runs it instead
    and reports its child's (at least that interpreter's ~10 MB)."""
    result = subprocess.run([sys.executable, "-c", _PEAK, *argv], cwd=cwd, capture_output=True,
                            text=True, check=True)
    return float(result.stdout.split()[-1]) * 1024  # Linux: kilobytes


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
        # As a person types them: human text to a pipe (views/text.py), the same goals.
        ("status_human", ["status"]),
        ("tasks_human", ["tasks"]),
        ("list_human", ["list"]),
        ("ready_human", ["ready"]),
        ("blocked_human", ["blocked"]),
    ]


def measure_reads(repo: Path, epics: int, runs: int) -> None:
    size = epics * PER_EPIC
    for name, args in reads(epics):
        flow(repo, *args, check=False)  # the first read of this plan state computes and keeps
        value, floor = paired([FLOW, *args], str(repo), runs=runs, name=f"scale_{size}_{name}")
        goal = 6.0 if size <= 5000 else 60.0 if name in GROWING else 20.0
        report(f"scale_{size}_{name}", value, floor, goal=goal)
    if size > 5000:
        for name, args in reads(epics):
            rss = max(peak_rss([FLOW, *args], repo) for _ in range(2))
            report(f"scale_{size}_{name}_peak_rss", rss / MB, RSS_GOAL_MB, goal=1.0, unit="MB")


def measure_after_change(repo: Path, epics: int) -> None:
    """What the first read after a change costs (it computes what the snapshot then keeps):
    a hand edit of one task file, then each read once."""
    size = epics * PER_EPIC
    path = repo / ".flow" / "tasks" / f"{task_id(epics // 3, 19)}.md"
    original = path.read_text()
    floor = statistics.median(timed(FLOOR, repo) for _ in range(5))
    def edit() -> None:
        path.write_text(path.read_text().replace("title: Step", "title: Edited step", 1)
                        if "Edited" not in path.read_text() else original)

    for name, args in reads(epics):
        edit()
        value = timed([FLOW, *args], repo)
        print(f"INFO scale_{size}_{name}_first_read_after_an_edit {value * 1000:.1f} ms "
              f"({value / floor:.1f}x the floor)", flush=True)
    if size > 5000:
        for name, args in reads(epics):
            edit()
            rss = peak_rss([FLOW, *args], repo)
            report(f"scale_{size}_{name}_first_read_after_an_edit_peak_rss", rss / MB, RSS_GOAL_MB,
                   goal=1.0, unit="MB")
    path.write_text(original)
    flow(repo, "status", "--json")


def measure_cold(repo: Path, runs: int) -> None:
    """A read with no snapshot (a fresh clone, or the cache deleted), then the read after it."""
    cache = repo / ".git" / "flow-cache"
    colds, warms, floors = [], [], []
    for _ in range(runs):
        shutil.rmtree(cache, ignore_errors=True)
        floors.append(timed(FLOOR, repo))
        colds.append(timed([FLOW, "status", "--json"], repo))
        warms.append(timed([FLOW, "status", "--json"], repo))
    floor = statistics.median(floors)
    report("scale_5000_cold_status", statistics.median(colds), floor, goal=60.0)
    report("scale_5000_status_after_cold", statistics.median(warms), floor, goal=6.0)


def measure_board(repo: Path, runs: int) -> None:
    flow(repo, "board", "--plain")
    value, floor = paired([FLOW, "board", "--plain"], str(repo), runs=runs, name="scale_5000_board_plain")
    report("scale_5000_board_plain", value, floor, goal=10.0)
    latencies = []
    for attempt in range(3):
        latencies.append(_watch_latency(repo, task_id(2 + 2 * attempt, 20)))
    report("scale_5000_board_watch_redraw", statistics.median(latencies), 1.0, goal=1.0)


def _watch_latency(repo: Path, task: str) -> float:
    """Seconds from a transition's end to the board --watch drawing it."""
    process = subprocess.Popen([FLOW, "board", "--watch", "--plain"], cwd=repo,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        deadline = time.monotonic() + 120
        while "Critical path" not in lines.get(timeout=max(1.0, deadline - time.monotonic())):
            pass
        flow(repo, "block", task, "--reason", "bench")
        done = time.perf_counter()
        while True:
            line = lines.get(timeout=30)
            if task in line and "(bench)" in line:
                return max(0.0, time.perf_counter() - done)
    finally:
        process.kill()
        process.wait()
        flow(repo, "unblock", task)


def measure_hook(repo: Path, runs: int) -> None:
    """The pre-commit hook git runs for a commit that changes one task file: a different change
    each run (a hook runs once per commit), against `python -c pass`, alternately."""
    path = repo / ".flow" / "tasks" / f"{task_id(3, 20)}.md"
    original = path.read_text()
    values: list[float] = []
    floors: list[float] = []
    cpus: list[float] = []
    cpu_floors: list[float] = []
    for attempt in range(runs + 1):
        path.write_text(original.replace("title: Step 20 of epic 3", f"title: Step 20 of epic 3 ({attempt})"))
        git(repo, "add", str(path))
        for argv, walls, cpu in ((FLOOR, floors, cpu_floors), ([FLOW, "hook", "pre-commit"], values, cpus)):
            wall, spent = cpu_timed(argv, repo)
            walls.append(wall)
            cpu.append(spent)
    # The first run reads HEAD's plan whole (no command read it before): the others do not.
    report("scale_5000_hook_pre_commit_one_task", statistics.median(values[1:]),
           statistics.median(floors[1:]), goal=6.0)
    print(f"INFO scale_5000_hook_pre_commit_one_task_cpu "
          f"{statistics.median(cpus[1:]) / statistics.median(cpu_floors[1:]):.2f}x the floor's CPU time",
          flush=True)
    print(f"INFO scale_5000_hook_pre_commit_first_run {values[0] * 1000:.1f} ms "
          f"({values[0] / statistics.median(floors[1:]):.1f}x the floor)", flush=True)
    git(repo, "reset", "-q", "--", str(path))
    path.write_text(original)


def ready_chain(epics: int) -> list[str]:
    """Tasks that become ready one after the other when each is started and done, in epics
    where nothing stands in the way (no blocked, failed or in-progress task, no epic
    dependency): the sixth task of each, then the seventh, ..."""
    chain = []
    for number in range(PER_EPIC // 4 + 1, PER_EPIC):
        for epic in range(1, epics + 1):
            if epic % 10 in (1, 3, 5, 7) or epic % 5 == 0:
                continue
            chain.append(task_id(epic, number))
    return chain


def measure_transitions(small: Path, large: Path, runs: int) -> None:
    """Each transition at 5,000 tasks against the same at 200 tasks, run alternately."""
    chains = {repo: iter(ready_chain(10)) for repo in (small, large)}
    to_block = {repo: iter([task_id(epic, number) for number in range(PER_EPIC, PER_EPIC - 4, -1)
                            for epic in (2, 4, 6, 8, 9)]) for repo in (small, large)}
    samples: dict[tuple[str, Path], list[float]] = {}
    cpu: dict[tuple[str, Path], list[float]] = {}

    def sample(kind: str, repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = flow(repo, *args)
        samples.setdefault((kind, repo), []).append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.setdefault((kind, repo), []).append(
            after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        return result

    for _ in range(runs):
        for repo in (small, large):
            task = next(chains[repo])
            sample("start", repo, "start", task)
            sample("done", repo, "done", task, "--evidence", "tests=pytest -q")
    for _ in range(min(runs, 20)):
        for repo in (small, large):
            sample("block", repo, "block", next(to_block[repo]), "--reason", "waiting on the vendor")
    for _ in range(runs):
        for repo in (small, large):
            answer = json.loads(sample("next_claim", repo, "next", "--claim", "--json").stdout)
            if answer.get("task"):
                flow(repo, "done", answer["task"])
    for kind in ("start", "done", "block", "next_claim"):
        value = statistics.median(samples[(kind, large)])
        floor = statistics.median(samples[(kind, small)])
        report(f"scale_5000_transition_{kind}_vs_200", value, floor, goal=1.2)
        value, floor = statistics.median(cpu[(kind, large)]), statistics.median(cpu[(kind, small)])
        print(f"INFO scale_5000_transition_{kind}_vs_200_cpu {value / floor:.2f}x the CPU time at "
              f"200 tasks [{value * 1000:.1f} ms vs {floor * 1000:.1f} ms]", flush=True)


def measure_check(repo: Path, runs: int) -> None:
    """`check --base` over a branch of 200 transition commits."""
    git(repo, "checkout", "-q", "-b", "bench-check")
    chain = [task for task in ready_chain(250) if task.endswith(f".{PER_EPIC - 2}")][:100]
    for task in chain:
        flow(repo, "start", task, "--force")
        flow(repo, "done", task, "--evidence", "tests=ok", "--force")
    flow(repo, "check", "--base", "main", "--json", check=False)
    value, floor = paired([FLOW, "check", "--base", "main", "--json"], str(repo), runs=runs,
                          name="scale_5000_check_base_200_commits")
    report("scale_5000_check_base_200_commits", value, floor, goal=20.0)
    # A CI clone has no snapshot: every tree diff computed, every file of the base parsed.
    shutil.rmtree(repo / ".git" / "flow-cache", ignore_errors=True)
    cold = timed([FLOW, "check", "--base", "main", "--json"], repo)
    print(f"INFO scale_5000_check_base_200_commits_cold {cold * 1000:.1f} ms "
          f"({cold / floor:.1f}x the floor)", flush=True)
    git(repo, "checkout", "-q", "main")


def measure_import(root: Path, runs: int) -> None:
    """`import flowctl` of 5,000 tasks against `git add -A && git commit` of what it writes."""
    source = root / "flowctl-plan"
    write_flowctl_plan(source, 250, PER_EPIC)
    imports, commits, import_cpu, commit_cpu = [], [], [], []
    for attempt in range(runs):
        target = root / f"import-{attempt}"
        target.mkdir()
        git(target, "init", "-q", "-b", "main")
        git(target, "commit", "-q", "--allow-empty", "-m", "init")
        wall, cpu = cpu_timed([FLOW, "import", "flowctl", str(source), "--json"], target)
        imports.append(wall)
        import_cpu.append(cpu)
        plain = root / f"plain-{attempt}"
        plain.mkdir()
        git(plain, "init", "-q", "-b", "main")
        git(plain, "commit", "-q", "--allow-empty", "-m", "init")
        shutil.copytree(target / ".flow", plain / ".flow")
        shutil.copy(target / ".gitattributes", plain / ".gitattributes")
        settle()
        wall, cpu = cpu_timed(["sh", "-c", "git add -A && git commit -q -m import"], plain)
        commits.append(wall)
        commit_cpu.append(cpu)
    report("scale_5000_import_flowctl_vs_git_commit", statistics.median(imports),
           statistics.median(commits), goal=5.0)
    print(f"INFO scale_5000_import_flowctl_vs_git_commit_cpu "
          f"{statistics.median(import_cpu) / statistics.median(commit_cpu):.2f}x the CPU time of "
          f"git add && commit [{statistics.median(import_cpu) * 1000:.0f} ms vs "
          f"{statistics.median(commit_cpu) * 1000:.0f} ms]", flush=True)


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
    with tempfile.TemporaryDirectory(prefix="flow-bench-scale-", ignore_cleanup_errors=True) as temp:
        root = Path(temp)
        home = root / "home"
        home.mkdir()
        (home / ".gitconfig").write_text("[user]\n\tname = Bench\n\temail = bench@example.com\n")
        os.environ["HOME"] = str(home)
        os.environ["GIT_CONFIG_GLOBAL"] = str(home / ".gitconfig")
        large = make_plan(root, 250)
        small = make_plan(root, 10)
        settle()
        # A file changed within RACY_NS of a read is hashed again by every read until one comes
        # later than that (git's racy-git rule, docs/architecture.md): the plan was just written.
        time.sleep(RACY_NS / 1e9)
        measure_reads(large, 250, runs)
        measure_after_change(large, 250)
        measure_cold(large, 7)
        measure_board(large, runs)
        measure_hook(large, runs)
        measure_transitions(small, large, 9 if quick else 15)
        measure_check(large, 5)
        measure_import(root, 3)
        if not quick:
            huge = make_plan(root, 2500)
            settle()
            time.sleep(RACY_NS / 1e9)
            measure_reads(huge, 2500, 7)
            measure_after_change(huge, 2500)
    return finish()


if __name__ == "__main__":
    raise SystemExit(main())
