"""The Python API behind ``barque run``/``barque plan``: each returns the dict the CLI prints."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from barque import artifacts, records, trust
from barque.cachestate import StepCache
from barque.dotenv import declared_env_values
from barque.model import Graph, Node
from barque.planner import partition_label
from barque.plans import Plan
from barque.errors import BarqueError, StoreError
from barque.serializers import JSON
from barque.steprecord import FAILURES, StepState
from barque.targets import resolve_one, select_downstream, select_nodes
from barque_runtime import history
from barque_runtime.barca_order import final_node
from barque_runtime.datasets import prune_removed_keys
from barque_runtime.cancel import Cancellation, interrupting_signal
from barque_runtime.positionals import parse_selection, split_positionals
from barque_runtime.local import LocalRun, RunOptions, execute, keep_for_resume, plan_with_stored_keys, prepare
from barque.overrides import stage as stage_overrides
from barque_runtime.progress import Progress
from barque.hookstore import keep_hook_results
from barque.runreport import hooks_due, hooks_of, run_report

if TYPE_CHECKING:
    from barque_runtime.hooks import HookResult

# Called after a local run with the run, its plan, its summary, the nodes whose values the
# summary shows and what the history got (``{}`` when nothing): ``barque run`` writes the
# run's certificate there (``barque_runtime.certify``).
Certifier = Callable[[LocalRun, "Plan | None", dict[str, Any], list[str], dict[str, Any]], None]


def run(
    *files: str,
    target: str | Sequence[str] | None = None,
    workers: int | None = None,
    store: str | None = None,
    params: Mapping[str, str] | None = None,
    no_cache: bool = False,
    progress: Progress | None = None,
    assets_only: bool = False,
    refresh: str | Sequence[str] | None = None,
    cascade: bool = True,
    partition: str | Mapping[str, Any] | Sequence[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    fail_fast: bool = False,
    resume_from: str | None = None,
    batch: Sequence[str] = (),
    certify: Certifier | None = None,
) -> dict[str, Any]:
    """Run the pipeline locally; return the summary (``status`` is ``succeeded``, ``failed`` or ``cancelled``).

    SIGINT and SIGTERM cancel it (``cancelled_by`` names the signal); a signal before the
    run is prepared raises ``Cancelled`` instead, as there is no run to summarize yet.
    ``assets_only`` is ``barque get``: a task target is a usage error, as in barca.
    ``refresh`` names assets to recompute even when cached, and with ``cascade`` every asset
    of the cone below them (``--refresh a,b``, ``--no-cascade``). ``partition`` selects keys
    (``"region=emea,amer"`` or a dict; see ``barque.planner.select_keys``). ``overrides`` maps
    asset names to values stubbed in for their outputs (``barque.overrides``); the
    summary then lists those steps under ``overridden``. ``fail_fast`` stops the run at its
    first failure: nothing more starts, running streams are stopped and the steps without a
    result are ``cancelled``. ``resume_from`` names an earlier local run that failed or was
    cancelled: its successful steps are reused as they are (``barque.resume``), even when their
    inputs would now be stale; the summary lists them as ``resumed``. ``batch`` is barca's
    ``--batch`` (``["all"]``, ``["scored=20"]``; see ``barque.batchflag``). ``certify`` is
    called once the run is over (see ``Certifier``).
    """
    selection = parse_selection(partition)
    options = RunOptions(files, _targets(target), workers, store, dict(params or {}), no_cache, _names(refresh), cascade, selection,
                         fail_fast, resume_from, batch)
    return _run(options, progress, assets_only, overrides or {}, certify)[0]


def run_many(
    *files: str, params: Iterable[Mapping[str, str]], concurrency: int = 1, base_params: Mapping[str, str] | None = None, **options: Any
) -> dict[str, Any]:
    """``run`` once per parameter set (micro-batches), ``concurrency`` at a time; one summary of them all.

    Every batch is a run of its own (run id, history entry); ``options`` are ``run``'s, and
    ``base_params`` (``--param``) are what every set starts from. See ``barque_runtime.batches``.
    """
    from barque_runtime.batches import run_many as many

    return many(run, files, params, concurrency, base_params, **options)


class RunFailed(BarqueError):
    """``barque.get`` ran, and a step failed (or the run was cancelled): there is no value to return."""

    exit_code = 1


def get(
    target_or_file: str,
    *files: str,
    workers: int | None = None,
    store: str | None = None,
    params: Mapping[str, str] | None = None,
    no_cache: bool = False,
    refresh_all: bool = False,
    refresh: str | Sequence[str] | None = None,
    cascade: bool = True,
    partition: str | Mapping[str, Any] | None = None,
    batch: Sequence[str] = (),
) -> Any:
    """Get assets as ``barque get`` does and return the value, decoded, as ``barca.get`` does.

    The first argument is a target (``"total"``, ``"a,b"``) unless it is a file argument by
    barca's rule (``"pipeline.py"``, ``"jobs/"``); the rest are files (none: the current
    folder). A partitioned target gives ``{"region=amer": value, ...}``; several targets give
    ``{target: value}``; no target gives the last asset's value. Values are decoded here, in
    the caller's process, with a serializer their node allows (pickle and Parquet included).
    ``refresh_all`` is barca's name for ``no_cache``; ``refresh`` and ``cascade`` are as for
    ``run``; ``partition="region=emea"`` gets only those keys; ``batch`` is ``--batch``. A failed step raises ``RunFailed``.
    """
    paths, targets = split_positionals([target_or_file, *files])
    selection = parse_selection(partition)
    options = RunOptions(tuple(paths), tuple(targets), workers, store, dict(params or {}), no_cache or refresh_all, _names(refresh), cascade, selection,
                         batch=batch)
    summary, local, the_plan = _run(options, None, assets_only=True)
    if summary["status"] != "succeeded" or the_plan is None:
        failed = "; ".join(f"{f['step']}: {f['error']}" for f in summary.get("failures", [])) or summary["status"]
        raise RunFailed(f"run {summary['run_id']} {summary['status']}: {failed}", hint=f"see `barque logs {summary['run_id']}`")
    if len(targets) > 1:
        return {name: _decoded(local, the_plan, resolve_one(local.spec.graph, name)) for name in targets}
    node_id = _output_node(local, the_plan)
    return None if node_id is None else _decoded(local, the_plan, node_id)


def _decoded(local: LocalRun, the_plan: Plan, node_id: str) -> Any:
    """A node's value from this run's records, decoded; ``{dim=value: value}`` for a partitioned node."""
    allowed = trust.allowed_serializers(local.spec.graph.nodes[node_id].serializer)
    values = {}
    for step in the_plan.steps.values():
        rec = local.records.get(step.id)
        if step.node == node_id and step.produces and rec is not None and rec.get("artifact") is not None:
            values[partition_label(step.partition)] = artifacts.read_value(local.store, artifacts.ArtifactRef.from_dict(rec["artifact"]), allowed=allowed)
    return values.get("") if set(values) <= {""} else dict(sorted(values.items()))


def _run(
    options: RunOptions, progress: Progress | None, assets_only: bool, overrides: Mapping[str, Any] | None = None,
    certify: Certifier | None = None,
) -> tuple[dict[str, Any], LocalRun, Plan | None]:
    """Run; the summary, the finished run and its last plan (``get`` reads its values from them)."""
    started = time.time()
    t0 = time.perf_counter()
    files = options.files
    with Cancellation() as cancellation:
        local = prepare(options)
        local.spec = stage_overrides(local.spec, local.store, overrides or {})
        if assets_only:
            _refuse_tasks(local)
        warnings = plan_warnings(local)
        progress = progress or Progress()
        plan, cancelled_by = _execute(local, progress, cancellation)
        if plan is not None and not cancelled_by:  # a dataset sink mirrors its asset, as in barca
            for line in prune_removed_keys(local.spec.graph, plan, Path(local.root), bool(options.selection)):
                sys.stderr.write(line + "\n")
        summary = summarize(local, plan, time.perf_counter() - t0, "cancelled" if cancelled_by else None)
        summary["warnings"] = warnings
        if cancelled_by:
            summary["cancelled_by"] = cancelled_by
        if local.spec.overrides:
            summary["overridden"] = sorted(sid for sid, rec in local.records.items() if rec["node"] in local.spec.overrides)
        if options.refresh and not options.cascade:
            _warn_not_cascaded(local, summary["steps"])
        if cancelled_by:  # the driver never saw the end of a run Ctrl-C cut short
            local.hooks = hooks_due(hooks_of(local.spec.graph.nodes.values()), "cancelled")
        if local.hooks:
            summary["hooks"] = _run_hooks(local, summary["status"])
        if summary["status"] != "succeeded":  # a run that succeeded has nothing to resume
            keep_for_resume(local)
        row = {**summary, "targets": list(local.spec.targets)}  # history keeps the node ids
        recorded = history.record_run_or_warn(history.location(local.store_uri, local.root), row, started, files, local.records.values())
        if certify is not None and not cancelled_by:
            certify(local, plan, summary, shown_nodes(local, plan), _history_row(row, files, local.records.values()) if recorded else {})
    return summary, local, plan


def _history_row(row: Mapping[str, Any], files: Sequence[str], steps: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """What ``history.record_run`` took from a run beyond its summary: targets, files, steps."""
    return {"targets": list(row["targets"]), "files": list(files),
            "steps": [{"step": s["step"], "node": s["node"], "state": s["state"], "attempts": s.get("attempts", 0),
                       "duration_seconds": s.get("duration_seconds")} for s in steps]}


def shown_nodes(local: LocalRun, plan: Plan | None) -> list[str]:
    """The nodes whose values the summary shows: the targets named (several), else its ``final_output``'s."""
    if plan is None:
        return []
    named = _named_targets(local)
    if len(named) > 1:
        return list(named.values())
    node = _output_node(local, plan)
    return [] if node is None else [node]


