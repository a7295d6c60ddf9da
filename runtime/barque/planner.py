"""Turn a graph into a phased plan: expand partitions into steps, fuse chains, cut phases, pack streams.

Pure: the same graph, targets, worker count and resolved partition keys always give the
same plan. Partition keys that are only known after something runs (a non-literal
``partitions(...)`` expression not yet evaluated, or ``partitions_from`` an unpartitioned
source) make the node *deferred*; the caller plans again with ``resolved_partitions`` once
the keys are known, and the plan grows phases.
"""

from __future__ import annotations

import heapq
import itertools
import os
from typing import Collection, Iterable, Mapping, Sequence

from barque.errors import PlanError
from barque.model import Graph, Node
from barque.plans import Deferred, Phase, Plan, Step, Stream
from barque.targets import resolve_targets, select_nodes, topo_order

Partition = tuple[tuple[str, str], ...]


# The characters of a step id's partition suffix, percent-encoded (``%`` first among them)
# wherever they occur in a key or a dimension: keys come from data at run time, and
# ``x[r=a,b]`` must not read as both ``r="a,b"`` and two dimensions. With them encoded, the
# last ``[`` of a step id starts its partition, and node names may not contain these
# characters (the parser refuses them), so every step id names one node and one partition.
_LABEL_ESCAPES = str.maketrans({c: f"%{ord(c):02X}" for c in "%[],="})


def partition_label(partition: Partition) -> str:
    """``dim=value,...``, each dimension and key with ``%[],=`` percent-encoded: the text
    between a step id's brackets, and how a partitioned value is labelled."""
    return ",".join(f"{d.translate(_LABEL_ESCAPES)}={v.translate(_LABEL_ESCAPES)}" for d, v in partition)


def step_id(node_id: str, partition: Partition) -> str:
    """``node`` for an unpartitioned step, ``node[dim=value,...]`` for a partition (see
    ``partition_label`` for the encoding that keeps ids unambiguous)."""
    if not partition:
        return node_id
    return node_id + "[" + partition_label(partition) + "]"


def partitions_step(node_id: str) -> str:
    """The id of the step that evaluates ``node_id``'s partition expression."""
    return node_id + "#partitions"


def make_plan(
    graph: Graph,
    targets: Sequence[str] | None = None,
    workers: int | None = None,
    resolved_partitions: Mapping[str, Sequence[str]] | None = None,
    selection: Mapping[str, Collection[str]] | None = None,
) -> Plan:
    """Plan the steps needed for ``targets`` (default: every asset and sensor) on ``workers`` streams per phase.

    A non-literal partition expression that is not in ``resolved_partitions`` defers its
    node, and the plan gets a ``<node>#partitions`` step that evaluates it: in a worker
    locally, in a pod in the cluster, never while planning, so a plan is made without
    importing user code and ``barque plan`` shows the steps either place runs.
    ``selection`` (``--partition region=emea``) keeps only those keys of every step with
    that dimension; what reads an unselected key is left out and listed in ``skipped``.
    """
    target_ids = resolve_targets(graph, targets)
    order = topo_order(graph, select_nodes(graph, target_ids))
    steps, deferred = _expand(graph, order, resolved_partitions or {})
    skipped: tuple[str, ...] = ()
    if selection:
        steps, skipped = select_keys(graph, order, steps, selection, bool(deferred))
        if targets:  # named ones; with none, what the selection skips is only reported, as in barca
            _refuse_skipped_targets(steps, skipped, target_ids)
    steps = [Step(d.waits_for, d.node, action="partitions") for d in deferred if d.waits_for == partitions_step(d.node)] + steps
    by_id = {s.id: s for s in steps}
    if len(by_id) != len(steps):
        _refuse_shared_ids(steps)
    phases = _phase(steps, max(1, workers or os.cpu_count() or 1), _units(graph, steps))
    return Plan(phases=phases, steps=by_id, targets=tuple(target_ids), deferred=deferred, skipped=skipped)


