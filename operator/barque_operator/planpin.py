"""A run's pinned plan as the operator keeps it in the store: the plan (grown by
``barque.plans.grow_plan``, the rule the local runner follows too), the keys resolved so far,
the Pipeline as it was when the run started and the parallelism it was planned with.

Pure.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from barque.model import Graph
from barque.plans import Plan
from barque.planner import make_plan


def cluster_plan(graph: Graph, targets: Sequence[str] | None, parallelism: int,
                 resolved: Mapping[str, Sequence[str]] | None = None) -> Plan:
    """The plan a run of a Pipeline gets: streams packed by its ``spec.defaults.parallelism``.
    ``barque plan --parallelism N`` (or given the Pipeline's manifest) prints this very plan."""
    return make_plan(graph, list(targets or ()) or None, parallelism, resolved)


def plan_doc(plan: Plan, resolved: Mapping[str, list[str]], pipeline: Mapping[str, Any], workers: int) -> dict[str, Any]:
    """What the operator keeps in the store under ``runs/<run_id>/operator/plan.json``."""
    return {"plan": plan.to_dict(), "resolved": {k: list(v) for k, v in sorted(resolved.items())},
            "pipeline": dict(pipeline), "workers": workers}


def from_doc(doc: Mapping[str, Any]) -> tuple[Plan, dict[str, list[str]], dict[str, Any], int]:
    return Plan.from_dict(doc["plan"]), dict(doc.get("resolved") or {}), dict(doc["pipeline"]), int(doc.get("workers") or 1)
