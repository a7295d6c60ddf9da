"""An operator killed part-way through a run's start: the one that takes over (a fresh process,
nothing remembered, the same API and store) finishes the start with one Job per phase, the same
Job and the same stored plan the first would have made. Fault injection at the two points where
a start's effects are split: its store writes done and its Job not yet created, and its Job
created and its status not yet written (the status is what tells a restart the run has begun).

The operator's real ``reconcile_run`` on a local-folder store; the API is the fake of
``tests/unit/cluster_sim.py`` (Jobs by name, a create of an existing name refused, as a 409);
no servers. The test bed's version is bench/operator/fault_kill.py's start-path scenario.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

import pytest

from barque_operator.context import Context
from barque_operator.metrics import Metrics
from barque_operator.runcycle import Seen, reconcile_run
from tests.unit.cluster_sim import Cluster, FakeKube

QUICKSTART = Path(__file__).resolve().parents[3] / "examples" / "quickstart" / "pipeline.py"


class Killed(BaseException):
    """The operator's process dying: nothing after it runs, no handler catches it."""


def _run() -> dict[str, Any]:
    return {"apiVersion": "barque.dev/v1alpha1", "kind": "PipelineRun",
            "metadata": {"name": "r1", "namespace": "team-a", "uid": "abcdef12-0000-4000-8000-000000000001",
                         "generation": 1, "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"pipelineRef": {"name": "demo"}, "noCache": True}, "status": {}}


def _fresh_operator(cluster: Cluster) -> Context:
    """A restarted operator: the same settings, API and store, and nothing remembered."""
    return Context(settings=cluster.ctx.settings, kube=cluster.kube, metrics=Metrics(), clock=cluster.ctx.clock)


def _seen(cluster: Cluster) -> Seen:
    # No Jobs observed: the restarted operator's Job index may not yet hold the Job the killed one made.
    return Seen(jobs={}, pipeline=lambda ns, n: cluster.pipeline if n == "demo" else None)


def _stored(store: Path) -> dict[str, bytes]:
    """The run's objects in a local-folder store (``.#`` files are the folder store's own housekeeping)."""
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*"))
            if p.is_file() and not p.name.startswith(".#")}


def _recording(kube: FakeKube, after: Callable[[], None] | None = None, before: Callable[[], None] | None = None
               ) -> list[dict[str, Any]]:
    """Every Job body ``kube.create_job`` is asked for; ``before``/``after`` run around the create."""
    asked: list[dict[str, Any]] = []
    create = kube.create_job

    def create_job(body: Mapping[str, Any]) -> bool:
        asked.append(dict(body))
        if before:
            before()
        created = create(body)
        if after:
            after()
        return created

    kube.create_job = create_job  # type: ignore[method-assign]
    return asked


def _die() -> None:
    raise Killed()


def test_an_operator_killed_between_a_starts_store_writes_and_its_job_leaves_one_job_after_the_restart(
        tmp_path: Path) -> None:
    cluster = Cluster([QUICKSTART], tmp_path / "store")
    asked = _recording(cluster.kube, before=_die)
    with pytest.raises(Killed):
        reconcile_run(cluster.ctx, _run(), _seen(cluster))
    assert cluster.kube.jobs == {}
    written = _stored(tmp_path / "store")
    spec = [k for k in written if k.endswith("/spec.json")]
    assert spec and b'"pin"' in written[spec[0]]  # the start's one store write: the spec, carrying the pinned plan

    cluster.kube.create_job = FakeKube.create_job.__get__(cluster.kube)  # type: ignore[method-assign]
    again = _recording(cluster.kube)
    status = reconcile_run(_fresh_operator(cluster), _run(), _seen(cluster))
    assert status["phase"] == "Running"
    assert list(cluster.kube.jobs) == [asked[0]["metadata"]["name"]]
    assert again == asked  # the Job the killed operator was about to create, not another
    assert _stored(tmp_path / "store") == written  # the same spec (with its plan) and code


def test_an_operator_killed_after_a_starts_job_create_leaves_that_one_job_after_the_restart(tmp_path: Path) -> None:
    cluster = Cluster([QUICKSTART], tmp_path / "store")
    asked = _recording(cluster.kube, after=_die)
    with pytest.raises(Killed):
        reconcile_run(cluster.ctx, _run(), _seen(cluster))
    assert len(cluster.kube.jobs) == 1  # created; the status that says so was never written

    cluster.kube.create_job = FakeKube.create_job.__get__(cluster.kube)  # type: ignore[method-assign]
    again = _recording(cluster.kube)
    status = reconcile_run(_fresh_operator(cluster), _run(), _seen(cluster))
    assert status["phase"] == "Running"
    assert again == asked and list(cluster.kube.jobs) == [asked[0]["metadata"]["name"]]  # refused as existing
