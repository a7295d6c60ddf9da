"""Turn a graph into a phased plan: expand partitions into steps, fuse chains, cut phases, pack streams.

Pure: the same graph, targets, worker count and resolved partition keys always give the
same plan. Partition keys that are only known after something runs (a non-literal
``partitions(...)`` expression not yet evaluated, or ``partitions_from`` an unpartitioned
source) make the node *deferred*; the caller plans again with ``resolved_partitions`` once
the keys are known, and the plan grows phases.
"""

from __future__ import annotations

import itertools
import os
from typing import Iterable, Mapping, Sequence

from barque.errors import PlanError
from barque.model import Graph, Node
from barque.plans import Deferred, Phase, Plan, Step, Stream
from barque.targets import resolve_targets, select_nodes, topo_order

Partition = tuple[tuple[str, str], ...]


def step_id(node_id: str, partition: Partition) -> str:
    """``node`` for an unpartitioned step, ``node[dim=value,...]`` for a partition."""
    if not partition:
        return node_id
    return node_id + "[" + ",".join(f"{d}={v}" for d, v in partition) + "]"


def partitions_step(node_id: str) -> str:
    """The id of the step that evaluates ``node_id``'s partition expression."""
    return node_id + "#partitions"


def make_plan(
    graph: Graph,
    targets: Sequence[str] | None = None,
    workers: int | None = None,
    resolved_partitions: Mapping[str, Sequence[str]] | None = None,
    evaluate_partitions_in_steps: bool = False,
) -> Plan:
    """Plan the steps needed for ``targets`` (default: every asset and sensor) on ``workers`` streams per phase.

    A non-literal partition expression that is not in ``resolved_partitions`` defers its
    node; with ``evaluate_partitions_in_steps`` the plan also gets a ``<node>#partitions``
    step that evaluates it (the operator's way: the expression runs in a pod).
    """
    target_ids = resolve_targets(graph, targets)
    order = topo_order(graph, select_nodes(graph, target_ids))
    steps, deferred = _expand(graph, order, resolved_partitions or {})
    if evaluate_partitions_in_steps:
        steps = [Step(d.waits_for, d.node, action="partitions") for d in deferred if d.waits_for == partitions_step(d.node)] + steps
    phases = _phase(steps, max(1, workers or os.cpu_count() or 1))
    return Plan(phases=phases, steps={s.id: s for s in steps}, targets=tuple(target_ids), deferred=deferred)


# -- partition expansion ---------------------------------------------------------------


def _expand(
    graph: Graph, order: list[str], resolved: Mapping[str, Sequence[str]]
) -> tuple[list[Step], tuple[Deferred, ...]]:
    keys: dict[str, list[Partition]] = {}
    deferred: dict[str, str] = {}
    steps: list[Step] = []
    for node_id in order:
        node = graph.nodes[node_id]
        waits = next((deferred[u] for u in graph.upstream(node_id) if u in deferred), None)
        if waits is not None:
            deferred[node_id] = waits
            continue
        own = _own_partitions(graph, node, keys, resolved)
        if isinstance(own, str):
            deferred[node_id] = own
            continue
        keys[node_id] = own
        steps.extend(_steps_for(graph, node, own, keys))
    return steps, tuple(Deferred(n, w) for n, w in deferred.items())


def _own_partitions(
    graph: Graph, node: Node, keys: Mapping[str, list[Partition]], resolved: Mapping[str, Sequence[str]]
) -> list[Partition] | str:
    """The node's partitions, or the id of what must run before they are known."""
    if not node.partitions:
        inherited = [keys[i.source] for i in node.inputs if not i.collect and keys[i.source] != [()]]
        if not inherited:
            return [()]
        if any(k != inherited[0] for k in inherited[1:]):
            raise PlanError(
                f"{node.id} reads several partitioned inputs with different keys without collect()",
                where=f"{node.file}:{node.line}",
                hint="wrap all but one in collect(...), or give them the same partitions",
            )
        return inherited[0]
    dims: list[list[tuple[str, str]]] = []
    for spec in node.partitions:
        if spec.kind == "static":
            values: Iterable[str] = spec.values or ()
        elif spec.kind == "from" and spec.source and keys.get(spec.source, [()]) != [()]:
            return [tuple(p) for p in keys[spec.source]]
        elif node.id in resolved:
            values = resolved[node.id]
        else:
            return spec.source if spec.kind == "from" and spec.source else partitions_step(node.id)
        dims.append([(spec.dimension, str(v)) for v in dict.fromkeys(values)])
    return [tuple(combo) for combo in itertools.product(*dims)]


