"""What a run's start costs, and what it may not skip: its store writes run side by side but all
land before its Job is created, its first status write's echo reads no store, and Events never
hold a reconcile. The operator's real ``reconcile_run`` on an in-memory store and a fake API
(``tests/unit/cluster_sim.py``); no servers."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

import pytest

from barque.errors import StoreError
from barque.runspec import read_run_start
from barque.store.memory import MemoryStore
from barque_operator.events import EventRecorder, PendingEvent
from barque_operator.kube import Kube, RequestGate
from barque_operator.runcycle import Seen, reconcile_run
from tests.unit.cluster_sim import Cluster

QUICKSTART = Path(__file__).resolve().parents[3] / "examples" / "quickstart" / "pipeline.py"


class WatchedStore(MemoryStore):
    """Counts reads and records the keys put; each put takes 20 ms, as a round trip would;
    ``fail_on`` makes a put of a key ending so raise, as a store that is down would."""

    def __init__(self, fail_on: str | None = None) -> None:
        super().__init__()
        self.reads = 0
        self.puts: list[str] = []
        self.fail_on = fail_on

    def put(self, key: str, data: bytes, *, durable: bool = True) -> None:
        if self.fail_on and key.endswith(self.fail_on):
            raise StoreError("the store is down", where=key, hint="try again")
        time.sleep(0.02)
        super().put(key, data, durable=durable)
        self.puts.append(key)

    def get(self, key: str) -> bytes | None:
        self.reads += 1
        return super().get(key)

    def list(self, prefix: str) -> Iterator[str]:
        self.reads += 1
        return super().list(prefix)


def _cluster(tmp_path: Path, store: WatchedStore) -> Cluster:
    cluster = Cluster([QUICKSTART], tmp_path / "store")
    cluster.ctx.stores._stores[str(tmp_path / "store")] = store  # every reconcile reaches this store
    return cluster


def _run(name: str = "r1") -> dict[str, Any]:
    return {"apiVersion": "barque.dev/v1alpha1", "kind": "PipelineRun",
            "metadata": {"name": name, "namespace": "team-a", "uid": "abcdef12-0000-4000-8000-000000000001",
                         "generation": 1, "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"pipelineRef": {"name": "demo"}, "noCache": True}, "status": {}}


def _seen(cluster: Cluster) -> Seen:
    return Seen(jobs={}, pipeline=lambda ns, n: cluster.pipeline if n == "demo" else None)


def _run_uid(i: int) -> str:
    return f"abcdef12-0000-4000-8000-{i:012d}"


def test_a_runs_start_is_one_spec_write_carrying_its_plan_and_first_phase_before_its_job(tmp_path: Path) -> None:
    store = WatchedStore()
    cluster = _cluster(tmp_path, store)
    stored_at_create: list[list[str]] = []
    create = cluster.kube.create_job

    def create_job(body: Mapping[str, Any]) -> bool:
        stored_at_create.append(list(store.puts))
        return create(body)

    cluster.kube.create_job = create_job  # type: ignore[method-assign]
    status = reconcile_run(cluster.ctx, _run(), _seen(cluster))
    assert status["phase"] == "Running" and len(stored_at_create) == 1
    spec = f"runs/{status['runId']}/spec.json"
    code = [k for k in stored_at_create[0] if k.startswith("code/")]
    assert stored_at_create[0] == [*code, spec] and len(code) == 1  # the snapshot (one file), then the spec
    start = read_run_start(store, status["runId"])
    assert start is not None and start.pin is not None and set(start.phases) == {0}
    assert status["plan"]["storeKey"] == spec


def test_the_code_snapshot_is_stored_once_per_pipeline_version_not_once_per_run(tmp_path: Path) -> None:
    store = WatchedStore()
    cluster = _cluster(tmp_path, store)
    first = reconcile_run(cluster.ctx, _run("r1"), _seen(cluster))
    store.puts.clear()
    second = reconcile_run(cluster.ctx, {**_run("r2"), "metadata": {**_run("r2")["metadata"], "uid": _run_uid(2)}},
                           _seen(cluster))
    assert store.puts == [f"runs/{second['runId']}/spec.json"]
    assert first["sourceDigest"] == second["sourceDigest"]


def test_a_restarted_operator_finds_the_stored_snapshot_by_its_key_and_does_not_write_it_again(tmp_path: Path) -> None:
    store = WatchedStore()
    reconcile_run(_cluster(tmp_path, store).ctx, _run("r1"), _seen(_cluster(tmp_path, store)))
    store.puts.clear()
    restarted = _cluster(tmp_path, store)  # a new process: nothing remembered
    second = reconcile_run(restarted.ctx, {**_run("r2"), "metadata": {**_run("r2")["metadata"], "uid": _run_uid(2)}},
                           _seen(restarted))
    assert store.puts == [f"runs/{second['runId']}/spec.json"]


def test_a_restarted_operator_continues_a_started_run_from_the_plan_its_spec_pins(tmp_path: Path) -> None:
    store = WatchedStore()
    cluster = _cluster(tmp_path, store)
    body, seen = _run(), _seen(cluster)
    body["status"] = reconcile_run(cluster.ctx, body, seen)
    restarted = _cluster(tmp_path, store)
    again = Seen(jobs=dict(seen.created), pipeline=seen.pipeline)
    assert reconcile_run(restarted.ctx, body, again) == body["status"]
    assert not again.created and not list(store.list(f"runs/{body['status']['runId']}/operator/"))


def test_a_store_write_that_fails_fails_the_start_before_any_job_exists(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path, WatchedStore(fail_on="spec.json"))
    with pytest.raises(StoreError):
        reconcile_run(cluster.ctx, _run(), _seen(cluster))
    assert cluster.kube.jobs == {}


def test_the_echo_of_a_runs_first_status_write_reads_nothing_from_the_store(tmp_path: Path) -> None:
    store = WatchedStore()
    cluster = _cluster(tmp_path, store)
    body = _run()
    seen = _seen(cluster)
    body["status"] = reconcile_run(cluster.ctx, body, seen)
    # A new run has no step records to list; the one read is the listing that finds its code
    # snapshot not stored yet (once per code version and process).
    assert store.reads == 1
    echo = Seen(jobs=dict(seen.created), pipeline=seen.pipeline)
    assert reconcile_run(cluster.ctx, body, echo) == body["status"]
    assert store.reads == 1 and not echo.created


def test_events_are_queued_and_posted_later_so_a_reconcile_never_waits_for_the_api() -> None:
    release, posted = threading.Event(), []

    def post(event: PendingEvent) -> None:
        release.wait(10)
        posted.append(event.reason)

    recorder = EventRecorder(post, posters=1, qps=1000)
    run = _run()
    for reason in ("Started", "PhaseStarted", "Succeeded"):
        assert recorder.record(run, "Normal", reason, "...")  # returns while the API "hangs"
    assert posted == []
    release.set()
    assert recorder.drain(10)
    assert posted == ["Started", "PhaseStarted", "Succeeded"]


def test_events_wait_while_runs_are_being_reconciled_and_are_posted_once_none_is() -> None:
    busy, posted = threading.Event(), []
    busy.set()
    recorder = EventRecorder(lambda event: posted.append(event.reason), posters=1, qps=1000, hold=busy.is_set)
    assert recorder.record(_run(), "Normal", "Started", "...")
    time.sleep(0.3)
    assert posted == []  # a burst of starts is under way
    busy.clear()
    assert recorder.drain(10) and posted == ["Started"]


def test_an_event_is_held_back_at_most_max_hold_seconds() -> None:
    posted: list[str] = []
    recorder = EventRecorder(lambda event: posted.append(event.reason), posters=1, qps=1000,
                             hold=lambda: True, max_hold=0.2)
    assert recorder.record(_run(), "Normal", "Started", "...")
    assert recorder.drain(10) and posted == ["Started"]


def test_events_past_the_queue_limit_are_dropped_and_counted() -> None:
    release, dropped = threading.Event(), []
    recorder = EventRecorder(lambda event: release.wait(10), on_drop=lambda: dropped.append(1), limit=2, posters=1)
    results = [recorder.record(_run(), "Normal", f"E{i}", "...") for i in range(5)]
    release.set()
    assert recorder.drain(10)
    # The first is taken by the poster at once (or still queued), so three or four of five fit.
    assert results[:3] == [True, True, True] or results[:2] == [True, True]
    assert len(dropped) == results.count(False) >= 2


def test_the_api_client_pools_a_connection_for_every_request_the_gate_lets_through(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """More requests in flight than pooled connections would open a new TLS connection each."""
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:6443', insecure-skip-tls-verify: true}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n")
    from kubernetes.config import kube_config

    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(config))  # $KUBECONFIG, read at import
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    kube = Kube.connect(RequestGate(concurrency=24, qps=100))
    assert kube.api_client.configuration.connection_pool_maxsize >= 24
