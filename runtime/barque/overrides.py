"""Overrides for tests: stub a node's output with a given value instead of running it.

``barque.run(..., overrides={"raw": value})`` (and a PipelineRun's ``spec.overrides``, staged by
the operator the same way) stores ``value`` as an artifact (with the
node's serializer, JSON for a source of partition keys) and settles every step of that node
with it: the node is not run and its own cache is neither read nor written. Its output id
is the value's content hash marked ``@override``, and dependants' cache keys are made from
that id, so what a test computes from a stub is committed under keys no real run can
produce, and a real run never reads it. Steps of an overridden run leave the ``refs/``
pointers (``barque show``, Manual freshness) alone, which point at real materializations.
"""

from __future__ import annotations

from typing import Any, Mapping

from barque import artifacts
from barque.errors import BarqueError
from barque.runspec import RunSpec
from barque.serializers import JSON
from barque.stepinputs import key_sources
from barque.store import ArtifactStore
from barque.targets import resolve_one

MARK = "@override"


def stage(spec: RunSpec, store: ArtifactStore, overrides: Mapping[str, Any]) -> RunSpec:
    """``spec`` with each override's value stored and recorded under its node id.

    A name that is no node of the graph, or names a task or sensor, is a ``BarqueError``.
    """
    if not overrides:
        return spec
    graph, sources = spec.graph, key_sources(spec.graph)
    staged: dict[str, dict[str, Any]] = {}
    for name, value in overrides.items():
        node_id = resolve_one(graph, name)
        node = graph.nodes[node_id]
        if node.kind != "asset":
            raise BarqueError(f"overrides names {name!r}, a {node.kind}: only an asset's output can be stubbed", hint="override the asset it reads instead")
        ref = artifacts.write_value(store, value, JSON if node_id in sources else node.serializer)
        staged[node_id] = {"artifact": ref.to_dict(), "output_id": ref.content_hash + MARK, "overridden": True}
    return spec._replace(overrides=staged)


def overridden_record(spec: RunSpec, node_id: str) -> dict[str, Any] | None:
    """The settled record of a step of ``node_id`` when the run stubs it, else ``None``."""
    stub = spec.overrides.get(node_id)
    if stub is None:
        return None
    return {"state": "cached", "artifact": dict(stub["artifact"]), "output_id": stub["output_id"], "overridden": True, "duration_seconds": 0.0}