def _run_hooks(local: LocalRun, status: str) -> list[HookResult]:
    """Run the hooks the driver chose; a failed one is noted on stderr, the run's status kept."""
    from barque_runtime.hooks import run_hooks

    report = run_report(local.spec.run_id, status, local.records)
    results = run_hooks([local.spec.graph.nodes[h] for h in local.hooks], report, local.spec.params, local.root)
    for result in results:
        if result["state"] != "succeeded":
            sys.stderr.write(f"barque: hook {result['hook']} {result['state']}: {result.get('error', '')} (the run {status})\n")
    try:  # where `barque graph --run` and `barque history RUN` read them, as for a cluster run
        keep_hook_results(local.store, local.spec.run_id, status, results)
    except (OSError, StoreError) as err:  # a log of the hooks, never the run's outcome
        sys.stderr.write(f"barque: warning: run {local.spec.run_id}'s hook results were not stored: {err}\n")
    return results


def _warn_not_cascaded(local: LocalRun, steps: list[dict[str, Any]]) -> None:
    """barca's warning for ``--no-cascade``: a cached asset below a refreshed one does not reflect the refresh."""
    graph, refreshed = local.spec.graph, local.spec.refresh
    above: dict[str, list[str]] = {}  # node -> the refreshed nodes it reads, transitively
    for source in sorted(refreshed):
        for node in select_downstream(graph, source):
            above.setdefault(node, []).append(source)
    for step in steps:
        node = step["id"].split("[", 1)[0]
        if step["status"] == "cached" and step["kind"] == "asset" and node in above and node not in refreshed:
            sys.stderr.write(
                f"barque: warning: {step['id']} was served from cache but depends on refreshed {', '.join(above[node])}; "
                "drop --no-cascade to recompute it\n"
            )


