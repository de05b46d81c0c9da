"""``guard detect``: propose guard commands from the files at the repository root.

| file | proposes |
|---|---|
| pyproject.toml | ``pytest -q`` (pytest configured, a pytest dependency, or a tests/ folder), ``ruff check .`` (ruff configured), ``mypy`` (mypy configured) |
| package.json | its ``test``, ``lint`` and ``typecheck`` scripts, run by the package manager its lock file names (npm, pnpm, yarn, bun) |
| Cargo.toml | ``cargo test``, ``cargo clippy -- -D warnings`` |
| go.mod | ``go test ./...``, ``go vet ./...`` |
| Makefile | ``make test`` when it has a ``test`` target |

A name proposed by two stacks (``test`` for Python and Node) gets the stack's prefix
(``python-test``, ``node-test``). Detection reads files only; it runs nothing.
"""

from __future__ import annotations

import configparser
import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# npm init's placeholder: not a test suite.
_NPM_PLACEHOLDER = re.compile(r"echo \"?Error: no test specified")
_MAKE_TARGET = re.compile(r"^test\s*:(?!=)", re.MULTILINE)


@dataclass(frozen=True)
class Proposal:
    stack: str
    name: str
    run: str
    because: str  # the file (and setting) it was found from

    def as_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "name": self.name, "run": self.run, "because": self.because}


Reader = Callable[[str], bytes | None]  # a path at the repository root -> its content


def detect(read: Reader, exists: Callable[[str], bool]) -> list[Proposal]:
    found = [*_python(read, exists), *_node(read, exists), *_rust(read), *_go(read), *_make(read)]
    names: dict[str, int] = {}
    for proposal in found:
        names[proposal.name] = names.get(proposal.name, 0) + 1
    return [Proposal(p.stack, f"{p.stack}-{p.name}" if names[p.name] > 1 else p.name, p.run,
                     p.because) for p in found]


def _text(read: Reader, path: str) -> str | None:
    raw = read(path)
    return raw.decode("utf-8", "replace") if raw is not None else None


def _ini_has(read: Reader, path: str, section: str) -> bool:
    text = _text(read, path)
    if text is None:
        return False
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return False
    return parser.has_section(section)


def _python(read: Reader, exists: Callable[[str], bool]) -> list[Proposal]:
    text = _text(read, "pyproject.toml")
    if text is None:
        return []
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        data = {}
    tool = data.get("tool", {}) if isinstance(data.get("tool"), dict) else {}
    dependencies = json.dumps([data.get("project", {}).get("dependencies", []),
                               data.get("project", {}).get("optional-dependencies", {}),
                               data.get("dependency-groups", {})]).lower()
    found = []
    if "pytest" in tool:
        found.append(Proposal("python", "test", "pytest -q", "pyproject.toml [tool.pytest]"))
    elif exists("pytest.ini") or _ini_has(read, "setup.cfg", "tool:pytest") \
            or _ini_has(read, "tox.ini", "pytest"):
        found.append(Proposal("python", "test", "pytest -q", "a pytest configuration file"))
    elif '"pytest' in dependencies:
        found.append(Proposal("python", "test", "pytest -q", "pyproject.toml depends on pytest"))
    elif exists("tests"):
        found.append(Proposal("python", "test", "pytest -q", "pyproject.toml and a tests/ folder"))
    if "ruff" in tool or exists("ruff.toml") or exists(".ruff.toml"):
        found.append(Proposal("python", "lint", "ruff check .", "ruff is configured"))
    mypy = tool.get("mypy")
    if isinstance(mypy, dict) or exists("mypy.ini") or exists(".mypy.ini") \
            or _ini_has(read, "setup.cfg", "mypy"):
        files = isinstance(mypy, dict) and bool(mypy.get("files"))
        found.append(Proposal("python", "typecheck", "mypy" if files else "mypy .",
                              "mypy is configured"))
    return found


def _node(read: Reader, exists: Callable[[str], bool]) -> list[Proposal]:
    text = _text(read, "package.json")
    if text is None:
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return []
    scripts = data.get("scripts") if isinstance(data, dict) else None
    if not isinstance(scripts, dict):
        return []
    manager = next((tool for lock, tool in (("pnpm-lock.yaml", "pnpm"), ("yarn.lock", "yarn"),
                                            ("bun.lockb", "bun"), ("bun.lock", "bun"))
                    if exists(lock)), "npm")
    found = []
    for script in ("test", "lint", "typecheck"):
        body = scripts.get(script)
        if not isinstance(body, str) or not body.strip() or _NPM_PLACEHOLDER.search(body):
            continue
        run = f"{manager} test" if script == "test" and manager != "bun" else f"{manager} run {script}"
        found.append(Proposal("node", script, run, f"package.json scripts.{script}"))
    return found


def _rust(read: Reader) -> list[Proposal]:
    if read("Cargo.toml") is None:
        return []
    return [Proposal("rust", "test", "cargo test", "Cargo.toml"),
            Proposal("rust", "lint", "cargo clippy -- -D warnings", "Cargo.toml")]


def _go(read: Reader) -> list[Proposal]:
    if read("go.mod") is None:
        return []
    return [Proposal("go", "test", "go test ./...", "go.mod"),
            Proposal("go", "vet", "go vet ./...", "go.mod")]


def _make(read: Reader) -> list[Proposal]:
    for name in ("Makefile", "makefile", "GNUmakefile"):
        text = _text(read, name)
        if text is not None and _MAKE_TARGET.search(text):
            return [Proposal("make", "test", "make test", f"{name} has a test target")]
    return []
