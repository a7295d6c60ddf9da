"""Partition keys that only a run reveals: read them from the outputs of the steps they wait for.

Used by the local runner and the operator alike after each phase: every deferred node
whose source step succeeded gets its keys, and planning again with them grows the plan.
"""

from __future__ import annotations

from typing import Any, Mapping

from barque import artifacts, records, trust
from barque.errors import PlanError
from barque.plans import Plan
from barque.stepinputs import keys_from_output
from barque.store import ArtifactStore


def resolve_deferred_keys(
    store: ArtifactStore,
    run_id: str,
    plan: Plan,
    known: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, list[str]]:
    """Keys for each deferred node whose source step finished well; ``known`` spares store reads."""
    resolved: dict[str, list[str]] = {}
    for item in plan.deferred:
        rec = (known or {}).get(item.waits_for) or records.read_step_record(store, run_id, item.waits_for)
        if rec is None or rec.get("state") not in ("succeeded", "cached") or rec.get("artifact") is None:
            continue
        ref = artifacts.ArtifactRef.from_dict(rec["artifact"])
        if ref.serializer not in trust.DATA_ONLY:
            # Keys are data: decoded as JSON only (no code runs), never because a record says pickle.
            raise PlanError(
                f"{item.waits_for} feeds partitions_from, so its output is read as JSON, and it was stored as {ref.serializer}",
                hint="return a list of partition keys (str) or a dict with str keys and JSON values",
            )
        value = artifacts.read_value(store, ref, allowed=trust.DATA_ONLY)
        try:
            resolved[item.node] = keys_from_output(value, item.waits_for)
        except (TypeError, ValueError) as exc:
            raise PlanError(str(exc), hint="return a list of partition keys, or a dict of key -> value") from None
    return resolved
