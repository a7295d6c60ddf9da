"""One reconcile of a PipelineRun: gather the facts, call the pure decisions, carry out the actions.

The caller (``handlers_run``) hands over what it observed without asking the API: the run, its
Jobs (from a kopf index) and a way to find its Pipeline (another index, with a GET as fallback).
This module adds what only the store knows (run spec, pinned plan, step records, cache verdicts)
and returns the run's new status; the caller writes it. Every action is idempotent (records and
phase files are rewritten whole, a Job that exists is a 409, a Job already gone is a 404), so if
anything raises half-way the next reconcile simply decides again from what exists.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from pydantic import ValidationError

from barque.batchflag import apply_batch_flags, parse_batch_flags
from barque.cachestate import assess
from barque.errors import BarqueError
from barque.deferred import read_deferred_keys
from barque.overrides import stage as stage_overrides
from barque.plans import Plan, grow_plan
from barque.hookstore import HOOKS_PHASE, read_hook_call, read_hook_results, write_hook_call
from barque.runreport import hooks_of
from barque.runspec import RunSpec, source_digest, spec_key
from barque.store import ArtifactStore
from barque.trust import env_digests
from barque_operator import naming, runstore
from barque_operator.context import Context
from barque.keyenv import cache_env_values, run_ref_scope
from barque_operator.manifests import JobInputs, ManifestError, build_hook_job, build_phase_job, pinned_pipeline, run_pins
from barque_operator.models import Defaults, PipelineRunSpec
from barque_operator.observed import (
    CreateHookJob,
    CreateJob,
    Decision,
    DeleteJob,
    Event,
    JobView,
    Replan,
    RunFacts,
    WritePhase,
    WriteRecord,
    pod_endings,
)
from barque_operator.planpin import cluster_plan, plan_doc
from barque_operator.reconcile import (
    decide,
    ended_phases_missing_records,
    needs_assessment,
    not_started,
)
from barque.resume import reusable_records
from barque_operator.status import merge_patch, parse_time, plan_summary, rfc3339
from barque_operator.validation import check_pipeline, pydantic_problems

log = logging.getLogger(__name__)
SPEC_BATCH = "spec.batch"  # how a batch override's errors name the field
PINNED = ("runId", "storeUri", "image", "storeSecretName", "sourceDigest", "plan", "observedGeneration")
MAX_REPLANS = 8
CHURN = ("duration",)  # changes by itself while a run goes on: written along with a real change only


@dataclass
class Seen:
    """What the caller observed for one reconcile, without API requests."""

    jobs: dict[int, JobView]  # the run's Jobs by phase index
    pipeline: Callable[[str, str], Mapping[str, Any] | None]  # (namespace, name) -> the Pipeline, or None
    created: dict[int, JobView] = field(default_factory=dict)  # Jobs this reconcile created (not yet watched)
    events: list[Event] = field(default_factory=list)  # to post once the status is written (advisory, last)
    writes: list[Future[None]] = field(default_factory=list)  # store writes under way (``_write``)
    start: runstore.PendingStart | None = None  # a starting run's spec, written before its first Job


def _write(ctx: Context, seen: Seen, fn: Callable[..., None], *args: Any) -> None:
    """Start a store write that nothing in this reconcile reads back (records it settles side by
    side). ``_settle`` waits for them all before a Job is created (its Pods read them) and before
    the reconcile returns (the status pins the plan)."""
    seen.writes.append(ctx.io.submit(fn, *args))


def _write_start(ctx: Context, seen: Seen) -> None:
    """Write a starting run's spec once, with the plan and the phase files its first decision
    asked for inside it: one store write for what were four (spec, code, plan, phase file), and
    one read for a Pod instead of three. The code snapshot is written once per Pipeline version."""
    start, seen.start = seen.start, None
    if start is not None:
        _write(ctx, seen, runstore.write_start, start.store, ctx.code, start)


def _settle(seen: Seen) -> None:
    """Wait for every write ``_write`` started; the first failure is raised once all have ended."""
    writes, seen.writes = seen.writes, []
    wait(writes)
    for done in writes:
        done.result()


def status_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch from ``old`` to ``new``, empty when only ``CHURN`` fields changed: a run's
    own status write wakes its watch again, and a patch per wake-up would never settle."""
    patch = merge_patch(old, new)
    return patch if set(patch) - set(CHURN) else {}