def select_keys(
    graph: Graph, order: Sequence[str], steps: list[Step], selection: Mapping[str, Collection[str]], keys_pending: bool
) -> tuple[list[Step], tuple[str, ...]]:
    """barca's ``--partition`` ("Selecting keys"): the steps kept, and the ids of those skipped.

    A step with a selected dimension whose key is not selected is not planned; a step that
    reads one (a ``collect`` fan-in, and what is below it) is skipped. A dimension no node of
    the cone has, or a value no step has (once every key is known), is a usage error.
    """
    dims = {p.dimension for node_id in order for p in graph.nodes[node_id].partitions}
    for dim in selection:
        if dim not in dims:
            raise PlanError(f"--partition {dim}=...: no node the run needs has the dimension {dim!r}",
                            hint="its dimensions: " + (", ".join(sorted(dims)) or "none (nothing is partitioned)"))
    seen: dict[str, set[str]] = {dim: set() for dim in selection}
    for s in steps:
        for dim, key in s.partition:
            seen.get(dim, set()).add(key)
    for dim, wanted in selection.items():
        missing = sorted(set(wanted) - seen[dim])
        if missing and not keys_pending:
            raise PlanError(f"--partition {dim}={','.join(missing)}: no step has that key",
                            hint=f"the keys of {dim}: " + ", ".join(sorted(seen[dim])))
    dropped: set[str] = set()
    skipped: list[str] = []
    kept: list[Step] = []
    for s in steps:  # in dependency order, so a step's deps are decided before it
        if any(dim in selection and key not in selection[dim] for dim, key in s.partition):
            dropped.add(s.id)
        elif any(d in dropped for d in s.deps):
            dropped.add(s.id)
            skipped.append(s.id)
        else:
            kept.append(s)
    return kept, tuple(skipped)


def _refuse_skipped_targets(steps: list[Step], skipped: Sequence[str], targets: Sequence[str]) -> None:
    planned = {s.node for s in steps}
    lost = [t for t in targets if t not in planned and any(sid == t or sid.startswith(t + "[") for sid in skipped)]
    if lost:
        raise PlanError(f"--partition leaves nothing of {', '.join(lost)} to run: it reads keys the selection leaves out",
                        hint="select fewer dimensions, or target a node that the selection narrows")


def _refuse_shared_ids(steps: list[Step]) -> None:
    """Two steps with one id would share a record and a stored value: never plan that.
    The parser's graphs cannot get here (node names are checked); a hand-written graph can."""
    seen: dict[str, Step] = {}
    for s in steps:
        other = seen.setdefault(s.id, s)
        if other is not s:
            raise PlanError(
                f"two steps have the id {s.id!r}: of node {other.node} and of node {s.node}",
                hint="rename one of the nodes: a node name may not contain [ ] , = or #",
            )


# -- partition expansion ---------------------------------------------------------------


def _expand(
    graph: Graph, order: list[str], resolved: Mapping[str, Sequence[str]]
) -> tuple[list[Step], tuple[Deferred, ...]]:
    keys: dict[str, list[Partition]] = {}
    deferred: dict[str, str] = {}
    steps: list[Step] = []
    nodes = graph.nodes
    for node_id in order:
        node = nodes[node_id]
        if deferred:
            waits = next((deferred[u] for u in graph.upstream(node_id) if u in deferred), None)
            if waits is not None:
                deferred[node_id] = waits
                continue
        own = _own_partitions(graph, node, keys, resolved)
        if isinstance(own, str):
            deferred[node_id] = own
            continue
        keys[node_id] = own
        if node.partitions or own != _UNPARTITIONED:
            steps.extend(_steps_for(graph, node, own, keys))
        else:
            steps.append(_unpartitioned_step(node, keys))
    return steps, tuple(Deferred(n, w) for n, w in deferred.items())


# The keys of an unpartitioned node: one step, with no partition.
_UNPARTITIONED: list[Partition] = [()]


def _own_partitions(
    graph: Graph, node: Node, keys: Mapping[str, list[Partition]], resolved: Mapping[str, Sequence[str]]
) -> list[Partition] | str:
    """The node's partitions, or the id of what must run before they are known."""
    if not node.partitions:
        inherited = [keys[i.source] for i in node.inputs if not i.collect and keys[i.source] != _UNPARTITIONED]
        if not inherited:
            return _UNPARTITIONED
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
        elif spec.kind == "from" and spec.source and keys.get(spec.source, _UNPARTITIONED) != _UNPARTITIONED:
            return [tuple(p) for p in keys[spec.source]]
        elif node.id in resolved:
            values = resolved[node.id]
        else:
            return spec.source if spec.kind == "from" and spec.source else partitions_step(node.id)
        dims.append([(spec.dimension, str(v)) for v in dict.fromkeys(values)])
    return [tuple(combo) for combo in itertools.product(*dims)]


