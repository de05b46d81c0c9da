"""The guard: the project's own checks (tests, linters, type checkers), run before work is done.

``guard:`` in ``.flow/config.yaml`` names the commands (docs/gates.md):

    guard:
      test: pytest -q                  # a command line, run by /bin/sh from the repository root
      lint:
        run: ruff check .
        timeout: 120                   # seconds (default 600); the whole process tree is killed
        when: ["**/*.py"]              # only when a changed file matches (else skipped)

Invariants (``.flow/invariants.md``, invariants.py) are checks too. Each check ends ``pass``,
``fail`` (non-zero exit, timeout) or ``skipped`` (its program is not installed, or no changed
file matches ``when``); its output is kept under the git directory (``flow-guard/``) and its
digest, duration and result become ``Flow-Evidence`` pairs (model/verification.py). A report
passes when at least one check passed and none failed: skipped checks prove nothing.

The commands come from the repository's config: they run only once this clone has trusted
each command line (trust.py, ``guard trust``), and nothing runs them implicitly (hooks and
``check`` only read the evidence).
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import shlex
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from git_flowctl.model import verification
from git_flowctl.model.config import CONFIG_PATH, Config
from git_flowctl.model.errors import FlowError, UsageError
from git_flowctl.model.trailers import Evidence
from git_flowctl.model.ulid import new_ulid
from git_flowctl.repo.writer import Change, atomic_write

if TYPE_CHECKING:
    from git_flowctl.gates.detect import Proposal
    from git_flowctl.repo.plan import Plan
    from git_flowctl.repo.workspace import Workspace

GUARD_DIR = "flow-guard"  # under the worktree's git directory
DEFAULT_TIMEOUT = 600.0
RUNS_KEPT = 20
CHECK_KEYS = ("run", "timeout", "when")
# Variables that point git somewhere else: a check runs git in the repository it was given.
_ENV_DROPPED = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                "GIT_PREFIX", "GIT_COMMON_DIR")
# Words a command line may start with that are the shell's, not programs on PATH.
_SHELL_WORDS = frozenset({"cd", "test", "[", "true", "false", "echo", "exit", "export", "set",
                          "if", "for", "while", "case", "{", "(", "!", ":", ".", "exec",
                          "command", "env", "printf", "read", "eval", "ulimit", "umask"})


@dataclass(frozen=True)
class Check:
    """One command of the guard, or one invariant."""

    kind: str  # verification.GUARD or verification.INVARIANT
    name: str
    run: str
    timeout: float = DEFAULT_TIMEOUT
    when: tuple[str, ...] = ()
    origin: str = CONFIG_PATH  # where it is defined (file, line)
    title: str | None = None  # an invariant's heading

    @property
    def key(self) -> str:
        return f"{self.kind}.{self.name}"

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "run": self.run, "timeout": self.timeout,
                "when": list(self.when), "origin": self.origin, "title": self.title}


def guard_checks(config: Config) -> list[Check]:
    """The ``guard:`` section as checks, in the order written; a clear error for a bad entry."""
    raw = config.get("guard")
    if raw is None or raw == {}:
        return []
    if not isinstance(raw, dict):
        raise FlowError(f"{CONFIG_PATH}: `guard` must map names to commands",
                        hint="guard:\n  test: pytest -q")
    checks = []
    for name, spec in raw.items():
        where = f"{CONFIG_PATH}: guard.{name}"
        if not isinstance(name, str) or not verification.valid_name(name):
            raise FlowError(f"{where}: a guard name is letters, digits, `-` and `_`",
                            hint="rename it, e.g. `test`, `lint`, `typecheck`")
        if isinstance(spec, str):
            spec = {"run": spec}
        if not isinstance(spec, dict):
            raise FlowError(f"{where}: expected a command line or a mapping with `run:`")
        unknown = sorted(set(spec) - set(CHECK_KEYS))
        if unknown:
            raise FlowError(f"{where}: unknown key `{unknown[0]}`",
                            hint=f"a guard command has {', '.join(CHECK_KEYS)}")
        run = spec.get("run")
        if not isinstance(run, str) or not run.strip():
            raise FlowError(f"{where}: `run` must be a command line", hint="run: pytest -q")
        checks.append(Check(verification.GUARD, name, run.strip(),
                            _timeout(spec.get("timeout"), where), _when(spec.get("when"), where),
                            where))
    return checks


def _timeout(value: Any, where: str) -> float:
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise FlowError(f"{where}: `timeout` must be a number of seconds above 0",
                        hint="timeout: 600")
    return float(value)


def _when(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise FlowError(f"{where}: `when` must be a path pattern or a list of them",
                        hint='when: ["src/**", "pyproject.toml"]')
    return tuple(value)


def select(checks: Sequence[Check], only: Iterable[str]) -> list[Check]:
    """``--only NAME`` (repeatable): a check by its name or ``kind.name``."""
    wanted = list(only)
    if not wanted:
        return list(checks)
    known = {check.name for check in checks} | {check.key for check in checks}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        listed = ", ".join(check.name for check in checks) or "none"
        raise UsageError(f"no guard command or invariant named {unknown[0]!r}",
                         hint=f"known: {listed}")
    return [check for check in checks if check.name in wanted or check.key in wanted]


# Running -----------------------------------------------------------------------------------------


@dataclass
class Result:
    check: Check
    result: str  # pass | fail | skipped
    duration: float = 0.0
    exit_code: int | None = None
    sha256: str | None = None
    output: str | None = None
    reason: str | None = None
    timed_out: bool = False

    def evidence_pairs(self) -> dict[str, str]:
        return verification.entry_pairs(self.check.kind, self.check.name, self.result,
                                        self.duration, self.sha256, self.exit_code)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.check.name, "kind": self.check.kind, "key": self.check.key,
                "run": self.check.run, "result": self.result, "duration": round(self.duration, 3),
                "exit_code": self.exit_code, "timed_out": self.timed_out, "sha256": self.sha256,
                "output": self.output, "reason": self.reason, "origin": self.check.origin}


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)
    base: str | None = None
    directory: str | None = None

    @property
    def outcome(self) -> str:
        """verification.outcome of these results: what a done commit's evidence would say."""
        return verification.outcome({r.check.key: r.result for r in self.results})

    @property
    def passed(self) -> bool:
        return self.outcome == verification.PASS

    def counts(self) -> dict[str, int]:
        return {result: sum(1 for r in self.results if r.result == result)
                for result in verification.RESULTS}

    def evidence(self, subject: str) -> list[Evidence]:
        """One ``Flow-Evidence`` line per check."""
        return [Evidence(subject, tuple(r.evidence_pairs().items())) for r in self.results]

    def problem(self) -> str | None:
        """Why it does not pass, in one line; None when it passes."""
        outcome = self.outcome
        if outcome == verification.PASS:
            return None
        if outcome == verification.MISSING:
            return "no guard commands or invariants to run"
        if outcome == verification.SKIPPED:
            return "every check was skipped; a skipped check proves nothing"
        failed = [r.check.name for r in self.results if r.result == verification.FAIL]
        return f"the guard failed: {', '.join(failed)}"

    def hint(self) -> str:
        """What to do about a report that does not pass."""
        if not self.results:
            return "`git flow-task guard detect --write` proposes guard commands for this project"
        if self.outcome == verification.SKIPPED:
            return "install the programs the checks run, or configure a check that runs here"
        return "each failed check's output is kept under the git directory (see `output`)"

    def as_json(self) -> dict[str, Any]:
        return {"status": self.outcome, "passed": self.passed, "counts": self.counts(),
                "base": self.base, "output_dir": self.directory,
                "results": [r.as_json() for r in self.results]}


