"""barca's ``--batch [NODE=]none|all|N``: override ``batch=`` for one run.

``--batch none`` (one key per call), ``all`` (one call) or a whole number (at most that many
keys per call) replaces ``batch=`` of every node that declares one; ``--batch NODE=V``
(repeatable) of the nodes named, and wins over a flag without a node. A node without
``batch=`` is never batched by an override: naming one is exit 2, as in barca. The override
replaces the nodes' ``batch`` in the run's graph, so it reaches every place a run reads it
(the planner's units, the calls, the cache key, which in barque includes ``batch=``).

The rule is the core's so the local runner (``--batch``), the operator (a PipelineRun's
``spec.batch``) and ``Schedule(batch=)`` share it; ``source`` names where the values were
written, so an error points at the flag or the field a person typed.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from barque.errors import BarqueError
from barque.model import BatchSpec, Graph
from barque.targets import resolve_one

EVERY = ""  # the key of an override without a node


def parse_batch_flags(values: Sequence[str], source: str = "--batch") -> dict[str, BatchSpec]:
    """``--batch`` values as node name (``EVERY`` for all) to the spec they set; the last one of a name wins."""
    out: dict[str, BatchSpec] = {}
    for value in values:
        name, sep, setting = value.rpartition("=")
        if sep and not name:
            raise BarqueError(f"{source} {value!r} names no node", hint=f"write {source} NODE=V, or {source} V for every batched node")
        out[name] = _spec(value, setting, source)
    return out


def _spec(flag: str, setting: str, source: str) -> BatchSpec:
    if setting == "none":
        return BatchSpec("size", size=1)
    if setting == "all":
        return BatchSpec("all")
    if setting.isdigit() and int(setting) > 0:
        return BatchSpec("size", size=int(setting))
    raise BarqueError(f"{source} {flag!r}: {setting!r} is not none, all or a whole number above 0",
                      hint=f"{source} none runs one key per call, {source} all one call, {source} 20 at most 20 keys per call")


def apply_batch_flags(graph: Graph, overrides: Mapping[str, BatchSpec], source: str = "--batch") -> Graph:
    """The graph with ``overrides`` in place of the nodes' ``batch=``; a named node without one is exit 2."""
    if not overrides:
        return graph
    named = {resolve_one(graph, name): spec for name, spec in overrides.items() if name != EVERY}
    plain = sorted(nid for nid in named if graph.nodes[nid].batch is None)
    if plain:
        raise BarqueError(f"{source} names {', '.join(plain)}, which declares no batch= and so takes one key per call",
                          hint=f"an override changes batch= of a node that has one: add batch= to the node, or drop it from {source}")
    every = overrides.get(EVERY)
    nodes = {nid: node._replace(batch=named.get(nid, every)) if node.batch is not None and (nid in named or every) else node
             for nid, node in graph.nodes.items()}
    return graph._replace(nodes=nodes)