def _refuse_tasks(local: LocalRun) -> None:
    """``get`` is for assets: a task target exits 2 and says to use ``run``, as barca does."""
    nodes = local.spec.graph.nodes
    tasks = [t for t in local.spec.targets if nodes[t].kind == "task"]
    if tasks:
        raise BarqueError(
            f"{', '.join(tasks)} is a task: `get` gets assets",
            hint=f"run a task with `barque run {','.join(t.rpartition(':')[2] for t in tasks)} ...`",
        )


def _execute(local: LocalRun, progress: Progress, cancellation: Cancellation) -> tuple[Plan | None, str | None]:
    """Run the steps; the plan (None when cancelled) and the name of the signal that cancelled."""
    try:
        cancellation.armed = True
        cancellation.check()
        return execute(local, progress), None
    except BaseException as interrupt:
        signum = interrupting_signal(interrupt)
        if signum is None:
            raise
        # Steps that finished in streams the interrupt cut short are recorded in the store only.
        stored = records.read_step_records(local.store, local.spec.run_id)
        local.records.update({sid: rec for sid, rec in stored.items() if sid not in local.records})
        return None, signal.Signals(signum).name
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
    refresh: str | Sequence[str] | None = None,
    cascade: bool = True,
    partition: str | Mapping[str, Any] | Sequence[str] | None = None,
    assets_only: bool = False,
    batch: Sequence[str] = (),
) -> dict[str, Any]:
    """The plan as ``barque plan`` prints it; with ``with_cache``, each step's cache state and why
    (``batch``: ``--batch`` as ``run`` takes it)."""
    import gc

    # Graph, plan and document are many small objects and no reference cycles: the cyclic
    # collector would only re-scan them (about 5 % of planning 10,000 nodes), so it pauses.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        # Code hashes only feed cache keys: a plan without cache states is made without them.
        selection = parse_selection(partition)
        options = RunOptions(files, _targets(target), workers, store, dict(params or {}), no_cache, _names(refresh), cascade, selection,
                             batch=batch)
        local = prepare(options, hashes=with_cache)
        if assets_only:  # ``get --dry-run`` refuses a task as ``get`` does
            _refuse_tasks(local)
        warnings = plan_warnings(local)
        if not with_cache:
            return {**local.plan().to_dict(), "warnings": warnings}
        the_plan, verdicts = plan_with_stored_keys(local)
        doc = {**the_plan.to_dict(), "warnings": warnings}
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
    return {"dry_run": True, "total_steps": doc["total_steps"], "steps": steps, "deferred": doc["deferred"], "warnings": doc["warnings"]}


