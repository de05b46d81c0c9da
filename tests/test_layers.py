"""The package's folders are layers: a module imports only its own layer and the ones below.

docs/architecture.md lists the layers; this test reads every import (top level and inside
functions) with `ast` and fails on one that points up.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "git_flowctl"

# Bottom-up. gates/ (issue #15) sits below coordination/ so that `run` and `land` can call the
# guard; mcp/ (issue #18) is the agents' door beside cli/. entry.py, __init__.py and __main__.py
# sit above everything.
LAYERS = ("model", "repo", "history", "changes", "guard", "gates", "coordination", "views", "mcp",
          "cli")

# Known upward imports, each with its reason. Keep this list short.
ALLOWED_UPWARD = {
    # `hooks install` also adds the claims remote's fetch refspec (issue #7).
    ("guard.hookinstall", "coordination.claims"),
}


def _layer_of(dotted: str) -> str | None:
    parts = dotted.split(".")
    if parts[0] != "git_flowctl" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in LAYERS else "top"


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names
                         if node.module in {f"git_flowctl.{layer}" for layer in LAYERS})
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return [name for name in names if name.startswith("git_flowctl")]


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def test_every_layer_folder_is_known() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders <= set(LAYERS), folders - set(LAYERS)


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = []
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        own = module.split(".")[0]
        if own not in LAYERS:
            continue  # entry.py, __init__.py, __main__.py: the top
        for imported in _imports(path):
            target = _layer_of(imported)
            if target is None:
                continue
            short = imported.removeprefix("git_flowctl.")
            if target == "top" or LAYERS.index(target) > LAYERS.index(own):
                key = (module, ".".join(short.split(".")[:2]))
                if key not in ALLOWED_UPWARD:
                    upward.append(f"{module} imports {imported}")
    assert not upward, "\n".join(sorted(set(upward)))


def test_layer_packages_import_nothing_themselves() -> None:
    """The lean paths import e.g. git_flowctl.history.timeline: its package must cost nothing."""
    for layer in LAYERS:
        init = PACKAGE / layer / "__init__.py"
        if layer == "cli" or not init.exists():
            continue
        tree = ast.parse(init.read_text("utf-8"))
        assert all(isinstance(node, ast.Expr) for node in tree.body), f"{init} has code"
