"""kopf glue for Pipelines: the ``Ready`` condition, and PipelineRuns created on schedule.

Validation runs on every watch event of a Pipeline (an ``on.event`` handler: no diff base,
no progress storage, nothing stored in annotations, so a Pipeline with megabytes of inline
code is never copied anywhere); it patches the status only when the verdict changed.
Schedules are a kopf timer per scheduled Pipeline (every ``schedule_seconds``); the last
schedule time is read from and written to the Pipeline's status, never kept in memory.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

from barque_operator import naming, schedule
from barque_operator.context import Context
from barque_operator.manifests import scheduled_run
from barque_operator.models import GROUP, VERSION
from barque_operator.status import merge_conditions, merge_patch, parse_time, rfc3339
from barque_operator.validation import check_pipeline, pipeline_status

log = logging.getLogger(__name__)


def register(registry: Any, ctx: Context) -> None:
    import kopf

    checked: dict[str, Any] = {}  # uid -> generation checked by this process (a cache: empty after a restart)

    @kopf.on.event(GROUP, VERSION, "pipelines", id="validate", registry=registry)
    def validate(event: Mapping[str, Any], body: Mapping[str, Any], patch: Any, **_: Any) -> None:
        meta = body.get("metadata") or {}
        if event.get("type") == "DELETED" or meta.get("deletionTimestamp"):
            checked.pop(meta.get("uid", ""), None)
            return
        if checked.get(meta.get("uid", "")) == meta.get("generation") and (body.get("status") or {}).get("conditions"):
            return  # a status-only change (e.g. the schedule's): the spec was already checked
        try:
            on_validate(ctx, body, patch)
            checked[meta.get("uid", "")] = meta.get("generation")
        except Exception:
            ctx.metrics.reconcile_errors.labels("Pipeline").inc()
            raise

    def scheduled(spec: Mapping[str, Any], **_: Any) -> bool:
        return bool((spec or {}).get("schedule"))

    @kopf.timer(GROUP, VERSION, "pipelines", id="schedule", interval=ctx.settings.schedule_seconds,
                backoff=ctx.settings.schedule_seconds, when=scheduled, registry=registry)
    def schedule_timer(body: Mapping[str, Any], patch: Any, **_: Any) -> None:
        try:
            on_schedule(ctx, body, patch)
        except Exception:
            ctx.metrics.reconcile_errors.labels("Pipeline").inc()
            raise


def on_validate(ctx: Context, body: Mapping[str, Any], patch: Any) -> None:
    old = dict(body.get("status") or {})
    check = check_pipeline(body, ctx.settings)
    new = pipeline_status(check, body["metadata"].get("generation"), old, ctx.clock())
    for key, value in merge_patch(old, new).items():
        patch.status[key] = value


def on_schedule(ctx: Context, body: Mapping[str, Any], patch: Any) -> None:
    meta, spec, old = body["metadata"], body.get("spec") or {}, dict(body.get("status") or {})
    sched = spec.get("schedule") or {}
    try:
        cron = schedule.parse(sched.get("cron", ""))
    except schedule.CronError:
        return  # reported by the Ready condition
    ns, name, now = meta["namespace"], meta["name"], ctx.clock()
    observed = _scheduled_runs(ctx, meta, now)
    prior = schedule.FailureCount(old.get("consecutiveFailures") or 0, old.get("failuresGeneration"),
                                  old.get("lastCountedRun"), parse_time(old.get("lastCountedTime")))
    counted = schedule.count_failures(prior, observed, meta.get("generation"))
    why_failing = schedule.failing(counted, sched.get("maxFailures"))
    decision = schedule.decide(
        cron=cron, now=now, last_schedule=parse_time(old.get("lastScheduleTime")),
        created=parse_time(meta.get("creationTimestamp")) or now,
        policy=sched.get("concurrencyPolicy", "Allow"), starting_deadline=sched.get("startingDeadlineSeconds"),
        suspend=bool(sched.get("suspend")), runs=observed,
        keep_succeeded=sched.get("successfulRunsHistoryLimit", 3), keep_failed=sched.get("failedRunsHistoryLimit", 1),
        failing=why_failing,
    )
    active = list(decision.active)
    new: dict[str, Any] = {"nextScheduleTime": rfc3339(decision.next_time) if decision.next_time else None}
    for run in decision.cancel:
        ctx.kube.cancel_run(ns, run)
        ctx.events.record(body, "Normal", "Replaced", f"cancelled {run}: concurrencyPolicy Replace")
    if decision.create_for is not None:
        run_name = naming.scheduled_run_name(name, int(decision.create_for.timestamp()))
        slot = rfc3339(decision.create_for)
        if ctx.kube.create_run(ns, scheduled_run(body, run_name, slot)):
            ctx.events.record(body, "Normal", "Scheduled", f"created PipelineRun {run_name} for {slot}")
        new["lastScheduleTime"] = slot
        active = sorted({*active, run_name} - set(decision.cancel))
    elif decision.skipped:
        log.info("Pipeline %s/%s: %s", ns, name, decision.skipped)
    by_name = {r.name: r for r in observed}
    for run in decision.delete:
        if prior.counted(by_name[run]):  # deleted only once an earlier status write has counted it
            ctx.kube.delete_run(ns, run)
    new["active"] = active or None
    new.update(failure_status(counted, sched.get("maxFailures"), why_failing, old, now))
    if why_failing and not _condition_true(old, "ScheduleFailing"):
        ctx.events.record(body, "Warning", "ScheduleFailing", why_failing)
    for key, value in merge_patch(old, new).items():
        patch.status[key] = value


def _scheduled_runs(ctx: Context, meta: Mapping[str, Any], now: Any) -> list[schedule.ScheduledRun]:
    """The PipelineRuns this Pipeline's schedule created (labelled and owned by it), as observed."""
    runs = [
        r for r in ctx.kube.list_runs(meta["namespace"], f"barque.dev/scheduled-by={naming.label_value(meta['name'])}")
        if any(o.get("uid") == meta["uid"] for o in r["metadata"].get("ownerReferences") or [])
    ]
    out = []
    for r in runs:
        status, created = r.get("status") or {}, parse_time(r["metadata"]["creationTimestamp"]) or now
        out.append(schedule.ScheduledRun(r["metadata"]["name"], status.get("phase"),
                                         parse_time(status.get("completionTime")) or created, created))
    return out


