"""The order barca 0.33 lays a graph's steps out in, which decides its ``final_output``.

With no target, barca's ``final_output`` is the last asset step of its execution plan for
the assets and sensors (a sensor's only when there is no asset).
So which asset that is follows from how barca builds the plan, reproduced here step by step
(and checked against what ``barca plan`` printed for many generated graphs, see
tests/unit/compat/final_output_cases.json):

1. A topological order from a depth-first search over the nodes in definition order, each
   node's readers taken newest edge first, finished nodes collected and the list reversed
   (so independent nodes come out in reverse definition order).
2. Chains along that order: a node is fused with its only reader when that reader reads
   nothing else, the edge passes data (not ``collect``, not ``partitions_from``), both or
   neither are partitioned, and the node is not a sensor. An edge read twice counts twice.
3. A chain's phase is one more than the latest phase of a chain it reads (0 with none).
4. In each phase, chains in the order they were found become work units; a partitioned
   node's keys are split into chunks of ``ceil(keys / pool)``, one unit each.
5. Units, heaviest first (a step weighs its key count, or 1), go into ``min(units, pool)``
   streams, each into the lightest (the first of equals); streams are then read in order.

barque's own planner packs streams differently (it balances what runs, not what barca
printed), so this order is used only to name the node barca would have returned.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Mapping, NamedTuple, Sequence

from barque.model import Graph, Node


class _Edge(NamedTuple):
    """One input as barca's graph holds it: ``flows`` unless it is a collect or a
    partitions_from edge (those never fuse a chain). A NamedTuple: every run defines it."""

    source: str
    target: str
    flows: bool


def plan_order(graph: Graph, pool: int, key_counts: Mapping[str, int] | None = None) -> list[str]:
    """Node ids in the order barca's plan for ``pool`` workers lists their steps.

    A node appears once per work unit it is split into (a partitioned node once per chunk of
    keys). ``key_counts`` gives the number of keys of nodes whose keys are not literals in
    the file (a ``partitions(<expression>)``), as the plan resolved them; others are counted
    from the graph, and ``partitions_from`` an unpartitioned node has no keys yet at planning.
    """
    pool = max(1, pool)
    nodes = graph.nodes
    edges = _edges(graph)
    order = _topological(list(nodes), edges)
    chains = _chains(order, nodes, edges)
    phases = _phases(chains, edges)
    keys = {nid: _key_count(nodes, nid, key_counts or {}) for nid in nodes}
    out: list[str] = []
    for phase in sorted(set(phases.values())):
        units: list[list[tuple[str, int]]] = []
        for index, chain in enumerate(chains):
            if phases.get(index) == phase:
                units += _work_units(chain, keys, pool)
        out += _packed(units, pool)
    return out


def final_node(
    graph: Graph, pool: int, key_counts: Mapping[str, int] | None = None, file_args: Sequence[str] = ()
) -> str | None:
    """The node barca returns as ``final_output`` for ``barca get`` with no target: the last
    asset of the plan it makes for the assets and sensors alone (a bare ``get`` plans no
    task, and tasks are left out before planning, so they change no chain), else the last
    sensor; ``None`` for neither. ``file_args`` are the command's file arguments, which decide
    the order barca reads the files in (``in_barca_file_order``)."""
    ordered = in_barca_file_order(graph, file_args)
    gettable = Graph(graph.root, {nid: n for nid, n in ordered.nodes.items() if n.kind != "task"})
    planned = plan_order(gettable, pool, key_counts)
    assets = [nid for nid in planned if graph.nodes[nid].kind == "asset"]
    if assets:
        return assets[-1]
    return planned[-1] if planned else None


def in_barca_file_order(graph: Graph, file_args: Sequence[str]) -> Graph:
    """The graph with its files in the order barca reads them, each file's nodes in source order.

    Only ``.py`` files named: in the order given. A directory among the arguments (or none,
    the whole project): every file sorted by its path, as plain strings (``pkg.py`` before
    ``pkg/m.py``), whatever the order of the arguments."""
    files = sorted({n.file for n in graph.nodes.values()})
    if file_args and all(a.endswith(".py") for a in file_args):
        named = [Path(os.path.relpath(os.path.abspath(a), graph.root)).as_posix() for a in file_args]
        files = list(dict.fromkeys([f for f in named if f in files] + files))
    rank = {f: i for i, f in enumerate(files)}
    nodes = sorted(graph.nodes.items(), key=lambda item: (rank[item[1].file], item[1].line))
    return Graph(graph.root, dict(nodes), graph.files, graph.warnings)


def _edges(graph: Graph) -> list[_Edge]:
    """Every edge in the order barca adds them: node by node, its inputs as written, then a
    ``partitions_from`` edge (of a partitioned source, an input unless the node reads it)."""
    nodes = graph.nodes
    out: list[_Edge] = []
    for nid, node in nodes.items():
        out += [_Edge(i.source, nid, not i.collect) for i in node.inputs if i.source in nodes]
        for source in _derived_from(nodes, node):
            if not nodes[source].partitions:
                out.append(_Edge(source, nid, False))
            elif not any(i.source == source and not i.collect for i in node.inputs):
                out.append(_Edge(source, nid, True))  # barca adds it as an input of that name
    return out


def _derived_from(nodes: Mapping[str, Node], node: Node) -> list[str]:
    """The nodes ``node`` takes its keys from (``partitions_from``), when they are in the graph."""
    return [p.source for p in node.partitions if p.kind == "from" and p.source is not None and p.source in nodes]


def _topological(ids: Sequence[str], edges: Sequence[_Edge]) -> list[str]:
    """petgraph's toposort: depth first from each node in order, a node's readers pushed in
    edge order (so the newest is explored first), the finishing order reversed."""
    readers: dict[str, list[str]] = {nid: [] for nid in ids}
    for e in edges:
        readers[e.source].insert(0, e.target)  # newest edge first, as petgraph walks them
    discovered: set[str] = set()
    finished: list[str] = []
    done: set[str] = set()
    for start in ids:
        if start in discovered:
            continue
        stack = [start]
        while stack:
            top = stack[-1]
            if top not in discovered:
                discovered.add(top)
                stack += [r for r in readers[top] if r not in discovered]
            else:
                stack.pop()
                if top not in done:
                    done.add(top)
                    finished.append(top)
    finished.reverse()
    return finished


def _chains(order: Sequence[str], nodes: Mapping[str, Node], edges: Sequence[_Edge]) -> list[list[str]]:
    flow_out: dict[str, list[str]] = {nid: [] for nid in nodes}
    flow_in: dict[str, int] = {nid: 0 for nid in nodes}
    for e in edges:
        if e.flows:
            flow_out[e.source].append(e.target)
            flow_in[e.target] += 1
    seen: set[str] = set()
    chains: list[list[str]] = []
    for nid in order:
        if nid in seen:
            continue
        chain = [nid]
        seen.add(nid)
        current = nid
        while len(flow_out[current]) == 1:
            after = flow_out[current][0]
            if flow_in[after] != 1 or after in seen:
                break
            if bool(nodes[current].partitions) != bool(nodes[after].partitions) or nodes[current].kind == "sensor":
                break
            chain.append(after)
            seen.add(after)
            current = after
        chains.append(chain)
    return chains


def _phases(chains: Sequence[list[str]], edges: Sequence[_Edge]) -> dict[int, int]:
    """Each chain's phase, visiting chains as barca does (Kahn's order from the first). Two
    chains can read each other (``a`` fused with ``c``, ``b`` collecting ``a`` and collected by
    ``c``); barca never reaches those and leaves them out of its plan, so they are left out here."""
    chain_of = {nid: i for i, chain in enumerate(chains) for nid in chain}
    deps: list[set[int]] = [set() for _ in chains]
    for e in edges:
        if chain_of[e.source] != chain_of[e.target]:
            deps[chain_of[e.target]].add(chain_of[e.source])
    readers: list[list[int]] = [[] for _ in chains]
    for i, ups in enumerate(deps):
        for d in ups:
            readers[d].append(i)
    waiting = [len(ups) for ups in deps]
    queue = [i for i in range(len(chains)) if not waiting[i]]
    phase: dict[int, int] = {}
    while queue:
        i = queue.pop(0)
        phase[i] = max((phase[d] + 1 for d in deps[i]), default=0)
        for r in readers[i]:
            waiting[r] -= 1
            if not waiting[r]:
                queue.append(r)
    return phase


def _key_count(nodes: Mapping[str, Node], nid: str, given: Mapping[str, int]) -> int:
    """How many keys barca's planner gives the node (0: unpartitioned, or keys unknown yet)."""
    node = nodes[nid]
    if not node.partitions:
        return 0
    if any(p.kind == "expr" for p in node.partitions):
        return given.get(nid, 0)
    static = [len(p.values or ()) for p in node.partitions if p.kind == "static" and p.values]
    inherited = [source for source in _derived_from(nodes, node) if nodes[source].partitions]
    if inherited:
        return _key_count(nodes, inherited[0], given)
    return math.prod(static) if static else 0


