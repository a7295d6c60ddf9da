"""The Python API behind ``barque run``/``barque plan``: each returns the dict the CLI prints."""

from __future__ import annotations

import os
import signal
import time
from typing import Any, Mapping, Sequence

from barque import artifacts, records, trust
from barque.cachestate import StepCache
from barque.dotenv import declared_env_values
from barque.model import Node
from barque.planner import partition_label
from barque.plans import Plan
from barque.errors import BarqueError
from barque.serializers import JSON
from barque_runtime import history
from barque_runtime.cancel import Cancellation, Cancelled
from barque_runtime.local import LocalRun, RunOptions, execute, plan_with_stored_keys, prepare
from barque_runtime.progress import Progress

TERMINAL_FAILURE = ("failed", "skipped")


def run(
    *files: str,
    target: str | Sequence[str] | None = None,
    workers: int | None = None,
    store: str | None = None,
    params: Mapping[str, str] | None = None,
    no_cache: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the pipeline locally; return the summary (``status`` is ``succeeded``, ``failed`` or ``cancelled``).

    SIGINT and SIGTERM cancel it (``cancelled_by`` names the signal); a signal before the
    run is prepared raises ``Cancelled`` instead, as there is no run to summarize yet.
    """
    started = time.time()
    t0 = time.perf_counter()
    options = RunOptions(files, _targets(target), workers, store, dict(params or {}), no_cache)
    with Cancellation() as cancellation:
        local = prepare(options)
        progress = progress or Progress()
        plan, cancelled_by = _execute(local, progress, cancellation)
        summary = summarize(local, plan, time.perf_counter() - t0, "cancelled" if cancelled_by else None)
        if cancelled_by:
            summary["cancelled_by"] = cancelled_by
        history.record_run_or_warn(history.location(local.store_uri, local.root), summary, started, files, local.records.values())
    return summary


def _execute(local: LocalRun, progress: Progress, cancellation: Cancellation) -> tuple[Plan | None, str | None]:
    """Run the steps; the plan (None when cancelled) and the name of the signal that cancelled."""
    try:
        cancellation.armed = True
        cancellation.check()
        return execute(local, progress), None
    except KeyboardInterrupt as interrupt:
        # Steps that finished in streams the interrupt cut short are recorded in the store only.
        stored = records.read_step_records(local.store, local.spec.run_id)
        local.records.update({sid: rec for sid, rec in stored.items() if sid not in local.records})
        return None, signal.Signals(interrupt.signum).name if isinstance(interrupt, Cancelled) else "SIGINT"
    finally:
        cancellation.armed = False
        progress.close()


def plan(
    *files: str,
    target: str | Sequence[str] | None = None,
    workers: int | None = None,
    store: str | None = None,
    params: Mapping[str, str] | None = None,
    no_cache: bool = False,
    with_cache: bool = False,
) -> dict[str, Any]:
    """The plan as ``barque plan`` prints it; with ``with_cache``, each step's cache state and why."""
    import gc

    # Graph, plan and document are many small objects and no reference cycles: the cyclic
    # collector would only re-scan them (about 5 % of planning 10,000 nodes), so it pauses.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        # Code hashes only feed cache keys: a plan without cache states is made without them.
        local = prepare(RunOptions(files, _targets(target), workers, store, dict(params or {}), no_cache), hashes=with_cache)
        if not with_cache:
            return local.plan().to_dict()
        the_plan, verdicts = plan_with_stored_keys(local)
        doc = the_plan.to_dict()
        graph = local.spec.graph
        env = declared_env_values({name for n in graph.nodes.values() for name in n.env}, os.environ, graph.root)
        doc["cache"] = {sid: _cache_entry(v, graph.nodes[the_plan.steps[sid].node], env) for sid, v in sorted(verdicts.items())}
        return doc
    finally:
        if was_enabled:
            gc.enable()


def dry_run(*files: str, **kwargs: Any) -> dict[str, Any]:
    """Every step of the plan as ``run`` or ``cached``, and why; nothing is executed."""
    doc = plan(*files, with_cache=True, **kwargs)
    steps = []
    for sid, verdict in doc["cache"].items():
        state = "cached" if verdict["state"] == "cached" else "run"
        reason = verdict["reason"]
        if verdict["state"] == "unknown":
            reason += " (runs unless that upstream's output comes out unchanged)"
        steps.append({"step": sid, "action": state, "reason": reason, **({"env": verdict["env"]} if "env" in verdict else {})})
    return {"dry_run": True, "total_steps": doc["total_steps"], "steps": steps, "deferred": doc["deferred"]}


def _cache_entry(verdict: StepCache, node: Node, env: Mapping[str, str | None]) -> dict[str, Any]:
    """A step's cache state and reason, and the env values it is keyed with (secret-looking names redacted)."""
    entry: dict[str, Any] = {"state": verdict.state, "reason": verdict.reason}
    if node.env:
        entry["env"] = trust.redact_env({name: env.get(name) for name in node.env})
    return entry


def summarize(local: LocalRun, plan: Plan | None, elapsed: float, status: str | None) -> dict[str, Any]:
    """The one JSON summary a run prints on stdout."""
    recs = local.records.values()
    count = {s: sum(1 for r in recs if r["state"] == s) for s in ("succeeded", "cached", "failed", "skipped")}
    unresolved = len(plan.deferred) if plan else 0
    if status is None:
        status = "failed" if count["failed"] or count["skipped"] else "succeeded"
    summary: dict[str, Any] = {
        "run_id": local.spec.run_id,
        "status": status,
        "elapsed_seconds": round(elapsed, 4),
        "steps_executed": count["succeeded"] + count["failed"],
        "steps_cached": count["cached"],
        "steps_failed": count["failed"],
        "steps_skipped": count["skipped"] + (unresolved if status == "failed" else 0),
        "phases": len(plan.phases) if plan else 0,
        "targets": list(local.spec.targets),
        "final_output": final_output(local, plan) if plan and status == "succeeded" else None,
    }
    failures = [{"step": r["step"], "error": f"{r['error']['type']}: {r['error']['message']}"} for r in recs if r["state"] == "failed"]
    if failures:
        summary["failures"] = failures
    # A failed sink leaves its asset succeeded; the summary still says so, not only stderr.
    return summary


def final_output(local: LocalRun, plan: Plan) -> Any:
    """The single target's value, or the last asset's; a partitioned node maps ``dim=value`` keys to values."""
    node_id = _output_node(local, plan)
    if node_id is None:
        return None
    steps = [s for s in plan.steps.values() if s.node == node_id and s.id in local.records]
    if not steps:
        return None
    values = {partition_label(s.partition): _value(local, s.id) for s in steps}
    return values[""] if list(values) == [""] else dict(sorted(values.items()))


def _output_node(local: LocalRun, plan: Plan) -> str | None:
    if len(plan.targets) == 1 and local.options.targets:
        return plan.targets[0]
    order = [sid for phase in plan.phases for stream in phase.streams for sid in stream.steps]
    kinds = local.spec.graph.nodes
    for sid in reversed(order):
        node = plan.steps[sid].node
        if kinds[node].kind == "asset":
            return node
    return None


def _value(local: LocalRun, step_id: str) -> Any:
    """A JSON value as it is; anything else as a pointer with the type and repr its worker wrote.

    The parent never decodes pickle or Parquet: it cannot import the user's modules (and
    should not run their code), and the summary needs only to say what and where.
    """
    rec = local.records[step_id]
    if rec.get("artifact") is None:
        return None
    try:
        ref = artifacts.ArtifactRef.from_dict(rec["artifact"])
        if ref.serializer == JSON:
            return artifacts.read_value(local.store, ref, allowed=trust.DATA_ONLY)
    except BarqueError as err:  # a summary reports a value it cannot read; it is not lost over it
        return {"_artifact": rec["artifact"], "_error": str(err)}
    found = rec.get("preview")
    preview: dict[str, Any] = found if isinstance(found, dict) else {}
    pointer: dict[str, Any] = {"_artifact": ref.to_dict(), "_type": str(preview.get("type", "")).rpartition(".")[2] or ref.serializer}
    if "repr" in preview:
        pointer["_repr"] = str(preview["repr"])
    return pointer


def _targets(target: str | Sequence[str] | None) -> tuple[str, ...]:
    if target is None:
        return ()
    return (target,) if isinstance(target, str) else tuple(target)


def live_cache_keys(*files: str, store: str | None = None, params: Mapping[str, str] | None = None) -> tuple[str, set[str], set[str]]:
    """The store URI, the cache keys the current plan of ``files`` reads, and its node ids (for ``barque gc``)."""
    local = prepare(RunOptions(files, (), None, store, dict(params or {}), False))
    _, verdicts = plan_with_stored_keys(local)
    keys = {v.cache_key for v in verdicts.values() if v.cache_key}
    return local.store_uri, keys, set(local.spec.graph.nodes)
