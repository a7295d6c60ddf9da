"""Which steps of a plan are already cached, and why the others must run.

Reads commit records from the store but writes nothing. Walks the steps in dependency
order: a step's key is known once every input's output id is known, so everything whose
inputs are already stored is decided before anything runs; the rest are ``unknown`` and
the executor decides them when their inputs exist (early cutoff may still make them cached).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping

from barque import artifacts
from barque.cachekeys import cache_key, explain_change, key_components
from barque.model import Graph
from barque.plans import Plan
from barque.stepinputs import input_ids
from barque.store import ArtifactStore

CacheState = Literal["cached", "run", "unknown"]


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
) -> dict[str, StepCache]:
    """Decide every step of ``plan``: cached (with its record), run (with the reason), or unknown."""
    params, env = params or {}, env or {}
    outputs: dict[str, str] = {}
    found: dict[str, Mapping[str, Any]] = {}  # the records behind ``outputs``
    verdicts: dict[str, StepCache] = {}
    for phase in plan.phases:
        for stream in phase.streams:
            for sid in stream.steps:
                verdicts[sid] = _assess_step(graph, plan, sid, store, params, env, no_cache, outputs, found)
                record = verdicts[sid].record
                if record is not None:
                    outputs[sid] = record["output_id"]
                    found[sid] = record
    return verdicts


def _assess_step(
    graph: Graph,
    plan: Plan,
    sid: str,
    store: ArtifactStore,
    params: Mapping[str, str],
    env: Mapping[str, str | None],
    no_cache: bool,
    outputs: Mapping[str, str],
    found: Mapping[str, Mapping[str, Any]],
) -> StepCache:
    step = plan.steps[sid]
    node = graph.nodes[step.node]
    if node.kind == "task":
        return StepCache("run", None, "task: never cached")
    if node.kind == "sensor":
        return StepCache("run", None, "sensor: polled on every run")
    if node.freshness.kind == "manual" and node.id not in plan.targets and not no_cache:
        ref = artifacts.get_ref(store, sid)
        if ref is not None:
            return StepCache("cached", ref.get("cache_key"), "manual: last materialization", ref)
    ids = input_ids(graph, step, outputs, lambda source: _stored_value(store, found[source]))
    if ids is None:
        waiting = next(d for d in step.deps if d not in outputs)
        return StepCache("unknown", None, f"waits for {waiting}")
    components = key_components(node, step, ids, params, env)
    key = cache_key(components)
    if no_cache:
        return StepCache("run", key, "forced: --no-cache")
    record = artifacts.lookup(store, key)
    if record is not None:
        return StepCache("cached", key, "cached", record)
    ref = artifacts.get_ref(store, sid)
    return StepCache("run", key, explain_change(ref.get("components") if ref else None, components, node))


def _stored_value(store: ArtifactStore, record: Mapping[str, Any]) -> Any:
    # The cached record's own artifact: the step's latest ref may hold another run's output.
    return artifacts.read_value(store, artifacts.ArtifactRef.from_dict(record["artifact"]))
