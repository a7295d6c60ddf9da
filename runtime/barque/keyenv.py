"""What a run is keyed by in the cluster that the local runner takes from the laptop: the values of
declared environment variables, and the pipeline its refs belong to.

Env: a node's ``env=["VAR"]`` puts VAR's value in its cache key. Locally that value comes from the
environment (or the project's ``.env``). In the cluster the operator plans and keys the run, and it
never reads Secrets (its RBAC has no access to them, on purpose), so the only values it can know
are the Pipeline's ``spec.defaults.env``: those are what the key holds. A declared variable that
reaches the Pod only from a Secret (the store's credentials Secret, loaded with ``envFrom``) is
keyed as unset (``None``), whatever the Secret holds, so changing that Secret recomputes nothing.
To make a secret's change recompute, declare a variable that names its version (say
``API_TOKEN_VERSION``) in ``defaults.env`` and bump it with the Secret. The step Pod keys its
steps from the digests in the run spec, never from its own environment, so the operator's
verdicts and the Pod's keys agree.
"""

from __future__ import annotations

from typing import Mapping

from barque.artifacts import cluster_ref_scope
from barque.model import Graph


def cache_env_values(graph: Graph, pipeline_env: Mapping[str, str | None] | None) -> dict[str, str | None]:
    """The value each variable some node declares has for the cache key: its ``defaults.env`` value,
    else ``None`` (unset, or only in a Secret the operator does not read)."""
    declared = sorted({name for node in graph.nodes.values() for name in node.env})
    values = pipeline_env or {}
    return {name: values.get(name) for name in declared}


def run_ref_scope(namespace: str, pipeline: str) -> str:
    """The refs scope of a run of Pipeline ``pipeline`` in ``namespace`` (sensors' last
    observations, ``Manual`` pins): its own, whatever else shares the store."""
    return cluster_ref_scope(namespace, pipeline)