def _unpartitioned_step(node: Node, keys: Mapping[str, list[Partition]]) -> Step:
    """``_steps_for`` of a node without partitions that inherits none: most nodes."""
    inputs = tuple(
        (spec.param, (spec.source,) if keys[spec.source] == _UNPARTITIONED else _input_steps(spec.source, spec.collect, (), keys))
        for spec in node.inputs
    )
    if len(inputs) == 1:
        deps = inputs[0][1]  # one input's step ids are distinct
    else:
        deps = tuple(dict.fromkeys(s for _, ids in inputs for s in ids))
    return Step(node.id, node.id, (), deps, inputs, "run", _collected(node, inputs, deps))


def _collected(node: Node, inputs: Sequence[tuple[str, tuple[str, ...]]], deps: tuple[str, ...]) -> tuple[str, ...]:
    """The deps of a step of ``node`` read only through ``collect`` (``inputs`` lists ``node.inputs``
    first, in order, then any inherited keys' sources)."""
    if not any(spec.collect for spec in node.inputs):
        return ()
    gathered = {s for spec, (_, ids) in zip(node.inputs, inputs) if spec.collect for s in ids}
    direct = {s for spec, (_, ids) in zip(node.inputs, inputs) if not spec.collect for s in ids}
    direct.update(s for _, ids in inputs[len(node.inputs):] for s in ids)
    return tuple(s for s in deps if s in gathered and s not in direct)


def _steps_for(graph: Graph, node: Node, own: list[Partition], keys: Mapping[str, list[Partition]]) -> list[Step]:
    from_sources = {p.source for p in node.partitions if p.kind == "from" and p.source}
    result = []
    for part in own:
        inputs: list[tuple[str, tuple[str, ...]]] = []
        for spec in node.inputs:
            inputs.append((spec.param, _input_steps(spec.source, spec.collect, part, keys)))
        for source in sorted(from_sources - {i.source for i in node.inputs}):
            if keys[source] != _UNPARTITIONED:
                param = graph.nodes[source].function
                inputs.append((param, _input_steps(source, False, part, keys)))
        deps = tuple(dict.fromkeys(s for _, ids in inputs for s in ids))
        for source in sorted(from_sources):
            if keys[source] == _UNPARTITIONED and source not in deps:
                deps += (source,)
        result.append(Step(step_id(node.id, part), node.id, part, deps, tuple(inputs), collected=_collected(node, inputs, deps)))
    return result


def _input_steps(source: str, collect: bool, part: Partition, keys: Mapping[str, list[Partition]]) -> tuple[str, ...]:
    source_keys = keys[source]
    if collect or source_keys == _UNPARTITIONED:
        return tuple(step_id(source, k) for k in sorted(source_keys))
    wanted = dict(part)
    matching = [k for k in source_keys if all(wanted.get(d) == v for d, v in k)]
    return tuple(step_id(source, k) for k in matching[:1])


# -- phases and streams ----------------------------------------------------------------


def _units(graph: Graph, steps: Sequence[Step]) -> dict[str, tuple[str, bool]]:
    """The steps that do not share a stream as chains do, each to (its unit, heavy).

    A ``batch=`` node's keys are one unit (unit: the node id), so its keys run in one stream
    and are grouped into calls as barca groups them, whatever the worker count; a step of
    ``weight=`` above 1 is a unit alone (unit: the step id), so its weight holds the pool only
    while that step runs (a stream holds its heaviest step's weight, ``workers.WorkerPool``)."""
    nodes = graph.nodes
    units: dict[str, tuple[str, bool]] = {}
    for s in steps:
        node = nodes[s.node]
        if s.action == "run" and (node.batch is not None or node.weight > 1):
            units[s.id] = (s.node if node.batch is not None else s.id, node.weight > 1)
    return units