def plan_warnings(local: LocalRun) -> list[dict[str, str]]:
    """barca's plan warnings for the nodes this command plans (the targets' cones), printed on
    stderr before anything runs (``barque: warning: ...``); returns the JSON ``warnings`` array."""
    from barque.parsing.checks import as_json, summary_lines

    graph = local.spec.graph
    found = graph.warnings_for(select_nodes(graph, list(local.spec.targets)))
    for line in summary_lines(found):
        sys.stderr.write(f"barque: warning: {line}\n")
    return as_json(found)


def _cache_entry(verdict: StepCache, node: Node, env: Mapping[str, str | None]) -> dict[str, Any]:
    """A step's cache state and reason, and the env values it is keyed with (secret-looking names redacted)."""
    entry: dict[str, Any] = {"state": verdict.state, "reason": verdict.reason}
    if node.env:
        entry["env"] = trust.redact_env({name: env.get(name) for name in node.env})
    return entry


def summarize(local: LocalRun, plan: Plan | None, elapsed: float, status: str | None) -> dict[str, Any]:
    """The one JSON summary a run prints on stdout."""
    recs = local.records.values()
    count = {s.value: sum(1 for r in recs if r["state"] == s) for s in StepState}
    # Deferred nodes never planned: their keys' source failed or could not be read. One whose
    # source was filtered has no keys to run, which fails nothing.
    unresolved = sum(1 for d in plan.deferred if (local.records.get(d.waits_for) or {}).get("state") != "filtered") if plan else 0
    if status is None:
        status = "failed" if count["failed"] or count["crashed"] or count["skipped"] or unresolved else "succeeded"
    summary: dict[str, Any] = {
        "run_id": local.spec.run_id,
        "status": status,
        "elapsed_seconds": round(elapsed, 4),
        "steps_executed": count["succeeded"] + count["failed"] + count["crashed"],
        "steps_cached": count["cached"],
        "steps_failed": count["failed"] + count["crashed"],  # a crash fails a run as an exception does
        "steps_crashed": count["crashed"],
        "steps_skipped": count["skipped"] + (unresolved if status == "failed" else 0),
        "steps_filtered": count["filtered"],  # chose not to produce (barque.Skip, run_if), or below one that did
        "phases": len(plan.phases) if plan else 0,
        "targets": list(local.spec.targets),
        "final_output": final_output(local, plan) if plan and status == "succeeded" else None,
        "steps": step_list(local, plan),
    }
    named = _named_targets(local)
    if len(named) > 1:  # barca: ``targets`` keyed by the names given replaces ``final_output``
        del summary["final_output"]
        summary["targets"] = {name: target_result(local, plan, nid) for name, nid in named.items()}
    failures = [{"step": r["step"], "error": f"{r['error']['type']}: {r['error']['message']}"} for r in recs if r["state"] in FAILURES]
    if failures:
        summary["failures"] = failures
    # A failed sink leaves its asset succeeded; the summary still says so, not only stderr.
    return summary


