"""``git flow-task hooks install|uninstall|status``: plain git hooks and the merge driver.

The shims are the files in the top-level ``hooks/`` folder of the source (shipped in the wheel as
``git_flowctl/hook_templates``), with ``@PYTHON@`` replaced by the absolute path of the
interpreter that installs them, so hooks also run in GUI clients whose PATH lacks the user's bin
directory. A hook that was already there is renamed to ``<name>.pre-flow-task`` (a rename keeps
its bytes, mode and symlink-ness), runs first under its own name, and counts; ``uninstall``
renames it back. The hooks directory is git's own answer (``git rev-parse --git-path hooks``), so
``core.hooksPath`` and linked worktrees are honoured.

Where ``core.hooksPath`` points matters (issue #13, finding 1). This repository's own hooks
(``.git/hooks``, or a ``core.hooksPath`` of this clone outside the work tree or ignored) are
ours to install into. Three kinds are not, without ``--modify-hooks-path``: a directory in the
work tree that git tracks or would track (what is installed there gets committed for everyone),
one that husky manages (it rewrites it), and a global one (every repository on the machine runs
it). Without the flag, ``install`` refuses and prints the lines to add to husky, lefthook or
the pre-commit framework instead (``RECIPES``; docs/hooks.md shows the same lines). With it, a
tracked directory gets no machine-specific path: missing hooks get a shim that calls ``git
flow-task`` from PATH, and a hook that is there gets one marked line (``BLOCK_BEGIN`` ..
``BLOCK_END``) near its top instead of being renamed.
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
BLOCK_BEGIN = "# >>> git flow-task hook (added by `git flow-task hooks install`; `hooks uninstall` removes it)"
BLOCK_END = "# <<< git flow-task hook"
MODIFY_FLAG = "--modify-hooks-path"

# The one line each hook needs, as a hook manager runs it. husky runs `.husky/<name>` with
# `sh -e` and the hook's arguments; lefthook replaces {1} {2} {3} with them.
HUSKY_LINES = {
    "pre-commit": "git flow-task hook pre-commit",
    "prepare-commit-msg": 'git flow-task hook prepare-commit-msg "$@"',
    "commit-msg": 'git flow-task hook commit-msg "$1"',
    "pre-push": 'git flow-task hook pre-push "$@"',
}
SCRIPT_LINES = {name: f'git flow-task hook {name} "$@" || exit $?' for name in HOOK_NAMES}
LEFTHOOK_YAML = """\
pre-commit:
  commands:
    flow-task:
      run: git flow-task hook pre-commit
prepare-commit-msg:
  commands:
    flow-task:
      run: git flow-task hook prepare-commit-msg {1} {2} {3}
commit-msg:
  commands:
    flow-task:
      run: git flow-task hook commit-msg {1}
pre-push:
  commands:
    flow-task:
      run: git flow-task hook pre-push {1} {2}
      use_stdin: true
"""
PRE_COMMIT_YAML = """\
default_install_hook_types: [pre-commit, prepare-commit-msg, commit-msg, pre-push]
repos:
  - repo: https://github.com/OWNER/git-flowctl   # OWNER: the project's GitHub owner
    rev: v0.1.0                                   # a release tag: v + git_flowctl.__version__
    hooks:
      - id: flow-task-pre-commit
      - id: flow-task-prepare-commit-msg
      - id: flow-task-commit-msg
      - id: flow-task-pre-push
