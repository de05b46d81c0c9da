"""The dependency graph as pictures and analyses: layers, critical path, ASCII, Mermaid, DOT.

networkx is imported inside the drawing functions only, so no other command pays for it; the
critical path (also on every `board`) is a topological walk of the plan's facts without it. Edges point
the way work flows, from a dependency to the task that waits for it. A view of one epic also
shows the tasks of other epics (or of the archive) that its tasks depend on, marked external.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from git_flowctl.model import ids, states
from git_flowctl.model.errors import FlowError
from git_flowctl.model.graph import find_cycle, format_cycle
from git_flowctl.repo.plan import Plan

if TYPE_CHECKING:
    import networkx as nx

    from git_flowctl.coordination.queries import Offer

FORMATS = ("ascii", "mermaid", "dot")
ARCHIVED, MISSING = "archived", states.MISSING

# Fill colours for drawings, by the state a board shows.
COLOURS = {
    "done": "#d4edda", "skipped": "#e9ecef", "ready": "#cfe2ff", "waiting": "#f8f9fa",
    "in_progress": "#fff3cd", "blocked": "#f5c2c7", "failed": "#f1aeb5",
    "up_for_retry": "#ffe5d0", "upstream_failed": "#f8d7da", "archived": "#e9ecef",
    "missing": "#ffffff",
}


@dataclass
class Node:
    id: str
    title: str
    epic: str
    state: str  # view state: ready/waiting split out, archived or missing for outside tasks
    external: bool
    estimate: float | None = None
    priority: int | None = None
    retry: str | None = None  # an up_for_retry task: "retry 1 of 2" (facts.retry_note)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "epic": self.epic, "status": self.state,
                "external": self.external, "estimate": self.estimate, "retry": self.retry}

    @property
    def shown_state(self) -> str:
        """The state as drawn: an up_for_retry task says so beside ready or waiting."""
        return f"{self.state}, {self.retry}" if self.retry else self.state


@dataclass
class GraphView:
    epic: str | None
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)  # (dependency, dependent)
    # (epic depended on, epic, is it open): `depends_on_epics` of the epics shown
    epic_edges: list[tuple[str, str, bool]] = field(default_factory=list)
    # what an open epic dependency means between tasks (facts.PlanFacts.epic_links)
    epic_links: list[tuple[str, str]] = field(default_factory=list)
    layers: list[list[str]] = field(default_factory=list)
    waves: list[list[str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "epic": self.epic,
            "nodes": [node.as_dict() for node in self.nodes.values()],
            "edges": [{"from": dep, "to": task} for dep, task in self.edges],
            "epic_edges": [{"from": dep, "to": epic, "open": is_open}
                           for dep, epic, is_open in self.epic_edges],
            "epic_links": [{"from": last, "to": first} for last, first in self.epic_links],
            "layers": self.layers,
            "waves": self.waves,
        }


def _digraph(view: GraphView) -> nx.DiGraph:
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(view.nodes)
    graph.add_edges_from(view.edges)
    graph.add_edges_from(view.epic_links)
    return graph


def _ordered(node_ids: Any) -> list[str]:
    return sorted(node_ids, key=ids.id_sort_key)


def build(plan: Plan, epic_id: str | None = None, offer: Offer | None = None) -> GraphView:
    """The graph of one epic (with its outside dependencies) or of every live task. A node's
    state is what ``offer`` says the actor may do (queries.Offer: a task someone else holds is
    waiting); without one, the plan's own view."""
    import networkx as nx

    state_of = offer.state if offer is not None else plan.view_state
    view = GraphView(epic_id)
    chosen = [t for t in plan.sorted_tasks() if epic_id is None or t.epic == epic_id]
    for task in chosen:
        view.nodes[task.id] = Node(task.id, task.title, task.epic, state_of(task.id), False,
                                   task.estimate, task.priority, plan.facts.retry_note(task.id))
    for task in chosen:
        for dep in task.depends_on:
            if dep not in view.nodes:
                view.nodes[dep] = _outside_node(plan, dep)
            view.edges.append((dep, task.id))
    facts = plan.facts
    for epic_id in sorted({task.epic for task in chosen}, key=ids.id_sort_key):
        epic = facts.epics.get(epic_id)
        if epic is None:
            continue
        waits = set(facts.epic_waits(epic_id))
        view.epic_edges += [(dep, epic_id, dep in waits) for dep in epic.depends_on_epics]
        for last, first in facts.epic_links(epic_id):
            if first in view.nodes and not view.nodes[first].external:
                if last not in view.nodes:
                    view.nodes[last] = _outside_node(plan, last)
                view.epic_links.append((last, first))
    graph = _digraph(view)
    try:
        view.layers = [_ordered(layer) for layer in nx.topological_generations(graph)]
    except nx.NetworkXUnfeasible:
        cycle = find_cycle({t.id: t.depends_on for t in plan.tasks.values()}) or []
        raise FlowError(f"the plan has a dependency cycle: {format_cycle(cycle)}",
                        hint="remove one of these dependencies (`git flow-task dep rm`)",
                        cycle=cycle) from None
    unfinished = [n for n, node in view.nodes.items()
                  if not node.external and node.state not in states.FINISHED]
    view.waves = [_ordered(layer) for layer in nx.topological_generations(graph.subgraph(unfinished))]
    return view