def _named_targets(local: LocalRun) -> dict[str, str]:
    """The targets as given (``a,b``), each name once and each node once, to their node ids."""
    named: dict[str, str] = {}
    for name in (part.strip() for given in local.options.targets for part in given.split(",")):
        nid = resolve_one(local.spec.graph, name) if name else ""
        if nid and nid not in named.values():
            named[name] = nid
    return named


def target_result(local: LocalRun, plan: Plan | None, node_id: str) -> dict[str, Any]:
    """One entry of barca's ``targets``: its value (a task's too), or the step that failed below it.

    ``failed_node`` is the target's own failed step, else the first failed step of its cone."""
    cone = select_nodes(local.spec.graph, [node_id])
    recs = [local.records[sid] for sid in _order(plan) if sid in local.records and plan and plan.steps[sid].node in cone]
    failed = sorted((r for r in recs if r["state"] in FAILURES), key=lambda r: r["node"] != node_id)
    if failed:
        err = failed[0].get("error") or {}
        return {"status": "failed", "failed_node": failed[0]["step"], "error": f"{err.get('type', 'Error')}: {err.get('message', '')}"}
    own = [r for r in recs if r["node"] == node_id]
    if plan is None or not own or any(r["state"] not in ("succeeded", "cached") for r in own):
        return {"status": "cancelled" if plan is None else "skipped"}
    return {"status": "succeeded", "final_output": _node_value(local, plan, node_id)}


def _order(plan: Plan | None) -> list[str]:
    return [sid for phase in plan.phases for stream in phase.streams for sid in stream.steps] if plan else []


# barca's ``steps[].status`` for each state of a step record.
_STEP_STATUS = {"succeeded": "ran", "cached": "cached", "failed": "failed", "crashed": "crashed", "skipped": "skipped",
                "filtered": "filtered"}


def step_list(local: LocalRun, plan: Plan | None) -> list[dict[str, Any]]:
    """barca's per-step list: ``id``, ``kind``, ``status`` and, for a step that did not come
    from cache, ``reason`` (barca's code), ``detail`` (barque's words), ``attempts`` and
    ``elapsed_seconds``. In plan order, then any step recorded outside the last plan."""
    order = _order(plan)
    known = set(order)
    order += sorted(sid for sid in local.records if sid not in known)
    nodes = local.spec.graph.nodes
    steps = []
    for sid in order:
        rec = local.records.get(sid)
        if rec is None:  # planned, never reached (a cancelled run)
            continue
        status = "overridden" if rec["node"] in local.spec.overrides else _STEP_STATUS.get(rec["state"], rec["state"])
        if rec.get("reused_from"):  # --resume-from: taken over as it is, not fresh and not a cache hit
            status = "resumed"
        entry: dict[str, Any] = {"id": sid, "kind": nodes[rec["node"]].kind, "status": status}
        if status == "resumed":
            entry.update(reason="resumed", detail=str(rec.get("reason", "")))
        if rec["state"] != "cached":
            entry.update(_why(rec, local.reasons.get(sid, "")))
            entry["attempts"] = int(rec.get("attempts") or 0)
            entry["elapsed_seconds"] = round(float(rec.get("duration_seconds") or 0.0), 6)
        steps.append(entry)
    for sid in plan.skipped if plan else ():
        node = sid.split("[", 1)[0]
        steps.append({"id": sid, "kind": nodes[node].kind, "status": "skipped", "reason": "partition_selection",
                      "detail": "reads partition keys --partition leaves out"})
    return steps


