"""A run's pinned plan: made once when the run starts, grown (never reshuffled) when deferred
partition keys become known.

Pure. Phases that already ran keep their index, streams and Job; planning again with the
resolved keys yields a plan whose new steps are appended as new phases, numbered after the
existing ones, so Job names (``<run>-p<index>``) and phase files never collide.
"""

from __future__ import annotations

from typing import Any, Mapping

from barque.plans import Phase, Plan, Stream


def extend_plan(pinned: Plan, fresh: Plan) -> Plan:
    """``pinned`` plus the steps of ``fresh`` it lacks, in ``fresh``'s phase order."""
    steps = dict(pinned.steps)
    phases = list(pinned.phases)
    next_index = len(phases)
    for phase in fresh.phases:
        streams: list[Stream] = []
        for stream in phase.streams:
            new = tuple(s for s in stream.steps if s not in pinned.steps)
            if new:
                streams.append(Stream(f"p{next_index}-w{len(streams)}", new))
        if streams:
            phases.append(Phase(next_index, phase.reason, tuple(streams)))
            next_index += 1
    for sid, step in fresh.steps.items():
        steps.setdefault(sid, step)
    return Plan(phases=tuple(phases), steps=steps, targets=pinned.targets, deferred=fresh.deferred)


def plan_doc(plan: Plan, resolved: Mapping[str, list[str]], pipeline: Mapping[str, Any], workers: int) -> dict[str, Any]:
    """What the operator keeps in the store under ``runs/<run_id>/operator/plan.json``."""
    return {"plan": plan.to_dict(), "resolved": {k: list(v) for k, v in sorted(resolved.items())},
            "pipeline": dict(pipeline), "workers": workers}


def from_doc(doc: Mapping[str, Any]) -> tuple[Plan, dict[str, list[str]], dict[str, Any], int]:
    return Plan.from_dict(doc["plan"]), dict(doc.get("resolved") or {}), dict(doc["pipeline"]), int(doc.get("workers") or 1)
