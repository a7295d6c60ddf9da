"""A run's report, as its hooks receive it, and which hooks a run's outcome calls.

Shared: the local runner and the operator's hook Job build the report here from the step
records, so a hook reads the same report wherever the run ran; the last part says where a
hook Job finds its hooks and leaves its results in the store.

A hook is a task with ``on=`` (``@task(on="failure")``); it takes the report through a
parameter named ``run_report`` (annotate it ``barque.RunReport`` for a type checker).
``on="success"`` runs after a run that succeeded, ``on="failure"`` after one that failed,
``on="always"`` after any end, a cancelled run's too.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence, TypedDict

from barque.model import Node
from barque.records import read_json, write_json
from barque.store.base import ArtifactStore

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


# -- in the store: what a hook Job (one Pod per hook) reads and writes ---------------------------

# The phase index of a run's hook Job (its ``barque.dev/phase`` label, a label value, so no sign):
# beyond any plan's phases, which a run's status lists at most 10,000 of.
HOOKS_PHASE = 1_000_000


def hooks_key(run_id: str) -> str:
    return f"runs/{run_id}/hooks/call.json"


def hook_result_key(run_id: str, index: int) -> str:
    return f"runs/{run_id}/hooks/{index}.json"


def write_hook_call(store: ArtifactStore, run_id: str, status: str, hooks: Sequence[str]) -> None:
    """What the hook Job runs: the run's outcome and its hooks, Pod ``i`` running ``hooks[i]``."""
    write_json(store, hooks_key(run_id), {"status": status, "hooks": list(hooks)})


def read_hook_call(store: ArtifactStore, run_id: str) -> tuple[str, list[str]] | None:
    doc = read_json(store, hooks_key(run_id))
    return (str(doc["status"]), [str(h) for h in doc["hooks"]]) if isinstance(doc, dict) else None


def write_hook_result(store: ArtifactStore, run_id: str, index: int, result: Mapping[str, Any]) -> None:
    write_json(store, hook_result_key(run_id, index), dict(result))


def read_hook_results(store: ArtifactStore, run_id: str, hooks: Sequence[str]) -> list[dict[str, Any]]:
    """How each of ``hooks`` went, in order; one whose Pod left no result is ``crashed``."""
    out = []
    for index, hook in enumerate(hooks):
        doc = read_json(store, hook_result_key(run_id, index))
        if not isinstance(doc, dict) or doc.get("hook") != hook:
            doc = {"hook": hook, "state": "crashed", "attempts": 0, "error": "PodFailure: its Pod ended without a result"}
        out.append(doc)
    return out