def _outside_node(plan: Plan, task_id: str) -> Node:
    task = plan.tasks.get(task_id)
    if task is not None:
        return Node(task.id, task.title, task.epic, plan.view_state(task.id), True, task.estimate,
                    task.priority, plan.facts.retry_note(task.id))
    archived = plan.archived_task(task_id)
    if archived is not None:
        return Node(task_id, archived.title, archived.epic, ARCHIVED, True)
    return Node(task_id, "(missing)", ids.epic_of(task_id), MISSING, True)


# Critical path ----------------------------------------------------------------------------------


def critical_path(plan: Plan, epic_id: str | None = None, by: str = "count") -> dict[str, Any]:
    """The longest chain of unfinished work, by task count or by the ``estimate`` field.

    Unfinished: every state but done and skipped. For one epic, unfinished tasks of other epics
    that its work waits for are part of the chain. With ``by="estimate"`` a task without an
    estimate weighs 1 and is listed in ``unestimated``. Ties go to the lower ID, so the answer is
    the same every time.
    """
    if by not in ("count", "estimate"):
        raise FlowError(f"unknown weight {by!r}", hint="--by count or --by estimate")
    tasks = plan.facts.tasks  # facts: no file is parsed (issue #11)
    scope = {t.id for t in tasks.values() if epic_id is None or t.epic == epic_id}
    unfinished = {t.id for t in tasks.values() if t.status not in states.FINISHED}
    nodes = [task_id for task_id in scope if task_id in unfinished]
    predecessors: dict[str, set[str]] = {task_id: set() for task_id in nodes}
    successors: dict[str, list[str]] = {task_id: [] for task_id in nodes}
    facts = plan.facts
    links: dict[str, list[str]] = {}  # an epic's first tasks wait for an open epic's last ones
    linked: set[str] = set()  # the epics whose links are in ``links``
    pending = list(nodes)
    while pending:  # pull in unfinished prerequisites from other epics
        task_id = pending.pop()
        epic_id = tasks[task_id].epic
        if epic_id not in linked:
            linked.add(epic_id)
            for last, first in facts.epic_links(epic_id):
                links.setdefault(first, []).append(last)
        for dep in [*tasks[task_id].depends_on, *links.get(task_id, ())]:
            if dep in unfinished:
                if dep not in predecessors:
                    predecessors[dep] = set()
                    successors[dep] = []
                    pending.append(dep)
                if dep not in predecessors[task_id]:
                    predecessors[task_id].add(dep)
                    successors[dep].append(task_id)

    def weight(task_id: str) -> float:
        estimate = tasks[task_id].estimate
        return 1.0 if by == "count" or estimate is None else estimate

    order = _lexicographic_order(predecessors, successors)
    if order is None:
        cycle = find_cycle({t.id: t.depends_on for t in tasks.values()}) or []
        raise FlowError(f"the plan has a dependency cycle: {format_cycle(cycle)}",
                        hint="remove one of these dependencies (`git flow-task dep rm`)") from None
    best: dict[str, float] = {}
    previous: dict[str, str | None] = {}
    for task_id in order:
        preds = _ordered(predecessors[task_id])
        choice = max(preds, key=lambda p: best[p], default=None)  # max keeps the first of equals
        best[task_id] = weight(task_id) + (best[choice] if choice is not None else 0.0)
        previous[task_id] = choice
    path: list[str] = []
    if best:
        end: str | None = max(_ordered(best), key=lambda t: best[t])
        while end is not None:
            path.append(end)
            end = previous[end]
        path.reverse()
    rows = []
    for task_id in path:
        task = tasks[task_id]
        rows.append({"id": task_id, "title": task.title, "epic": task.epic,
                     "status": plan.facts.view_state(task_id), "estimate": task.estimate,
                     "external": task_id not in scope})
    estimates = [tasks[t].estimate for t in path]
    return {
        "epic": epic_id,
        "by": by,
        "path": rows,
        "length": len(path),
        "total_estimate": sum(e for e in estimates if e is not None) if by == "estimate" else None,
        "weight": best[path[-1]] if path else 0,
        "unestimated": [t for t in path if tasks[t].estimate is None] if by == "estimate" else [],
        "unfinished": len(predecessors),
    }


