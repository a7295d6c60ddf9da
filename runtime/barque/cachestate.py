"""Which steps of a plan are already cached, and why the others must run.

Reads commit records from the store but writes nothing. Walks the steps in dependency
order: a step's key is known once every input's output id is known, so everything whose
inputs are already stored is decided before anything runs; the rest are ``unknown`` and
the executor decides them when their inputs exist (early cutoff may still make them cached).

A step is cached only when its commit record is sound (``artifacts.find``): authentic, naming
a serializer its node allows, and naming a blob that is there with its size (small blobs are
hash-checked too). Otherwise it runs, and the reason says why (``artifact missing``,
``artifact corrupt``, ``record not authenticated``...). The large blobs of cached steps whose
values this run reads (inputs of steps that run) are hash-checked as well, since they are
about to be read anyway: a corrupt one makes its step run instead of failing its reader.
Values are decoded only to learn a dict source's per-key values, and only as JSON, which
runs no code (a source of partition keys is served only from a JSON record): this module
serves ``--dry-run`` and ``plan --cache``, which must never run a store writer's code.
Its records are ``NamedTuple``s, cheap to define at every run's start (``barque.artifacts``).
"""

from __future__ import annotations

import sys
from types import MappingProxyType
from typing import Any, Literal, Mapping, NamedTuple

from barque import artifacts, trust
from barque.cachekeys import cache_key, explain_change, key_components
from barque.model import Graph, Node
from barque.plans import Plan, Step
from barque.stepinputs import input_ids, key_sources
from barque.steprecord import FILTERED_OUTPUT
from barque.store import ArtifactStore

CacheState = Literal["cached", "run", "unknown"]

# The reason of a Manual node that must run but has no result yet: barca refuses to compute
# it unless --refresh names it (or, with no target, the run gets every asset anyway).
MANUAL_NEVER_COMPUTED = "manual: never computed"
# A Manual node served although its code or inputs changed since: barca notes it on stderr.
MANUAL_STALE = "manual and stale: its last result is read as it is"
# The reasons of steps that are never cached, and the start of an undecided step's reason.
TASK_REASON = "task: never cached"
SENSOR_REASON = "sensor: polled on every run"
WAITS_FOR = "waits for "
NEVER_MATERIALIZED = "never materialized"
# A node whose output a test stubbed (``barque.run(overrides=)``): not run, not read from the cache.
OVERRIDDEN = "overridden"


class StepCache(NamedTuple):
    """The verdict for one step; ``record`` is the commit record a cached step is served from."""

    state: CacheState
    cache_key: str | None
    reason: str
    record: Mapping[str, Any] | None = None


_NONE: Mapping[str, Any] = MappingProxyType({})  # the default of a mapping nothing writes to


class CacheContext(NamedTuple):
    """What every verdict of one assessment reads: the run's inputs and what the walk knows so far.

    ``outputs`` (step id -> output id) and ``found`` (step id -> the record behind it) fill in
    as the walk decides steps in dependency order, so each context gets its own (no default);
    everything else is fixed for the walk.
    """

    graph: Graph
    plan: Plan
    store: ArtifactStore
    params: Mapping[str, str]
    env: Mapping[str, str | None]
    outputs: dict[str, str]
    found: dict[str, Mapping[str, Any]]
    no_cache: bool = False
    refresh: Mapping[str, str] = _NONE  # node id -> the --refresh that reaches it
    key_sources: frozenset[str] = frozenset()  # nodes whose output gives another node its partition keys
    overrides: Mapping[str, Mapping[str, Any]] = _NONE  # node id -> its stubbed record
    scope: str = ""  # the pipeline's refs scope (RunSpec.ref_scope); empty: read no refs (a run from before scoping)

    def allowed(self, node: Node) -> frozenset[str]:
        """The serializers a record of ``node`` may name to be served."""
        # Partition keys are data, decoded as JSON only (no code runs): a source of keys whose
        # record says anything else is not served, so no plan or dry run ever decodes more.
        return trust.DATA_ONLY if node.id in self.key_sources else trust.allowed_serializers(node.serializer)

    def input_ids(self, step: Step) -> dict[str, Any] | None:
        """The output ids ``step`` reads, or None while an input is not decided yet."""
        return input_ids(self.graph, step, self.outputs, lambda source: _stored_value(self.store, self.found[source]))


def assess(
    graph: Graph,
    plan: Plan,
    store: ArtifactStore,
    params: Mapping[str, str] | None = None,
    env: Mapping[str, str | None] | None = None,
    no_cache: bool = False,
    refresh: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    scope: str,
) -> dict[str, StepCache]:
    """Decide every step of ``plan``: cached (with its record), run (with the reason), or unknown.

    A node in ``refresh`` runs even when cached (``--refresh``; see ``RunSpec.refresh``); a node
    in ``overrides`` is settled with its stubbed value (``RunSpec.overrides``), whose output id
    then keys its dependants. ``scope`` is the pipeline's refs scope (``RunSpec.ref_scope``): a
    ``Manual`` node's pin and the explanation of what changed come from this pipeline's refs only
    (none when it is empty: a run planned before refs were scoped)."""
    sources = frozenset(key_sources(graph))
    corrupt: set[str] = set()  # large blobs found corrupt by the check of what this run reads
    while True:
        ctx = CacheContext(graph, plan, store, params or {}, env or {}, {}, {}, no_cache, refresh or {}, sources, overrides or {},
                           scope)
        verdicts = _walk(ctx, corrupt)
        found = _corrupt_inputs(plan, store, verdicts) - corrupt
        if not found:
            return verdicts
        corrupt |= found