"""
LEFTHOOK_CONFIGS = ("lefthook.yml", "lefthook.yaml", ".lefthook.yml", ".lefthook.yaml",
                    "lefthook-local.yml", "lefthook-local.yaml", ".lefthook-local.yml",
                    ".lefthook-local.yaml", ".config/lefthook.yml", ".config/lefthook.yaml")


def recipes(hooks_dir: str = ".husky") -> str:
    """What to add instead of shims, for husky, lefthook, the pre-commit framework and a hook
    script of your own (the same lines as docs/hooks.md)."""
    husky = "\n".join(f"    .husky/{name}: {line}" for name, line in HUSKY_LINES.items())
    script = "\n".join(f"    {hooks_dir}/{name}: {line}" for name, line in SCRIPT_LINES.items())
    return (f"husky: add one line to each of these files (create the missing ones) and commit them:\n"
            f"{husky}\n"
            f"lefthook: add to lefthook.yml, then run `lefthook install`:\n{_indent(LEFTHOOK_YAML)}\n"
            f"pre-commit framework: add to .pre-commit-config.yaml, then run `pre-commit install`:\n"
            f"{_indent(PRE_COMMIT_YAML)}\n"
            f"a hook script of your own: add near its top:\n{script}\n"
            f"then register the merge driver: git flow-task hooks install --merge-driver-only")


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())


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
    """The shim for ``name``; ``python`` empty renders the portable one (`git flow-task` from
    PATH, no path of this machine)."""
    template = (template_dir() / name).read_text("utf-8")
    return template.replace("'@PYTHON@'", shlex.quote(python))


def merge_driver_command(python: str) -> str:
    # -P: the repository being merged must not shadow the installed package (python >= 3.11).
    return f"{shlex.quote(python)} -P -m git_flowctl merge-driver %O %A %B %L %P"


# Where the hooks are, and whose directory that is ------------------------------------------


@dataclass(frozen=True)
class HooksDir:
    path: Path
    kind: str  # git-dir | hooks-path | tracked | husky | global
    configured: str | None  # core.hooksPath as set
    scope: str | None  # where core.hooksPath is set: local, worktree, global, system, command
    tracked: bool  # in the work tree, and tracked or not ignored: installed files get committed

    @property
    def shared(self) -> bool:
        """Not ours to change without --modify-hooks-path."""
        return self.kind in ("tracked", "husky", "global")

    def describe(self) -> str:
        if self.kind == "git-dir":
            return "this repository's own hooks directory"
        where = f"core.hooksPath ({self.scope} config)"
        if self.kind == "global":
            return f"{where}: the hooks there run in every repository on this machine"
        if self.kind == "husky":
            return (f"{where}, managed by husky" + (
                ", and tracked: what is installed there is committed for everyone" if self.tracked
                else ": husky rewrites it (npm install runs husky again)"))
        if self.kind == "tracked":
            return f"{where}, in the work tree and tracked: what is installed there is committed for everyone"
        return where

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "kind": self.kind, "core_hooks_path": self.configured,
                "scope": self.scope, "tracked": self.tracked, "shared": self.shared,
                "description": self.describe()}


def hooks_directory(ws: Workspace) -> Path:
    """Where git runs hooks from: core.hooksPath when set, else the common git dir's hooks/."""
    result = ws.git("rev-parse", "--git-path", "hooks")
    path = Path(result.stdout.decode().strip())
    return (ws.root / path).resolve() if not path.is_absolute() else path


def hooks_dir_info(ws: Workspace) -> HooksDir:
    path = hooks_directory(ws)
    found = ws.git("config", "--show-scope", "--get", "core.hooksPath", check=False)
    scope, _, configured = found.stdout.decode("utf-8", "replace").rstrip("\n").partition("\t")
    if found.returncode != 0 or not configured:
        return HooksDir(path, "git-dir", None, None, False)
    tracked = _tracked(ws, path)
    if _inside(path, ws.common_dir.resolve()):
        kind = "git-dir"
    elif scope in ("global", "system"):
        kind = "global"
    elif _husky(path):
        kind = "husky"
    elif tracked:
        kind = "tracked"
    else:
        kind = "hooks-path"
    return HooksDir(path, kind, configured, scope, tracked)


