"""kopf glue for PipelineRuns: gather the facts, call the pure decisions, carry out the actions, patch status.

Two things trigger a reconcile of a run, and nothing else: its resync timer (a kopf timer every
``resync_seconds``, only while the run is not finished) and the end of one of its Jobs (a kopf
``on.event`` watcher of Jobs labelled ``barque.dev/run``), so the next phase starts as soon as
the Job controller marks a phase's Job Complete or Failed instead of on the next tick. The
event is only a trigger: the reconcile decides from what it observes, as the timer's does. No
resource-changing handlers, so kopf keeps no diff base and no handler progress on these
objects. The timer filter stops matching once the run has ended, which also removes the
finalizer kopf keeps on objects with live timers.

Reconciles of one run take turns (``RunGates``: a lock per run this process reconciles) and
write the status themselves, once per reconcile, as a merge patch of what changed (nothing when
nothing changed, so an idle run causes no writes) before they let the next one in. kopf's copy
of a run may lag behind such a write for a moment; a reconcile that is handed an older copy than
the version this process last read or wrote reads the run afresh. If anything raises half-way,
the status is not written and the next trigger decides again from what exists: every action is
idempotent (records and phase files are rewritten whole, a Job that exists is a 409, a Job
already gone is a 404).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Mapping

from pydantic import ValidationError

from barque.cachestate import assess
from barque.errors import BarqueError
from barque.plans import Plan
from barque.planner import make_plan
from barque.runspec import RunSpec, source_digest
from barque.store import ArtifactStore
from barque_operator import naming, runstore
from barque_operator.context import Context
from barque_operator.kube import termination_messages
from barque_operator.manifests import JobInputs, ManifestError, build_phase_job, pinned_pipeline, run_pins
from barque_operator.models import GROUP, VERSION, PipelineRunSpec
from barque_operator.observed import (
    CreateJob,
    Decision,
    DeleteJob,
    Event,
    JobView,
    Replan,
    RunFacts,
    WritePhase,
    WriteRecord,
    owning_run,
)
from barque_operator.planpin import extend_plan
from barque_operator.reconcile import (
    TERMINAL,
    current_phase,
    decide,
    ended_phases_missing_records,
    needs_assessment,
    not_started,
)
from barque_operator.resume import reusable_records
from barque_operator.status import merge_patch, parse_time, plan_summary, rfc3339
from barque_operator.validation import check_pipeline, pydantic_problems

log = logging.getLogger(__name__)
PINNED = ("runId", "storeUri", "image", "storeSecretName", "sourceDigest", "plan", "observedGeneration")
MAX_REPLANS = 8


@dataclass
class RunGate:
    """One run this process reconciles: its lock, kopf's live copy of it, the newest version seen."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    body: Mapping[str, Any] | None = None  # kopf's live body, as handed to the timer
    version: str | None = None  # the resourceVersion this process last read or wrote
    ended_jobs: set[str] = field(default_factory=set)  # uids of Jobs whose end already triggered


class RunGates:
    """The runs being reconciled here, by uid: a run joins on its first tick and leaves once kopf's
    copy of it shows it ended (or deleted), so no later tick can act on an older copy."""

    def __init__(self) -> None:
        self._gates: dict[str, RunGate] = {}
        self._lock = threading.Lock()

    def join(self, uid: str, body: Mapping[str, Any]) -> RunGate:
        with self._lock:
            gate = self._gates.setdefault(uid, RunGate())
            gate.body = body
            return gate

    def get(self, uid: str) -> RunGate | None:
        with self._lock:
            return self._gates.get(uid)

    def leave(self, uid: str) -> None:
        with self._lock:
            self._gates.pop(uid, None)


def register(registry: Any, ctx: Context) -> None:
    import kopf

    gates = RunGates()

    def active(status: Mapping[str, Any], **_: Any) -> bool:
        return (status or {}).get("phase") not in TERMINAL

    @kopf.timer(GROUP, VERSION, "pipelineruns", id="reconcile", interval=ctx.settings.resync_seconds,
                backoff=max(1.0, ctx.settings.resync_seconds), when=active, registry=registry)
    def reconcile_timer(body: Mapping[str, Any], **_: Any) -> None:
        uid = body["metadata"]["uid"]
        on_reconcile(ctx, uid, gates.join(uid, body))

    @kopf.on.event("batch", "v1", "jobs", id="job-ended", labels={"barque.dev/run": kopf.PRESENT}, registry=registry)
    def job_ended(event: Mapping[str, Any], body: Mapping[str, Any], **_: Any) -> None:
        if event.get("type") == "DELETED" or not JobView.from_job(body).finished:
            return
        uid = owning_run(body)
        gate = gates.get(uid) if uid else None
        job_uid = body["metadata"]["uid"]
        if uid is None or gate is None or job_uid in gate.ended_jobs:
            return  # not a run reconciled here (its timer has not started, or it ended), or seen already
        gate.ended_jobs.add(job_uid)
        on_reconcile(ctx, uid, gate)

    @kopf.on.event(GROUP, VERSION, "pipelineruns", id="watch-deletion", registry=registry)
    def deletion(event: Mapping[str, Any], body: Mapping[str, Any], **_: Any) -> None:
        if event.get("type") == "DELETED" or not active((body.get("status") or {})):
            gates.leave(body["metadata"]["uid"])
        on_deletion(ctx, event, body)