def program_of(command: str) -> str | None:
    """The program a command line runs: its first word after ``NAME=value`` assignments."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    for word in words:
        if "=" in word and word.split("=", 1)[0].isidentifier():
            continue
        return word
    return None


def program_missing(command: str, cwd: Path, env: Mapping[str, str]) -> str | None:
    """The program of ``command`` when it cannot be found (so the check is skipped)."""
    program = program_of(command)
    if program is None or program in _SHELL_WORDS:
        return None
    if "/" in program:
        path = cwd / program
        return None if path.is_file() and os.access(path, os.X_OK) else program
    return None if shutil.which(program, path=env.get("PATH", os.defpath)) else program


def changed_paths(root: Path, base: str) -> set[str]:
    """Files of the work tree at ``root`` that differ from ``base`` (committed, staged or not),
    and its untracked files."""
    import subprocess

    def git(*args: str) -> subprocess.CompletedProcess[bytes]:
        env = {k: v for k, v in os.environ.items() if k not in _ENV_DROPPED}
        return subprocess.run(["git", "-c", "core.quotePath=false", *args], cwd=root, env=env,
                              capture_output=True, check=False)

    diff = git("diff", "--name-only", "-z", "--no-renames", base, "--")
    if diff.returncode != 0:
        detail = diff.stderr.decode("utf-8", "replace").strip().splitlines()
        raise FlowError(f"cannot compare with {base}: {detail[-1] if detail else 'git diff failed'}",
                        hint="give --base a commit of this repository")
    others = git("ls-files", "-z", "--others", "--exclude-standard")
    names = diff.stdout.split(b"\0") + others.stdout.split(b"\0")
    return {name.decode("utf-8", "surrogateescape") for name in names if name}


def default_base(ws: Workspace, config: Config) -> str | None:
    """Where this branch left the default branch (their merge base); None on the default branch
    itself or without one, where a check's ``when`` cannot tell what changed and it runs."""
    tip = ws.default_branch_tip(config.get("default_branch"))
    if tip is None or tip.checked_out:
        return None
    found = ws.git("merge-base", "HEAD", tip.commit, check=False)
    base = found.stdout.decode().strip()
    head = ws.git("rev-parse", "--verify", "-q", "HEAD", check=False).stdout.decode().strip()
    return base if found.returncode == 0 and base and base != head else None