def _walk(ctx: CacheContext, corrupt: set[str]) -> dict[str, StepCache]:
    verdicts: dict[str, StepCache] = {}
    for phase in ctx.plan.phases:
        for stream in phase.streams:
            for sid in stream.steps:
                step = ctx.plan.steps[sid]
                stub = ctx.overrides.get(step.node)
                below = _filtered_input(ctx, step)
                if below is not None:  # the driver settles it filtered; what collects it leaves it out
                    verdicts[sid] = StepCache("run", None, f"filtered: upstream {below} filtered")
                    ctx.outputs[sid] = FILTERED_OUTPUT
                    continue
                verdict = StepCache("cached", None, OVERRIDDEN, stub) if stub is not None else _assess_step(ctx, step)
                if verdict.record is not None and verdict.record["artifact"]["content_hash"] in corrupt:
                    verdict = StepCache("run", verdict.cache_key, "artifact corrupt")
                verdicts[sid] = verdict
                if verdict.record is not None:
                    ctx.outputs[sid] = verdict.record["output_id"]
                    ctx.found[sid] = verdict.record
    return verdicts


def _filtered_input(ctx: CacheContext, step: Step) -> str | None:
    """An input of ``step``, not one it only collects, whose verdict is that it chose not to produce."""
    return next((d for d in step.deps if ctx.outputs.get(d) == FILTERED_OUTPUT and d not in step.collected), None)


def _corrupt_inputs(plan: Plan, store: ArtifactStore, verdicts: Mapping[str, StepCache]) -> set[str]:
    """Content hashes of the large cached blobs this run will read that do not match their hash."""
    read = {dep for sid, v in verdicts.items() if v.state != "cached" for dep in plan.steps[sid].deps}
    bad = set()
    for dep in sorted(read):
        record = verdicts[dep].record if dep in verdicts else None
        if record is None or verdicts[dep].state != "cached":
            continue
        ref = artifacts.ArtifactRef.from_dict(record["artifact"])
        stream = ref.serializer == artifacts.STREAM  # a small manifest naming large chunks: all of them are read
        if (stream or ref.size > artifacts.HASH_CHECK_BYTES) and artifacts.blob_problem(store, ref, hash_check_bytes=sys.maxsize if stream else ref.size):
            bad.add(ref.content_hash)
    return bad


def _refresh_reason(node_id: str, refresh: Mapping[str, str]) -> str:
    source = refresh[node_id]
    return "forced: --refresh" if source == node_id else f"forced: --refresh of {source} (cascade)"


def _assess_step(ctx: CacheContext, step: Step) -> StepCache:
    node = ctx.graph.nodes[step.node]
    if node.kind == "task":
        return StepCache("run", None, TASK_REASON)
    if node.kind == "sensor":
        return StepCache("run", None, SENSOR_REASON)
    # barca pins a Manual node, a target too, until --refresh names it. (barca does not pin a
    # partitioned one yet; barque still does, as the worker's own fallback in executor.py does.)
    if node.freshness.kind == "manual" and not ctx.no_cache and node.id not in ctx.refresh:
        last = artifacts.find_ref(ctx.store, ctx.scope, step.id, ctx.allowed(node)).served if ctx.scope else None
        if last is not None:
            ids = ctx.input_ids(step)
            now = None if ids is None else cache_key(key_components(node, step, ids, ctx.params, ctx.env))
            reason = MANUAL_STALE if now is not None and now != last.get("cache_key") else "manual: last materialization"
            return StepCache("cached", last.get("cache_key"), reason, last)
        verdict = _by_key(ctx, step)
        return StepCache("run", verdict.cache_key, MANUAL_NEVER_COMPUTED) if verdict.state == "run" else verdict
    return _by_key(ctx, step)


def _by_key(ctx: CacheContext, step: Step) -> StepCache:
    """The verdict from the step's cache key: its inputs' output ids, code, params and env."""
    node = ctx.graph.nodes[step.node]
    ids = ctx.input_ids(step)
    if ids is None and node.id in ctx.refresh:  # it runs whatever its input comes out as
        return StepCache("run", None, _refresh_reason(node.id, ctx.refresh))
    if ids is None:
        waiting = next(d for d in step.deps if d not in ctx.outputs)
        return StepCache("unknown", None, f"{WAITS_FOR}{waiting}")
    components = key_components(node, step, ids, ctx.params, ctx.env)
    key = cache_key(components)
    if ctx.no_cache:
        return StepCache("run", key, "forced: --no-cache")
    if node.id in ctx.refresh:
        return StepCache("run", key, _refresh_reason(node.id, ctx.refresh))
    commit = artifacts.find(ctx.store, key, ctx.allowed(node))
    if commit.served is not None:
        return StepCache("cached", key, "cached", commit.served)
    if commit.problem != NEVER_MATERIALIZED:
        return StepCache("run", key, str(commit.problem))
    ref = artifacts.get_ref(ctx.store, ctx.scope, step.id) if ctx.scope else None
    return StepCache("run", key, explain_change(ref.get("components") if ref else None, components, node))


def _stored_value(store: ArtifactStore, record: Mapping[str, Any]) -> Any:
    # The cached record's own artifact: the step's latest ref may hold another run's output.
    return artifacts.read_value(store, artifacts.ArtifactRef.from_dict(record["artifact"]), allowed=trust.DATA_ONLY)
