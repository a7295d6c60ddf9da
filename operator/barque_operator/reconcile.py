"""Pure reconcile decisions for a PipelineRun: observed facts in, actions and one status out.

Level-based: ``decide`` looks only at what exists now (the pinned plan, step records in the
store, the run's Jobs, its Pods' termination messages) and never at what it did before, so
running it twice on the same facts gives the same answer, and running it again after its
actions were carried out asks for nothing more (tests check both). Memory is never needed:
a restarted operator gathers the same facts and reaches the same decisions.

Every run decision (which steps are settled without running, which phase's Job to create,
when the plan grows, when the run is over and how) is the run driver's (``barque.rundriver``),
asked from what is observed: the phases whose Jobs are live, those whose Jobs ended (with the
phase file they ran and their Pods' last words, for steps a lost Pod never recorded).
This module adds only what is Kubernetes': Jobs to create and delete, cancellation and
deadlines, the status with its phase views, and Events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Sequence

from barque import rundriver
from barque.plans import Phase, Plan
from barque.rundriver import Lost, Snapshot, phase_steps
from barque.hookstore import HOOKS_PHASE
from barque.steprecord import FAILURES, StepRecord, StepState
from barque_operator import naming
from barque_operator.observed import (
    Action,
    CreateHookJob,
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
    PhaseView,
    build_status,
    conditions,
    failure_message,
    parse_time,
    rfc3339,
)

BY = "operator"  # ``by`` of the records the operator writes
TERMINAL = ("Succeeded", "Failed", "Cancelled")
MAX_STEP_EVENTS = 10


# -- predicates the handler uses to gather only the facts a decision needs --------------------


def needs_assessment(plan: Plan, records: Mapping[str, Any], jobs: Mapping[int, JobView]) -> bool:
    """Whether ``decide`` may start a phase now (so it needs the cache verdicts)."""
    return rundriver.needs_verdicts(plan, records, _live(jobs))


def ended_phases_missing_records(plan: Plan, records: Mapping[str, Any], jobs: Mapping[int, JobView]) -> list[int]:
    """Phases whose Job ended with steps unrecorded: the handler reads their phase file and Pod messages."""
    return [
        p.index for p in plan.phases
        if p.index in jobs and jobs[p.index].finished and any(s not in records for s in phase_steps(p))
    ]


def _live(jobs: Mapping[int, JobView]) -> frozenset[int]:
    return frozenset(i for i, j in jobs.items() if not j.finished)


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
    records = {sid: StepRecord.from_dict(r) for sid, r in f.records.items()}
    start_time = f.previous.get("startTime") or rfc3339(f.now)
    timed_out = _timed_out(f, start_time)
    ended = {i: f.exec_phases.get(i) for i, j in f.jobs.items() if j.finished}
    snapshot = Snapshot(
        plan=f.plan, records=records, verdicts=f.verdicts, live=_live(f.jobs), ended=ended, lost=_lost(f),
        unresolvable=f.unresolvable, run_id=f.base.get("runId"), by=BY, fail_fast=f.fail_fast,
        cancelled=f.cancel or timed_out, hooks=f.hooks,
    )
    step = rundriver.decide(snapshot)
    if step.outcome is not None and step.outcome.state == "cancelled":
        if step.hooks and f.hook_results is None:  # stop the steps, then run the hooks (Tekton's finally does too)
            stopping: list[Action] = [DeleteJob(j.name) for j in f.jobs.values() if not j.finished and j.phase != HOOKS_PHASE]
            done = {**records, **{r.step: r for r in step.settled}}
            return _hooks_running(f, done, "cancelled", step.hooks, _views(f, done, step), start_time, stopping)
        stopped = _stop(f, records, step.settled, start_time, timed_out)
        return _with_hooks(stopped, f.hook_results) if step.hooks and f.hook_results is not None else stopped
    # Records settled here are written so that pods find their inputs; a cancelled one (fail fast)
    # is the status's only: nothing reads it, and the run may have many.
    actions: list[Action] = [WriteRecord(r.to_dict()) for r in step.settled if r.state is not StepState.CANCELLED]
    if step.outcome is not None and step.outcome.state == "failed" and f.fail_fast:
        actions += [DeleteJob(j.name) for j in f.jobs.values() if not j.finished and j.phase != HOOKS_PHASE]
    records.update({r.step: r for r in step.settled})
    views = _views(f, records, step)
    if step.start is not None:
        name = naming.job_name(f.name, step.start.index)
        actions += [WritePhase(step.start), CreateJob(step.start)]
        count = sum(len(s.steps) for s in step.start.streams)
        actions.append(Event("Normal", "PhaseStarted", f"phase {step.start.index}: Job {name} runs {count} steps in {len(step.start.streams)} streams"))
    succeeds_now = step.outcome is not None and step.outcome.state == "succeeded" and not (step.hooks and f.hook_results is None)
    actions += _phase_events(f, views, succeeds_now)
    actions += _step_failure_events(f, records)
    if step.grow:
        actions.append(Replan(step.grow))
    if step.outcome is None:
        return Decision(_status(f, records, views, "Running", None, start_time, None), tuple(actions))
    if step.hooks and f.hook_results is None:
        return _hooks_running(f, records, step.outcome.state, step.hooks, views, start_time, actions)
    decision = _finish(f, records, step.outcome, views, start_time, actions)
    if step.hooks and f.hook_results is not None:
        return _with_hooks(decision, f.hook_results)
    return decision


def _hooks_running(f: RunFacts, records: Mapping[str, StepRecord], state: str, hooks: tuple[str, ...],
                   views: list[PhaseView], start_time: str, actions: list[Action]) -> Decision:
    """The steps are over and the hooks their outcome calls run as the run's last Job: the run
    stays Running until that Job ends, then takes the phase its steps made."""
    if HOOKS_PHASE not in f.jobs:
        actions += [CreateHookJob(state, hooks),
                    Event("Normal", "HooksStarted", f"the steps {state}: Job {naming.job_name(f.name, HOOKS_PHASE)} runs {len(hooks)} hooks")]
    message = f"the steps {state}; running hooks: {', '.join(hooks)}"
    return Decision(_status(f, records, views, "Running", message, start_time, None), tuple(actions))


def _with_hooks(decision: Decision, results: Sequence[Mapping[str, Any]]) -> Decision:
    """The run's final decision with how its hooks went: in the status, and an Event for each that
    failed (the run's phase and message stay its steps')."""
    keep = ("hook", "on", "state", "attempts", "error")
    hooks = [{**{k: r[k] for k in keep if r.get(k) is not None}, **({"durationSeconds": r["duration_seconds"]}
             if r.get("duration_seconds") is not None else {})} for r in results]
    for h in hooks:
        if "error" in h:
            h["error"] = str(h["error"])[:1024]
    events = [Event("Warning", "HookFailed", f"hook {h['hook']} {h['state']}: {h.get('error', '')}"[:1024])
              for h in hooks if h["state"] != "succeeded"]
    return Decision({**decision.status, "hooks": hooks}, (*decision.actions, *events), decision.finished)


def _lost(f: RunFacts) -> dict[tuple[int, int], Lost]:
    """Why each stream of an ended Job stopped, from its Pod (``Lost`` with the Pod's last words),
    else from its Job's condition."""
    out = {key: Lost(kind, _last_words(words)) for key, (kind, words) in f.pod_endings.items()}
    for index, job in f.jobs.items():
        if job.finished:
            phase = f.exec_phases.get(index) or next((p for p in f.plan.phases if p.index == index), None)
            for position in range(len(phase.streams) if phase else 0):
                out.setdefault((index, position), Lost("PodFailure", _last_words(job.message or "its Pod ended without recording it")))
    return out


def _views(f: RunFacts, records: Mapping[str, StepRecord], step: rundriver.Next) -> list[PhaseView]:
    """Each plan phase as the status shows it: done before the driver's position, running at it
    (when a Job starts or is live), pending after it."""
    views: list[PhaseView] = []
    for position, phase in enumerate(f.plan.phases):
        job = f.jobs.get(phase.index)
        if position < step.position:
            views.append(_done_view(phase, records, job))
        elif position == step.position and step.start is not None:
            views.append(PhaseView(phase.index, "Running", naming.job_name(f.name, phase.index), len(step.start.streams), rfc3339(f.now)))
        elif position == step.position and job is not None and step.waiting is not None:
            views.append(PhaseView(phase.index, "Running", job.name, job.completions, _phase_start(f, phase.index) or job.start_time))
        else:
            views.append(PhaseView(phase.index, "Pending"))
    return views


def _phase_start(f: RunFacts, index: int) -> str | None:
    """When the status first showed the phase running (its Job's creation): kept as it was, so a
    Job whose own startTime is not set yet, then set, does not rewrite the status twice."""
    for entry in f.previous.get("phases") or ():
        if entry.get("index") == index and entry.get("state") == "Running":
            start: str | None = entry.get("startTime")
            return start
    return None


def _timed_out(f: RunFacts, start_time: str) -> bool:
    # The hook Job's own deadline is its hooks' (each Pod reports its hook crashed), not the run's.
    if any(j.reason == "DeadlineExceeded" for j in f.jobs.values() if j.phase != HOOKS_PHASE):
        return True
    started = parse_time(start_time)
    return bool(f.timeout_seconds and started and (f.now - started).total_seconds() >= f.timeout_seconds)


def _last_words(text: str) -> str:
    """A termination message is the runtime's JSON result or, on a crash, the log tail; keep it short."""
    return text.strip()[-2000:] or "no termination message"


def _done_view(phase: Phase, records: Mapping[str, StepRecord], job: JobView | None) -> PhaseView:
    states = [records[s].state for s in phase_steps(phase)]
    if any(s in FAILURES for s in states):
        state = "Failed"
    elif any(s is StepState.CANCELLED for s in states):
        state = "Cancelled"
    elif states and all(s is StepState.SKIPPED for s in states):
        state = "Skipped"
    elif job is None and all(s in (StepState.CACHED, StepState.SKIPPED) for s in states):
        state = "Cached"
    else:
        state = "Succeeded"
    if job is None:
        return PhaseView(phase.index, state)
    return PhaseView(phase.index, state, job.name, job.completions, job.start_time, job.completion_time,
                     message=job.message if job.outcome == "Failed" else None)


def _stop(f: RunFacts, records: Mapping[str, StepRecord], cancelled: Sequence[StepRecord], start_time: str,
          timed_out: bool) -> Decision:
    """Cancelled or past its deadline: live Jobs are deleted and the driver's ``cancelled`` records
    (kept in the status, not written: nothing reads them) stand for every unfinished step."""
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
    everything = {**records, **{r.step: r for r in cancelled}}
    status = _status(f, everything, views, run_phase, message, start_time, rfc3339(f.now))
    return Decision(status, tuple(actions), finished=run_phase)


def _finish(
    f: RunFacts, records: Mapping[str, StepRecord], outcome: rundriver.Outcome, views: list[PhaseView], start_time: str,
    actions: list[Action],
) -> Decision:
    message: str | None = None
    if outcome.failed:
        first = outcome.failed[0]
        message = failure_message(first, records[first].to_dict())
        if len(outcome.failed) > 1:
            message += f" (and {len(outcome.failed) - 1} more failed steps)"
    elif outcome.unresolvable:
        node, why = outcome.unresolvable[0]
        message = f"cannot plan {node}: {why}"
    run_phase = "Succeeded" if outcome.state == "succeeded" else "Failed"
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
    records: Mapping[str, StepRecord],
    views: Sequence[PhaseView],
    run_phase: str,
    message: str | None,
    start_time: str,
    completion_time: str | None,
) -> dict[str, Any]:
    return build_status(
        plan=f.plan, records=records, phases=views, run_phase=run_phase, message=message, base=f.base,
        start_time=start_time, completion_time=completion_time, previous_conditions=f.previous.get("conditions"),
        now=f.now, limit=f.limit,
    )