def on_reconcile(ctx: Context, uid: str, gate: RunGate) -> None:
    """Reconcile one run, one reconcile at a time, and write what changed in its status."""
    with gate.lock:
        body = _fresh(ctx, uid, gate)
        if body is None:
            return  # deleted, or replaced by a run of the same name: its watch events end its gate
        old = dict(body.get("status") or {})
        if old.get("phase") in TERMINAL:
            return
        try:
            new = reconcile_run(ctx, body)
        except Exception:
            ctx.metrics.reconcile_errors.labels("PipelineRun").inc()
            raise
        patch = merge_patch(old, new)
        if patch:
            meta = body["metadata"]
            gate.version = ctx.kube.patch_run_status(meta["namespace"], meta["name"], patch) or gate.version


def _fresh(ctx: Context, uid: str, gate: RunGate) -> dict[str, Any] | None:
    """A copy of the run at least as new as anything this process read or wrote; None when it is gone."""
    live = gate.body
    if live is not None and (gate.version is None or live["metadata"].get("resourceVersion") == gate.version):
        return dict(live)  # kopf replaces the live body's contents whole, so a shallow copy is a snapshot
    if live is None:
        return None
    meta = live["metadata"]
    run = ctx.kube.get_run(meta["namespace"], meta["name"])
    if run is None or run["metadata"].get("uid") != uid:
        return None
    gate.version = run["metadata"].get("resourceVersion")
    return run


def on_deletion(ctx: Context, event: Mapping[str, Any], body: Mapping[str, Any]) -> None:
    """A run being deleted: stop its live Jobs now (the garbage collector would, later) and count it."""
    meta = body.get("metadata") or {}
    if event.get("type") != "DELETED" and not meta.get("deletionTimestamp"):
        return
    phase = (body.get("status") or {}).get("phase")
    ctx.metrics.run_active(meta.get("uid", ""), False)
    if phase in TERMINAL:
        return
    for job in ctx.kube.list_run_jobs(meta["namespace"], meta["name"], meta["uid"]):
        if not JobView.from_job(job).finished:
            ctx.kube.delete_job(meta["namespace"], job["metadata"]["name"])
    if event.get("type") == "DELETED":
        pipeline = ((body.get("spec") or {}).get("pipelineRef") or {}).get("name", "")
        ctx.metrics.runs_finished.labels(meta["namespace"], pipeline, "cancelled").inc()


# -- one reconcile -------------------------------------------------------------------------------


def reconcile_run(ctx: Context, body: Mapping[str, Any]) -> dict[str, Any]:
    """The new status of the run, after carrying out what the decisions asked for."""
    meta = body["metadata"]
    status = dict(body.get("status") or {})
    now = ctx.clock()
    try:
        spec = PipelineRunSpec.model_validate(body.get("spec") or {})
    except ValidationError as err:
        message = "invalid spec: " + "; ".join(pydantic_problems(err, "spec"))
        decision = not_started(run_phase="Failed", message=message, previous=status, now=now, reason="InvalidSpec")
        return _finish(ctx, body, "", decision, None, {})
    if status.get("runId") and status.get("plan"):
        return _continue(ctx, body, spec, status)
    return _start(ctx, body, spec, status)


