"""``git flow-task hooks install|uninstall|status``: plain git hooks and the merge driver.

The shims are the files in the top-level ``hooks/`` folder of the source (shipped in the wheel as
``git_flowctl/hook_templates``), with ``@PYTHON@`` replaced by the absolute path of the
interpreter that installs them, so hooks also run in GUI clients whose PATH lacks the user's bin
directory. A hook that was already there is renamed to ``<name>.pre-flow-task`` (a rename keeps
its bytes, mode and symlink-ness), runs first, and counts; ``uninstall`` renames it back.
The hooks directory is git's own answer (``git rev-parse --git-path hooks``), so
``core.hooksPath`` and linked worktrees are honoured.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from git_flowctl.changes.ops import GITATTRIBUTES_LINE
from git_flowctl.model.errors import FlowError
from git_flowctl.repo.workspace import Workspace

HOOK_NAMES = ("pre-commit", "prepare-commit-msg", "commit-msg", "pre-push")
CHAIN_SUFFIX = ".pre-flow-task"
SHIM_MARKER = "# git-flow-task hook shim:"
MERGE_SECTION = "merge.flow-task"


def template_dir() -> Path:
    package = Path(__file__).resolve().parent.parent  # git_flowctl/
    for candidate in (package / "hook_templates", package.parent / "hooks"):
        if (candidate / "pre-commit").is_file():
            return candidate
    raise FlowError("the hook templates are missing from this installation of git-flowctl",
                    hint="reinstall it (`pip install --force-reinstall git-flowctl`)")


def interpreter() -> str:
    return os.path.abspath(sys.executable)


def render_shim(name: str, python: str) -> str:
    template = (template_dir() / name).read_text("utf-8")
    return template.replace("'@PYTHON@'", shlex.quote(python))


def merge_driver_command(python: str) -> str:
    # -P: the repository being merged must not shadow the installed package (python >= 3.11).
    return f"{shlex.quote(python)} -P -m git_flowctl merge-driver %O %A %B %L %P"


def hooks_directory(ws: Workspace) -> Path:
    """Where git runs hooks from: core.hooksPath when set, else the common git dir's hooks/."""
    result = ws.git("rev-parse", "--git-path", "hooks")
    path = Path(result.stdout.decode().strip())
    return (ws.root / path).resolve() if not path.is_absolute() else path


