"""Pure reconcile decisions for a PipelineRun: observed facts in, actions and one status out.

Level-based: ``decide`` looks only at what exists now (the pinned plan, step records in the
store, the run's Jobs, its Pods' termination messages) and never at what it did before, so
running it twice on the same facts gives the same answer, and running it again after its
actions were carried out asks for nothing more (tests check both). Memory is never needed:
a restarted operator gathers the same facts and reaches the same decisions.

How a phase moves:
- every step of the phase has a record: the phase is done (records are final);
- its Job is live: the phase is running, later phases wait;
- its Job ended but some steps have no record (a Pod lost for good, a deadline): those steps
  get records written by the operator (the first one failed with the Pod's last words, the
  rest of its stream skipped), then the phase is done;
- no Job yet: steps whose upstream failed are recorded skipped, steps already cached are
  recorded cached (the runtime reads upstream records of *this* run, so these records are
  what lets dependants find their inputs), and the rest go into the phase file and one
  Indexed Job. A phase with nothing left to run creates no Job.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Sequence

from barque.plans import Phase, Plan, Stream
from barque_operator import naming
from barque_operator.observed import (
    Action,
    CreateJob,
    Decision,
    DeleteJob,
    Event,
    JobView,
    Replan,
    RunFacts,
    RunView,
    WritePhase,
    WriteRecord,
)
from barque_operator.status import (
    FINAL_STATES,
    PhaseView,
    build_status,
    conditions,
    failure_message,
    parse_time,
    rfc3339,
)

OK_STATES = ("succeeded", "cached")
TERMINAL = ("Succeeded", "Failed", "Cancelled")
MAX_STEP_EVENTS = 10


# -- predicates the handler uses to gather only the facts a decision needs --------------------


def phase_steps(phase: Phase) -> list[str]:
    return [sid for stream in phase.streams for sid in stream.steps]


def current_phase(plan: Plan, records: Mapping[str, Any]) -> Phase | None:
    """The first phase with a step that has no record yet."""
    for phase in plan.phases:
        if any(sid not in records for sid in phase_steps(phase)):
            return phase
    return None


def needs_assessment(plan: Plan, records: Mapping[str, Any], jobs: Mapping[int, JobView]) -> bool:
    """Whether ``decide`` may start a phase now (so it needs the cache verdicts)."""
    phase = current_phase(plan, records)
    if phase is None:
        return False
    job = jobs.get(phase.index)
    return job is None or job.finished


def ended_phases_missing_records(plan: Plan, records: Mapping[str, Any], jobs: Mapping[int, JobView]) -> list[int]:
    """Phases whose Job ended with steps unrecorded: the handler reads their phase file and Pod messages."""
    return [
        p.index for p in plan.phases
        if p.index in jobs and jobs[p.index].finished and any(s not in records for s in phase_steps(p))
    ]


def resync_due(run: RunView, jobs: Mapping[int, JobView], now: datetime, grace_seconds: float) -> bool:
    """Whether the safety sweep should wake ``run``: something its reconciles react to may have
    happened without an event reaching this process (a lost watch event, a wake-up or reconcile
    that failed), or its deadline passed. False for a run simply waiting on its live Job, which
    costs nothing, and for a run not reconciled yet but created less than five ``grace_seconds``
    ago (under a burst of new runs its creation event is likely still queued: a wake-up would
    only add work)."""
    if run.phase is None:  # its first reconcile failed, or it still waits in a backlog: wake it late
        created = parse_time(run.created)
        return created is None or (now - created).total_seconds() >= 5 * grace_seconds
    if run.phase == "Pending":
        return True  # waiting for its Pipeline, which may exist now
    if run.phase != "Running":
        return False  # ended
    started = parse_time(run.start_time)
    if run.timeout_seconds and started and (now - started).total_seconds() >= run.timeout_seconds:
        return True
    if not run.running:
        return True  # between phases (a replan, a failed Job create): decide again
    for index, name in run.running:
        job = jobs.get(index)
        if job is None or job.name != name or job.finished:
            return True
    return False


# -- the decisions ----------------------------------------------------------------------------


def not_started(
    *, run_phase: str, message: str, previous: Mapping[str, Any], now: datetime, reason: str
) -> Decision:
    """A run that never got a plan: waiting for its Pipeline, invalid, or cancelled before starting."""
    status: dict[str, Any] = {
        "phase": run_phase,
        "message": message,
        "conditions": _conditions(run_phase, message, previous, now),
    }
    finished = run_phase if run_phase in TERMINAL else None
    if finished:
        status["completionTime"] = previous.get("completionTime") or rfc3339(now)
        status["startTime"] = previous.get("startTime") or status["completionTime"]
        status["duration"] = "0s"
    actions: tuple[Action, ...] = ()
    if finished or previous.get("message") != message:
        actions = (Event("Warning" if run_phase == "Failed" else "Normal", reason, message),)
    return Decision(status=status, actions=actions, finished=finished)


def _conditions(run_phase: str, message: str, previous: Mapping[str, Any], now: datetime) -> list[dict[str, Any]]:
    return conditions(run_phase, message, previous.get("conditions"), now)


def decide(f: RunFacts) -> Decision:
    """Actions and the status for a started run, from the facts alone."""
    records: dict[str, Mapping[str, Any]] = dict(f.records)
    actions: list[Action] = []
    start_time = f.previous.get("startTime") or rfc3339(f.now)
    timed_out = _timed_out(f, start_time)
    if f.cancel or timed_out:
        return _stop(f, records, start_time, timed_out)

    views: list[PhaseView] = []
    blocked = False
    for phase in f.plan.phases:
        job = f.jobs.get(phase.index)
        if blocked:
            views.append(PhaseView(phase.index, "Pending"))
            continue
        steps = phase_steps(phase)
        if all(s in records for s in steps) and (job is None or job.finished):
            views.append(_done_view(phase, records, job))
            continue
        if job is not None and not job.finished:
            views.append(PhaseView(phase.index, "Running", job.name, job.completions,
                                   _phase_start(f, phase.index) or job.start_time))
            blocked = True
            continue
        if job is not None:  # ended, some steps without a record
            actions += _settle_lost_steps(f, phase, job, records)
            views.append(_done_view(phase, records, job))
            continue
        todo = _prepare_phase(f, phase, records, actions)
        if not todo.streams:
            views.append(_done_view(phase, records, None))
            continue
        name = naming.job_name(f.name, phase.index)
        actions += [WritePhase(todo), CreateJob(todo)]
        count = sum(len(s.steps) for s in todo.streams)
        actions.append(Event("Normal", "PhaseStarted", f"phase {phase.index}: Job {name} runs {count} steps in {len(todo.streams)} streams"))
        views.append(PhaseView(phase.index, "Running", name, len(todo.streams), rfc3339(f.now)))
        blocked = True

    actions += _phase_events(f, views)
    actions += _step_failure_events(f, records)
    if blocked:
        return Decision(_status(f, records, views, "Running", None, start_time, None), tuple(actions))
    resolvable = tuple(
        d.node for d in f.plan.deferred
        if d.node not in f.unresolvable and records.get(d.waits_for, {}).get("state") in OK_STATES
    )
    if resolvable:
        actions.append(Replan(resolvable))
        return Decision(_status(f, records, views, "Running", None, start_time, None), tuple(actions))
    return _finish(f, records, views, start_time, actions)


def _phase_start(f: RunFacts, index: int) -> str | None:
    """When the status first showed the phase running (its Job's creation): kept as it was, so a
    Job whose own startTime is not set yet, then set, does not rewrite the status twice."""
    for entry in f.previous.get("phases") or ():
        if entry.get("index") == index and entry.get("state") == "Running":
            start: str | None = entry.get("startTime")
            return start
    return None


def _timed_out(f: RunFacts, start_time: str) -> bool:
    if any(j.reason == "DeadlineExceeded" for j in f.jobs.values()):
        return True
    started = parse_time(start_time)
    return bool(f.timeout_seconds and started and (f.now - started).total_seconds() >= f.timeout_seconds)


def _prepare_phase(f: RunFacts, phase: Phase, records: dict[str, Mapping[str, Any]], actions: list[Action]) -> Phase:
    """Record what need not run (skipped, cached) and return the phase with only the steps that must."""
    streams = []
    for stream in phase.streams:
        keep = []
        for sid in stream.steps:
            if sid in records:
                continue
            record = _settled_without_running(f, sid, records)
            if record is None:
                keep.append(sid)
                continue
            records[sid] = record
            actions.append(WriteRecord(record))
        if keep:
            streams.append(Stream(stream.id, tuple(keep)))
    return Phase(phase.index, phase.reason, tuple(streams))


def _settled_without_running(f: RunFacts, sid: str, records: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
    step = f.plan.steps[sid]
    base = {"step": sid, "node": step.node, "run_id": f.base.get("runId"), "attempts": 0, "by": "operator"}
    for dep in step.deps:
        state = records.get(dep, {}).get("state")
        if state is not None and state not in OK_STATES:
            return {**base, "state": "skipped", "reason": f"upstream {dep} {state}"}
    verdict = (f.verdicts or {}).get(sid)
    if verdict is not None and verdict.state == "cached" and verdict.record is not None:
        return {
            **base,
            "state": "cached",
            "cache_key": verdict.cache_key,
            "artifact": verdict.record["artifact"],
            "output_id": verdict.record["output_id"],
            "duration_seconds": 0.0,
        }
    return None


def _settle_lost_steps(f: RunFacts, phase: Phase, job: JobView, records: dict[str, Mapping[str, Any]]) -> list[Action]:
    """Records for steps an ended Job never recorded: the first of each stream failed, the rest skipped."""
    ran = f.exec_phases.get(phase.index) or phase
    actions: list[Action] = []
    for index, stream in enumerate(ran.streams):
        culprit = None
        for sid in stream.steps:
            if sid in records:
                continue
            base = {"step": sid, "node": f.plan.steps[sid].node, "run_id": f.base.get("runId"), "attempts": 0, "by": "operator"}
            if culprit is None:
                culprit = sid
                words = f.pod_messages.get((phase.index, index)) or job.message or "its Pod ended without recording it"
                record: dict[str, Any] = {**base, "state": "failed", "error": {"type": "PodFailure", "message": _last_words(words)}}
            else:
                record = {**base, "state": "skipped", "reason": f"not run: the Pod of its stream failed at {culprit}"}
            records[sid] = record
            actions.append(WriteRecord(record))
    # Steps of the plan phase the phase file did not list (should not happen): failed, so nothing hangs.
    for sid in phase_steps(phase):
        if sid not in records:
            record = {"step": sid, "node": f.plan.steps[sid].node, "run_id": f.base.get("runId"), "attempts": 0,
                      "by": "operator", "state": "failed",
                      "error": {"type": "PodFailure", "message": job.message or "not recorded by its Job"}}
            records[sid] = record
            actions.append(WriteRecord(record))
    return actions


def _last_words(text: str) -> str:
    """A termination message is the runtime's JSON result or, on a crash, the log tail; keep it short."""
    return text.strip()[-2000:] or "no termination message"


def _done_view(phase: Phase, records: Mapping[str, Mapping[str, Any]], job: JobView | None) -> PhaseView:
    states = [records[s].get("state") for s in phase_steps(phase)]
    if "failed" in states:
        state = "Failed"
    elif states and all(s == "skipped" for s in states):
        state = "Skipped"
    elif job is None and all(s in ("cached", "skipped") for s in states):
        state = "Cached"
    else:
        state = "Succeeded"
    if job is None:
        return PhaseView(phase.index, state)
    return PhaseView(phase.index, state, job.name, job.completions, job.start_time, job.completion_time,
                     message=job.message if job.outcome == "Failed" else None)


def _stop(f: RunFacts, records: Mapping[str, Mapping[str, Any]], start_time: str, timed_out: bool) -> Decision:
    actions: list[Action] = [DeleteJob(j.name) for j in f.jobs.values() if not j.finished]
    views = []
    for phase in f.plan.phases:
        job = f.jobs.get(phase.index)
        done = all(s in records for s in phase_steps(phase))
        if done and (job is None or job.finished):
            views.append(_done_view(phase, records, job))
        else:
            views.append(PhaseView(phase.index, "Cancelled", job.name if job else None, job.completions if job else 0,
                                   job.start_time if job else None))
    if timed_out:
        run_phase, reason = "Failed", "TimedOut"
        message = f"timed out after {f.timeout_seconds}s" if f.timeout_seconds else "timed out (Job deadline exceeded)"
    else:
        run_phase, reason, message = "Cancelled", "Cancelled", "cancelled (spec.cancel is true)"
    actions.append(Event("Warning", reason, message))
    status = _status(f, records, views, run_phase, message, start_time, rfc3339(f.now), cancelled=True)
    return Decision(status, tuple(actions), finished=run_phase)


def _finish(
    f: RunFacts, records: Mapping[str, Mapping[str, Any]], views: list[PhaseView], start_time: str, actions: list[Action]
) -> Decision:
    failed = [sid for p in f.plan.phases for sid in phase_steps(p) if records[sid].get("state") == "failed"]
    if failed:
        message = failure_message(failed[0], records[failed[0]])
        if len(failed) > 1:
            message += f" (and {len(failed) - 1} more failed steps)"
        run_phase = "Failed"
    elif f.unresolvable:
        node, why = sorted(f.unresolvable.items())[0]
        run_phase, message = "Failed", f"cannot plan {node}: {why}"
    else:
        run_phase, message = "Succeeded", None
    ended = [parse_time(v.completion_time) for v in views if v.completion_time]
    completion = f.previous.get("completionTime") or rfc3339(max([e for e in ended if e] or [f.now]))
    if run_phase == "Succeeded":
        actions.append(Event("Normal", "Succeeded", f"all {len(f.plan.steps)} steps succeeded or were cached"))
    else:
        actions.append(Event("Warning", "Failed", message or "failed"))
    status = _status(f, records, views, run_phase, message, start_time, completion)
    return Decision(status, tuple(actions), finished=run_phase)


def _status(
    f: RunFacts,
    records: Mapping[str, Mapping[str, Any]],
    views: Sequence[PhaseView],
    run_phase: str,
    message: str | None,
    start_time: str,
    completion_time: str | None,
    cancelled: bool = False,
) -> dict[str, Any]:
    return build_status(
        plan=f.plan, records=records, phases=views, run_phase=run_phase, message=message, base=f.base,
        start_time=start_time, completion_time=completion_time, previous_conditions=f.previous.get("conditions"),
        now=f.now, limit=f.limit, cancelled=cancelled,
    )


def _phase_events(f: RunFacts, views: Sequence[PhaseView]) -> list[Action]:
    before = {p.get("index"): p.get("state") for p in f.previous.get("phases") or ()}
    out: list[Action] = []
    for v in views:
        if v.state in ("Succeeded", "Failed", "Cached", "Skipped") and before.get(v.index) not in (
            "Succeeded", "Failed", "Cached", "Skipped"
        ):
            kind = "Warning" if v.state == "Failed" else "Normal"
            out.append(Event(kind, "PhaseFinished", f"phase {v.index} {v.state.lower()}" + (f" (Job {v.job})" if v.job else "")))
    return out


def _step_failure_events(f: RunFacts, records: Mapping[str, Mapping[str, Any]]) -> list[Action]:
    seen = {x.get("step") for x in f.previous.get("failures") or ()}
    out: list[Action] = []
    for sid, rec in records.items():
        if rec.get("state") == "failed" and sid not in seen and len(out) < MAX_STEP_EVENTS:
            out.append(Event("Warning", "StepFailed", failure_message(sid, rec)))
    return out


def is_final_record(record: Mapping[str, Any] | None) -> bool:
    return record is not None and record.get("state") in FINAL_STATES
