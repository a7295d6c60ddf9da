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
from barque_operator.status import merge_patch, parse_time, rfc3339
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
    runs = [
        r for r in ctx.kube.list_runs(ns, f"barque.dev/scheduled-by={naming.label_value(name)}")
        if any(o.get("uid") == meta["uid"] for o in r["metadata"].get("ownerReferences") or [])
    ]
    observed = [
        schedule.ScheduledRun(
            r["metadata"]["name"], (r.get("status") or {}).get("phase"),
            parse_time((r.get("status") or {}).get("completionTime")) or parse_time(r["metadata"]["creationTimestamp"]) or now,
        )
        for r in runs
    ]
    decision = schedule.decide(
        cron=cron, now=now, last_schedule=parse_time(old.get("lastScheduleTime")),
        created=parse_time(meta.get("creationTimestamp")) or now,
        policy=sched.get("concurrencyPolicy", "Allow"), starting_deadline=sched.get("startingDeadlineSeconds"),
        suspend=bool(sched.get("suspend")), runs=observed,
        keep_succeeded=sched.get("successfulRunsHistoryLimit", 3), keep_failed=sched.get("failedRunsHistoryLimit", 1),
    )
    active = list(decision.active)
    new: dict[str, Any] = {"nextScheduleTime": rfc3339(decision.next_time) if decision.next_time else None}
    for run in decision.cancel:
        ctx.kube.cancel_run(ns, run)
        ctx.kube.post_event(body, "Normal", "Replaced", f"cancelled {run}: concurrencyPolicy Replace")
    if decision.create_for is not None:
        run_name = naming.scheduled_run_name(name, int(decision.create_for.timestamp()))
        slot = rfc3339(decision.create_for)
        if ctx.kube.create_run(ns, scheduled_run(body, run_name, slot)):
            ctx.kube.post_event(body, "Normal", "Scheduled", f"created PipelineRun {run_name} for {slot}")
        new["lastScheduleTime"] = slot
        active = sorted({*active, run_name} - set(decision.cancel))
    elif decision.skipped:
        log.info("Pipeline %s/%s: %s", ns, name, decision.skipped)
    for run in decision.delete:
        ctx.kube.delete_run(ns, run)
    new["active"] = active or None
    for key, value in merge_patch(old, new).items():
        patch.status[key] = value