def _inside(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


def _husky(path: Path) -> bool:
    """husky 9 (`.husky/_`: stubs that source `h`) or husky 5-8 (`.husky`, `_/husky.sh`)."""
    return (path.name == "_" and path.parent.name == ".husky") or ((path / "h").is_file() \
        and (path / "husky.sh").exists()) or (path / "_" / "husky.sh").exists()


def _tracked(ws: Workspace, path: Path) -> bool:
    """In the work tree, and git tracks files there or would add new ones (not ignored)."""
    root = ws.root.resolve()
    if not _inside(path, root) or _inside(path, ws.git_dir.resolve()):
        return False
    relative = path.relative_to(root).as_posix() if path != root else "."
    listed = ws.git("ls-files", "-z", "--", f":(literal){relative}", check=False).stdout
    if listed:
        return True
    probe = f"{relative}/pre-commit" if relative != "." else "pre-commit"
    return ws.git("check-ignore", "-q", "--no-index", "--", probe, check=False).returncode != 0


# Files -----------------------------------------------------------------------------------------


def is_shim(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            head = handle.read(400)
    except (FileNotFoundError, IsADirectoryError, PermissionError, NotADirectoryError):
        return False
    return SHIM_MARKER in head


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8", errors="replace")
    except (OSError, ValueError):
        return ""


def _shim_python(path: Path) -> str | None:
    for line in _read(path).splitlines():
        if line.startswith("flow_python="):
            words = shlex.split(line.partition("=")[2])
            return (words[0] or None) if words else None
    return None


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _write_executable(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.flow-tmp")
    temp.write_text(text, "utf-8")
    os.chmod(temp, 0o755)
    os.replace(temp, path)


def _block(name: str) -> list[str]:
    if name == "pre-push":  # the hook's own lines read the ref lines on stdin after ours
        return [BLOCK_BEGIN, "flow_task_refs=$(cat)",
                'printf \'%s\\n\' "$flow_task_refs" | git flow-task hook pre-push "$@" || exit $?',
                "exec <<FLOW_TASK_REFS", "$flow_task_refs", "FLOW_TASK_REFS", BLOCK_END]
    return [BLOCK_BEGIN, SCRIPT_LINES[name], BLOCK_END]


def has_block(path: Path) -> bool:
    return BLOCK_BEGIN in _read(path)


def _add_block(path: Path, name: str) -> None:
    """Insert the block after the shebang and a husky 5-8 `husky.sh` line (which re-runs the
    script: lines above it would run twice); mode and line endings kept."""
    raw = path.read_bytes()
    newline = "\r\n" if b"\r\n" in raw else "\n"
    lines = raw.decode("utf-8", "surrogateescape").split(newline)
    at = 1 if lines and lines[0].startswith("#!") else 0
    for number, line in enumerate(lines[:6]):
        if "husky.sh" in line and line.lstrip().startswith("."):
            at = number + 1
    lines[at:at] = _block(name)
    mode = path.stat().st_mode & 0o7777
    temp = path.with_name(f".{path.name}.flow-tmp")
    temp.write_bytes(newline.join(lines).encode("utf-8", "surrogateescape"))
    os.chmod(temp, mode)
    os.replace(temp, path)


def _remove_block(path: Path) -> None:
    raw = path.read_bytes()
    newline = "\r\n" if b"\r\n" in raw else "\n"
    lines = raw.decode("utf-8", "surrogateescape").split(newline)
    start = lines.index(BLOCK_BEGIN)
    end = lines.index(BLOCK_END, start)
    del lines[start:end + 1]
    mode = path.stat().st_mode & 0o7777
    temp = path.with_name(f".{path.name}.flow-tmp")
    temp.write_bytes(newline.join(lines).encode("utf-8", "surrogateescape"))
    os.chmod(temp, mode)
    os.replace(temp, path)


# Status ----------------------------------------------------------------------------------------


@dataclass
class HookState:
    name: str
    path: str
    state: str  # installed | wired | foreign | absent
    chained: str | None
    python: str | None = None
    python_exists: bool | None = None
    via: str | None = None  # wired: husky, lefthook, pre-commit, or the hook script itself

    @property
    def runs_flow_task(self) -> bool:
        if self.state == "installed":
            return self.python is None or bool(self.python_exists)
        return self.state == "wired"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "state": self.state, "chained": self.chained,
                "python": self.python, "python_exists": self.python_exists, "via": self.via,
                "runs_flow_task": self.runs_flow_task}


def _calls_us(text: str, name: str) -> bool:
    return f"flow-task hook {name}" in text or f"flow-task-{name}" in text


def _foreign_state(ws: Workspace, hooks: HooksDir, name: str, target: Path) -> HookState:
    """A hook that is not our shim: does it run ours anyway (our block, husky's script for it,
    lefthook's or the pre-commit framework's config naming it)?"""
    text = _read(target)
    if has_block(target):
        return HookState(name, str(target), "wired", None, via="block")
    if "File generated by pre-commit" in text:
        # Its config may map any of our hook IDs to any stage: naming one is enough.
        if "flow-task-" in _read(ws.root / ".pre-commit-config.yaml"):
            return HookState(name, str(target), "wired", None, via="pre-commit")
    elif "lefthook" in text:
        if any(_calls_us(_read(ws.root / config), name) for config in LEFTHOOK_CONFIGS):
            return HookState(name, str(target), "wired", None, via="lefthook")
    elif hooks.kind == "husky" and "/h\"" in text.replace("'", '"') and \
            _calls_us(_read(hooks.path.parent / name), name):
        return HookState(name, str(target), "wired", None, via="husky")
    elif _calls_us(text, name):
        return HookState(name, str(target), "wired", None, via="husky" if hooks.kind == "husky"
                         else "script")
    return HookState(name, str(target), "foreign", None)


def status(ws: Workspace) -> dict[str, Any]:
    hooks = hooks_dir_info(ws)
    states: list[HookState] = []
    for name in HOOK_NAMES:
        target, chained = hooks.path / name, hooks.path / f"{name}{CHAIN_SUFFIX}"
        if is_shim(target):
            python = _shim_python(target)
            states.append(HookState(name, str(target), "installed",
                                    str(chained) if _exists(chained) else None, python,
                                    bool(python and os.access(python, os.X_OK)) if python else None))
        elif _exists(target):
            states.append(_foreign_state(ws, hooks, name, target))
        else:
            states.append(HookState(name, str(target), "absent", None))
    driver = ws.config_value(f"{MERGE_SECTION}.driver")
    attribute = ws.git("check-attr", "merge", "--", ".flow/tasks/example.md", check=False)
    attribute_value = attribute.stdout.decode().rpartition(": ")[2].strip()
    return {
        "hooks_dir": str(hooks.path),
        "hooks_path": hooks.configured,
        "hooks_dir_kind": hooks.kind,
        "hooks_dir_info": hooks.as_dict(),
        "hooks": [state.as_dict() for state in states],
        "installed": all(state.runs_flow_task for state in states),
        "merge_driver": driver,
        "gitattributes": attribute_value == "flow-task",
        "gitattributes_line": GITATTRIBUTES_LINE,
    }


# Install and uninstall -------------------------------------------------------------------------


class SharedHooksDirError(FlowError):
    """core.hooksPath names a directory that is not this clone's alone (details: recipes)."""


def _refuse_shared(hooks: HooksDir, doing: str) -> SharedHooksDirError:
    shown = hooks.configured or str(hooks.path)
    return SharedHooksDirError(
        f"core.hooksPath is {shown}: {hooks.describe()}; `hooks {doing}` leaves it alone",
        hint=f"run flow-task's hooks from your hook manager (the lines below; docs/hooks.md), or "
             f"pass {MODIFY_FLAG} to {doing} there anyway",
        hooks_dir=hooks.as_dict(), recipes=recipes(shown if hooks.kind != "husky" else ".husky"))


def install(ws: Workspace, *, shims: bool = True, modify_hooks_path: bool = False) -> dict[str, Any]:
    """Install the shims (unless ``shims`` is False: another hook manager runs the hooks) and
    the merge driver config."""
    hooks = hooks_dir_info(ws)
    if shims and hooks.shared and not modify_hooks_path:
        raise _refuse_shared(hooks, "install")
    hooks_dir = hooks.path
    python = "" if hooks.tracked else interpreter()  # no machine's path in a tracked directory
    plans: list[tuple[str, Path, Path, str]] = []
    for name in HOOK_NAMES if shims else ():
        target, chained = hooks_dir / name, hooks_dir / f"{name}{CHAIN_SUFFIX}"
        if _exists(target) and not is_shim(target) and _exists(chained) and not hooks.tracked:
            raise FlowError(
                f"{target} is not a flow-task shim and {chained.name} exists already",
                hint=f"move one of them away by hand (when {name} is {chained.name} written "
                     f"again by a hook manager, delete {name}); then run `git flow-task hooks install`")
        plans.append((name, target, chained, render_shim(name, python)))
    if plans:
        hooks_dir.mkdir(parents=True, exist_ok=True)
    actions: list[dict[str, Any]] = []
    for name, target, chained, shim in plans:
        if is_shim(target):
            action = "unchanged" if target.read_text("utf-8") == shim else "updated"
        elif hooks.tracked and _exists(target):
            # A tracked directory: the hook stays where it is (renaming it would commit its
            # deletion); one marked line in it runs ours.
            action = "unchanged (runs flow-task already)" if has_block(target) \
                else "added the flow-task line to the existing hook"
            if not has_block(target):
                _add_block(target, name)
            actions.append({"hook": name, "path": str(target), "action": action, "chained": None})
            continue
        elif _exists(target):
            os.rename(target, chained)
            action = "installed, chaining the existing hook"
        else:
            action = "installed"
        if action != "unchanged":
            _write_executable(target, shim)
        actions.append({"hook": name, "path": str(target), "action": action,
                        "chained": str(chained) if _exists(chained) else None})
    merge_python = interpreter()
    ws.git("config", f"{MERGE_SECTION}.name", "git flow-task: frontmatter field by field")
    ws.git("config", f"{MERGE_SECTION}.driver", merge_driver_command(merge_python))
    refspec_added = _ensure_claims_fetch(ws)
    result = status(ws)
    result.update(claims_refspec_added=refspec_added)
    message = (f"installed {len(actions)} hooks in {hooks_dir} and the merge driver" if shims else
               "installed the merge driver (merge.flow-task in .git/config)")
    if shims and hooks.tracked:
        message += "; the directory is tracked: commit the hooks so that everyone runs them"
    result.update(hooks=actions, message=message)
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


def _ours_in(hooks_dir: Path) -> bool:
    return any(is_shim(hooks_dir / name) or has_block(hooks_dir / name)
               or _exists(hooks_dir / f"{name}{CHAIN_SUFFIX}") for name in HOOK_NAMES)


def uninstall(ws: Workspace, *, modify_hooks_path: bool = False) -> dict[str, Any]:
    hooks = hooks_dir_info(ws)
    hooks_dir = hooks.path
    if hooks.shared and not modify_hooks_path and _ours_in(hooks_dir):
        raise _refuse_shared(hooks, "uninstall")
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
        elif has_block(target):
            _remove_block(target)
            action = "removed the flow-task line from the hook"
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
    return {"hooks_dir": str(hooks_dir), "hooks_dir_info": hooks.as_dict(), "hooks": actions,
            "merge_driver_removed": removed_driver,
            "message": f"uninstalled the flow-task hooks from {hooks_dir}"}
