"""`doctor`: what is wrong with this setup, and the command that fixes each thing.

Each check returns ``pass``, ``warn`` or ``fail`` with a message and, when it is not a pass, the
command to run. ``fail`` means git flow-task cannot work as designed here (no identity, files
that do not parse); ``warn`` means it works with a rule unenforced or a feature degraded
(no hooks, a shallow clone). The checks read; none writes.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from git_flowctl.model.errors import FlowError
from git_flowctl.repo.workspace import Workspace

PASS, WARN, FAIL = "pass", "warn", "fail"
MIN_GIT = (2, 30)
MIN_LIBGIT2 = (1, 7)


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    message: str
    fix: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def identity(ws: Workspace) -> Check:
    try:
        author, _committer = ws.identities
    except FlowError:
        return Check("identity", FAIL, "git does not know who commits: every transition is a "
                     "commit", 'git config --global user.name "Your Name" && '
                     "git config --global user.email you@example.com")
    actor = ws.actor()
    return Check("identity", PASS, f"commits as {author.name} <{author.email}>; acts as {actor}")


def initialized(ws: Workspace) -> Check:
    if ws.flow_outside_sparse_checkout():
        return Check("plan", FAIL, ".flow/ is outside your sparse checkout: commands that read "
                     "or change the work tree's plan refuse", "git sparse-checkout add .flow")
    if (ws.root / ".flow" / "config.yaml").exists():
        return Check("plan", PASS, ".flow/config.yaml is here")
    if (ws.root / ".flow").is_dir():
        return Check("plan", WARN, ".flow/ has no config.yaml (defaults apply)",
                     "git flow-task init")
    return Check("plan", WARN, "no .flow/ plan in this repository", "git flow-task init")


def hooks(ws: Workspace) -> Check:
    """Issue #4's hooks, from its own status: installed (and what they chain), run by husky,
    lefthook, the pre-commit framework or a line in a hook script, or missing; and whose
    directory core.hooksPath names (issue #13)."""
    from git_flowctl.guard.hookinstall import MODIFY_FLAG, status

    found = status(ws)
    info = found["hooks_dir_info"]
    broken = [hook for hook in found["hooks"]
              if hook["state"] == "installed" and hook["python"] and not hook["python_exists"]]
    if broken:
        return Check("hooks", FAIL, f"the {_names(broken)} hook{_s(broken)} call "
                     f"{broken[0]['python']}, which is gone: commits would fail",
                     "git flow-task hooks install" + (f" {MODIFY_FLAG}" if info["shared"] else ""))
    missing = [hook for hook in found["hooks"] if not hook["runs_flow_task"]]
    framework = [hook for hook in found["hooks"] if hook["via"] == "pre-commit"]
    if not missing:
        wired = sorted({hook["via"] for hook in found["hooks"] if hook["state"] == "wired"})
        chained = [Path(hook["chained"]).name for hook in found["hooks"] if hook["chained"]]
        also = f"; they run {', '.join(chained)} first" if chained else ""
        where = f" ({info['description']})" if info["kind"] != "git-dir" else ""
        if wired == ["pre-commit"]:
            return Check("hooks", PASS, f"{_names(framework)} run by the pre-commit framework "
                         "(.pre-commit-config.yaml)")
        if wired:
            return Check("hooks", PASS, f"{len(found['hooks'])} hooks run flow-task in "
                         f"{found['hooks_dir']}{where}, through {', '.join(wired)}")
        return Check("hooks", PASS, f"{len(found['hooks'])} hooks installed in "
                     f"{found['hooks_dir']}{where}{also}")
    if framework:
        types = " ".join(f"--hook-type {hook['name']}" for hook in missing)
        return Check("hooks", WARN, f"the pre-commit framework runs {_names(framework)}, but "
                     f"not {_names(missing)}", f"pre-commit install {types}")
    uncovered = missing
    if info["shared"]:
        return Check("hooks", WARN, f"not run: {_names(uncovered)}. core.hooksPath is "
                     f"{info['core_hooks_path']}: {info['description']}; add the flow-task lines "
                     "to your hook manager (docs/hooks.md)",
                     f"git flow-task hooks install (prints the lines), or {MODIFY_FLAG}")
    return Check("hooks", WARN, f"not installed: {_names(uncovered)}. Commits and pushes that "
                 "break the rules are not refused here (only by CI's `check`)",
                 "git flow-task hooks install")


def merge_driver(ws: Workspace) -> Check:
    import shlex

    from git_flowctl.guard.hookinstall import status

    found = status(ws)
    fix = "git flow-task hooks install" + (
        " --merge-driver-only" if (ws.root / ".pre-commit-config.yaml").exists() else "")
    driver = found["merge_driver"]
    if not driver:
        return Check("merge driver", WARN, "not registered: git merges .flow/ files as plain "
                     "text, so two branches that change one task conflict more often", fix)
    program = shlex.split(driver)[0] if driver.strip() else ""
    if os.sep in program and not os.access(program, os.X_OK):
        return Check("merge driver", WARN, f"registered, but it calls {program}, which is gone",
                     fix)
    if not found["gitattributes"]:
        return Check("merge driver", WARN, f"registered, but .gitattributes lacks "
                     f"`{found['gitattributes_line']}`, so git never uses it", "git flow-task init")
    return Check("merge driver", PASS, "registered, and .gitattributes routes .flow/ files to it")


def files(ws: Workspace) -> Check:
    """Issue #4's validator over the working tree, as `validate` runs it."""
    from git_flowctl.guard.validate import Snapshot, errors_in

    if ws.flow_outside_sparse_checkout():
        return Check("files", WARN, "not checked: .flow/ is outside your sparse checkout",
                     "git sparse-checkout add .flow")
    source = ws.work_tree_source()
    snapshot = Snapshot.load(source)
    if not snapshot.items:
        return Check("files", PASS, "no epic or task files yet")
    findings = snapshot.findings()
    errors = errors_in(findings)
    counts = f"{_count(len(snapshot.epics), 'epic')}, {_count(len(snapshot.tasks), 'task')}"
    if errors:
        first = errors[0]
        where = f"{first.file}:{first.line}: " if first.file and first.line else \
            f"{first.file}: " if first.file else ""
        return Check("files", FAIL, f"{len(errors)} error{_s(errors)} in .flow/ ({counts}); "
                     f"first: {where}{first.message}", "git flow-task validate")
    if findings:
        return Check("files", WARN, f"{len(findings)} warning{_s(findings)} in .flow/ ({counts})",
                     "git flow-task validate")
    return Check("files", PASS, f"every file is valid ({counts})")


def _names(hooks: list[dict[str, Any]]) -> str:
    return ", ".join(hook["name"] for hook in hooks)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _s(items: list[Any]) -> str:
    return "" if len(items) == 1 else "s"


def cache(ws: Workspace) -> Check:
    """Issue #5's cache under the common git directory: absent (built on first use), or a
    directory this user can write. Its entries are keyed by object IDs and a damaged file is
    rebuilt silently, so being writable is what keeps it useful."""
    import tempfile

    from git_flowctl.repo.cache import cache_report

    report = cache_report(ws.common_dir)
    root = Path(report["path"])
    if not root.exists() and not root.is_symlink():
        return Check("cache", PASS, f"none yet at {root} (the first history command builds it)")
    fix = f"rm -rf {root}  # deleting it changes no answer"
    if not report["exists"]:
        return Check("cache", WARN, f"{root} is not a directory: history is replayed from the "
                     "root every time", fix)
    try:
        with tempfile.NamedTemporaryFile(dir=root, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check("cache", WARN, f"{root} cannot be written ({exc.strerror}): history is "
                     "replayed from the root every time", fix)
    return Check("cache", PASS, f"{_count(report['files'], 'file')}, {_size(report['bytes'])} "
                 f"at {root}")


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KB"
    return f"{count / 1024 / 1024:.1f} MB"


def shallow(ws: Workspace) -> Check:
    if ws.repo.is_shallow:
        return Check("history", WARN, "shallow clone: history is incomplete, so what is read "
                     "from it (transitions, evidence) stops at the cut", "git fetch --unshallow")
    return Check("history", PASS, "full history")


def libgit2_version(ws: Workspace) -> Check:
    from importlib.metadata import version as installed_version

    import pygit2

    version = tuple(pygit2.LIBGIT2_VER[:2])
    text = f"libgit2 {pygit2.LIBGIT2_VERSION} (pygit2 {installed_version('pygit2')})"
    if version < MIN_LIBGIT2:
        return Check("libgit2", WARN, f"{text} is older than "
                     f"{'.'.join(map(str, MIN_LIBGIT2))}", "pip install --upgrade pygit2")
    return Check("libgit2", PASS, text)


def git_version(ws: Workspace) -> Check:
    try:
        output = subprocess.run(["git", "--version"], capture_output=True, text=True,
                                check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return Check("git", FAIL, "the git command is not available", "install git")
    match = re.search(r"(\d+)\.(\d+)", output)
    if match and (int(match.group(1)), int(match.group(2))) < MIN_GIT:
        return Check("git", WARN, f"{output} is older than {'.'.join(map(str, MIN_GIT))}",
                     "upgrade git")
    return Check("git", PASS, output)


def default_branch(ws: Workspace) -> Check:
    """Where work lands: landed tasks, `claims --prune` and `check`'s default base need it."""
    from git_flowctl.model.config import CONFIG_PATH, Config

    try:
        configured = Config.parse(ws.work_tree_source().read(CONFIG_PATH)).get("default_branch")
    except FlowError:
        configured = None  # an unreadable config is `files`' and validate's to report
    found = ws.default_branch(str(configured) if configured else None)
    if found is None:
        return Check("default branch", WARN, "no default branch (no default_branch setting, no "
                     "origin/HEAD, no main or master): work never shows as landed and "
                     "`claims --prune` keeps every record", "git flow-task config set "
                     "default_branch NAME")
    how = "configured" if configured else "found"
    return Check("default branch", PASS, f"work lands on {found} ({how})")


CHECKS: list[Callable[[Workspace], Check]] = [
    identity, initialized, hooks, merge_driver, default_branch, files, shallow, cache,
    git_version, libgit2_version,
]


def run(ws: Workspace) -> list[Check]:
    return [check(ws) for check in CHECKS]


def summary(checks: list[Check]) -> dict[str, int]:
    return {status: sum(1 for c in checks if c.status == status) for status in (PASS, WARN, FAIL)}
