"""Hermetic git for every test: own HOME and config, fixed identities and dates, no hooks or
templates of the user's leaking in. Repositories are real, on temporary disk."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

FIXED_DATE = "2026-01-05T10:00:00+00:00"
AUTHOR = ("Alice Example", "alice@example.com")
FIXTURES = Path(__file__).resolve().parent / "fixtures"
BIN_DIR = Path(sys.executable).parent
FLOW_EXE = shutil.which("git-flow-task", path=str(BIN_DIR)) or "git-flow-task"

_HOME = Path(tempfile.mkdtemp(prefix="flow-test-home-"))


def _hermetic_environment() -> dict[str, str]:
    (_HOME / ".config" / "git").mkdir(parents=True, exist_ok=True)
    templates = _HOME / "empty-template"
    templates.mkdir(exist_ok=True)
    (_HOME / ".gitconfig").write_text(
        f"[user]\n\tname = {AUTHOR[0]}\n\temail = {AUTHOR[1]}\n"
        "[init]\n\tdefaultBranch = main\n\ttemplateDir = " + str(templates) + "\n"
        "[advice]\n\tdetachedHead = false\n"
        "[protocol \"file\"]\n\tallow = always\n"
    )
    env = {
        "HOME": str(_HOME),
        "XDG_CONFIG_HOME": str(_HOME / ".config"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": str(_HOME / ".gitconfig"),
        "GIT_AUTHOR_NAME": AUTHOR[0],
        "GIT_AUTHOR_EMAIL": AUTHOR[1],
        "GIT_AUTHOR_DATE": FIXED_DATE,
        "GIT_COMMITTER_NAME": AUTHOR[0],
        "GIT_COMMITTER_EMAIL": AUTHOR[1],
        "GIT_COMMITTER_DATE": FIXED_DATE,
        "GIT_TERMINAL_PROMPT": "0",
        "TZ": "UTC",
        "LC_ALL": "C.UTF-8",
        "NO_COLOR": "1",
        "COLUMNS": "200",
        "PRE_COMMIT_HOME": str(_HOME / "pre-commit-cache"),
        # `git flow-task` (and hook shims) must find the console script of this interpreter.
        "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                 "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CEILING_DIRECTORIES", "FLOW_ACTOR",
                 "FLOW_DEBUG", "GIT_EDITOR", "EDITOR", "VISUAL", "GIT_PAGER", "PAGER",
                 "FORCE_COLOR"):
        os.environ.pop(name, None)
    return env


def pytest_configure(config: pytest.Config) -> None:
    os.environ.update(_hermetic_environment())
    # A shell without job control starts background jobs with SIGINT ignored, and an ignored
    # signal stays ignored across exec: the Ctrl-C tests' children would never see it. Restore
    # the default so that children start with it (POSIX: dispositions reset to default on exec
    # only for caught signals, not ignored ones).
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    import pygit2

    empty = _HOME / "no-system-config"
    empty.mkdir(exist_ok=True)
    pygit2.settings.search_path[pygit2.enums.ConfigLevel.SYSTEM] = str(empty)
    pygit2.settings.search_path[pygit2.enums.ConfigLevel.GLOBAL] = str(_HOME)
    pygit2.settings.search_path[pygit2.enums.ConfigLevel.XDG] = str(_HOME / ".config")


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.stdout)
        return data

    def __repr__(self) -> str:
        return f"Result(exit={self.exit_code}, stdout={self.stdout[-2000:]!r}, stderr={self.stderr[-2000:]!r})"


class Repo:
    """A real repository on disk with helpers to run git and git flow-task in it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def git(self, *args: str, check: bool = True, input: str | None = None,
            env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
        result = subprocess.run(["git", *args], cwd=cwd or self.path, capture_output=True, text=True,
                                input=input, env={**os.environ, **(env or {})})
        if check and result.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result.stdout

    def flow(self, *args: str, cwd: Path | None = None, input: str | None = None,
             env: dict[str, str] | None = None) -> Result:
        """Run the CLI in this process (fast); same code path as the console script."""
        from git_flowctl.entry import main

        stdout, stderr = io.StringIO(), io.StringIO()
        old_cwd = os.getcwd()
        old_env = {key: os.environ.get(key) for key in (env or {})}
        old_stdin = sys.stdin
        os.chdir(cwd or self.path)
        os.environ.update(env or {})
        sys.stdin = io.StringIO(input or "")
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                code = main(list(args))
        finally:
            sys.stdin = old_stdin
            os.chdir(old_cwd)
            for key, value in old_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        return Result(code, stdout.getvalue(), stderr.getvalue())

    def ok(self, *args: str, **kwargs: Any) -> dict[str, Any]:
        """Run with --json and insist on success; returns the JSON."""
        result = self.flow(*args, "--json", **kwargs)
        assert result.exit_code == 0, result
        data = result.json
        assert data["success"] is True, data
        return data

    def refused(self, *args: str, code: int = 1, **kwargs: Any) -> Result:
        result = self.flow(*args, **kwargs)
        assert result.exit_code == code, result
        assert "Traceback" not in result.stderr + result.stdout
        return result

    def proc(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
             input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run the installed console script in a subprocess (the real thing, slower)."""
        return subprocess.run([FLOW_EXE, *args], cwd=cwd or self.path, capture_output=True,
                              text=True, input=input, env={**os.environ, **(env or {})})

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").strip()

    def status(self) -> str:
        return self.git("status", "--porcelain")

    def message(self, rev: str = "HEAD") -> str:
        return self.git("log", "-1", "--format=%B", rev)

    def read(self, path: str) -> str:
        return (self.path / path).read_text()

    def write(self, path: str, text: str) -> None:
        target = self.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def commit_all(self, message: str = "change", *extra: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "--no-verify", "-m", message, *extra)


def make_repo(path: Path, *, initial_commit: bool = True) -> Repo:
    path.mkdir(parents=True, exist_ok=True)
    repo = Repo(path)
    repo.git("init", "-q", "-b", "main")
    if initial_commit:
        repo.write("README.md", "# project\n")
        repo.commit_all("Initial commit")
    return repo


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return make_repo(tmp_path / "repo")


@pytest.fixture
def flow_repo(repo: Repo) -> Repo:
    """An initialized repository with a small plan: epic fn-1 with tasks 1 <- 2, 1 <- 3."""
    repo.ok("init")
    repo.ok("epic", "create", "--title", "Add OAuth login")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Design token schema", "--priority", "1")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Implement JWT middleware",
            "--deps", "fn-1.1", "--priority", "2")
    repo.ok("task", "create", "--epic", "fn-1", "--title", "Add login UI", "--deps", "fn-1.1")
    return repo


@pytest.fixture
def chdir_tmp(tmp_path: Path) -> Iterator[Path]:
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)