def fails_fast(spec: PipelineRunSpec, defaults: Defaults) -> bool:
    """Whether the run's failure policy is FailFast: its own ``failurePolicy``, else its Pipeline's default."""
    return (spec.failure_policy or defaults.failure_policy) == "FailFast"


def plan_version(summary: Mapping[str, Any]) -> tuple[Any, Any, int]:
    """Which pinned plan a status's plan summary describes: it changes exactly when the plan grows."""
    return summary.get("phaseCount"), summary.get("totalSteps"), len(summary.get("deferred") or ())


def reconcile_run(ctx: Context, body: Mapping[str, Any], seen: Seen) -> dict[str, Any]:
    """The new status of the run (``body["status"]`` is the newest status known), after carrying
    out what the decisions asked for (store writes included: all have ended when it returns)."""
    try:
        status = _reconcile(ctx, body, seen)
        _write_start(ctx, seen)  # a start that created no Job (all cached, or failed) keeps its spec too
    except BaseException:
        wait(seen.writes)  # nothing is left writing behind a failed reconcile
        raise
    _settle(seen)
    return status


def _reconcile(ctx: Context, body: Mapping[str, Any], seen: Seen) -> dict[str, Any]:
    meta = body["metadata"]
    status = dict(body.get("status") or {})
    now = ctx.clock()
    try:
        spec = PipelineRunSpec.model_validate(body.get("spec") or {})
    except ValidationError as err:
        message = "invalid spec: " + "; ".join(pydantic_problems(err, "spec"))
        decision = not_started(run_phase="Failed", message=message, previous=status, now=now, reason="InvalidSpec")
        return _finish(ctx, body, seen, "", decision, None, {})
    if status.get("runId") and status.get("plan"):
        return _continue(ctx, body, spec, status, seen)
    return _start(ctx, body, spec, status, seen)


