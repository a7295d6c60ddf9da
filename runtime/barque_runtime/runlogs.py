"""One local run after the fact: ``barque history RUN_ID`` (its steps and run hooks) and which
run ``barque logs`` reads.

The history (SQLite beside the store) says which runs there were and what each step did;
the store keeps each step's record, with its error and traceback, and its captured output.
A run id the local history does not know is not an error here: ``barque logs`` then asks
the cluster, where the argument is a PipelineRun's name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from barque import records
from barque.errors import BarqueError
from barque.hookstore import hooks_of_run
from barque.store import open_store
from barque_runtime import history


def run_detail(folder: str | Path, run_id: str, store_uri: str) -> dict[str, Any]:
    """The run's history row and steps; a failed step also carries its ``error`` and ``traceback``."""
    detail = history.run_detail(folder, run_id)
    if detail is None:
        recent = [r["run_id"] for r in history.recent_runs(folder, 3)]
        raise BarqueError(
            f"no run {run_id!r} in the history",
            where=str(Path(folder) / "history.db"),
            hint=(f"recent runs: {', '.join(recent)}" if recent else "no run is recorded here yet") + " (`barque history` lists them)",
        )
    store = open_store(store_uri)
    stored = records.read_step_records(store, run_id)
    tracebacks = {h["hook"]: h.get("traceback") for h in hooks_of_run(store, run_id)}
    for hook in detail["hooks"]:  # a hook that failed: its traceback, as a step's
        if hook["state"] != "succeeded" and tracebacks.get(hook["hook"]):
            hook["traceback"] = tracebacks[hook["hook"]]
    for step in detail["steps"]:
        error = (stored.get(step["step"]) or {}).get("error")
        if step["state"] in ("failed", "crashed") and isinstance(error, dict):
            step["error"] = f"{error.get('type', 'Error')}: {error.get('message', '')}"
            step["traceback"] = error.get("traceback")
    return detail


def local_run_id(folder: str | Path, run: str | None) -> str | None:
    """The local run ``barque logs RUN`` means: the latest without ``run``, ``run`` when the history
    knows it; None when it does not (the name of a PipelineRun, for the cluster)."""
    if run is None:
        latest = history.latest_run_id(folder)
        if latest is None:
            raise BarqueError("no local run to show the logs of", where=str(Path(folder) / "history.db"),
                              hint="run a pipeline first (`barque run ...`), or name a PipelineRun: `barque logs RUN STEP`")
        return latest
    return run if history.run_detail(folder, run) is not None else None


def steps_that_ran(folder: str | Path, run_id: str) -> list[str]:
    """The steps of a run that executed (ran or failed), in the order they were recorded."""
    detail = history.run_detail(folder, run_id) or {"steps": []}
    return [s["step"] for s in detail["steps"] if s["state"] in ("succeeded", "failed")]


def log_step(step_id: str, record: dict[str, Any]) -> str:
    """The step whose log keys hold ``step_id``'s output: a key of a batched call shares the
    call's output, stored under the call's first key (``batching``: ``logs_step``)."""
    owner = record.get("logs_step")
    return owner if isinstance(owner, str) and owner else step_id
