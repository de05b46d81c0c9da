"""`board`: a plain snapshot without a terminal (every task once), rich on a terminal, --watch
redrawing when a ref moves and ending cleanly on Ctrl-C."""

from __future__ import annotations

import os
import pty
import re
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import pytest
from conftest import FIXTURES, FLOW_EXE, Repo

FULL_ID = re.compile(r"fn-\d+-[a-z0-9-]+\.\d+")
TIMEOUT = 120  # generous: the machine is shared; nothing here waits on a timing margin


def import_fixture(repo: Repo, tmp_path: Path) -> Repo:
    project = tmp_path / "flowctl"
    shutil.copytree(FIXTURES / "flowctl-0.26", project)
    repo.ok("import", "flowctl", str(project / "repo-flow"), "--state-dir",
            str(project / "flow-state"))
    return repo


@pytest.fixture
def imported(repo: Repo, tmp_path: Path) -> Repo:
    """The flowctl fixture with tasks in every column: its epic fn-2 no longer waits for fn-1,
    so fn-2.1 is ready (with the dependency, `next` would pass fn-2 over)."""
    import_fixture(repo, tmp_path)
    repo.ok("epic", "rm-dep", "fn-2", "fn-1")
    return repo


def test_a_task_whose_epic_waits_is_shown_waiting_for_that_epic(repo: Repo, tmp_path: Path) -> None:
    import_fixture(repo, tmp_path)
    out = repo.flow("board").stdout
    # on the critical path (*): it waits for fn-1's last tasks through the epic dependency
    assert "  * fn-2-billing-dashboard-fur-kunden.1  Invoice table  " \
           "(waits for epic fn-1-add-oauth-login)" in out
    assert "Critical path (4 tasks, marked *): fn-1.2 -> fn-1.4 -> fn-2.1 -> fn-2.2" in out
    assert re.search(r"fn-2-billing-dashboard-fur-kunden +\[-+\] 0/2  open  Billing dashboard "
                     r"für Kunden  \(waits for fn-1-add-oauth-login\)", out), out
    data = repo.ok("board")
    assert data["ready"] == []
    assert "fn-2-billing-dashboard-fur-kunden.1" in [c["id"] for c in data["columns"]["waiting"]]


def test_plain_snapshot_lists_every_task_once(imported: Repo) -> None:
    result = imported.flow("board")
    assert result.exit_code == 0, result
    out = result.stdout
    tasks = [t["id"] for t in imported.ok("tasks")["tasks"]]
    assert len(tasks) == 6
    for task_id in tasks:
        assert len(re.findall(re.escape(task_id) + r"(?![\d])", out)) == 1, task_id
    assert sorted(FULL_ID.findall(out)) == sorted(tasks)  # and nothing else by its full ID
    assert "in_progress (1)\n  * fn-1-add-oauth-login.2  Implement JWT middleware  " \
           "@alice@example.com" in out
    assert "blocked (1)\n    fn-1-add-oauth-login.3  Add login UI  " \
           "(Waiting on UI design review.)" in out
    assert "ready (1): the queue, in the order `next` takes it\n" \
           "    1. fn-2-billing-dashboard-fur-kunden.1  Invoice table" in out
    assert "  * fn-1-add-oauth-login.4  End-to-end login tests  (waits for fn-1.2, fn-1.3)" in out
    assert "Critical path (2 tasks, marked *): fn-1.2 -> fn-1.4" in out
    assert re.search(r"fn-1-add-oauth-login +\[#####-+\] 1/4  open  Add OAuth login", out)
    assert "Latest transitions" in out and "fn-1.1  none -> done  import by alice@example.com" in out
    assert "\x1b[" not in out  # no terminal, no escape codes