def failure_status(counted: schedule.FailureCount, max_failures: int | None, why_failing: str | None,
                   old: Mapping[str, Any], now: Any) -> dict[str, Any]:
    """The status fields of the failure count and, with ``maxFailures``, the ``ScheduleFailing`` condition."""
    out: dict[str, Any] = {
        "consecutiveFailures": counted.count, "failuresGeneration": counted.generation,
        "lastCountedRun": counted.last_run,
        "lastCountedTime": rfc3339(counted.last_time) if counted.last_time else None,
    }
    others = [c for c in old.get("conditions") or () if c.get("type") != "ScheduleFailing"]
    if max_failures is None:
        out["conditions"] = others or None
        return out
    cond = {
        "type": "ScheduleFailing", "status": "True" if why_failing else "False",
        "reason": "MaxFailuresReached" if why_failing else "BelowMaxFailures",
        "message": (f"{why_failing}. Find the error with kubectl describe pipelinerun {counted.last_run}, fix it and "
                    "apply the Pipeline again: a new generation resets the count and the ticks resume.")
        if why_failing else f"{counted.count} of maxFailures={max_failures} scheduled runs failed in a row",
    }
    out["conditions"] = others + merge_conditions(old.get("conditions"), [cond], now)
    return out


def _condition_true(status: Mapping[str, Any], kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in status.get("conditions") or ())