def _lexicographic_order(predecessors: dict[str, set[str]],
                         successors: dict[str, list[str]]) -> list[str] | None:
    """Kahn's topological order taking the lowest ID (``ids.id_sort_key``) among the tasks
    ready at each step (networkx's lexicographical_topological_sort, without importing it:
    keys are unique, so the order is the same); None when a cycle remains."""
    import heapq

    waiting = {task_id: len(preds) for task_id, preds in predecessors.items()}
    heap = [(ids.id_sort_key(task_id), task_id) for task_id, count in waiting.items() if count == 0]
    heapq.heapify(heap)
    order = []
    while heap:
        _, task_id = heapq.heappop(heap)
        order.append(task_id)
        for child in successors[task_id]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(heap, (ids.id_sort_key(child), child))
    return order if len(order) == len(waiting) else None


# Renderings -------------------------------------------------------------------------------------


def short_names(view: GraphView) -> dict[str, str]:
    """``fn-1.2`` for each node where that short form is unique in the view, else the full ID."""
    shorts: dict[str, str] = {}
    for node_id in view.nodes:
        parsed = ids.parse_id(node_id)
        if parsed is None:
            shorts[node_id] = node_id
            continue
        short = f"{parsed.prefix}-{parsed.epic_number}"
        shorts[node_id] = f"{short}.{parsed.task_number}" if parsed.is_task else short
    counts: dict[str, int] = {}
    for short in shorts.values():
        counts[short] = counts.get(short, 0) + 1
    return {node_id: short if counts[short] == 1 else node_id for node_id, short in shorts.items()}


