"""kopf glue for PipelineRuns: event-driven reconciles, Jobs read from an index, a slow safety sweep.

What triggers the reconcile of a run, and nothing else: a watch event of the run itself (its
creation, a spec change such as ``cancel``, and on start-up the initial listing, so a restarted
operator picks every run up again). The echo of its own status write is not reconciled unless
something else about the run changed with it (``own_echo``). The end of one of its
Jobs reaches the run the same way: the Job watch (``jobwatch``) sets the run's ``barque.dev/reconcile``
annotation (one request per phase), and that change is a run event. Every reconcile of a run
therefore goes through kopf's one worker for that object, which handles its events one at a
time: two reconciles of one run never overlap, so no lock of ours is needed.

Nothing is LISTed per reconcile. kopf indexes (``@kopf.index``, filled from each watch's initial
LIST before any handler runs, then kept current by the watch) hold the Pipelines by namespace and
name and a small view of each active run; ``jobwatch``'s index, listed in full before the first
reconcile and kept by a plain watch, holds the Jobs by owning run uid. An idle run (waiting
on a live Job) costs no request and no store read: a reconcile reads the store only when a Job
has ended (``RecordCache``) or a phase is about to start.

Read-your-writes comes from kopf's per-object ``memo``, not from re-reading the API: the memo
keeps the status this process last wrote until the watch echoes that write back (this operator
is the status's only writer, so until then it is newer than any copy a queued event carries),
and the Jobs it created until the index shows them (an event can overtake the watch event of a
Job just created). An idle run keeps neither. The memo is a cache: a restarted
operator starts with an empty one and decides from the API and the store, and every action is
idempotent, so killing it at any moment loses nothing and creates no duplicate Job.

The safety sweep (every ``resync_seconds``, one task for all runs) checks each active run in the
index against its Jobs (``reconcile.resync_due``: a Job that ended without waking its run, a
deadline passed, a run waiting for its Pipeline) and wakes only those, so its request rate does
not grow with the number of idle runs. No timers and no resource-changing handlers: kopf adds no
finalizers, keeps no diff base and stores no handler progress on runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from barque_operator import jobwatch
from barque_operator.context import Context
from barque_operator.jobwatch import RUN_LABEL, Wake
from barque_operator.models import GROUP, VERSION
from barque_operator.observed import Event, JobView, RunView
from barque_operator.reconcile import TERMINAL, resync_due
from barque_operator.runcycle import Seen, reconcile_run, status_patch
from barque_operator.startfirst import is_start
from barque_operator.status import rfc3339

log = logging.getLogger(__name__)


def register(registry: Any, ctx: Context) -> None:
    import kopf

    # An index reaches handlers as the keyword argument named by its id. The indexers are async
    # (they only read the body): kopf runs a sync handler in its thread pool, where it would queue
    # behind reconciles waiting on the API, and an index must be current before the next handler.
    # Jobs are not kopf's: ``jobwatch`` keeps them in ``ctx.jobs``.
    @kopf.index(GROUP, VERSION, "pipelines", id="pipelines", registry=registry)
    async def pipelines(body: Mapping[str, Any], **_: Any) -> dict[tuple[str, str], Any]:
        return {(body["metadata"]["namespace"], body["metadata"]["name"]): dict(body)}

    def active(status: Mapping[str, Any], meta: Mapping[str, Any], **_: Any) -> bool:
        return (status or {}).get("phase") not in TERMINAL and not meta.get("deletionTimestamp")

    @kopf.index(GROUP, VERSION, "pipelineruns", id="active_runs", when=active, registry=registry)
    async def active_runs(body: Mapping[str, Any], **_: Any) -> dict[str, RunView]:
        return {body["metadata"]["uid"]: RunView.from_run(body)}

    @kopf.on.event(GROUP, VERSION, "pipelineruns", id="reconcile", registry=registry)
    async def run_event(event: Mapping[str, Any], body: Mapping[str, Any], memo: Any, **indexes: Any) -> None:
        # kopf awaits this before it hands over the run's next event, so two reconciles of one run
        # never overlap; the work runs in threads, in two pools (see ``on_reconcile``).
        loop = asyncio.get_running_loop()
        meta = body["metadata"]
        if not ctx.jobs.listed():  # decide from every Job that exists, not from an index half filled
            await loop.run_in_executor(None, ctx.jobs.wait_listed)
        jobs = ctx.jobs.jobs_of(meta["uid"])
        if event.get("type") == "DELETED" or meta.get("deletionTimestamp"):
            await loop.run_in_executor(ctx.reconcilers, on_deletion, ctx, event, body, jobs)
            return

        written: Written | None = memo.get("written")
        if own_echo(event, meta, written):
            memo.pop("written", None)
            return
        if event.get("type") is None or (written and written.version == meta.get("resourceVersion")):
            # The echo of the last write with something else changed since, or a (re)listing:
            # fresher than anything remembered (say, after kopf's peering paused this replica while another acted).
            memo.pop("written", None)

        def pipeline(namespace: str, name: str) -> Mapping[str, Any] | None:
            found = next(iter(indexes["pipelines"].get((namespace, name), ())), None)
            return found if found is not None else ctx.kube.get_pipeline(namespace, name)

        start = is_start(body, memo)
        if start:
            ctx.starts.begin()
        try:
            write = await loop.run_in_executor(ctx.reconcilers, reconcile_once, ctx, body, memo, jobs, pipeline)
        finally:
            if start:
                ctx.starts.end()
        if write is not None and write.patch:
            await ctx.starts.passed()  # starts first (``startfirst``): other runs' Jobs before this status
            await loop.run_in_executor(ctx.writers, write_status, ctx, body, memo, write)
        elif write is not None:
            write_status(ctx, body, memo, write)  # nothing to send: only Events to queue

    @kopf.on.startup(registry=registry)
    async def start_watches(**indexes: Any) -> None:
        # kopf runs startup handlers before its own watches begin, and hands them the same index
        # objects it keeps filling later.
        watch_jobs(ctx)
        task = sweep(ctx, indexes["active_runs"])
        ctx.background.append(asyncio.get_running_loop().create_task(task))


def watch_jobs(ctx: Context) -> None:
    """Start the Job watches (``jobwatch``): one per watched namespace, or one for all; a Job seen
    ending wakes its run from a small thread pool of its own, so the watch never waits on the API gate."""
    s = ctx.settings
    wakers = ThreadPoolExecutor(2, thread_name_prefix="barque-wake")

    def wake(w: Wake) -> None:
        wakers.submit(wake_run, ctx, w)

    def watch(scope: str | None, version: str) -> Iterator[dict[str, Any]]:
        return ctx.kube.watch_jobs(scope, RUN_LABEL, version, s.watch_server_timeout,
                                   (s.watch_connect_timeout, s.watch_client_timeout))

    scopes: tuple[str | None, ...] = s.namespaces or (None,)
    jobwatch.start(ctx.jobs, scopes, lambda scope: ctx.kube.list_jobs(scope, RUN_LABEL), watch, wake, ctx.stopping)


def wake_run(ctx: Context, w: Wake) -> None:
    """Wake a run one of whose Jobs ended; when that fails, the safety sweep finds the run later."""
    try:
        ctx.kube.nudge_run(w.namespace, w.run, w.why)
    except Exception as err:
        log.warning("could not wake %s/%s after %s: %s", w.namespace, w.run, w.why, err)


def cause(meta: Mapping[str, Any]) -> tuple[Any, ...]:
    """What of a run, besides its status, calls for a reconcile when it changes: its spec (the
    generation), its annotations (a Job's end and the safety sweep wake it there) and its deletion."""
    annotations = tuple(sorted((meta.get("annotations") or {}).items()))
    return meta.get("generation"), annotations, meta.get("deletionTimestamp")


@dataclass(frozen=True)
class Written:
    """A status write of this process, kept in the run's memo until the watch echoes it back."""

    version: str  # the resourceVersion the write made
    status: dict[str, Any]  # the status as written: newer than any copy a queued event carries
    cause: tuple[Any, ...]  # ``cause`` of the run as the reconcile that wrote it saw it


def own_echo(event: Mapping[str, Any], meta: Mapping[str, Any], written: Written | None) -> bool:
    """Whether a watch event is nothing but the echo of this process's last status write: the
    version that write made, with nothing else about the run changed since the reconcile that
    wrote it. That reconcile carried out its decision, and deciding again from the same facts
    asks for nothing (a decision once carried out is settled), so the echo is not reconciled.
    A change in between (a wake-up, a spec edit, a deletion) shows in ``cause`` and is."""
    return (event.get("type") == "MODIFIED" and written is not None
            and written.version == meta.get("resourceVersion") and written.cause == cause(meta))


@dataclass(frozen=True)
class StatusWrite:
    """What a reconcile leaves to write: the status it started from and the new one, the merge
    patch between them (empty when nothing but ``CHURN`` changed) and its Events."""

    old: dict[str, Any]
    new: dict[str, Any]
    patch: dict[str, Any]
    events: tuple[Event, ...]


def on_reconcile(ctx: Context, body: Mapping[str, Any], memo: Any, jobs: dict[int, JobView],
                 pipeline: Any) -> None:
    """Reconcile one run and write what changed in its status (nothing when nothing did).

    The watch handler runs the two halves in two thread pools: ``reconcile_once`` (store writes,
    Job creates) in ``ctx.reconcilers``, ``write_status`` in ``ctx.writers``. Under a burst the API
    gate serves Job creates before status writes, so a status write may wait; in its own pool it
    holds no thread that the next run's start needs."""
    write = reconcile_once(ctx, body, memo, jobs, pipeline)
    if write is not None:
        write_status(ctx, body, memo, write)


def reconcile_once(ctx: Context, body: Mapping[str, Any], memo: Any, jobs: dict[int, JobView],
                   pipeline: Any) -> StatusWrite | None:
    """Decide and act for one run; the status write it leaves, or None when the run has ended."""
    written: Written | None = memo.get("written")
    old = dict(written.status if written else body.get("status") or {})
    if old.get("phase") in TERMINAL:
        return None
    created: dict[int, tuple[JobView, float]] = memo.setdefault("created", {})
    for index, (view, at) in list(created.items()):
        if index in jobs or time.monotonic() - at > ctx.settings.resync_seconds:
            del created[index]  # watched now (or never will be: then the API's word stands)
        else:
            jobs[index] = view
    seen = Seen(jobs=jobs, pipeline=pipeline)
    try:
        new = reconcile_run(ctx, {**body, "status": old}, seen)
    except Exception:
        ctx.metrics.reconcile_errors.labels("PipelineRun").inc()
        raise
    finally:
        created.update({i: (v, time.monotonic()) for i, v in seen.created.items()})
    return StatusWrite(old, new, status_patch(old, new), tuple(seen.events))


def write_status(ctx: Context, body: Mapping[str, Any], memo: Any, write: StatusWrite) -> None:
    """Send the status patch, remember what was written until its echo, queue the Events."""
    meta = body["metadata"]
    version = ctx.kube.patch_run_status(meta["namespace"], meta["name"], write.patch) if write.patch else None
    for event in write.events:  # queued, posted after the status by other threads (advisory)
        ctx.events.record(body, event.type, event.reason, event.message)
    if version is not None:
        status = {k: v for k, v in {**write.old, **write.new}.items() if v is not None}
        memo["written"] = Written(version, status, cause(meta))
    if write.new.get("phase") in TERMINAL:
        memo.pop("created", None)


def on_deletion(ctx: Context, event: Mapping[str, Any], body: Mapping[str, Any], jobs: Mapping[int, JobView]) -> None:
    """A run being deleted: stop its live Jobs now (the garbage collector would, later) and count it."""
    meta = body.get("metadata") or {}
    phase = (body.get("status") or {}).get("phase")
    ctx.metrics.run_active(meta.get("uid", ""), False)
    if phase in TERMINAL:
        return
    for job in jobs.values():
        if not job.finished:
            ctx.kube.delete_job(meta["namespace"], job.name)
    if event.get("type") == "DELETED":
        pipeline = ((body.get("spec") or {}).get("pipelineRef") or {}).get("name", "")
        ctx.metrics.runs_finished.labels(meta["namespace"], pipeline, "cancelled").inc()


async def sweep(ctx: Context, active_runs: Any) -> None:
    """Every ``resync_seconds``: wake the active runs that ``resync_due`` says an event missed."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(ctx.settings.resync_seconds)
        now = ctx.clock()
        # Read the indexes here, in the event loop that updates them (no await in between).
        due = [run for store in list(active_runs.values()) for run in store
               if resync_due(run, ctx.jobs.jobs_of(run.uid), now, ctx.settings.resync_seconds)]
        for run in due:
            try:
                await loop.run_in_executor(None, ctx.kube.nudge_run, run.namespace, run.name, f"resync:{rfc3339(now)}")
            except Exception as err:  # the next sweep tries again
                log.warning("could not wake %s/%s: %s", run.namespace, run.name, err)