def _start(ctx: Context, body: Mapping[str, Any], spec: PipelineRunSpec, status: dict[str, Any],
           seen: Seen) -> dict[str, Any]:
    meta = body["metadata"]
    ns, ref, now = meta["namespace"], spec.pipeline_ref.name, ctx.clock()

    def stop(run_phase: str, message: str, reason: str) -> dict[str, Any]:
        decision = not_started(run_phase=run_phase, message=message, previous=status, now=now, reason=reason)
        return _finish(ctx, body, seen, ref, decision, None, {})

    if spec.cancel:
        return stop("Cancelled", "cancelled before it started", "Cancelled")
    pipeline = seen.pipeline(ns, ref)
    if pipeline is None:
        return stop("Pending", f"waiting for Pipeline {ref} in namespace {ns}", "PipelineNotFound")
    check = check_pipeline(pipeline, ctx.settings)
    if not check.ok or check.spec is None or check.graph is None:
        return stop("Failed", f"Pipeline {ref} is invalid: {check.message}", "InvalidPipeline")
    pspec, graph = check.spec, check.graph
    workers = pspec.defaults.parallelism
    try:
        # The override replaces the nodes' batch= in the run's graph, which the pinned run spec
        # carries to every Pod, so the plan, the calls and the cache keys all see the same batching.
        graph = apply_batch_flags(graph, parse_batch_flags(spec.batch or (), SPEC_BATCH), SPEC_BATCH)
    except BarqueError as err:
        return stop("Failed", f"{err.message} ({err.hint})", "InvalidBatch")
    try:
        plan = cluster_plan(graph, spec.targets, workers)
    except BarqueError as err:
        return stop("Failed", f"cannot plan the run: {err.message}", "PlanFailed")
    rid = naming.run_id(ns, meta["name"], meta["uid"])
    try:
        pins = run_pins({}, JobInputs.of(pipeline), ctx.settings)
    except ManifestError as err:
        return stop("Failed", f"Pipeline {ref} is invalid: {err}", "InvalidPipeline")
    store_uri = pins.store_uri
    store = ctx.stores.get(store_uri)
    run_spec = RunSpec(
        run_id=rid, graph=graph, params=dict(spec.params or {}), env=env_digests(store, cache_env_values(graph, pspec.defaults.env)),
        no_cache=spec.no_cache, targets=plan.targets, inline_code=pspec.code.inline is not None,
        code_path=pspec.code.path, ref_scope=run_ref_scope(ns, ref),
        fail_fast=fails_fast(spec, pspec.defaults),
    )
    code_files = pspec.code.inline.files if pspec.code.inline is not None else None
    try:
        run_spec = stage_overrides(run_spec, store, spec.overrides or {})
    except BarqueError as err:
        return stop("Failed", f"spec.overrides: {err.message}", "InvalidOverrides")
    if spec.resume_from:
        problem = _resume(ctx, ns, spec.resume_from, store, store_uri, run_spec, plan)
        if problem:
            return stop("Failed", problem, "ResumeFailed")
    ctx.records.starting(rid)
    pinned = pinned_pipeline(pipeline)
    seen.start = runstore.PendingStart(store, run_spec, code_files, plan_doc(plan, {}, pinned, workers))
    summary = plan_summary(plan, ctx.settings.status_step_limit, spec_key(rid))
    # What was just written is what the next reconcile (the echo of this one's status write) would
    # read back: remember it, so that reconcile reads no store.
    ctx.specs.put_spec(rid, run_spec)
    ctx.specs.put_plan(rid, plan_version(summary), (plan, {}, dict(pinned), workers))
    status = {
        **status,
        "runId": rid,
        **{k: v for k, v in pins.status_fields().items() if v is not None},
        "sourceDigest": source_digest(code_files) if code_files else source_digest(graph.files),
        "plan": summary,
        "observedGeneration": meta.get("generation"),
        "startTime": status.get("startTime") or rfc3339(now),
    }
    ctx.metrics.run_started(ns, ref)
    seen.events.append(Event("Normal", "Started",
                        f"planned {plan.total_steps} steps in {len(plan.phases)} phases (run id {rid})"))
    return _progress(ctx, body, spec, status, seen, store, run_spec, plan, {}, pinned, workers)


def _resume(ctx: Context, ns: str, previous_name: str, store: ArtifactStore, store_uri: str,
            run_spec: RunSpec, plan: Plan) -> str | None:
    """Write the records this run takes over from ``previous_name``; a message when it cannot."""
    previous = ctx.kube.get_run(ns, previous_name)
    prev_status = (previous or {}).get("status") or {}
    if previous is None or not prev_status.get("runId"):
        return f"resumeFrom: PipelineRun {previous_name} not found in {ns}, or it never started"
    if prev_status.get("storeUri") != store_uri:
        return f"resumeFrom: PipelineRun {previous_name} used the store {prev_status.get('storeUri')}, this run uses {store_uri}"
    prev_spec = runstore.read_spec(store, prev_status["runId"])
    if prev_spec is None:
        return f"resumeFrom: the run spec of {previous_name} is gone from the store"
    reused = reusable_records(
        plan=plan, graph=run_spec.graph, params=run_spec.params, previous_graph=prev_spec.graph,
        previous_params=prev_spec.params, previous_records=runstore.read_all_records(store, prev_status["runId"]),
        previous_run=previous_name, run_id=run_spec.run_id,
    )
    for record in reused.values():
        runstore.write_record(store, run_spec.run_id, record)
        ctx.records.remember(run_spec.run_id, record)
    return None