def _start(ctx: Context, body: Mapping[str, Any], spec: PipelineRunSpec, status: dict[str, Any]) -> dict[str, Any]:
    meta = body["metadata"]
    ns, ref, now = meta["namespace"], spec.pipeline_ref.name, ctx.clock()

    def stop(run_phase: str, message: str, reason: str) -> dict[str, Any]:
        decision = not_started(run_phase=run_phase, message=message, previous=status, now=now, reason=reason)
        return _finish(ctx, body, ref, decision, None, {})

    if spec.cancel:
        return stop("Cancelled", "cancelled before it started", "Cancelled")
    pipeline = ctx.kube.get_pipeline(ns, ref)
    if pipeline is None:
        return stop("Pending", f"waiting for Pipeline {ref} in namespace {ns}", "PipelineNotFound")
    check = check_pipeline(pipeline, ctx.settings)
    if not check.ok or check.spec is None or check.graph is None:
        return stop("Failed", f"Pipeline {ref} is invalid: {check.message}", "InvalidPipeline")
    pspec, graph = check.spec, check.graph
    workers = pspec.defaults.parallelism
    try:
        plan = make_plan(graph, spec.targets or None, workers, None, evaluate_partitions_in_steps=True)
    except BarqueError as err:
        return stop("Failed", f"cannot plan the run: {err.message}", "PlanFailed")
    rid = naming.run_id(ns, meta["name"], meta["uid"])
    try:
        pins = run_pins({}, JobInputs.of(pipeline), ctx.settings)
    except ManifestError as err:
        return stop("Failed", f"Pipeline {ref} is invalid: {err}", "InvalidPipeline")
    store_uri = pins.store_uri
    store = ctx.stores.get(store_uri)
    declared = sorted({name for n in graph.nodes.values() for name in n.env})
    env_values = pspec.defaults.env or {}
    run_spec = RunSpec(
        run_id=rid, graph=graph, params=dict(spec.params or {}), env={k: env_values.get(k) for k in declared},
        no_cache=spec.no_cache, targets=plan.targets, inline_code=pspec.code.inline is not None,
        code_path=pspec.code.path,
    )
    code_files = pspec.code.inline.files if pspec.code.inline is not None else None
    runstore.write_spec(store, run_spec, code_files)
    if spec.resume_from:
        problem = _resume(ctx, ns, spec.resume_from, store, store_uri, run_spec, plan)
        if problem:
            return stop("Failed", problem, "ResumeFailed")
    pinned = pinned_pipeline(pipeline)
    runstore.write_plan(store, rid, plan, {}, pinned, workers)
    status = {
        **status,
        "runId": rid,
        **{k: v for k, v in pins.status_fields().items() if v is not None},
        "sourceDigest": source_digest(code_files) if code_files else source_digest(graph.files),
        "plan": plan_summary(plan, ctx.settings.status_step_limit, runstore.plan_key(rid)),
        "observedGeneration": meta.get("generation"),
        "startTime": status.get("startTime") or rfc3339(now),
    }
    ctx.metrics.run_started(ns, ref)
    ctx.kube.post_event(body, "Normal", "Started",
                        f"planned {plan.total_steps} steps in {len(plan.phases)} phases (run id {rid})")
    return _progress(ctx, body, spec, status, store, run_spec, plan, {}, pinned, workers)


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


def _continue(ctx: Context, body: Mapping[str, Any], spec: PipelineRunSpec, status: dict[str, Any]) -> dict[str, Any]:
    rid, store = status["runId"], ctx.stores.get(status["storeUri"])
    version = (status["plan"].get("phaseCount"), status["plan"].get("totalSteps"), len(status["plan"].get("deferred") or ()))
    found = ctx.specs.plan(store, rid, version)
    run_spec = ctx.specs.spec(store, rid)
    if found is None or run_spec is None:
        message = f"the run's spec or plan is missing from the store {status['storeUri']} (runs/{rid}/)"
        decision = not_started(run_phase="Failed", message=message, previous=status, now=ctx.clock(), reason="StoreLost")
        return _finish(ctx, body, spec.pipeline_ref.name, decision, None, {})
    plan, resolved, pinned, workers = found
    return _progress(ctx, body, spec, status, store, run_spec, plan, resolved, pinned, workers)