def is_shim(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            head = handle.read(400)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return False
    return SHIM_MARKER in head


def _shim_python(path: Path) -> str | None:
    for line in path.read_text("utf-8", errors="replace").splitlines():
        if line.startswith("flow_python="):
            words = shlex.split(line.partition("=")[2])
            return words[0] if words else None
    return None


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _write_executable(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.flow-tmp")
    temp.write_text(text, "utf-8")
    os.chmod(temp, 0o755)
    os.replace(temp, path)


@dataclass
class HookState:
    name: str
    path: str
    state: str  # installed | foreign | absent
    chained: str | None
    python: str | None = None
    python_exists: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "state": self.state, "chained": self.chained,
                "python": self.python, "python_exists": self.python_exists}


def install(ws: Workspace, *, shims: bool = True) -> dict[str, Any]:
    """Install the shims (unless ``shims`` is False: the pre-commit framework runs the hooks)
    and the merge driver config."""
    hooks_dir = hooks_directory(ws)
    python = interpreter()
    plans: list[tuple[str, Path, Path, str]] = []
    for name in HOOK_NAMES if shims else ():
        target, chained = hooks_dir / name, hooks_dir / f"{name}{CHAIN_SUFFIX}"
        if _exists(target) and not is_shim(target) and _exists(chained):
            raise FlowError(
                f"{target} is not a flow-task shim and {chained.name} exists already",
                hint="move one of them away by hand; then run `git flow-task hooks install`")
        plans.append((name, target, chained, render_shim(name, python)))
    if plans:
        hooks_dir.mkdir(parents=True, exist_ok=True)
    actions: list[dict[str, Any]] = []
    for name, target, chained, shim in plans:
        if is_shim(target):
            action = "unchanged" if target.read_text("utf-8") == shim else "updated"
        elif _exists(target):
            os.rename(target, chained)
            action = "installed, chaining the existing hook"
        else:
            action = "installed"
        if action != "unchanged":
            _write_executable(target, shim)
        actions.append({"hook": name, "path": str(target), "action": action,
                        "chained": str(chained) if _exists(chained) else None})
    ws.git("config", f"{MERGE_SECTION}.name", "git flow-task: frontmatter field by field")
    ws.git("config", f"{MERGE_SECTION}.driver", merge_driver_command(python))
    refspec_added = _ensure_claims_fetch(ws)
    result = status(ws)
    result.update(claims_refspec_added=refspec_added)
    result.update(hooks=actions, message=f"installed {len(actions)} hooks in {hooks_dir} "
                                         f"and the merge driver" if shims else
                  "installed the merge driver (merge.flow-task in .git/config)")
    return result


def _ensure_claims_fetch(ws: Workspace) -> str | None:
    """With ``claims.remote`` configured, make plain `git fetch` bring that remote's claims
    (issue #7); returns the remote whose fetch refspec was added, if any."""
    from git_flowctl.coordination.claims import ensure_claims_refspec

    try:
        remote = ws.load_plan(strict=False).config.get("claims.remote")
    except FlowError:
        return None  # an unreadable config is doctor's and validate's to report
    if not remote or ws.config_value(f"remote.{remote}.url") is None:
        return None
    return str(remote) if ensure_claims_refspec(ws, str(remote)) else None


def uninstall(ws: Workspace) -> dict[str, Any]:
    hooks_dir = hooks_directory(ws)
    actions: list[dict[str, Any]] = []
    for name in HOOK_NAMES:
        target, chained = hooks_dir / name, hooks_dir / f"{name}{CHAIN_SUFFIX}"
        if is_shim(target):
            target.unlink()
            if _exists(chained):
                os.rename(chained, target)
                action = "restored the previous hook"
            else:
                action = "removed"
        elif _exists(target):
            action = "not a flow-task shim; left alone"
        elif _exists(chained):
            os.rename(chained, target)
            action = "restored the previous hook"
        else:
            action = "absent"
        actions.append({"hook": name, "path": str(target), "action": action})
    removed_driver = ws.config_value(f"{MERGE_SECTION}.driver") is not None \
        or ws.config_value(f"{MERGE_SECTION}.name") is not None
    if removed_driver:
        ws.git("config", "--remove-section", MERGE_SECTION, check=False)
    return {"hooks_dir": str(hooks_dir), "hooks": actions, "merge_driver_removed": removed_driver,
            "message": f"uninstalled the flow-task hooks from {hooks_dir}"}


def status(ws: Workspace) -> dict[str, Any]:
    hooks_dir = hooks_directory(ws)
    states: list[HookState] = []
    for name in HOOK_NAMES:
        target, chained = hooks_dir / name, hooks_dir / f"{name}{CHAIN_SUFFIX}"
        if is_shim(target):
            python = _shim_python(target)
            states.append(HookState(name, str(target), "installed",
                                    str(chained) if _exists(chained) else None, python,
                                    bool(python and os.access(python, os.X_OK))))
        else:
            states.append(HookState(name, str(target), "foreign" if _exists(target) else "absent",
                                    None))
    driver = ws.config_value(f"{MERGE_SECTION}.driver")
    attribute = ws.git("check-attr", "merge", "--", ".flow/tasks/example.md", check=False)
    attribute_value = attribute.stdout.decode().rpartition(": ")[2].strip()
    installed = all(state.state == "installed" and state.python_exists for state in states)
    return {
        "hooks_dir": str(hooks_dir),
        "hooks_path": ws.config_value("core.hooksPath"),
        "hooks": [state.as_dict() for state in states],
        "installed": installed,
        "merge_driver": driver,
        "gitattributes": attribute_value == "flow-task",
        "gitattributes_line": GITATTRIBUTES_LINE,
    }