def render_ascii(view: GraphView) -> str:
    if not view.nodes:
        return "no tasks\n"
    names = short_names(view)
    waits: dict[str, list[str]] = {}
    for dep, task in view.edges:
        waits.setdefault(task, []).append(names[dep])
    for last, first in view.epic_links:
        waits.setdefault(first, []).append(f"{names[last]} (epic)")
    width = max(len(names[n]) for n in view.nodes)
    state_width = max(len(node.shown_state) for node in view.nodes.values()) + 2
    lines: list[str] = []
    for number, layer in enumerate(view.layers, start=1):
        lines.append(f"layer {number}")
        for node_id in layer:
            node = view.nodes[node_id]
            text = f"  {('[' + node.shown_state + ']').ljust(state_width)} {names[node_id].ljust(width)}  {node.title}"
            if node.external:
                text += f"  (outside {view.epic or 'the view'})" if view.epic else "  (outside)"
            if waits.get(node_id):
                text += "  <- " + ", ".join(waits[node_id])
            lines.append(text.rstrip())
    if view.epic_edges:
        lines.append("")
        lines.append("epic dependencies (no task of an epic starts before those it depends on close):")
        for dep, epic, is_open in view.epic_edges:
            lines.append(f"  {epic} waits for {dep}" if is_open else f"  {epic} after {dep} (closed)")
    if view.waves:
        lines.append("")
        lines.append("unfinished work, in waves that can run in parallel:")
        for number, wave in enumerate(view.waves, start=1):
            lines.append(f"  wave {number}: " + ", ".join(names[n] for n in wave))
    return "\n".join(lines) + "\n"


def _mermaid_id(node_id: str) -> str:
    return "t_" + re.sub(r"[^A-Za-z0-9_]", "_", node_id)


def _mermaid_label(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def render_mermaid(view: GraphView) -> str:
    names = short_names(view)
    lines = ["flowchart TD"]
    for node_id in _ordered(view.nodes):
        node = view.nodes[node_id]
        label = _mermaid_label(f"{names[node_id]} {node.title}")
        lines.append(f'  {_mermaid_id(node_id)}["{label}<br/>{node.shown_state}"]:::{node.state}')
    for dep, task in view.edges:
        arrow = "-.->" if view.nodes[dep].external else "-->"
        lines.append(f"  {_mermaid_id(dep)} {arrow} {_mermaid_id(task)}")
    for last, first in view.epic_links:  # a thick arrow: an epic dependency
        lines.append(f"  {_mermaid_id(last)} ==>|epic| {_mermaid_id(first)}")
    for state in sorted({node.state for node in view.nodes.values()}):
        lines.append(f"  classDef {state} fill:{COLOURS.get(state, '#ffffff')},stroke:#555")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def render_dot(view: GraphView) -> str:
    names = short_names(view)
    lines = ["digraph flow {", "  rankdir=LR;",
             '  node [shape=box, style="rounded,filled", fontname="Helvetica"];']
    by_epic: dict[str, list[str]] = {}
    for node_id in _ordered(view.nodes):
        by_epic.setdefault(view.nodes[node_id].epic, []).append(node_id)
    for epic, members in sorted(by_epic.items(), key=lambda item: ids.id_sort_key(item[0])):
        lines.append(f"  subgraph {_dot_quote('cluster_' + epic)} {{")
        lines.append(f"    label={_dot_quote(epic)};")
        for node_id in members:
            node = view.nodes[node_id]
            attrs = [f"label={_dot_quote(names[node_id] + chr(10) + node.title + chr(10) + '[' + node.shown_state + ']')}",
                     f"fillcolor={_dot_quote(COLOURS.get(node.state, '#ffffff'))}"]
            if node.external:
                attrs.append('style="rounded,filled,dashed"')
            lines.append(f"    {_dot_quote(node_id)} [{', '.join(attrs)}];")
        lines.append("  }")
    for dep, task in view.edges:
        lines.append(f"  {_dot_quote(dep)} -> {_dot_quote(task)};")
    for last, first in view.epic_links:
        lines.append(f'  {_dot_quote(last)} -> {_dot_quote(first)} [style=bold, label="epic"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(view: GraphView, fmt: str) -> str:
    if fmt == "mermaid":
        return render_mermaid(view)
    if fmt == "dot":
        return render_dot(view)
    return render_ascii(view)
