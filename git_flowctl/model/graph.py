"""Dependency graph checks that every path needs, without networkx (cheap enough for hooks).

The heavier analyses (critical path, layers, drawing) live in ``graphviews`` and import networkx
only there.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping


def find_cycle(edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A dependency cycle as ``[a, b, c, a]`` (a depends on b ...), or None.

    Iterative DFS in sorted order, so the cycle reported is deterministic.
    """
    graph = {node: sorted(set(targets)) for node, targets in edges.items()}
    state: dict[str, int] = {}  # 1 = on the stack, 2 = finished
    for root in sorted(graph):
        if state.get(root):
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = [root]
        state[root] = 1
        while stack:
            node, index = stack[-1]
            targets = graph.get(node, [])
            if index < len(targets):
                stack[-1] = (node, index + 1)
                target = targets[index]
                mark = state.get(target)
                if mark == 1:
                    return [*path[path.index(target):], target]
                if mark is None and target in graph:
                    state[target] = 1
                    stack.append((target, 0))
                    path.append(target)
            else:
                state[node] = 2
                stack.pop()
                path.pop()
    return None


def format_cycle(cycle: list[str]) -> str:
    return " -> ".join(cycle)


def task_edges(tasks: Iterable[tuple[str, list[str]]]) -> dict[str, list[str]]:
    return {task_id: list(deps) for task_id, deps in tasks}


def cycle_through(neighbors: Callable[[str], Iterable[str]],
                  new_edges: Iterable[tuple[str, str]]) -> list[str] | None:
    """The cycle a new edge ``a -> b`` (a depends on b) would close, as ``[a, b, ..., a]``.

    ``neighbors`` gives a node's dependencies in the graph *with* the new edges. Only cycles
    through a new edge are reported, so a cycle someone wrote by hand elsewhere does not block an
    unrelated change (the validator reports that one). Breadth-first with sorted neighbours: the
    shortest cycle, the same one every time.
    """
    for source, target in new_edges:
        if source == target:
            return [source, source]
        path = shortest_path(neighbors, target, source)
        if path is not None:
            return [source, *path]
    return None


def shortest_path(neighbors: Callable[[str], Iterable[str]], start: str,
                  goal: str) -> list[str] | None:
    """``[start, ..., goal]`` following dependency edges, or None when goal is unreachable."""
    previous: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = [node]
            while (parent := previous[path[-1]]) is not None:
                path.append(parent)
            return path[::-1]
        for target in sorted(set(neighbors(node))):
            if target not in previous:
                previous[target] = node
                queue.append(target)
    return None
