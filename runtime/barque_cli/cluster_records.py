"""The step records of a run the operator made, for ``barque graph --run NAME -n NS``.

The run's records are where the local run's are, in the store, under the run id the operator
pinned on the PipelineRun's status (``runId``, ``storeUri``; ``barque_cli.cmd_logs.store_location``).
Steps the operator never wrote a record for (cancelled ones, or not reached yet) take their
state from the status's step list, and failing that from the run's pinned plan: each planned
step has a state in the picture, as locally.
"""

from __future__ import annotations

from typing import Any, Mapping

from barque.store import ArtifactStore


def cluster_run_records(store: ArtifactStore, run: Mapping[str, Any], run_id: str) -> dict[str, dict[str, Any]]:
    """Step id -> record of the PipelineRun ``run`` (run id ``run_id`` in ``store``)."""
    from barque.records import read_step_records
    from barque_operator.runstore import read_plan

    recs = read_step_records(store, run_id)
    status = run.get("status") or {}
    pinned = read_plan(store, run_id)
    listed = {str(s.get("id")): s for s in status.get("steps") or []}
    unrecorded = "cancelled" if status.get("phase") in ("Failed", "Cancelled") else "pending"
    for sid, step in (pinned[0].steps.items() if pinned else ()):
        if sid not in recs:
            entry = listed.get(sid) or {}
            recs[sid] = {"step": sid, "node": step.node, "state": entry.get("state") or unrecorded}
    return recs
