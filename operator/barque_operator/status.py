"""A PipelineRun's status, computed from what was observed: the pinned plan, the step records, the Jobs.

Pure. The status is rebuilt whole on every reconcile (lists, not maps, so a JSON merge
patch replaces them instead of leaving stale keys behind) and stays small whatever the
pipeline size: past ``limit`` steps it keeps counts, the failures and the running steps
only, and the full per-step records stay in the store, where ``barque status`` reads them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Sequence

from barque.artifacts import ArtifactRef
from barque.errors import StoreError
from barque.plans import Plan
from barque.steprecord import ALL_STATES, FAILURES, StepRecord, StepState

STATES = ALL_STATES
MAX_FAILURES = 50
MAX_RUNNING = 100
MESSAGE_MAX = 1000
STEP_MESSAGE_MAX = 200
# Byte budgets under the 256 KiB that keeps a status patch cheap (etcd's object limit is 1.5 MiB):
# past them the per-step list or the plan's step ids are left to the store.
STATUS_BUDGET = 200 * 1024
FAILURE_MESSAGE_MAX = 300
PLAN_BUDGET = 64 * 1024


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def from_epoch(seconds: float | None) -> str | None:
    return rfc3339(datetime.fromtimestamp(seconds, timezone.utc)) if isinstance(seconds, (int, float)) else None


def human_duration(seconds: float) -> str:
    """``45s``, ``3m07s``, ``2h05m`` - the way kubectl prints ages."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def last_error_line(record: Mapping[str, Any]) -> str:
    """``Type: last line of the message`` from a step record's error (or its skip reason)."""
    err = record.get("error") or {}
    lines = str(err.get("message") or "").strip().splitlines()
    last = lines[-1].strip() if lines else ""
    kind = err.get("type")
    if kind and last:
        text = f"{kind}: {last}"
    else:
        text = kind or last or str(record.get("reason") or "no error recorded")
    return text[:MESSAGE_MAX]


def failure_message(step: str, record: Mapping[str, Any]) -> str:
    """``step X failed: Type: last line`` (``crashed`` for a step whose process died)."""
    word = "crashed" if record.get("state") == StepState.CRASHED else "failed"
    return f"step {step} {word}: {last_error_line(record)}"[:MESSAGE_MAX]


def plan_summary(plan: Plan, limit: int, store_key: str) -> dict[str, Any]:
    """Phases -> streams -> step ids while the plan is small; counts and the store key when it is not."""
    truncated = plan.total_steps > limit or _ids_size(plan) > PLAN_BUDGET
    phases = []
    for p in plan.phases:
        entry: dict[str, Any] = {
            "index": p.index,
            "reason": p.reason[:1024],
            "streamCount": len(p.streams),
            "stepCount": sum(len(s.steps) for s in p.streams),
        }
        if not truncated:
            entry["streams"] = [{"id": s.id, "steps": list(s.steps)} for s in p.streams]
        phases.append(entry)
    out: dict[str, Any] = {
        "totalSteps": plan.total_steps,
        "phaseCount": len(plan.phases),
        "truncated": truncated,
        "storeKey": store_key,
        "phases": phases,
    }
    if plan.deferred:
        out["deferred"] = [{"node": d.node, "waitsFor": d.waits_for} for d in plan.deferred]
    return out


def _size(obj: Any) -> int:
    return len(json.dumps(obj, separators=(",", ":"), default=str).encode())


def _ids_size(plan: Plan) -> int:
    return sum(len(sid) + 3 for sid in plan.steps)


@dataclass(frozen=True)
class PhaseView:
    """What the reconcile decided about one plan phase, for the status."""

    index: int
    state: str  # a PhaseState
    job: str | None = None
    streams: int = 0
    start_time: str | None = None
    completion_time: str | None = None
    message: str | None = None


def step_states(plan: Plan, records: Mapping[str, StepRecord], running: Iterable[str]) -> dict[str, str]:
    """Every step's state: its record's, else running (its phase's Job is live), else pending."""
    live = set(running)
    out: dict[str, str] = {}
    for phase in plan.phases:
        for stream in phase.streams:
            for sid in stream.steps:
                rec = records.get(sid)
                if rec is not None:
                    out[sid] = rec.state.value
                else:
                    out[sid] = "running" if sid in live else "pending"
    return out


def counts(states: Iterable[str]) -> dict[str, int]:
    out = {"total": 0, **{s: 0 for s in STATES}}
    for s in states:
        out[s] += 1
        out["total"] += 1
    return out