def matches(path: str, patterns: Iterable[str]) -> bool:
    """A path matches a pattern as fnmatch does, a directory pattern (``src/``) what is inside
    it, and ``**/`` any depth (also none)."""
    for pattern in patterns:
        pattern = pattern.removeprefix("./")
        if pattern.endswith("/"):
            if path.startswith(pattern):
                return True
            continue
        if fnmatch.fnmatchcase(path, pattern):
            return True
        if pattern.startswith("**/") and fnmatch.fnmatchcase(path, pattern[3:]):
            return True
    return False


def run_checks(ws: Workspace, checks: Sequence[Check], *, cwd: Path | None = None,
               base: str | None = None, env: Mapping[str, str] | None = None,
               markers: Mapping[str, str] | None = None, keep_in: Path | None = None,
               stop: Callable[[], bool] | None = None) -> Report:
    """Run each check from ``cwd`` (default: the repository root), one after the other.

    ``base``: the commit ``when`` patterns compare with (None: every check runs). ``env``: the
    environment (default: this process's); ``markers``: extra variables every process of the
    checks carries (the scheduler's attempt markers); ``keep_in``: where the outputs go
    (default: a new folder under ``<git-dir>/flow-guard/``, the newest runs kept); ``stop``:
    asked before each check, True fails the rest unrun (``run`` is stopping)."""
    from git_flowctl.gates.process import run_with_deadline
    from git_flowctl.gates.trust import require_trusted

    require_trusted(ws, checks)  # a command the repository brought runs once trusted here
    root = cwd or ws.root
    run_id = new_ulid().lower()
    directory = keep_in or ws.git_dir / GUARD_DIR / run_id
    report = Report(base=base, directory=str(directory))
    changed = changed_paths(root, base) if base is not None and any(c.when for c in checks) else None
    base_env = {k: v for k, v in (env if env is not None else os.environ).items()
                if k not in _ENV_DROPPED}
    for check in checks:
        if stop is not None and stop():
            report.results.append(Result(check, verification.FAIL, reason="stopped before it ran"))
            continue
        missing = program_missing(check.run, root, base_env)
        if missing is not None:
            report.results.append(Result(check, verification.SKIPPED,
                                         reason=f"program not found: {missing}"))
            continue
        if check.when and changed is not None and not any(matches(p, check.when) for p in changed):
            report.results.append(Result(check, verification.SKIPPED,
                                         reason=f"no file changed since {base[:12] if base else ''} "
                                                f"matches {', '.join(check.when)}"))
            continue
        # A variable of its own name per check, so that a guard run inside a check (a test
        # suite that runs `git flow-task guard`) adds its markers and keeps this one.
        marker_name = f"FLOW_GUARD_{run_id.upper()}_{len(report.results)}"
        marker = f"{marker_name}={check.key}"
        check_env = {**base_env, **(markers or {}), marker_name: check.key,
                     "FLOW_GUARD_CHECK": check.key}
        output = directory / f"{check.key}.log"
        try:
            done = run_with_deadline(["/bin/sh", "-c", check.run], cwd=root, env=check_env,
                                     timeout=check.timeout, output=output,
                                     markers=(marker, *(f"{k}={v}" for k, v in (markers or {}).items())))
        except OSError as error:
            report.results.append(Result(check, verification.FAIL,
                                         reason=f"cannot run it: {error.strerror}"))
            continue
        if done.timed_out:
            result, reason = verification.FAIL, f"timed out after {check.timeout:g}s: killed"
        elif done.exit_code != 0:
            result, reason = verification.FAIL, f"exited {done.exit_code}"
        else:
            result, reason = verification.PASS, None
        report.results.append(Result(check, result, done.duration, done.exit_code, done.sha256,
                                     str(output), reason, done.timed_out))
    _keep(ws, directory, report, rotate=keep_in is None)
    return report


