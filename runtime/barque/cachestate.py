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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping

from barque import artifacts, trust
from barque.cachekeys import cache_key, explain_change, key_components
from barque.model import Graph, Node
from barque.plans import Plan, Step
from barque.stepinputs import input_ids, key_sources
from barque.store import ArtifactStore

CacheState = Literal["cached", "run", "unknown"]

# The reason of a Manual node that must run but has no result yet: barca refuses to compute
# it unless --refresh names it (or, with no target, the run gets every asset anyway).
MANUAL_NEVER_COMPUTED = "manual: never computed"
# A Manual node served although its code or inputs changed since: barca notes it on stderr.
MANUAL_STALE = "manual and stale: its last result is read as it is"


@dataclass(frozen=True)
class StepCache:
    """The verdict for one step; ``record`` is the commit record a cached step is served from."""

    state: CacheState
    cache_key: str | None
    reason: str
    record: Mapping[str, Any] | None = None


def assess(
    graph: Graph,
    plan: Plan,
    store: ArtifactStore,
    params: Mapping[str, str] | None = None,
    env: Mapping[str, str | None] | None = None,
    no_cache: bool = False,
    refresh: Mapping[str, str] | None = None,
    *,
    scope: str,
) -> dict[str, StepCache]:
    """Decide every step of ``plan``: cached (with its record), run (with the reason), or unknown.

    A node in ``refresh`` runs even when cached (``--refresh``; see ``RunSpec.refresh``).
    ``scope`` is the pipeline's refs scope (``RunSpec.ref_scope``): a ``Manual`` node's pin and
    the explanation of what changed come from this pipeline's refs only (none when it is empty:
    a run planned before refs were scoped)."""
    corrupt: set[str] = set()  # large blobs found corrupt by the check of what this run reads
    while True:
        verdicts = _walk(graph, plan, store, scope, params or {}, env or {}, no_cache, corrupt, key_sources(graph), refresh or {})
        found = _corrupt_inputs(plan, store, verdicts) - corrupt
        if not found:
            return verdicts
        corrupt |= found


def _walk(
    graph: Graph,
    plan: Plan,
    store: ArtifactStore,
    scope: str,
    params: Mapping[str, str],
    env: Mapping[str, str | None],
    no_cache: bool,
    corrupt: set[str],
    key_sources: set[str],
    refresh: Mapping[str, str],
) -> dict[str, StepCache]:
    outputs: dict[str, str] = {}
    found: dict[str, Mapping[str, Any]] = {}  # the records behind ``outputs``
    verdicts: dict[str, StepCache] = {}
    for phase in plan.phases:
        for stream in phase.streams:
            for sid in stream.steps:
                allowed = _allowed(graph.nodes[plan.steps[sid].node], key_sources)
                verdict = _assess_step(graph, plan, sid, store, scope, params, env, no_cache, outputs, found, allowed, refresh)
                if verdict.record is not None and verdict.record["artifact"]["content_hash"] in corrupt:
                    verdict = StepCache("run", verdict.cache_key, "artifact corrupt")
                verdicts[sid] = verdict
                if verdict.record is not None:
                    outputs[sid] = verdict.record["output_id"]
                    found[sid] = verdict.record
    return verdicts


def _corrupt_inputs(plan: Plan, store: ArtifactStore, verdicts: Mapping[str, StepCache]) -> set[str]:
    """Content hashes of the large cached blobs this run will read that do not match their hash."""
    read = {dep for sid, v in verdicts.items() if v.state != "cached" for dep in plan.steps[sid].deps}
    bad = set()
    for dep in sorted(read):
        record = verdicts[dep].record if dep in verdicts else None
        if record is None or verdicts[dep].state != "cached":
            continue
        ref = artifacts.ArtifactRef.from_dict(record["artifact"])
        if ref.size > artifacts.HASH_CHECK_BYTES and artifacts.blob_problem(store, ref, hash_check_bytes=ref.size):
            bad.add(ref.content_hash)
    return bad


