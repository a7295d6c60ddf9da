"""A run's life beyond the README's flow, on the real node with the chart's operator: an invalid
Pipeline, concurrent runs, fan-out inside a step's pod, partition keys known only at run time,
resume, timeouts and deleting a run mid-flight.

Real: kube-apiserver, kube-controller-manager (Job, Deployment, ReplicaSet controllers, garbage
collector), kube-scheduler, a kubelet with containerd 2.x and runc, CNI bridge networking, MinIO,
and the runtime and operator images built from the Dockerfile; the operator is the chart's
Deployment (`release`, one install per session). Nothing is simulated.

This module asks for `scheduled_pipelines` first, so the schedule's minute boundaries pass while
its tests and the next module's run; test_user_flow.py checks them last.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from testbed.kubeapi import Api
from testbed.procs import wait_until
from tests.integration.runs import (
    QUICK,
    RUNS,
    SLOW,
    create_pipeline,
    create_run,
    jobs,
    live_jobs,
    step_states,
    wait_for_job,
    wait_run,
)
from tests.pipelines import FAILS_EARLY

from .flow import Release

pytestmark = pytest.mark.usefixtures("scheduled_pipelines")

DEFERRED = '''
from barque import asset, collect, partitions, partitions_from


def regions() -> list[str]:
    return ["north", "south"]


@asset()
def days() -> list[str]:
    return ["mon", "tue", "wed"]


@asset(partitions={"day": partitions_from(days)})
def per_day(day: str) -> str:
    return day.upper()


@asset(inputs={"all_days": collect(per_day)})
def week(all_days: list[str]) -> str:
    return ",".join(all_days)


@asset(partitions={"region": partitions(regions())})
def per_region(region: str) -> str:
    return region.title()


@asset(inputs={"all_regions": collect(per_region)})
def regions_report(all_regions: list[str]) -> int:
    return len(all_regions)
'''

FIXABLE = '''
from barque import asset


@asset()
def source() -> dict:
    return {"rows": 3}


@asset(inputs={"data": source})
def broken(data: dict, fix: str = "no") -> dict:
    if fix != "yes":
        raise ValueError("not fixed yet")
    return data


@asset(inputs={"data": broken})
def downstream(data: dict) -> dict:
    return data


@asset(inputs={"data": source})
def independent(data: dict) -> int:
    return data["rows"] * 2
'''

FAN_OUT_AND_KEYS = '''
from barque import asset, parallel_map, partitions_from


def cube(x: int) -> int:
    return x ** 3


@asset()
def cubes() -> list[int]:
    found = parallel_map(cube, range(6))
    assert found == [0, 1, 8, 27, 64, 125], found
    return found


@asset()
def regions() -> dict:
    return {1: "a", 2: "b"}


@asset(partitions={"region": partitions_from(regions)})
def per_region(region: str, regions: str) -> str:
    assert isinstance(region, str) and regions in ("a", "b")
    return region + regions
'''


def test_an_invalid_pipeline_is_not_ready_and_its_runs_fail_at_once(kube_api: Api, release: Release,
                                                                     tmp_path: Path) -> None:
    ns = release.namespace
    manifest = release.compile(tmp_path, QUICK, "broken")
    for node in manifest["spec"]["graph"]["nodes"]:
        if node["function"] == "doubled":
            node["inputs"] = [{"param": "nums", "source": "pipeline.py:nowhere", "collect": False}]
    create_pipeline(kube_api, ns, manifest)

    def ready_condition() -> dict[str, Any] | None:
        status = kube_api.request("GET", f"/apis/barque.dev/v1alpha1/namespaces/{ns}/pipelines/broken").get("status") or {}
        return next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)

    cond = wait_until(ready_condition, timeout=30, what="the Pipeline's Ready condition")
    assert cond["status"] == "False" and "reads unknown node 'pipeline.py:nowhere'" in cond["message"]
    create_run(kube_api, ns, "broken-1", "broken")
    run = wait_run(kube_api, ns, "broken-1", timeout=30, diagnose=release.operator_logs)
    assert run["status"]["phase"] == "Failed"
    assert "Pipeline broken is invalid" in run["status"]["message"] and "nowhere" in run["status"]["message"]
    assert jobs(kube_api, ns, "broken-1") == []


def test_concurrent_runs_all_complete(kube_api: Api, release: Release, tmp_path: Path) -> None:
    ns = release.namespace
    create_pipeline(kube_api, ns, release.compile(tmp_path, QUICK, "quick-many"))
    names = [f"quick-many-{i}" for i in range(3)]
    for i, name in enumerate(names):
        create_run(kube_api, ns, name, "quick-many", noCache=True, params={"attempt": str(i)})
    for name in names:
        run = wait_run(kube_api, ns, name, timeout=240, diagnose=release.operator_logs)
        assert run["status"]["phase"] == "Succeeded", (name, run["status"])
        assert run["status"]["counts"]["succeeded"] == 4


def test_a_step_fans_out_and_integer_partition_keys_work_in_pods(kube_api: Api, release: Release,
                                                                  tmp_path: Path) -> None:
    """parallel_map branches run inside the step's pod; a keys source's int keys become strings, as locally."""
    ns = release.namespace
    create_pipeline(kube_api, ns, release.compile(tmp_path, FAN_OUT_AND_KEYS, "fan"))
    create_run(kube_api, ns, "fan-1", "fan")
    run = wait_run(kube_api, ns, "fan-1", timeout=240, diagnose=release.operator_logs)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    ids = {s["id"] for s in run["status"]["steps"]}
    assert {"pipeline.py:cubes", "pipeline.py:per_region[region=1]", "pipeline.py:per_region[region=2]"} <= ids


def test_partition_keys_known_only_at_run_time_grow_the_plan(kube_api: Api, release: Release,
                                                              tmp_path: Path) -> None:
    ns = release.namespace
    create_pipeline(kube_api, ns, release.compile(tmp_path, DEFERRED, "deferred"))
    create_run(kube_api, ns, "deferred-1", "deferred")
    run = wait_run(kube_api, ns, "deferred-1", timeout=240, diagnose=release.operator_logs)
    status = run["status"]
    assert status["phase"] == "Succeeded", status
    ids = {s["id"] for s in status["steps"]}
    assert {"pipeline.py:per_day[day=mon]", "pipeline.py:per_day[day=tue]", "pipeline.py:per_day[day=wed]",
            "pipeline.py:per_region[region=north]", "pipeline.py:per_region[region=south]",
            "pipeline.py:week", "pipeline.py:regions_report", "pipeline.py:per_region#partitions"} <= ids
    assert status["plan"]["totalSteps"] == len(ids) and "deferred" not in status["plan"]
    names = sorted(j["metadata"]["name"] for j in jobs(kube_api, ns, "deferred-1-"))
    assert names == sorted(p["job"] for p in status["phases"] if p.get("job"))
    assert len(names) == len(set(names)) >= 3


def test_resume_reuses_the_earlier_runs_successful_steps(kube_api: Api, release: Release, tmp_path: Path) -> None:
    ns = release.namespace
    create_pipeline(kube_api, ns, release.compile(tmp_path, FIXABLE, "fixable"))
    create_run(kube_api, ns, "fixable-1", "fixable")
    first = wait_run(kube_api, ns, "fixable-1", timeout=240, diagnose=release.operator_logs)
    assert first["status"]["phase"] == "Failed" and "not fixed yet" in first["status"]["message"]
    create_run(kube_api, ns, "fixable-2", "fixable", resumeFrom="fixable-1", noCache=True, params={"fix": "yes"})
    second = wait_run(kube_api, ns, "fixable-2", timeout=240, diagnose=release.operator_logs)
    assert second["status"]["phase"] == "Succeeded", second["status"]
    assert step_states(second) == {"source": "cached", "independent": "cached", "broken": "succeeded",
                                   "downstream": "succeeded"}
    (job,) = jobs(kube_api, ns, "fixable-2-")
    assert job["spec"]["completions"] == 1  # only the stream that still had work


def test_a_run_past_its_timeout_fails_and_its_jobs_are_stopped(kube_api: Api, release: Release,
                                                               tmp_path: Path) -> None:
    ns = release.namespace
    create_pipeline(kube_api, ns, release.compile(tmp_path, SLOW.format(seconds=60), "slow-timeout"))
    create_run(kube_api, ns, "slow-timeout-1", "slow-timeout", timeoutSeconds=5)
    run = wait_run(kube_api, ns, "slow-timeout-1", timeout=90, diagnose=release.operator_logs)
    assert run["status"]["phase"] == "Failed"
    assert "timed out" in run["status"]["message"]

    def stopped(job: dict[str, Any]) -> bool:
        conditions = (job.get("status") or {}).get("conditions") or []
        return bool(job["metadata"].get("deletionTimestamp")) or any(c["type"] == "Failed" for c in conditions)

    wait_until(lambda: all(stopped(j) for j in jobs(kube_api, ns, "slow-timeout-1-")), timeout=60,
               what="the run's Jobs to stop")


def test_deleting_a_running_run_removes_it_and_its_jobs(kube_api: Api, release: Release, tmp_path: Path) -> None:
    ns = release.namespace
    create_pipeline(kube_api, ns, release.compile(tmp_path, SLOW.format(seconds=60), "slow-delete"))
    create_run(kube_api, ns, "slow-delete-1", "slow-delete")
    wait_for_job(kube_api, ns, "slow-delete-1-p0", timeout=120)
    kube_api.request("DELETE", f"{RUNS.format(ns=ns)}/slow-delete-1")
    wait_until(lambda: kube_api.get_or_none(f"{RUNS.format(ns=ns)}/slow-delete-1") is None, timeout=60,
               what="the run to be gone (the operator releases its finalizer)")
    wait_until(lambda: not live_jobs(kube_api, ns, "slow-delete-1-"), timeout=60, what="its Jobs to be deleted")


def test_fail_fast_stops_a_run_at_its_first_failure(kube_api: Api, release: Release, tmp_path: Path) -> None:
    ns = release.namespace
    create_pipeline(kube_api, ns, release.compile(tmp_path, FAILS_EARLY, "failfast"))
    create_run(kube_api, ns, "failfast-1", "failfast", failurePolicy="FailFast")
    run = wait_run(kube_api, ns, "failfast-1", timeout=240, diagnose=release.operator_logs)
    assert run["status"]["phase"] == "Failed", run["status"]
    states = step_states(run)
    assert states["broken"] == "failed" and states["later"] == "cancelled"  # under Continue it would run
