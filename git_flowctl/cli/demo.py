"""`git flow-task demo`: a plan worked in a throwaway repository, for a first look.

It shows what a newcomer should see in a minute: a plan, transitions as commits, the gates (the
CLI refusing a start, and the pre-commit hook refusing a hand edit), and the log with trailers.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HAND_EDITED = ".flow/tasks/fn-1-add-oauth-login.4.md"


@dataclass(frozen=True)
class Step:
    """A heading (``args`` empty), a `git flow-task` command, a `git` command, or a hand edit."""

    kind: str  # heading | flow | git | edit
    args: tuple[str, ...] = ()
    text: str = ""


def _flow(*args: str) -> Step:
    return Step("flow", args)


DEMO_STEPS: list[Step] = [
    Step("heading", text="Set up the plan: an epic and four tasks with dependencies"),
    _flow("init"),
    _flow("epic", "create", "--title", "Add OAuth login"),
    _flow("task", "create", "--epic", "fn-1", "--title", "Design token schema", "--priority", "1"),
    _flow("task", "create", "--epic", "fn-1", "--title", "Implement JWT middleware", "--deps", "fn-1.1"),
    _flow("task", "create", "--epic", "fn-1", "--title", "Add login UI", "--deps", "fn-1.1"),
    _flow("task", "create", "--epic", "fn-1", "--title", "End-to-end login tests",
          "--deps", "fn-1.2,fn-1.3"),
    Step("heading", text="Work: each transition is a commit with Flow-Transition trailers"),
    _flow("start", "fn-1.1"),
    _flow("done", "fn-1.1", "--summary", "Token claims and expiry defined in docs/tokens.md",
          "--evidence", "commits=abc1234", "--evidence", "tests=pytest -q tests/test_tokens.py"),
    Step("heading", text="The gate: fn-1.4 cannot start while fn-1.2 and fn-1.3 are open (exit 1)"),
    _flow("start", "fn-1.4"),
    _flow("start", "fn-1.2"),
    Step("heading", text="The hooks: a hand edit that skips the rules is refused at commit time"),
    _flow("hooks", "install"),
    Step("edit", (HAND_EDITED,), text="status: todo -> status: done"),
    Step("git", ("commit", "-q", "-am", "mark the e2e tests done by hand")),
    Step("git", ("checkout", "--", HAND_EDITED)),
    Step("heading", text="Where the plan stands"),
    _flow("status"),
    _flow("ready"),
]


@contextlib.contextmanager
def _inside(path: Path, env: dict[str, str]) -> Iterator[None]:
    old_cwd = os.getcwd()
    old_env = {key: os.environ.get(key) for key in env}
    os.chdir(path)
    os.environ.update(env)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        for key, value in old_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return result.stdout


def _hand_edit(repo: Path, path: str, change: str) -> None:
    old, new = change.split(" -> ")
    target = repo / path
    target.write_text(re.sub(f"^{re.escape(old)}$", new, target.read_text(), count=1, flags=re.M))


def run_demo(*, keep: bool = False, json_mode: bool = False) -> dict[str, Any]:
    from git_flowctl.cli import run
    from git_flowctl.cli.output import make_console

    console = make_console(sys.stdout)
    repo = Path(tempfile.mkdtemp(prefix="flow-demo-"))
    steps: list[dict[str, Any]] = []

    def show(command: str) -> None:
        if not json_mode:
            console.print(f"[bold cyan]$ {command}[/bold cyan]", highlight=False, markup=True)
            sys.stdout.flush()

    try:
        _git(repo, "init", "-q", "-b", "main")
        for key, value in (("user.name", "Alice"), ("user.email", "alice@example.com"),
                           ("commit.gpgsign", "false"), ("core.hooksPath", ".git/hooks")):
            _git(repo, "config", key, value)
        (repo / "README.md").write_text("# demo project\n")
        _git(repo, "add", "README.md")
        _git(repo, "commit", "-q", "--no-verify", "-m", "Initial commit")
        if not json_mode:
            console.print(f"[bold]git flow-task demo[/bold] in a throwaway repository: {repo}\n")
        with _inside(repo, {"FLOW_ACTOR": "alice@example.com"}):
            for step in DEMO_STEPS:
                if step.kind == "heading":
                    if not json_mode:
                        console.print(f"\n[bold underline]{step.text}[/bold underline]")
                    continue
                if step.kind == "edit":
                    show(f"# edit {step.args[0]}: {step.text}")
                    _hand_edit(repo, step.args[0], step.text)
                    steps.append({"command": f"edit {step.args[0]}: {step.text}", "exit_code": 0})
                    continue
                if step.kind == "git":
                    shown = "git " + " ".join(shlex.quote(a) for a in step.args)
                    show(shown)
                    result = subprocess.run(["git", *step.args], capture_output=True, text=True)
                    output = (result.stdout + result.stderr).strip()
                    if output and not json_mode:
                        console.print(output, markup=False, highlight=False)
                    steps.append({"command": shown, "exit_code": result.returncode,
                                  "output": output})
                    continue
                shown = "git flow-task " + " ".join(shlex.quote(a) for a in step.args)
                if json_mode:
                    stdout, stderr = io.StringIO(), io.StringIO()
                    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                        code = run([*step.args, "--json"])
                    steps.append({"command": shown, "exit_code": code,
                                  "output": stdout.getvalue().strip()})
                else:
                    show(shown)
                    with contextlib.redirect_stderr(sys.stdout):
                        code = run(list(step.args))
                    sys.stdout.flush()
                    steps.append({"command": shown, "exit_code": code})
        log = _git(repo, "log", "--reverse",
                   "--format=%h %s%n%(trailers:key=Flow-Transition,key=Flow-Evidence)")
        if not json_mode:
            console.print("\n[bold underline]The history is the database: git log with its trailers[/bold underline]")
            console.print("[bold cyan]$ git log --reverse --format='%h %s%n%(trailers)'[/bold cyan]")
            console.print(log.rstrip(), markup=False, highlight=False)
            if keep:
                console.print(f"\nThe repository stays at {repo}")
            else:
                console.print("\n(the throwaway repository is removed; --keep keeps it)")
        return {"repository": str(repo) if keep else None, "steps": steps, "log": log}
    finally:
        if not keep:
            shutil.rmtree(repo, ignore_errors=True)
