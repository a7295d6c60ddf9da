"""A run's report, as its hooks receive it, and which hooks a run's outcome calls.

Pure and shared: the local runner and the operator's hook Job build the report here from the
step records, so a hook reads the same report wherever the run ran (``barque.hookstore`` says
where a hook Job finds its hooks and leaves its results).

A hook is a task with ``on=`` (``@task(on="failure")``); it takes the report through a
parameter named ``run_report`` (annotate it ``barque.RunReport`` for a type checker).
``on="success"`` runs after a run that succeeded, ``on="failure"`` after one that failed,
``on="always"`` after any end, a cancelled run's too.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, TypedDict

from barque.model import Node

REPORT_PARAM = "run_report"  # the parameter a hook takes the report through
_CALLS = {"success": ("succeeded",), "failure": ("failed",), "always": ("succeeded", "failed", "cancelled")}


class StepReport(TypedDict):
    """One step of the run, as its record says."""

    state: str
    attempts: int
    duration_seconds: float | None
    error: str | None  # ``Type: message`` of a failed or crashed step


class RunReport(TypedDict):
    """What a hook receives: the run's id, its outcome and every step recorded, by step id."""

    run_id: str
    status: str  # succeeded, failed or cancelled
    failed: list[str]  # the steps that failed or crashed
    steps: dict[str, StepReport]


def hooks_of(nodes: Iterable[Node]) -> dict[str, str]:
    """The run hooks among ``nodes``: node id -> ``on``."""
    return {n.id: n.on for n in nodes if n.on}


def hooks_due(hooks: Mapping[str, str], state: str) -> tuple[str, ...]:
    """The hooks (node id -> ``on``) a run that ended ``state`` calls, sorted."""
    return tuple(sorted(node for node, on in hooks.items() if state in _CALLS.get(on, ())))


def run_report(run_id: str, state: str, records: Mapping[str, Mapping[str, Any]]) -> RunReport:
    """The report of a run that ended ``state`` with step records ``records`` (stored form)."""
    steps: dict[str, StepReport] = {}
    for sid in sorted(records):
        rec = records[sid]
        err = rec.get("error")
        steps[sid] = StepReport(
            state=str(rec.get("state")),
            attempts=int(rec.get("attempts") or 0),
            duration_seconds=rec.get("duration_seconds"),
            error=f"{err.get('type', 'Error')}: {err.get('message', '')}" if isinstance(err, Mapping) else None,
        )
    failed = [sid for sid, s in steps.items() if s["state"] in ("failed", "crashed")]
    return RunReport(run_id=run_id, status=state, failed=failed, steps=steps)