def _progress(
    ctx: Context, body: Mapping[str, Any], spec: PipelineRunSpec, status: dict[str, Any], store: ArtifactStore,
    run_spec: RunSpec, plan: Plan, resolved: dict[str, list[str]], pinned: Mapping[str, Any], workers: int,
) -> dict[str, Any]:
    """Observe, decide, act; plan again when deferred partitions became known, then decide again."""
    meta = body["metadata"]
    ns, rid = meta["namespace"], run_spec.run_id
    views = [JobView.from_job(j) for j in ctx.kube.list_run_jobs(ns, meta["name"], meta["uid"])]
    jobs = {v.phase: v for v in views}
    records = ctx.records.refresh(store, rid, plan, {v.name: v.phase for v in views if v.finished})
    base = {k: status[k] for k in PINNED if k in status}
    timeout = spec.timeout_seconds or JobInputs.of(pinned).defaults.timeout_seconds
    decision: Decision | None = None
    for _ in range(MAX_REPLANS):
        keys: dict[str, list[str]] = {}
        unresolvable: dict[str, str] = {}
        if plan.deferred and current_phase(plan, records) is None:
            keys, unresolvable = runstore.partition_keys(store, rid, plan, records)
        exec_phases, pod_messages = _lost_step_facts(ctx, ns, store, rid, plan, records, jobs)
        verdicts = None
        if needs_assessment(plan, records, jobs):
            verdicts = assess(run_spec.graph, plan, store, run_spec.params, run_spec.env, run_spec.no_cache)
        facts = RunFacts(
            name=meta["name"], cancel=spec.cancel, timeout_seconds=timeout, previous=status, base=base, plan=plan,
            records=records, jobs=jobs, verdicts=verdicts, now=ctx.clock(), limit=ctx.settings.status_step_limit,
            exec_phases=exec_phases, pod_messages=pod_messages, unresolvable=unresolvable,
        )
        decision = decide(facts)
        _carry_out(ctx, {**body, "status": base}, store, rid, plan, pinned, decision, records)
        if not decision.of(Replan):
            break
        resolved = {**resolved, **{k: v for k, v in keys.items() if k in decision.of(Replan)[0].nodes}}
        fresh = make_plan(run_spec.graph, list(run_spec.targets) or None, workers, resolved,
                          evaluate_partitions_in_steps=True)
        plan = extend_plan(plan, fresh)
        runstore.write_plan(store, rid, plan, resolved, pinned, workers)
        base = {**base, "plan": plan_summary(plan, ctx.settings.status_step_limit, runstore.plan_key(rid))}
        status = {**status, "plan": base["plan"]}
        version = (base["plan"]["phaseCount"], base["plan"]["totalSteps"], len(base["plan"].get("deferred") or ()))
        ctx.specs.put_plan(rid, version, (plan, resolved, dict(pinned), workers))
        ctx.kube.post_event(body, "Normal", "Replanned", f"partition keys known: the plan now has {len(plan.phases)} phases")
    assert decision is not None
    return _finish(ctx, body, spec.pipeline_ref.name, decision, plan, records)


def _lost_step_facts(
    ctx: Context, ns: str, store: ArtifactStore, rid: str, plan: Plan,
    records: Mapping[str, Any], jobs: Mapping[int, JobView],
) -> tuple[dict[int, Any], dict[tuple[int, int], str]]:
    """Phase files and Pods' last words, only for ended Jobs that left steps unrecorded."""
    exec_phases, messages = {}, {}
    for index in ended_phases_missing_records(plan, records, jobs):
        phase = runstore.read_phase_file(store, rid, index)
        if phase is not None:
            exec_phases[index] = phase
        for stream, text in termination_messages(ctx.kube.list_job_pods(ns, jobs[index].name)).items():
            messages[(index, stream)] = text
    return exec_phases, messages


def _carry_out(
    ctx: Context, body: Mapping[str, Any], store: ArtifactStore, rid: str, plan: Plan,
    pinned: Mapping[str, Any], decision: Decision, records: dict[str, Any],
) -> None:
    meta = body["metadata"]
    for action in decision.actions:
        if isinstance(action, WriteRecord):
            runstore.write_record(store, rid, action.record)
            ctx.records.remember(rid, action.record)
            records[str(action.record["step"])] = dict(action.record)
        elif isinstance(action, WritePhase):
            runstore.write_phase_file(store, rid, action.phase, plan)
        elif isinstance(action, CreateJob):
            job = build_phase_job(body, pinned, action.phase, ctx.settings)  # body carries the pins
            if not ctx.kube.create_job(job):
                log.info("Job %s/%s already exists", meta["namespace"], job["metadata"]["name"])
        elif isinstance(action, DeleteJob):
            ctx.kube.delete_job(meta["namespace"], action.name)
        elif isinstance(action, Event):
            ctx.kube.post_event(body, action.type, action.reason, action.message)


def _finish(
    ctx: Context, body: Mapping[str, Any], pipeline: str, decision: Decision, plan: Plan | None,
    records: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """Side effects of a decision that are not in ``actions``: metrics and cache housekeeping."""
    meta = body["metadata"]
    if plan is None:  # a run that never started: its events are still to be posted
        for action in decision.of(Event):
            ctx.kube.post_event(body, action.type, action.reason, action.message)
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

