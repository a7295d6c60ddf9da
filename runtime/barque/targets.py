"""Which nodes a run is about: resolve target names, take their upstream closure, order it.

Pure functions over a ``Graph``. Targets are matched the way people type them: a full id
(``pipeline.py:report``), an explicit ``name=``, or a bare function name when it is unique.
"""

from __future__ import annotations

import heapq
from typing import Iterable, Sequence

from barque.errors import PlanError
from barque.model import Graph


def resolve_targets(graph: Graph, targets: Sequence[str] | None) -> list[str]:
    """Node ids for ``targets``; with none, every asset and sensor (tasks run only when named)."""
    if not targets:
        return sorted(n.id for n in graph.nodes.values() if n.kind != "task")
    resolved: list[str] = []
    for name in targets:
        for part in name.split(","):
            if part:
                resolved.append(resolve_one(graph, part.strip()))
    return list(dict.fromkeys(resolved))


def resolve_one(graph: Graph, name: str) -> str:
    """The id of the node called ``name``; a clear error when it is unknown or ambiguous."""
    if name in graph.nodes:
        return name
    matches = sorted(n.id for n in graph.nodes.values() if n.function == name or n.id.endswith("/" + name))
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise PlanError(
            f"target {name!r} is ambiguous: {', '.join(matches)}",
            hint="name the node by its full id, e.g. " + matches[0],
        )
    import difflib  # only for this error: every run resolves targets, few misspell one (~1 ms import)

    names = sorted({*graph.nodes, *(n.function for n in graph.nodes.values())})
    close = difflib.get_close_matches(name, names, n=3)
    raise PlanError(
        f"unknown target {name!r}",
        hint=(f"did you mean {' or '.join(close)}? " if close else "") + "`barque list FILE` shows every node",
    )


def select_nodes(graph: Graph, target_ids: Iterable[str]) -> set[str]:
    """The targets and everything they read, transitively."""
    seen: set[str] = set()
    stack = list(target_ids)
    upstream = graph.upstream
    while stack:
        node_id = stack.pop()
        if node_id not in seen:
            seen.add(node_id)
            stack.extend(upstream(node_id))
    return seen


def topo_order(graph: Graph, node_ids: set[str]) -> list[str]:
    """``node_ids`` in dependency order, ties broken by id so the order is deterministic."""
    indegree = dict.fromkeys(node_ids, 0)
    children: dict[str, list[str]] = {n: [] for n in node_ids}
    upstream = graph.upstream
    for n in node_ids:
        for up in upstream(n):
            if up in node_ids:
                indegree[n] += 1
                children[up].append(n)
    ready = [n for n, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    order: list[str] = []
    pop, push = heapq.heappop, heapq.heappush
    while ready:
        n = pop(ready)
        order.append(n)
        for c in children[n]:
            indegree[c] -= 1
            if indegree[c] == 0:
                push(ready, c)
    if len(order) != len(node_ids):
        stuck = sorted(set(node_ids) - set(order))
        raise PlanError(f"the graph has a cycle through {', '.join(stuck)}", hint="remove one of the inputs")
    return order


def refresh_nodes(graph: Graph, target_ids: Sequence[str], names: Sequence[str], cascade: bool = True) -> dict[str, str]:
    """What ``--refresh NAMES`` recomputes, each node mapped to the named node it comes from.

    barca's rule ("Exactly what --refresh does"): the named assets, and with ``cascade`` every
    asset of the targets' cone downstream of one of them; never their upstream. A name that is
    not an asset of the cone is an error listing the ones that are, so a typo is never silent.
    """
    cone = select_nodes(graph, target_ids)
    assets = sorted(n for n in cone if graph.nodes[n].kind == "asset")
    named: list[str] = []
    for name in names:
        node_id = resolve_one(graph, name)
        if node_id not in assets:
            raise PlanError(
                f"--refresh {name!r} is not an asset the targets read",
                hint="--refresh takes assets of the targets' cone: " + (", ".join(assets) or "there are none"),
            )
        named.append(node_id)
    chosen = dict(zip(named, named))
    if cascade:
        for node_id in topo_order(graph, cone):
            if node_id not in chosen and graph.nodes[node_id].kind == "asset":
                source = next((chosen[up] for up in graph.upstream(node_id) if up in chosen), None)
                if source is not None:
                    chosen[node_id] = source
    return chosen


def select_downstream(graph: Graph, node_id: str) -> set[str]:
    """Every node that reads ``node_id``, transitively (not ``node_id`` itself)."""
    readers: dict[str, list[str]] = {}
    for other in graph.nodes:
        for up in graph.upstream(other):
            readers.setdefault(up, []).append(other)
    seen: set[str] = set()
    stack = list(readers.get(node_id, ()))
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(readers.get(current, ()))
    return seen
