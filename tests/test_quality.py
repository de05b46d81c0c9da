"""ruff and mypy stay clean (run as part of the suite so that CI enforces them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_domain_imports_neither_click_nor_rich() -> None:
    code = (
        "import sys\n"
        "import git_flowctl.repo.workspace, git_flowctl.repo.writer, git_flowctl.changes.ops, git_flowctl.coordination.queries\n"
        "import git_flowctl.views.shapes, git_flowctl.model.graph, git_flowctl.model.trailers\n"
        "bad = [m for m in ('click', 'rich') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