def _continue(ctx: Context, body: Mapping[str, Any], spec: PipelineRunSpec, status: dict[str, Any],
              seen: Seen) -> dict[str, Any]:
    rid, store = status["runId"], ctx.stores.get(status["storeUri"])
    found = ctx.specs.plan(store, rid, plan_version(status["plan"]))
    run_spec = ctx.specs.spec(store, rid)
    if found is None or run_spec is None:
        message = f"the run's spec or plan is missing from the store {status['storeUri']} (runs/{rid}/)"
        decision = not_started(run_phase="Failed", message=message, previous=status, now=ctx.clock(), reason="StoreLost")
        return _finish(ctx, body, seen, spec.pipeline_ref.name, decision, None, {})
    plan, resolved, pinned, workers = found
    return _progress(ctx, body, spec, status, seen, store, run_spec, plan, resolved, pinned, workers)


def _progress(
    ctx: Context, body: Mapping[str, Any], spec: PipelineRunSpec, status: dict[str, Any], seen: Seen, store: ArtifactStore,
    run_spec: RunSpec, plan: Plan, resolved: dict[str, list[str]], pinned: Mapping[str, Any], workers: int,
) -> dict[str, Any]:
    """Observe, decide, act; plan again when deferred partitions became known, then decide again."""
    meta = body["metadata"]
    ns, rid = meta["namespace"], run_spec.run_id
    jobs = seen.jobs
    records = ctx.records.refresh(store, rid, plan, {v.name: v.phase for v in jobs.values() if v.finished})
    base = {k: status[k] for k in PINNED if k in status}
    defaults = JobInputs.of(pinned).defaults
    timeout = spec.timeout_seconds or defaults.timeout_seconds
    fail_fast = fails_fast(spec, defaults)
    decision: Decision | None = None
    unresolvable: dict[str, str] = {}
    hooks = hooks_of(run_spec.graph.nodes.values())
    for _ in range(MAX_REPLANS):
        exec_phases, endings = _lost_step_facts(ctx, ns, store, rid, plan, records, jobs)
        verdicts = None
        if needs_assessment(plan, records, jobs):
            verdicts = assess(run_spec.graph, plan, store, run_spec.params, run_spec.env, run_spec.no_cache,
                              scope=run_spec.ref_scope, overrides=run_spec.overrides)
        facts = RunFacts(
            name=meta["name"], cancel=spec.cancel, timeout_seconds=timeout, previous=status, base=base, plan=plan,
            records=records, jobs=jobs, verdicts=verdicts, now=ctx.clock(), limit=ctx.settings.status_step_limit,
            exec_phases=exec_phases, pod_endings=endings, unresolvable=unresolvable, fail_fast=fail_fast,
            hooks=hooks, hook_results=_hook_results(store, rid, jobs),
        )
        decision = decide(facts)
        _carry_out(ctx, {**body, "status": base}, seen, store, rid, plan, pinned, decision, records)
        if not decision.of(Replan):
            break
        keys, bad = read_deferred_keys(store, rid, plan, decision.of(Replan)[0].nodes, records)
        unresolvable.update(bad)
        if not keys:
            continue  # the next decision ends the run with what cannot be planned
        resolved = {**resolved, **keys}
        plan = grow_plan(plan, cluster_plan(run_spec.graph, run_spec.targets, workers, resolved))
        runstore.write_plan(store, rid, plan, resolved, pinned, workers)
        base = {**base, "plan": plan_summary(plan, ctx.settings.status_step_limit, runstore.plan_key(rid))}
        status = {**status, "plan": base["plan"]}
        ctx.specs.put_plan(rid, plan_version(base["plan"]), (plan, resolved, dict(pinned), workers))
        seen.events.append(Event("Normal", "Replanned", f"partition keys known: the plan now has {len(plan.phases)} phases"))
    assert decision is not None
    return _finish(ctx, body, seen, spec.pipeline_ref.name, decision, plan, records)


def _hook_results(store: ArtifactStore, rid: str, jobs: Mapping[int, JobView]) -> list[dict[str, Any]] | None:
    """How the run's hooks went, once its hook Job ended (``None`` before)."""
    job = jobs.get(HOOKS_PHASE)
    if job is None or not job.finished:
        return None
    call = read_hook_call(store, rid)
    return read_hook_results(store, rid, call[1]) if call else []