def _phase_events(f: RunFacts, views: Sequence[PhaseView], run_succeeds: bool) -> list[Action]:
    """A PhaseFinished Event for each phase that ended since the last status; none for the phases
    that succeeded (or were cached) when the run's own Succeeded Event comes with them, which says
    as much (one API write less per run: a one-phase run's PhaseFinished repeated it)."""
    before = {p.get("index"): p.get("state") for p in f.previous.get("phases") or ()}
    said = ("Succeeded", "Cached") if run_succeeds else ()
    out: list[Action] = []
    for v in views:
        if v.state in ("Succeeded", "Failed", "Cached", "Skipped") and v.state not in said and before.get(v.index) not in (
            "Succeeded", "Failed", "Cached", "Skipped"
        ):
            kind = "Warning" if v.state == "Failed" else "Normal"
            out.append(Event(kind, "PhaseFinished", f"phase {v.index} {v.state.lower()}" + (f" (Job {v.job})" if v.job else "")))
    return out


def _step_failure_events(f: RunFacts, records: Mapping[str, StepRecord]) -> list[Action]:
    seen = {x.get("step") for x in f.previous.get("failures") or ()}
    out: list[Action] = []
    for sid, rec in records.items():
        if rec.state in FAILURES and sid not in seen and len(out) < MAX_STEP_EVENTS:
            out.append(Event("Warning", "StepFailed", failure_message(sid, rec.to_dict())))
    return out
