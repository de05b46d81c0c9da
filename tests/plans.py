"""Helpers for building plans through the real CLI (issue #3's tests)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import Repo

PREFIX = "fn-1-add-oauth-login"


def tid(number: int, epic: str = PREFIX) -> str:
    return f"{epic}.{number}"


def put_in_state(repo: Repo, task: str, state: str, *, may_refuse: bool = False,
                 retry_backoff: str = "0") -> None:
    """Drive a fresh todo task (no dependencies) into ``state`` with real transitions. With
    ``may_refuse`` a task that cannot start (its dependencies) stays as it is. An up_for_retry
    task gets ``retry_backoff`` seconds (0: it may start again at once; a backoff holds it
    back, issue #12)."""

    def act(*args: str) -> bool:
        if may_refuse:
            return repo.flow(*args).exit_code == 0
        repo.ok(*args)
        return True

    if state == "todo":
        return
    if state == "blocked":
        act("block", task, "--reason", "waiting on review")
        return
    if state == "skipped":
        act("skip", task, "--reason", "not needed")
        return
    if state == "failed":
        repo.ok("task", "edit", task, "--max-retries", "0")
    elif state == "up_for_retry":
        repo.ok("task", "edit", task, "--max-retries", "3", "--retry-backoff", retry_backoff)
    if not act("start", task):
        return
    if state == "done":
        repo.ok("done", task, "--summary", "ok")
    elif state in ("failed", "up_for_retry"):
        repo.ok("fail", task)
    else:
        assert state == "in_progress", state


def stored_statuses_in_history(repo: Repo) -> set[str]:
    """Every `status:` value any task file ever had, in any commit of any ref."""
    found: set[str] = set()
    revs = repo.git("rev-list", "--all").split()
    for rev in revs:
        listing = repo.git("ls-tree", "-r", "--name-only", rev, "--", ".flow").split()
        for path in listing:
            if not path.endswith(".md"):
                continue
            text = repo.git("show", f"{rev}:{path}")
            for line in text.splitlines():
                if line.startswith("status:"):
                    found.add(line.split(":", 1)[1].strip())
    return found


def grep_history(repo: Repo, needle: str) -> str:
    """`git grep` of every commit's .flow/ tree (empty when the text never appears)."""
    revs = repo.git("rev-list", "--all").split()
    result = subprocess.run(["git", "grep", "-F", needle, *revs, "--", ".flow"], cwd=repo.path,
                            capture_output=True, text=True)
    return result.stdout


def clone(source: Path, target: Path) -> Repo:
    subprocess.run(["git", "clone", "-q", str(source), str(target)], check=True)
    return Repo(target)


# Plans written as files (the documented format), for tests that need many tasks fast -----------


def epic_name(number: int) -> str:
    return f"fn-{number}-e{number}"


def task_name(epic: int, number: int) -> str:
    return f"{epic_name(epic)}.{number}"


def task_text(epic: int, number: int, status: str = "todo", deps: list[str] | None = None,
              title: str | None = None) -> str:
    """A task file; by default it depends on the task before it in its epic."""
    deps = deps if deps is not None else ([task_name(epic, number - 1)] if number > 1 else [])
    return (f"---\nid: {task_name(epic, number)}\nepic: {epic_name(epic)}\n"
            f"title: {title or f'Task {number} of {epic}'}\nstatus: {status}\n"
            f"depends_on: [{', '.join(deps)}]\n"
            f"---\n## Description\nTBD\n\n## Acceptance\n- [ ] TBD\n\n## Done summary\n\n## Evidence\n")


def written_plan(root: Path, epics: int, per_epic: int) -> Repo:
    """A repository whose plan (``epics`` x ``per_epic`` chained tasks, the first two of each
    epic done) is written as files and committed."""
    from conftest import make_repo

    repo = make_repo(root)
    repo.write(".flow/config.yaml", "prefix: fn\nmax_retries: 2\n")
    for epic in range(1, epics + 1):
        repo.write(f".flow/epics/{epic_name(epic)}.md",
                   f"---\nid: {epic_name(epic)}\ntitle: Epic {epic}\nstatus: open\ndepends_on_epics: []\n---\n"
                   "## Overview\nTBD\n\n## Scope\nTBD\n\n## Approach\nTBD\n\n## Acceptance\nTBD\n\n"
                   "## References\nTBD\n")
        for number in range(1, per_epic + 1):
            repo.write(f".flow/tasks/{task_name(epic, number)}.md",
                       task_text(epic, number, "done" if number <= 2 else "todo"))
    repo.commit_all("plan")
    return repo