def _refresh_reason(node_id: str, refresh: Mapping[str, str]) -> str:
    source = refresh[node_id]
    return "forced: --refresh" if source == node_id else f"forced: --refresh of {source} (cascade)"


def _assess_step(
    graph: Graph,
    plan: Plan,
    sid: str,
    store: ArtifactStore,
    scope: str,
    params: Mapping[str, str],
    env: Mapping[str, str | None],
    no_cache: bool,
    outputs: Mapping[str, str],
    found: Mapping[str, Mapping[str, Any]],
    allowed: frozenset[str],
    refresh: Mapping[str, str],
) -> StepCache:
    step = plan.steps[sid]
    node = graph.nodes[step.node]
    if node.kind == "task":
        return StepCache("run", None, "task: never cached")
    if node.kind == "sensor":
        return StepCache("run", None, "sensor: polled on every run")
    # barca pins a Manual node, a target too, until --refresh names it. (barca does not pin a
    # partitioned one yet; barque still does, as the worker's own fallback in executor.py does.)
    if node.freshness.kind == "manual" and not no_cache and node.id not in refresh:
        last = artifacts.find_ref(store, scope, sid, allowed).served if scope else None
        if last is not None:
            ids = input_ids(graph, step, outputs, lambda source: _stored_value(store, found[source]))
            now = None if ids is None else cache_key(key_components(node, step, ids, params, env))
            reason = MANUAL_STALE if now is not None and now != last.get("cache_key") else "manual: last materialization"
            return StepCache("cached", last.get("cache_key"), reason, last)
        verdict = _by_key(graph, step, store, scope, params, env, no_cache, outputs, found, allowed, refresh)
        return StepCache("run", verdict.cache_key, MANUAL_NEVER_COMPUTED) if verdict.state == "run" else verdict
    return _by_key(graph, step, store, scope, params, env, no_cache, outputs, found, allowed, refresh)


def _by_key(
    graph: Graph,
    step: Step,
    store: ArtifactStore,
    scope: str,
    params: Mapping[str, str],
    env: Mapping[str, str | None],
    no_cache: bool,
    outputs: Mapping[str, str],
    found: Mapping[str, Mapping[str, Any]],
    allowed: frozenset[str],
    refresh: Mapping[str, str],
) -> StepCache:
    """The verdict from the step's cache key: its inputs' output ids, code, params and env."""
    node = graph.nodes[step.node]
    sid = step.id
    ids = input_ids(graph, step, outputs, lambda source: _stored_value(store, found[source]))
    if ids is None and node.id in refresh:  # it runs whatever its input comes out as
        return StepCache("run", None, _refresh_reason(node.id, refresh))
    if ids is None:
        waiting = next(d for d in step.deps if d not in outputs)
        return StepCache("unknown", None, f"waits for {waiting}")
    components = key_components(node, step, ids, params, env)
    key = cache_key(components)
    if no_cache:
        return StepCache("run", key, "forced: --no-cache")
    if node.id in refresh:
        return StepCache("run", key, _refresh_reason(node.id, refresh))
    commit = artifacts.find(store, key, allowed)
    if commit.served is not None:
        return StepCache("cached", key, "cached", commit.served)
    if commit.problem != "never materialized":
        return StepCache("run", key, str(commit.problem))
    ref = artifacts.get_ref(store, scope, sid) if scope else None
    return StepCache("run", key, explain_change(ref.get("components") if ref else None, components, node))


def _allowed(node: Node, key_sources: set[str]) -> frozenset[str]:
    # Partition keys are data, decoded as JSON only (no code runs): a source of keys whose
    # record says anything else is not served, so no plan or dry run ever decodes more.
    return trust.DATA_ONLY if node.id in key_sources else trust.allowed_serializers(node.serializer)


def _stored_value(store: ArtifactStore, record: Mapping[str, Any]) -> Any:
    # The cached record's own artifact: the step's latest ref may hold another run's output.
    return artifacts.read_value(store, artifacts.ArtifactRef.from_dict(record["artifact"]), allowed=trust.DATA_ONLY)