def _phase(steps: list[Step], workers: int, units: Mapping[str, tuple[str, bool]]) -> tuple[Phase, ...]:
    dependants: dict[str, list[str]] = {s.id: [] for s in steps}
    for s in steps:
        for d in s.deps:
            dependants[d].append(s.id)
    # Membership tests only: most steps have one dep or none, where a tuple is the cheaper set.
    deps_of = {s.id: (s.deps if len(s.deps) < 8 else frozenset(s.deps)) for s in steps}
    segment_of: dict[str, int] = {}
    segments: list[list[str]] = []
    seg_phase: list[int] = []
    reasons: dict[int, str] = {}
    for s in steps:
        seg = None if s.id in units else _joinable_segment(s, segment_of, segments, dependants, deps_of, units)
        if seg is not None:
            segments[seg].append(s.id)
            segment_of[s.id] = seg
            continue
        phase = 0
        for d in s.deps:
            phase = max(phase, seg_phase[segment_of[d]] + 1)
        if phase not in reasons:
            reasons[phase] = _reason(s, segment_of, seg_phase)
        segment_of[s.id] = len(segments)
        segments.append([s.id])
        seg_phase.append(phase)
    members: dict[int, list[int]] = {}
    for i, p in enumerate(seg_phase):
        members.setdefault(p, []).append(i)
    return tuple(
        Phase(index, reasons[index], _pack(index, [segments[i] for i in members[index]], workers, units))
        for index in sorted(members)
    )


def _joinable_segment(
    s: Step,
    segment_of: Mapping[str, int],
    segments: Sequence[list[str]],
    dependants: Mapping[str, list[str]],
    deps_of: Mapping[str, Collection[str]],
    units: Mapping[str, tuple[str, bool]],
) -> int | None:
    """The segment ``s`` can extend: all its inputs are there, it reads the segment's last
    step, and every other reader of that step also waits for ``s`` (so appending ``s``
    delays nobody who could have run beside it). A batched or heavy step (``_units``) ends
    its segment: what reads it starts a new one."""
    if not s.deps:
        return None
    seg = segment_of[s.deps[0]]
    tail = segments[seg][-1]
    if tail not in deps_of[s.id] or tail in units:
        return None
    for d in s.deps:
        if segment_of[d] != seg:
            return None
    for other in dependants[tail]:
        if other != s.id and s.id not in deps_of[other]:
            return None
    return seg


def _reason(s: Step, segment_of: Mapping[str, int], seg_phase: Sequence[int]) -> str:
    if not s.deps:
        return "initial"
    latest = max(s.deps, key=lambda d: seg_phase[segment_of[d]])
    if len(s.deps) > 1:
        return f"{s.id} needs {len(s.deps)} upstream steps, the latest {latest}"
    return f"{s.id} needs {latest} from another stream"


def _pack(index: int, segments: list[list[str]], workers: int, units: Mapping[str, tuple[str, bool]]) -> tuple[Stream, ...]:
    """Spread independent chains over at most ``workers`` streams, balancing step counts:
    longest first, each into the emptiest stream (the lowest-numbered on a tie).

    The segments of one unit (``_units``: a batched node's keys) go together; heavy units get
    streams of their own, the last ones, as many as there are workers beside one for the rest."""
    grouped: dict[str, list[int]] = {}
    heavy: set[str] = set()
    for i, seg in enumerate(segments):
        unit, is_heavy = units.get(seg[0], (f"#{i}", False))  # a unit's step is a segment alone
        grouped.setdefault(unit, []).append(i)
        if is_heavy:
            heavy.add(unit)
    light = [members for unit, members in grouped.items() if unit not in heavy]
    weighty = [members for unit, members in grouped.items() if unit in heavy]
    count = min(workers, len(grouped))
    if light and weighty and count > 1:
        apart = min(len(weighty), count - 1)
        bins = _fill(segments, light, count - apart) + _fill(segments, weighty, apart)
    else:
        bins = _fill(segments, light + weighty, count)
    return tuple(
        Stream(f"p{index}-w{b}", tuple(step for seg in sorted(members) for step in segments[seg]))
        for b, members in enumerate(bins)
    )


def _fill(segments: Sequence[list[str]], groups: Sequence[list[int]], count: int) -> list[list[int]]:
    """``groups`` of segment indices into ``count`` bins: the largest first, each into the emptiest."""
    bins: list[list[int]] = [[] for _ in range(count)]
    emptiest = [(0, b) for b in range(count)]  # a heap of (steps so far, bin)
    sizes = [sum(len(segments[i]) for i in g) for g in groups]
    for g in sorted(range(len(groups)), key=lambda g: (-sizes[g], groups[g][0])):
        size, target = emptiest[0]
        bins[target].extend(groups[g])
        heapq.heapreplace(emptiest, (size + sizes[g], target))
    return bins