def _work_units(chain: Sequence[str], keys: Mapping[str, int], pool: int) -> list[list[tuple[str, int]]]:
    """A chain as (node, weight) work units: whole, or split by chunks of a partitioned node's keys."""
    parted = [nid for nid in chain if keys[nid]]
    if not parted:
        return [[(nid, 1) for nid in chain]]
    if len(parted) == 1:
        units: list[list[tuple[str, int]]] = []
        total = keys[parted[0]]
        size = math.ceil(total / pool)
        units += [[(parted[0], min(size, total - start))] for start in range(0, total, size)]
        rest = [(nid, 1) for nid in chain if not keys[nid]]
        return units + ([rest] if rest else [])
    total = keys[parted[0]]
    size = math.ceil(total / pool)
    out: list[list[tuple[str, int]]] = []
    for start in range(0, total, size):
        end = min(start + size, total)
        out.append([(nid, 1 if not keys[nid] else (end - start if keys[nid] == total else keys[nid])) for nid in chain])
    return out


def _packed(units: Sequence[list[tuple[str, int]]], pool: int) -> list[str]:
    """Units heaviest first (ties in order) into ``min(units, pool)`` streams, each into the lightest."""
    count = max(1, min(len(units), pool))
    streams: list[list[str]] = [[] for _ in range(count)]
    sizes = [0] * count
    for unit in sorted(units, key=lambda u: -sum(w for _, w in u)):
        target = sizes.index(min(sizes))
        sizes[target] += sum(w for _, w in unit)
        streams[target] += [nid for nid, _ in unit]
    return [nid for stream in streams for nid in stream]
