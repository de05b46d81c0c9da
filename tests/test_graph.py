"""Issue #3: graph (ascii, mermaid, dot), layers and waves, critical path; networkx stays lazy."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from conftest import Repo
from plans import PREFIX, tid


@pytest.fixture
def diamond_repo(flow_repo: Repo) -> Repo:
    """fn-1: 1 -> {2, 3} -> 4, plus an outside epic fn-2 whose task waits for fn-1.4."""
    flow_repo.ok("task", "create", "--epic", "fn-1", "--title", "E2E tests", "--deps", "fn-1.2,fn-1.3")
    flow_repo.ok("epic", "create", "--title", "Billing")
    flow_repo.ok("task", "create", "--epic", "fn-2", "--title", "Charge", "--deps", "fn-1.4")
    return flow_repo


def test_graph_json_has_nodes_edges_layers_and_waves(diamond_repo: Repo) -> None:
    repo = diamond_repo
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1")
    data = repo.ok("graph", "--epic", "fn-1")
    assert data["layers"] == [[tid(1)], [tid(2), tid(3)], [tid(4)]]
    assert data["waves"] == [[tid(2), tid(3)], [tid(4)]]  # done work is not a wave
    assert {(e["from"], e["to"]) for e in data["edges"]} == {
        (tid(1), tid(2)), (tid(1), tid(3)), (tid(2), tid(4)), (tid(3), tid(4))}
    states = {node["id"]: node["status"] for node in data["nodes"]}
    assert states == {tid(1): "done", tid(2): "ready", tid(3): "ready", tid(4): "waiting"}
    everything = repo.ok("graph")
    assert everything["layers"][-1] == ["fn-2-billing.1"]


def test_graph_of_an_epic_shows_outside_dependencies(diamond_repo: Repo) -> None:
    data = diamond_repo.ok("graph", "--epic", "fn-2")
    nodes = {node["id"]: node for node in data["nodes"]}
    assert nodes[tid(4)]["external"] is True and nodes["fn-2-billing.1"]["external"] is False
    assert data["waves"] == [["fn-2-billing.1"]]
    text = diamond_repo.flow("graph", "--epic", "fn-2").stdout
    assert "fn-1.4" in text and "(outside fn-2-billing)" in text


def test_ascii_drawing(diamond_repo: Repo) -> None:
    text = diamond_repo.flow("graph", "--epic", "fn-1").stdout
    assert text.splitlines()[:7] == [
        "layer 1",
        "  [ready]   fn-1.1  Design token schema",
        "layer 2",
        "  [waiting] fn-1.2  Implement JWT middleware  <- fn-1.1",
        "  [waiting] fn-1.3  Add login UI  <- fn-1.1",
        "layer 3",
        "  [waiting] fn-1.4  E2E tests  <- fn-1.2, fn-1.3",
    ]
    assert "wave 2: fn-1.2, fn-1.3" in text


def test_mermaid_drawing(diamond_repo: Repo) -> None:
    text = diamond_repo.flow("graph", "--format", "mermaid").stdout
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    assert '  t_fn_1_add_oauth_login_1["fn-1.1 Design token schema<br/>ready"]:::ready' in lines
    assert "  t_fn_1_add_oauth_login_2 --> t_fn_1_add_oauth_login_4" in lines
    assert any(line.startswith("  classDef waiting fill:") for line in lines)
    outside = diamond_repo.flow("graph", "--epic", "fn-2", "--format", "mermaid").stdout
    assert "t_fn_1_add_oauth_login_4 -.-> t_fn_2_billing_1" in outside


def test_dot_drawing_is_valid_graphviz(diamond_repo: Repo, tmp_path: object) -> None:
    repo = diamond_repo
    repo.ok("task", "edit", "fn-1.3", "--title", 'Login "UI"')
    text = repo.flow("graph", "--format", "dot").stdout
    assert text.startswith("digraph flow {\n") and text.endswith("}\n")
    assert f'"{tid(1)}" -> "{tid(2)}";' in text
    assert f'subgraph "cluster_{PREFIX}"' in text
    assert 'Login \\"UI\\"' in text
    if shutil.which("dot"):
        subprocess.run(["dot", "-Tsvg"], input=text, text=True, check=True, capture_output=True)


def test_critical_path_by_count_and_by_estimate(diamond_repo: Repo) -> None:
    repo = diamond_repo
    by_count = repo.ok("critical-path")
    assert [row["id"] for row in by_count["path"]] == [tid(1), tid(2), tid(4), "fn-2-billing.1"]
    assert by_count["length"] == 4 and by_count["by"] == "count"
    repo.ok("task", "edit", "fn-1.3", "--estimate", "5")
    repo.ok("task", "edit", "fn-1.2", "--estimate", "2")
    repo.ok("task", "edit", "fn-1.1", "--estimate", "0.5")
    by_estimate = repo.ok("critical-path", "--by", "estimate")
    assert [row["id"] for row in by_estimate["path"]] == [tid(1), tid(3), tid(4), "fn-2-billing.1"]
    assert by_estimate["total_estimate"] == 5.5
    assert by_estimate["weight"] == 7.5  # two tasks without an estimate count 1 each
    assert by_estimate["unestimated"] == [tid(4), "fn-2-billing.1"]
    repo.ok("start", "fn-1.1")
    repo.ok("done", "fn-1.1")
    after = repo.ok("critical-path", "--by", "estimate")
    assert [row["id"] for row in after["path"]] == [tid(3), tid(4), "fn-2-billing.1"]
    epic_two = repo.ok("critical-path", "--epic", "fn-2")
    assert [(row["id"], row["external"]) for row in epic_two["path"]] == [
        (tid(2), True), (tid(4), True), ("fn-2-billing.1", False)]
    human = repo.flow("critical-path", "--by", "estimate").stdout
    assert human.startswith("critical path: estimate 7 over 3 tasks")


def test_critical_path_of_finished_work_is_empty(flow_repo: Repo) -> None:
    repo = flow_repo
    for task in ("fn-1.1", "fn-1.2", "fn-1.3"):
        repo.ok("start", task)
        repo.ok("done", task)
    assert repo.ok("critical-path")["path"] == []
    assert repo.flow("critical-path").stdout.strip() == "no unfinished work"


def test_a_hand_made_cycle_is_reported_not_drawn(flow_repo: Repo) -> None:
    repo = flow_repo
    path = repo.path / f".flow/tasks/{tid(1)}.md"
    path.write_text(path.read_text().replace("depends_on: []", f"depends_on: [{tid(2)}]"))
    repo.commit_all("a cycle by hand")
    for command in (["graph"], ["critical-path"]):
        result = repo.refused(*command)
        assert f"dependency cycle: {tid(1)} -> {tid(2)} -> {tid(1)}" in result.stderr


def test_networkx_is_imported_only_by_graph_commands(flow_repo: Repo) -> None:
    """The critical path (of `critical-path` and `board`) walks the facts without networkx."""
    code = (
        "import sys\n"
        "from git_flowctl.entry import main\n"
        "main(sys.argv[1:] + ['--json'])\n"
        "sys.stderr.write('NX' if 'networkx' in sys.modules else 'none')\n"
    )
    for args, expected in ((["status"], "none"), (["ready"], "none"),
                           (["dep", "add", "fn-1.3", "fn-1.2", "--dry-run"], "none"),
                           (["graph"], "NX"), (["critical-path"], "none"), (["board"], "none")):
        result = subprocess.run([sys.executable, "-c", code, *args], cwd=flow_repo.path,
                                capture_output=True, text=True)
        assert result.stderr.endswith(expected), (args, result.stderr)