def _why(rec: Mapping[str, Any], planned: str) -> dict[str, str]:
    """barca's ``reason`` code and the words behind it, for a step that ran, failed or was skipped."""
    if rec["state"] == "skipped":
        return {"reason": "upstream_failed", "detail": str(rec.get("reason", ""))}
    if rec["state"] == "filtered":  # its own Skip or run_if, or an upstream's
        return {"reason": "filtered", "detail": str(rec.get("reason", ""))}
    if rec["state"] == "cancelled":  # --fail-fast stopped the run before it ran
        return {"reason": "fail_fast", "detail": str(rec.get("reason", ""))}
    prefixes = (
        ("task", "task"),
        ("sensor", "sensor"),
        ("forced: --refresh of", "refresh_cascade"),
        ("forced: --refresh", "refresh"),
        ("forced", "refresh_all"),
        ("artifact missing", "artifact_missing"),
    )
    for prefix, code in prefixes:
        if planned.startswith(prefix):
            return {"reason": code, "detail": planned}
    if planned.startswith("waits for "):  # the planner could not tell before its input was recomputed
        return {"reason": "not_materialized", "detail": "input recomputed: " + planned.removeprefix("waits for ")}
    # Anything else means no stored result matches the step as it is now: a change to its
    # code or inputs, a first run, or a record that is missing, corrupt or not trusted.
    return {"reason": "not_materialized", "detail": planned or "never materialized"}


def final_output(local: LocalRun, plan: Plan) -> Any:
    """The single target's value, or the last asset's; a partitioned node maps ``dim=value`` keys to values."""
    node_id = _output_node(local, plan)
    return None if node_id is None else _node_value(local, plan, node_id)


def _node_value(local: LocalRun, plan: Plan, node_id: str) -> Any:
    """A node's value as the summary shows it; a partitioned node maps ``dim=value`` keys to values."""
    steps = [s for s in plan.steps.values() if s.node == node_id and s.produces and s.id in local.records]
    if not steps:
        return None
    values = {partition_label(s.partition): _value(local, s.id) for s in steps}
    return values[""] if list(values) == [""] else dict(sorted(values.items()))


def _output_node(local: LocalRun, plan: Plan) -> str | None:
    if len(plan.targets) == 1 and local.options.targets:
        return plan.targets[0]
    workers = local.options.workers or os.cpu_count() or 1  # the pool the run used, as barca plans for its pool
    counts = {nid: len(keys) for nid, keys in local.resolved.items()}
    return last_asset(local.spec.graph, workers, counts, local.options.files)


def last_asset(graph: Graph, workers: int, key_counts: Mapping[str, int] | None = None, files: Sequence[str] = ()) -> str | None:
    """barca's ``final_output`` with no target: "the one asset it calls last".

    That is the last asset step of the plan barca makes for the assets and sensors on a pool
    of ``workers`` (``barque_runtime.barca_order``), so it depends on the pool size, as in
    barca: 500 independent assets on 2 workers give the first defined, on 3 the third.
    ``key_counts`` are the keys of nodes whose keys the run resolved (a partition expression);
    ``files`` the command's file arguments, whose order is barca's order of the files.
    """
    return final_node(graph, workers, key_counts, files)


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


def _names(names: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"a,b"``, ``["a", "b"]`` or ``["a,b"]``: the names, one each."""
    given = [names] if isinstance(names, str) else list(names or ())
    return tuple(part.strip() for item in given for part in item.split(",") if part.strip())


def _targets(target: str | Sequence[str] | None) -> tuple[str, ...]:
    if target is None:
        return ()
    return (target,) if isinstance(target, str) else tuple(target)


def live_cache_keys(
    *files: str, store: str | None = None, params: Mapping[str, str] | None = None
) -> tuple[str, set[str], set[str], str]:
    """The store URI, the cache keys the current plan of ``files`` reads, its node ids and its refs
    scope (for ``barque gc``)."""
    local = prepare(RunOptions(files, (), None, store, dict(params or {}), False))
    _, verdicts = plan_with_stored_keys(local)
    keys = {v.cache_key for v in verdicts.values() if v.cache_key}
    return local.store_uri, keys, set(local.spec.graph.nodes), local.spec.ref_scope