def test_epic_filter_and_json_agree_with_ready_and_critical_path(imported: Repo) -> None:
    data = imported.ok("board")
    assert data["ready"] == [t["id"] for t in imported.ok("ready")["ready"]]
    assert data["critical_path"] == [t["id"] for t in imported.ok("critical-path")["path"]]
    assert [card["id"] for card in data["columns"]["in_progress"]] == ["fn-1-add-oauth-login.2"]
    assert [e["id"] for e in data["epics"]] == ["fn-1-add-oauth-login",
                                               "fn-2-billing-dashboard-fur-kunden"]
    assert data["events"][0]["action"] == "import"
    only = imported.flow("board", "--epic", "fn-2")
    assert only.exit_code == 0
    assert sorted(FULL_ID.findall(only.stdout)) == ["fn-2-billing-dashboard-fur-kunden.1",
                                                    "fn-2-billing-dashboard-fur-kunden.2"]
    assert "fn-1.1  none -> done" not in only.stdout  # transitions of the epic only
    unknown = imported.refused("board", "--epic", "fn-9")
    assert "no epic 'fn-9'" in unknown.stderr


def test_a_reverted_transition_shows_among_the_latest(flow_repo: Repo) -> None:
    repo = flow_repo
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1", "--summary", "schema")
    repo.git("revert", "--no-edit", "HEAD")
    latest = repo.ok("board")["events"]
    assert [(e["subject"], e["source"], e["target"], e["action"]) for e in latest[:2]] == [
        ("fn-1-add-oauth-login.1", "done", "in_progress", "revert"),
        ("fn-1-add-oauth-login.1", "in_progress", "done", "done")]
    assert [card["id"] for card in repo.ok("board")["columns"]["in_progress"]] == \
        ["fn-1-add-oauth-login.1"]


def test_board_of_a_repository_without_a_plan_says_how_to_start(repo: Repo) -> None:
    refused = repo.refused("board")
    assert "git flow-task init" in refused.stderr


def _read_until(stream: object, wanted: str, seen: list[str]) -> None:
    """Read lines into ``seen`` until one contains ``wanted`` (the caller's timer kills a hang)."""
    while True:
        line = stream.readline()  # type: ignore[attr-defined]
        if not line:
            raise AssertionError(f"output ended before {wanted!r}:\n{''.join(seen)}")
        seen.append(line)
        if wanted in line:
            return


def test_watch_without_a_terminal_prints_a_snapshot_per_change_and_stops_on_ctrl_c(
        imported: Repo) -> None:
    process = subprocess.Popen([FLOW_EXE, "board", "--watch", "--interval", "0.05"],
                               cwd=imported.path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    watchdog = threading.Timer(TIMEOUT, process.kill)
    watchdog.start()
    try:
        seen: list[str] = []
        _read_until(process.stdout, "Critical path", seen)
        assert "ready (1)" in "".join(seen)
        imported.ok("start", "fn-2.1", env={"FLOW_ACTOR": "bob"})
        # The branch moves before the work tree file is replaced, so a snapshot taken in
        # between may still show the old state; the file's replacement triggers the next one.
        while True:
            _read_until(process.stdout, "Board:", seen)
            _read_until(process.stdout, "Critical path", seen)
            latest = "".join(seen).rsplit("Board:", 1)[1]
            if "@bob" in latest:
                break
        assert "in_progress (2)" in latest and "ready (0)" in latest
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=TIMEOUT)
    finally:
        watchdog.cancel()
        process.kill()
    assert process.returncode == 0, errors
    assert "Traceback" not in errors


def test_on_a_terminal_the_board_is_drawn_with_rich_and_watch_ends_on_ctrl_c(
        imported: Repo) -> None:
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "140", "LINES": "60"}
    process = subprocess.Popen([FLOW_EXE, "board", "--watch", "--interval", "0.05"],
                               cwd=imported.path, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    output = bytearray()
    drawn = threading.Event()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return
            if not chunk:
                return
            output.extend(chunk)
            if b"latest transitions" in output:
                drawn.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        assert drawn.wait(TIMEOUT), bytes(output).decode(errors="replace")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=TIMEOUT) == 0
    finally:
        process.kill()
        reader.join(timeout=TIMEOUT)
        os.close(master)
    text = bytes(output).decode(errors="replace")
    assert "Traceback" not in text
    for title in ("epics", "ready queue", "critical path", "latest transitions", "in_progress"):
        assert title in text, title
    assert "◆" in text and "fn-1.4" in text  # the critical path, marked on the cards