def _lost_step_facts(
    ctx: Context, ns: str, store: ArtifactStore, rid: str, plan: Plan,
    records: Mapping[str, Any], jobs: Mapping[int, JobView],
) -> tuple[dict[int, Any], dict[tuple[int, int], tuple[str, str]]]:
    """Phase files and how their Pods ended, only for ended Jobs that left steps unrecorded."""
    exec_phases, endings = {}, {}
    for index in ended_phases_missing_records(plan, records, jobs):
        phase = runstore.read_phase_file(store, rid, index)
        if phase is not None:
            exec_phases[index] = phase
        for stream, ending in pod_endings(ctx.kube.list_job_pods(ns, jobs[index].name)).items():
            endings[(index, stream)] = ending
    return exec_phases, endings


def _carry_out(
    ctx: Context, body: Mapping[str, Any], seen: Seen, store: ArtifactStore, rid: str, plan: Plan,
    pinned: Mapping[str, Any], decision: Decision, records: dict[str, Any],
) -> None:
    meta = body["metadata"]
    for action in decision.actions:
        if isinstance(action, WriteRecord):
            runstore.write_record(store, rid, action.record)
            ctx.records.remember(rid, action.record)
            records[str(action.record["step"])] = dict(action.record)
        elif isinstance(action, WritePhase) and seen.start is not None:
            seen.start.phases.append((action.phase, plan))
        elif isinstance(action, WritePhase):
            _write(ctx, seen, runstore.write_phase_file, store, rid, action.phase, plan)
        elif isinstance(action, CreateJob):
            _write_start(ctx, seen)
            _settle(seen)
            job = build_phase_job(body, pinned, action.phase, ctx.settings)  # body carries the pins
            if not ctx.kube.create_job(job):
                log.info("Job %s/%s already exists", meta["namespace"], job["metadata"]["name"])
            streams = len(action.phase.streams)
            seen.created[action.phase.index] = JobView(job["metadata"]["name"], action.phase.index, streams, active=streams)
        elif isinstance(action, CreateHookJob):
            _write_start(ctx, seen)
            _settle(seen)
            write_hook_call(store, rid, action.status, action.hooks)
            job = build_hook_job(body, pinned, len(action.hooks), ctx.settings)
            if not ctx.kube.create_job(job):
                log.info("Job %s/%s already exists", meta["namespace"], job["metadata"]["name"])
            hooks = len(action.hooks)
            seen.created[HOOKS_PHASE] = JobView(job["metadata"]["name"], HOOKS_PHASE, hooks, active=hooks)
        elif isinstance(action, DeleteJob):
            ctx.kube.delete_job(meta["namespace"], action.name)
        elif isinstance(action, Event):
            seen.events.append(action)


def _finish(
    ctx: Context, body: Mapping[str, Any], seen: Seen, pipeline: str, decision: Decision, plan: Plan | None,
    records: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """Side effects of a decision that are not in ``actions``: metrics and cache housekeeping."""
    meta = body["metadata"]
    if plan is None:  # a run that never started: its events are still to be posted
        seen.events.extend(decision.of(Event))
    if decision.finished:
        ctx.metrics.run_active(meta["uid"], False)
        started, ended = parse_time(decision.status.get("startTime")), parse_time(decision.status.get("completionTime"))
        duration = (ended - started).total_seconds() if started and ended else None
        counts = decision.status.get("counts") or {}
        states = [s for s, n in counts.items() if s != "total" for _ in range(n)]
        ctx.metrics.run_finished(meta["namespace"], pipeline, decision.finished, duration, records, states)
        rid = (decision.status.get("runId") or (body.get("status") or {}).get("runId"))
        if rid:
            ctx.records.forget(rid)
            ctx.specs.forget(rid)
    else:
        ctx.metrics.run_active(meta["uid"], decision.status.get("phase") != "Pending")
    return decision.status