def _steps_for(graph: Graph, node: Node, own: list[Partition], keys: Mapping[str, list[Partition]]) -> list[Step]:
    from_sources = {p.source for p in node.partitions if p.kind == "from" and p.source}
    result = []
    for part in own:
        inputs: list[tuple[str, tuple[str, ...]]] = []
        for spec in node.inputs:
            inputs.append((spec.param, _input_steps(spec.source, spec.collect, part, keys)))
        for source in sorted(from_sources - {i.source for i in node.inputs}):
            if keys[source] != [()]:
                param = graph.nodes[source].function
                inputs.append((param, _input_steps(source, False, part, keys)))
        deps = tuple(dict.fromkeys(s for _, ids in inputs for s in ids))
        for source in sorted(from_sources):
            if keys[source] == [()] and source not in deps:
                deps += (source,)
        result.append(Step(step_id(node.id, part), node.id, part, deps, tuple(inputs)))
    return result


def _input_steps(source: str, collect: bool, part: Partition, keys: Mapping[str, list[Partition]]) -> tuple[str, ...]:
    source_keys = keys[source]
    if collect or source_keys == [()]:
        return tuple(step_id(source, k) for k in sorted(source_keys))
    wanted = dict(part)
    matching = [k for k in source_keys if all(wanted.get(d) == v for d, v in k)]
    return tuple(step_id(source, k) for k in matching[:1])


# -- phases and streams ----------------------------------------------------------------


def _phase(steps: list[Step], workers: int) -> tuple[Phase, ...]:
    dependants: dict[str, list[str]] = {s.id: [] for s in steps}
    deps_of = {s.id: set(s.deps) for s in steps}
    for s in steps:
        for d in s.deps:
            dependants[d].append(s.id)
    segment_of: dict[str, int] = {}
    segments: list[list[str]] = []
    seg_phase: list[int] = []
    reasons: dict[int, str] = {}
    for s in steps:
        seg = _joinable_segment(s, segment_of, segments, dependants, deps_of)
        if seg is not None:
            segments[seg].append(s.id)
            segment_of[s.id] = seg
            continue
        phase = 1 + max((seg_phase[segment_of[d]] for d in s.deps), default=-1)
        if phase not in reasons:
            reasons[phase] = _reason(s, segment_of, seg_phase)
        segment_of[s.id] = len(segments)
        segments.append([s.id])
        seg_phase.append(phase)
    phases = []
    for index in sorted(set(seg_phase)):
        members = [i for i, p in enumerate(seg_phase) if p == index]
        phases.append(Phase(index, reasons[index], _pack(index, [segments[i] for i in members], workers)))
    return tuple(phases)


def _joinable_segment(
    s: Step,
    segment_of: Mapping[str, int],
    segments: Sequence[list[str]],
    dependants: Mapping[str, list[str]],
    deps_of: Mapping[str, set[str]],
) -> int | None:
    """The segment ``s`` can extend: all its inputs are there, it reads the segment's last
    step, and every other reader of that step also waits for ``s`` (so appending ``s``
    delays nobody who could have run beside it)."""
    if not s.deps:
        return None
    seg = segment_of[s.deps[0]]
    tail = segments[seg][-1]
    if tail not in deps_of[s.id] or any(segment_of[d] != seg for d in s.deps):
        return None
    if any(s.id not in deps_of[o] for o in dependants[tail] if o != s.id):
        return None
    return seg


def _reason(s: Step, segment_of: Mapping[str, int], seg_phase: Sequence[int]) -> str:
    if not s.deps:
        return "initial"
    latest = max(s.deps, key=lambda d: seg_phase[segment_of[d]])
    if len(s.deps) > 1:
        return f"{s.id} needs {len(s.deps)} upstream steps, the latest {latest}"
    return f"{s.id} needs {latest} from another stream"


def _pack(index: int, segments: list[list[str]], workers: int) -> tuple[Stream, ...]:
    """Spread independent chains over at most ``workers`` streams, balancing step counts."""
    count = min(workers, len(segments))
    bins: list[list[int]] = [[] for _ in range(count)]
    sizes = [0] * count
    for seg in sorted(range(len(segments)), key=lambda i: (-len(segments[i]), i)):
        target = min(range(count), key=lambda b: (sizes[b], b))
        bins[target].append(seg)
        sizes[target] += len(segments[seg])
    return tuple(
        Stream(f"p{index}-w{b}", tuple(step for seg in sorted(members) for step in segments[seg]))
        for b, members in enumerate(bins)
    )