def _step_entry(sid: str, state: str, phase: int, rec: StepRecord | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": sid, "state": state, "phase": phase}
    if rec is None:
        return entry
    if isinstance(rec.attempts, int):
        entry["attempts"] = rec.attempts
    for value, field in ((rec.started_at, "startedAt"), (rec.finished_at, "finishedAt")):
        stamp = from_epoch(value)
        if stamp:
            entry[field] = stamp
    if isinstance(rec.duration_seconds, (int, float)):
        entry["durationSeconds"] = round(float(rec.duration_seconds), 3)
    artifact = _artifact_where(rec.artifact)
    if artifact is not None:
        entry["artifact"] = artifact
    if rec.state in FAILURES:
        entry["message"] = last_error_line(rec.to_dict())[:STEP_MESSAGE_MAX]
    elif rec.reason and rec.state is not StepState.CACHED:
        entry["message"] = rec.reason[:STEP_MESSAGE_MAX]
    return entry


def _artifact_where(artifact: object) -> str | None:
    """Where a step's value is in the store (``ArtifactRef.where``): its blob's key, or for a small
    value, which has no blob, that it is inline in its commit record; ``None`` for no or a malformed reference."""
    if not isinstance(artifact, Mapping):
        return None
    try:
        return ArtifactRef.from_dict(dict(artifact)).where
    except StoreError:
        return None


def build_status(
    *,
    plan: Plan,
    records: Mapping[str, StepRecord],
    phases: Sequence[PhaseView],
    run_phase: str,
    message: str | None,
    base: Mapping[str, Any],
    start_time: str | None,
    completion_time: str | None,
    previous_conditions: Any,
    now: datetime,
    limit: int,
) -> dict[str, Any]:
    """The whole ``status`` (camelCase) for the run; ``base`` carries the pinned fields (runId, plan, ...)."""
    phase_of = {sid: p.index for p in plan.phases for s in p.streams for sid in s.steps}
    running_phases = {v.index for v in phases if v.state == "Running"}
    live = [sid for sid, idx in phase_of.items() if idx in running_phases]
    states = step_states(plan, records, live)
    total = counts(states.values())
    finished = sum(total[s] for s in StepState)
    failures = [
        {"step": sid, "message": last_error_line(records[sid].to_dict())[:FAILURE_MESSAGE_MAX]}
        for sid, st in states.items() if st in FAILURES
    ]
    status: dict[str, Any] = {
        **base,
        "phase": run_phase,
        "progress": f"{finished}/{total['total']}",
        "counts": total,
        "phases": [_phase_entry(v, plan, states) for v in phases],
        "failures": failures[:MAX_FAILURES],
        "running": [sid for sid, st in states.items() if st == "running"][:MAX_RUNNING],
        "conditions": conditions(run_phase, message, previous_conditions, now),
    }
    status["steps"] = None  # past the bounds; None makes the merge patch remove an earlier list
    if total["total"] <= limit:
        steps = [_step_entry(sid, st, phase_of[sid], records.get(sid)) for sid, st in states.items()]
        if _size(status) + _size(steps) <= STATUS_BUDGET:
            status["steps"] = steps
    status["stepsTruncated"] = status["steps"] is None
    status["message"] = message
    status["startTime"] = start_time
    status["completionTime"] = completion_time
    started = parse_time(start_time)
    if started is not None:
        ended = parse_time(completion_time) or now
        status["duration"] = human_duration((ended - started).total_seconds())
    return status


def _phase_entry(view: PhaseView, plan: Plan, states: Mapping[str, str]) -> dict[str, Any]:
    steps = [sid for p in plan.phases if p.index == view.index for s in p.streams for sid in s.steps]
    entry: dict[str, Any] = {
        "index": view.index,
        "state": view.state,
        "streams": view.streams,
        "counts": counts(states[s] for s in steps),
    }
    for key, value in (("job", view.job), ("startTime", view.start_time),
                       ("completionTime", view.completion_time), ("message", view.message)):
        if value is not None:
            entry[key] = value
    return entry


_SUCCEEDED = {"Pending": "Unknown", "Running": "Unknown", "Succeeded": "True", "Failed": "False", "Cancelled": "False"}


def conditions(run_phase: str, message: str | None, previous: Any, now: datetime) -> list[dict[str, Any]]:
    """The Tekton/Knative convention: one ``Succeeded`` condition, Unknown while the run is under way."""
    wanted = {
        "type": "Succeeded",
        "status": _SUCCEEDED[run_phase],
        "reason": run_phase,
        "message": (message or run_phase)[:MESSAGE_MAX],
    }
    return merge_conditions(previous, [wanted], now)


def merge_conditions(previous: Any, wanted: Sequence[Mapping[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """``wanted`` with ``lastTransitionTime`` kept from ``previous`` where the status did not change."""
    before = {c.get("type"): c for c in (previous or []) if isinstance(c, Mapping)}
    out = []
    for cond in wanted:
        old = before.get(cond["type"])
        stamp = old.get("lastTransitionTime") if old and old.get("status") == cond["status"] else None
        out.append({**cond, "lastTransitionTime": stamp or rfc3339(now)})
    return out


_MISSING = object()


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any], prune: bool = False) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) that turns ``old`` into ``new``; empty when nothing changed.

    At the top level, keys ``new`` does not mention are left alone (``status.kopf`` belongs to
    kopf); below it (``prune``), keys that disappeared are removed, so no stale field survives.
    """
    out: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key, _MISSING)
        if value is None:
            if before is not _MISSING and before is not None:
                out[key] = None
        elif isinstance(value, Mapping) and isinstance(before, Mapping):
            sub = merge_patch(before, value, prune=True)
            if sub:
                out[key] = sub
        elif before != value:
            out[key] = value
    if prune:
        for key in old:
            if key not in new:
                out[key] = None
    return out
