"""`git flow-task demo`: a plan worked in a throwaway repository, for a first look."""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DEMO_STEPS: list[tuple[str, list[str]]] = [
    ("Set up the plan: an epic and four tasks with dependencies", []),
    ("", ["init"]),
    ("", ["epic", "create", "--title", "Add OAuth login"]),
    ("", ["task", "create", "--epic", "fn-1", "--title", "Design token schema", "--priority", "1"]),
    ("", ["task", "create", "--epic", "fn-1", "--title", "Implement JWT middleware", "--deps", "fn-1.1"]),
    ("", ["task", "create", "--epic", "fn-1", "--title", "Add login UI", "--deps", "fn-1.1"]),
    ("", ["task", "create", "--epic", "fn-1", "--title", "End-to-end login tests",
          "--deps", "fn-1.2,fn-1.3"]),
    ("Work: each transition is a commit with Flow-Transition trailers", []),
    ("", ["start", "fn-1.1"]),
    ("", ["done", "fn-1.1", "--summary", "Token claims and expiry defined in docs/tokens.md",
          "--evidence", "commits=abc1234", "--evidence", "tests=pytest -q tests/test_tokens.py"]),
    ("The gate: fn-1.4 cannot start while fn-1.2 and fn-1.3 are open (exit 1)", []),
    ("", ["start", "fn-1.4"]),
    ("", ["start", "fn-1.2"]),
    ("Where the plan stands", []),
    ("", ["status"]),
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


def run_demo(*, keep: bool = False, json_mode: bool = False) -> dict[str, Any]:
    from git_flowctl.cli import run
    from git_flowctl.cli.output import make_console

    console = make_console(sys.stdout)
    repo = Path(tempfile.mkdtemp(prefix="flow-demo-"))
    steps: list[dict[str, Any]] = []
    try:
        _git(repo, "init", "-q", "-b", "main")
        for key, value in (("user.name", "Alice"), ("user.email", "alice@example.com"),
                           ("commit.gpgsign", "false")):
            _git(repo, "config", key, value)
        (repo / "README.md").write_text("# demo project\n")
        _git(repo, "add", "README.md")
        _git(repo, "commit", "-q", "--no-verify", "-m", "Initial commit")
        if not json_mode:
            console.print(f"[bold]git flow-task demo[/bold] in a throwaway repository: {repo}\n")
        with _inside(repo, {"FLOW_ACTOR": "alice@example.com"}):
            for heading, args in DEMO_STEPS:
                if heading:
                    if not json_mode:
                        console.print(f"\n[bold underline]{heading}[/bold underline]")
                    continue
                shown = "git flow-task " + " ".join(shlex.quote(a) for a in args)
                if json_mode:
                    stdout, stderr = io.StringIO(), io.StringIO()
                    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                        code = run([*args, "--json"])
                    steps.append({"command": shown, "exit_code": code,
                                  "output": stdout.getvalue().strip()})
                else:
                    console.print(f"[bold cyan]$ {shown}[/bold cyan]", markup=True, highlight=False)
                    sys.stdout.flush()
                    with contextlib.redirect_stderr(sys.stdout):
                        code = run(args)
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
