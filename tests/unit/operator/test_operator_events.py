"""What keeps the event-driven operator cheap: the safety sweep wakes only runs an event may have missed,
an echo of a run's own status write patches nothing, step records are listed only when a Job ended, and
API requests queue by priority under a bound. Pure or in memory; no servers."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Iterator

from barque.planner import make_plan
from barque.records import write_step_record
from barque.store.memory import MemoryStore
from barque_operator.kube import Priority, RequestGate
from barque_operator.observed import JobView, RunView
from barque_operator.reconcile import resync_due
from barque_operator.runcycle import status_patch
from barque_operator.runstore import RecordCache
from tests.unit.operator.operator_samples import graph

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
GRACE = 60.0


def _run(phase: str | None = "Running", running: tuple[tuple[int, str | None], ...] = ((0, "demo-1-p0"),),
         timeout: int | None = None, started: datetime = NOW - timedelta(minutes=5)) -> RunView:
    stamp = started.strftime("%Y-%m-%dT%H:%M:%SZ")
    return RunView("team-a", "demo-1", "uid-1", phase, stamp, stamp, timeout, running)


LIVE = {0: JobView("demo-1-p0", 0, 2, active=2)}


def test_a_run_waiting_on_its_live_job_is_left_alone_by_the_sweep() -> None:
    assert not resync_due(_run(), LIVE, NOW, GRACE)
    assert not resync_due(_run(phase="Succeeded"), {}, NOW, GRACE)


def test_the_sweep_wakes_runs_whose_job_ended_or_vanished_without_an_event() -> None:
    ended = {0: JobView("demo-1-p0", 0, 2, outcome="Complete")}
    assert resync_due(_run(), ended, NOW, GRACE)
    assert resync_due(_run(), {}, NOW, GRACE)
    assert resync_due(_run(running=()), LIVE, NOW, GRACE)  # between phases


def test_the_sweep_wakes_runs_past_their_deadline_waiting_runs_and_unnoticed_old_runs() -> None:
    assert resync_due(_run(timeout=120), LIVE, NOW, GRACE)
    assert not resync_due(_run(timeout=600), LIVE, NOW, GRACE)
    assert resync_due(_run(phase="Pending", running=()), {}, NOW, GRACE)
    assert not resync_due(_run(phase=None, running=(), started=NOW - timedelta(seconds=5)), {}, NOW, GRACE)
    assert not resync_due(_run(phase=None, running=(), started=NOW - timedelta(minutes=2)), {}, NOW, GRACE)
    assert resync_due(_run(phase=None, running=(), started=NOW - timedelta(minutes=6)), {}, NOW, GRACE)


def test_an_echo_of_the_runs_own_write_patches_nothing_even_as_its_duration_grows() -> None:
    old = {"phase": "Running", "duration": "5s", "progress": "0/2"}
    assert status_patch(old, {**old, "duration": "9s"}) == {}
    assert status_patch(old, {**old, "duration": "9s", "progress": "1/2"}) == {"duration": "9s", "progress": "1/2"}


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.lists = 0

    def list(self, prefix: str) -> Iterator[str]:
        self.lists += 1
        return super().list(prefix)


def test_step_records_are_listed_when_the_run_is_first_met_and_when_a_job_ends_only() -> None:
    plan = make_plan(graph(), None, 2)
    store, cache = CountingStore(), RecordCache()
    assert cache.refresh(store, "r1", plan, {}) == {} and store.lists == 1
    write_step_record(store, "r1", {"step": "raw", "state": "succeeded"})
    assert cache.refresh(store, "r1", plan, {}) == {} and store.lists == 1  # the Job still runs
    assert set(cache.refresh(store, "r1", plan, {"demo-1-p0": 0})) == {"raw"} and store.lists == 2
    cache.refresh(store, "r1", plan, {"demo-1-p0": 0})
    assert store.lists == 2
    assert set(RecordCache().refresh(store, "r1", plan, {})) == {"raw"}  # a restarted operator reads again


def test_queued_requests_go_by_priority_and_never_exceed_the_bound() -> None:
    gate = RequestGate(concurrency=1, qps=1000)
    order: list[str] = []
    holding = gate.slot(Priority.STATUS)
    holding.__enter__()

    def request(name: str, priority: Priority) -> None:
        with gate.slot(priority):
            order.append(name)

    threads = []
    for name, priority in (("event", Priority.EVENT), ("status", Priority.STATUS), ("create-job", Priority.START)):
        t = threading.Thread(target=request, args=(name, priority))
        t.start()
        threads.append(t)
        while len(gate._waiting) < len(threads):  # each is queued before the next arrives
            threading.Event().wait(0.001)
    holding.__exit__(None, None, None)
    for t in threads:
        t.join(timeout=10)
    assert order == ["create-job", "status", "event"]


class StatusKube:
    """The one API call these tests reach: a status patch, answered with ``version``."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.patches: list[dict[str, object]] = []

    def patch_run_status(self, namespace: str, name: str, patch: dict[str, object]) -> str:
        self.patches.append(patch)
        return self.version