def test_watch_with_json_prints_one_object_per_change(imported: Repo) -> None:
    import json

    process = subprocess.Popen([FLOW_EXE, "board", "--watch", "--json", "--interval", "0.05"],
                               cwd=imported.path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    watchdog = threading.Timer(TIMEOUT, process.kill)
    watchdog.start()
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        imported.ok("block", "fn-2.1", "--reason", "no invoices yet")
        second = json.loads(process.stdout.readline())
        while second["ready"]:  # a snapshot between the ref update and the file's replacement
            second = json.loads(process.stdout.readline())
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=TIMEOUT)
    finally:
        watchdog.cancel()
        process.kill()
    assert process.returncode == 0
    assert first["success"] is True and first["ready"] == ["fn-2-billing-dashboard-fur-kunden.1"]
    assert second["ready"] == []
    assert [c["id"] for c in second["columns"]["blocked"]][-1] == "fn-2-billing-dashboard-fur-kunden.1"
    assert second["head"] != first["head"]


def test_a_task_claimed_in_another_worktree_leaves_the_ready_queue(imported: Repo,
                                                                  tmp_path: Path) -> None:
    """A task another agent has claimed is waiting for this actor, in the board's columns as in
    every other view (issue #12's one definition of ready): not in the ready column."""
    imported.git("worktree", "add", "-q", str(tmp_path / "other"), "-b", "other")
    imported.ok("start", "fn-2.1", cwd=tmp_path / "other", env={"FLOW_ACTOR": "bob"})
    data = imported.ok("board")
    assert data["ready"] == [] == [t["id"] for t in imported.ok("ready")["ready"]]
    assert "fn-2-billing-dashboard-fur-kunden.1" not in [c["id"] for c in data["columns"]["ready"]]
    card = next(c for c in data["columns"]["waiting"] if c["id"] == "fn-2-billing-dashboard-fur-kunden.1")
    assert card["held_by"] == "bob" and card["waits_for"] == ["claimed by bob"]
    assert imported.ok("show", "fn-2.1")["view_state"] == card["state"] == "waiting"
    out = imported.flow("board").stdout
    waiting = out[out.index("waiting ("):out.index("ready (0)\n")]
    assert "    fn-2-billing-dashboard-fur-kunden.1  Invoice table  (claimed by bob)\n" in waiting


def test_a_redraw_reads_only_what_changed(imported: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    """`board --watch` redraws from the plan's snapshot: after a transition the only plan file
    read again is the one it wrote, and nothing is parsed (the writer's new tree catalog has
    it)."""
    import time

    from git_flowctl.cli.commands.board import snapshot
    from git_flowctl.repo import catalog
    from git_flowctl.repo.workspace import Workspace

    old = time.time_ns() - 3600 * 1_000_000_000  # files older than the racy window
    for path in (imported.path / ".flow").rglob("*"):
        os.utime(path, ns=(old, old))
    ws = Workspace(imported.path)
    snapshot(ws, None)
    imported.ok("start", "fn-2.1", env={"FLOW_ACTOR": "bob"})
    read: list[str] = []
    parsed: list[str] = []
    real_read, real_parse = catalog._Refresh.read, catalog.parse_entry
    monkeypatch.setattr(catalog._Refresh, "read",
                        lambda self, path: read.append(path) or real_read(self, path))
    monkeypatch.setattr(catalog, "parse_entry",
                        lambda path, raw, blob: parsed.append(path) or real_parse(path, raw, blob))
    board = snapshot(Workspace(imported.path), None)
    assert any(card.id.startswith("fn-2") and card.assignee == "bob"
               for card in board.columns["in_progress"])
    assert [path for path in read if path.endswith(".md")] == [
        f".flow/tasks/{card.id}.md" for card in board.columns["in_progress"] if card.assignee == "bob"]
    assert parsed == []
