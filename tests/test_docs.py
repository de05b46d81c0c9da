"""The docs stay true: the guide's commands run as written, and the reference pages name every
field, setting and command that exists (and only commands that exist)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from git_flowctl.cli import COMMANDS
from git_flowctl.model.config import DEFAULTS
from git_flowctl.model.ids import slugify
from git_flowctl.model.items import EPIC_KEY_ORDER, TASK_KEY_ORDER

DOCS = Path(__file__).resolve().parent.parent / "docs"


def runnable_blocks(page: str) -> list[str]:
    """The ``sh test`` blocks of a page, in order (GitHub renders them as plain ``sh``)."""
    return re.findall(r"^```sh test\n(.*?)^```$", (DOCS / page).read_text(), re.M | re.S)


def test_guide_runs_as_written(tmp_path: Path) -> None:
    blocks = runnable_blocks("guide.md")
    assert len(blocks) >= 10
    script = "set -euo pipefail\n" + "\n".join(blocks)
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "FLOW_ACTOR": ""}, timeout=600)
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stdout + result.stderr
    assert "refused, as it should be" in result.stdout
    assert "cannot start fn-1-add-oauth-login.4: dependencies not satisfied" in result.stderr
    status = subprocess.run(["git", "flow-task", "status", "--json"], cwd=tmp_path / "shop",
                            capture_output=True, text=True, check=True)
    assert json.loads(status.stdout)["tasks"]["done"] == 4
    log = subprocess.run(["git", "log", "--format=%(trailers:key=Flow-Transition)"],
                         cwd=tmp_path / "shop", capture_output=True, text=True, check=True).stdout
    assert "fn-1-add-oauth-login.3 in_progress->done action=done by=agent-b" in log
    assert "fn-1-add-oauth-login.2 in_progress->done action=done by=agent-a" in log


@pytest.mark.parametrize("page", ["guide.md", "faq.md", "flowctl.md", "file-format.md"])
def test_commands_named_in_the_docs_exist(page: str) -> None:
    text = (DOCS / page).read_text()
    code = re.findall(r"^```[^\n]*\n(.*?)^```$", text, re.M | re.S)
    code += re.findall(r"`([^`\n]+)`", re.sub(r"^```.*?^```$", "", text, flags=re.M | re.S))
    named = {name for part in code for name in re.findall(r"git flow-task ([a-z][a-z-]*)", part)}
    missing = named - set(COMMANDS) - {"help"}  # `git help flow-task` is git's man page
    assert not missing, f"{page} names commands that do not exist: {sorted(missing)}"


def test_flowctl_command_map_names_only_our_commands() -> None:
    text = (DOCS / "flowctl.md").read_text()
    table = text.split("## Commands", 1)[1].split("\n## ", 1)[0]
    ours = [row.rsplit("|", 2)[1] for row in table.splitlines() if row.startswith("| ")][1:]
    assert len(ours) > 20
    named = {span.split()[0] for cell in ours for span in re.findall(r"`([^`]+)`", cell)}
    commands = {word for word in named if re.fullmatch(r"[a-z][a-z-]*", word)}
    assert commands - set(COMMANDS) == set(), commands - set(COMMANDS)


def test_file_format_documents_every_field_and_setting() -> None:
    text = (DOCS / "file-format.md").read_text()
    task_part = text.split("## Task fields", 1)[1].split("\n## ", 1)[0]
    epic_part = text.split("## Epic fields", 1)[1].split("\n## ", 1)[0]
    for field in TASK_KEY_ORDER:
        assert f"| `{field}` |" in task_part, field
    for field in EPIC_KEY_ORDER:
        assert f"| `{field}` |" in epic_part, field
    config_part = text.split("## config.yaml", 1)[1]
    for key, value in DEFAULTS.items():
        names = [f"{key}.{sub}" for sub in value] if isinstance(value, dict) else [key]
        for name in names:
            assert f"| `{name}` |" in config_part, name


def test_slug_examples_in_the_file_format_are_what_slugify_does() -> None:
    text = (DOCS / "file-format.md").read_text()
    rows = re.findall(r"^\| ([^|`]+?) \| `([a-z0-9-]+)`", text, re.M)
    assert len(rows) >= 5
    for title, slug in rows:
        assert slugify(title) == slug, title
    assert slugify("Billing dashboard für Kunden", 40) == "billing-dashboard-fur-kunden"