def test_a_reconcile_handed_an_older_copy_decides_from_the_status_this_process_wrote(monkeypatch: object) -> None:
    """kopf's per-object memo keeps the last written status and the Jobs created but not yet watched."""
    from barque_operator import handlers_run
    from barque_operator.runcycle import Seen
    from barque_operator.settings import OperatorSettings

    seen_by_reconcile: list[tuple[dict[str, object], dict[int, JobView]]] = []

    def reconcile_run(ctx: object, body: dict[str, object], seen: Seen) -> dict[str, object]:
        seen_by_reconcile.append((dict(body["status"]), dict(seen.jobs)))  # type: ignore[call-overload]
        seen.created[0] = JobView("r-p0", 0, 1, active=1)
        return {"phase": "Running", "progress": "1/2"}

    class Metrics:
        reconcile_errors = None

    class Ctx:
        settings, kube, metrics = OperatorSettings(), StatusKube("8"), Metrics()

    monkeypatch.setattr(handlers_run, "reconcile_run", reconcile_run)  # type: ignore[attr-defined]
    body = {"metadata": {"namespace": "ns", "name": "r", "uid": "u"}, "status": {"phase": "Running", "progress": "0/2"}}
    memo: dict[str, object] = {}
    handlers_run.on_reconcile(Ctx(), body, memo, {}, None)  # type: ignore[arg-type]
    assert Ctx.kube.patches == [{"progress": "1/2"}]
    handlers_run.on_reconcile(Ctx(), body, memo, {}, None)  # type: ignore[arg-type]  # the same old copy again
    assert seen_by_reconcile[1][0]["progress"] == "1/2"  # what was written, not the stale copy
    assert seen_by_reconcile[1][1] == {0: JobView("r-p0", 0, 1, active=1)}  # created, not yet in the index
    assert Ctx.kube.patches == [{"progress": "1/2"}]  # nothing new to write
    watched = {0: JobView("r-p0", 0, 1, succeeded=1, outcome="Complete")}
    handlers_run.on_reconcile(Ctx(), body, memo, dict(watched), None)  # type: ignore[arg-type]
    assert seen_by_reconcile[2][1] == watched  # the index's word wins once it has the Job
    assert memo["written"].version == "8"  # type: ignore[attr-defined]  # kept until the watch echoes version 8


def test_the_indexes_the_handlers_read_are_registered_under_those_names() -> None:
    """kopf passes an index to handlers as the keyword argument named by its id."""
    import kopf

    from barque_operator import handlers_run

    registry = kopf.OperatorRegistry()
    handlers_run.register(registry, object())  # type: ignore[arg-type]  # registering reads no context
    ids = {h.id for h in registry._indexing.get_all_handlers()}
    assert ids == {"pipelines", "active_runs"}


def test_the_reconcile_half_sends_no_status_write_and_the_writer_half_sends_and_remembers_it(monkeypatch: object) -> None:
    """The watch handler runs them in two thread pools, so a status write queued behind Job creates
    in the API gate holds no thread that the next run's start needs."""
    from barque_operator import handlers_run
    from barque_operator.settings import OperatorSettings

    class Ctx:
        settings, kube, metrics = OperatorSettings(), StatusKube("9"), None

    monkeypatch.setattr(handlers_run, "reconcile_run",  # type: ignore[attr-defined]
                        lambda ctx, body, seen: {"phase": "Running", "progress": "0/2"})
    body = {"metadata": {"namespace": "ns", "name": "r", "uid": "u"}, "status": {}}
    memo: dict[str, object] = {}
    write = handlers_run.reconcile_once(Ctx(), body, memo, {}, None)  # type: ignore[arg-type]
    assert write is not None and write.patch == {"phase": "Running", "progress": "0/2"}
    assert Ctx.kube.patches == [] and "written" not in memo
    handlers_run.write_status(Ctx(), body, memo, write)  # type: ignore[arg-type]
    assert Ctx.kube.patches == [write.patch]
    assert memo["written"] == handlers_run.Written("9", {"phase": "Running", "progress": "0/2"}, (None, (), None))
