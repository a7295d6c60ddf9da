"""Where a run's hooks are called and how each went, in the run's part of the store.

The operator writes the call (the run's outcome and its hooks) before it creates the hook Job
(one Pod per hook); Pod ``i`` runs ``hooks[i]`` (``barque exec --hooks``) and stores its
result; the operator reads the results once the Job has ended. A local run writes the same
call and results once its hooks are done (``keep_hook_results``), so ``barque graph --run``
reads a run's hooks from one place wherever it ran (``hooks_of_run``), and ``barque history
RUN`` their tracebacks. Plain JSON: nothing here is code or a pickled value.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from barque.records import read_json, write_json
from barque.store.base import ArtifactStore


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


def keep_hook_results(store: ArtifactStore, run_id: str, status: str, results: Sequence[Mapping[str, Any]]) -> None:
    """Store how a local run's hooks went, as a hook Job leaves it (the call, then each result)."""
    write_hook_call(store, run_id, status, [str(r["hook"]) for r in results])
    for index, result in enumerate(results):
        write_hook_result(store, run_id, index, result)


def hooks_of_run(store: ArtifactStore, run_id: str) -> list[dict[str, Any]]:
    """How each hook of ``run_id`` went, in call order; empty when the run called none."""
    call = read_hook_call(store, run_id)
    return read_hook_results(store, run_id, call[1]) if call else []