def _keep(ws: Workspace, directory: Path, report: Report, *, rotate: bool) -> None:
    """Write the report beside the outputs (and ``last.json``); drop all but the newest runs."""
    directory.mkdir(parents=True, exist_ok=True)
    data = json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       **report.as_json()}, indent=1).encode()
    atomic_write(directory / "report.json", data)
    if not rotate:
        return
    root = ws.git_dir / GUARD_DIR
    atomic_write(root / "last.json", data)
    runs = sorted(path for path in root.iterdir() if path.is_dir())
    for old in runs[:-RUNS_KEPT]:
        with contextlib.suppress(OSError):
            shutil.rmtree(old)


def write_proposals(plan: Plan, proposals: Sequence[Proposal]) -> Change:
    """``guard detect --write``: the proposed commands config.yaml does not name yet."""
    from git_flowctl.model.config import set_config_value

    plan.require_initialized()
    raw = plan.source.read(CONFIG_PATH)
    text = raw.decode("utf-8") if raw else ""
    configured = {check.name for check in guard_checks(Config.parse(raw))}
    added = [p for p in proposals if p.name not in configured]
    for proposal in added:
        text = set_config_value(text, f"guard.{proposal.name}", proposal.run)
    Config.parse(text.encode("utf-8"))  # never write a config that does not read back
    names = ", ".join(p.name for p in added)
    writes: dict[str, bytes | None] = {CONFIG_PATH: text.encode("utf-8")} if added else {}
    return Change(f"flow: guard detect ({names})", writes,
                  result={"proposals": [p.as_json() for p in proposals],
                          "added": [p.name for p in added],
                          "message": f"added guard commands: {names}" if added
                          else "every proposed command is configured already"})
