"""More of a run's life on the test bed: partition keys known only at run time (the plan grows), resume from
an earlier run, timeouts, and deleting a run mid-flight.

Real: etcd, kube-apiserver, kube-controller-manager, MinIO, `barque operator` as its own process.
Simulated: the node (testbed.testnode).
"""

from __future__ import annotations

from pathlib import Path
from testbed.kubeapi import Api
from testbed.procs import wait_until
from tests.integration.operator_fixtures import OperatorProcess, barque_crds, operator_process  # noqa: F401
from tests.integration.test_operator_runs import (  # noqa: F401  (the `ready` fixture)
    RUNS,
    SLOW,
    compile_pipeline,
    create_pipeline,
    create_run,
    jobs,
    ready,
    step_states,
    wait_for_job,
    wait_run,
)

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


def test_partition_keys_known_only_at_run_time_grow_the_plan(kube_api: Api, ready: str, tmp_path: Path,
                                                              operator_process: OperatorProcess) -> None:
    ns = ready
    create_pipeline(kube_api, ns, compile_pipeline(tmp_path, DEFERRED, "deferred"))
    create_run(kube_api, ns, "deferred-1", "deferred")
    run = wait_run(kube_api, ns, "deferred-1", timeout=180, op=operator_process)
    status = run["status"]
    assert status["phase"] == "Succeeded", status
    ids = {s["id"] for s in status["steps"]}
    assert {"pipeline.py:per_day[day=mon]", "pipeline.py:per_day[day=tue]", "pipeline.py:per_day[day=wed]",
            "pipeline.py:per_region[region=north]", "pipeline.py:per_region[region=south]",
            "pipeline.py:week", "pipeline.py:regions_report", "pipeline.py:per_region#partitions"} <= ids
    assert status["plan"]["totalSteps"] == len(ids) and "deferred" not in status["plan"]
    names = sorted(j["metadata"]["name"] for j in jobs(kube_api, ns))
    assert names == sorted(p["job"] for p in status["phases"] if p.get("job"))
    assert len(names) == len(set(names)) >= 3


def test_resume_reuses_the_earlier_runs_successful_steps(kube_api: Api, ready: str, tmp_path: Path,
                                                         operator_process: OperatorProcess) -> None:
    ns = ready
    create_pipeline(kube_api, ns, compile_pipeline(tmp_path, FIXABLE, "fixable"))
    create_run(kube_api, ns, "fixable-1", "fixable")
    first = wait_run(kube_api, ns, "fixable-1", op=operator_process)
    assert first["status"]["phase"] == "Failed" and "not fixed yet" in first["status"]["message"]
    create_run(kube_api, ns, "fixable-2", "fixable", resumeFrom="fixable-1", noCache=True, params={"fix": "yes"})
    second = wait_run(kube_api, ns, "fixable-2", op=operator_process)
    assert second["status"]["phase"] == "Succeeded", second["status"]
    assert step_states(second) == {"source": "cached", "independent": "cached", "broken": "succeeded",
                                   "downstream": "succeeded"}
    (job,) = [j for j in jobs(kube_api, ns) if j["metadata"]["name"].startswith("fixable-2-")]
    assert job["spec"]["completions"] == 1  # only the stream that still had work


def test_a_run_past_its_timeout_fails_and_its_jobs_are_stopped(kube_api: Api, ready: str, tmp_path: Path,
                                                               operator_process: OperatorProcess) -> None:
    ns = ready
    create_pipeline(kube_api, ns, compile_pipeline(tmp_path, SLOW.format(seconds=60), "slow"))
    create_run(kube_api, ns, "slow-1", "slow", timeoutSeconds=5)
    run = wait_run(kube_api, ns, "slow-1", timeout=60, op=operator_process)
    assert run["status"]["phase"] == "Failed"
    assert "timed out" in run["status"]["message"]
    wait_until(lambda: all(j["metadata"].get("deletionTimestamp") or
                           any(c["type"] == "Failed" for c in (j.get("status") or {}).get("conditions") or [])
                           for j in jobs(kube_api, ns)) or not jobs(kube_api, ns),
               timeout=30, what="the run's Jobs to stop")


def test_deleting_a_running_run_removes_it_and_its_jobs(kube_api: Api, ready: str, tmp_path: Path,
                                                        operator_process: OperatorProcess) -> None:
    ns = ready
    create_pipeline(kube_api, ns, compile_pipeline(tmp_path, SLOW.format(seconds=60), "slow"))
    create_run(kube_api, ns, "slow-1", "slow")
    wait_for_job(kube_api, ns, "slow-1-p0")
    kube_api.request("DELETE", f"{RUNS.format(ns=ns)}/slow-1")
    wait_until(lambda: kube_api.get_or_none(f"{RUNS.format(ns=ns)}/slow-1") is None, timeout=30,
               what="the run to be gone (the operator releases its finalizer)")
    wait_until(lambda: not [j for j in jobs(kube_api, ns) if not j["metadata"].get("deletionTimestamp")],
               timeout=60, what="its Jobs to be deleted")


def test_a_run_keeps_the_image_and_store_it_pinned_when_the_operator_restarts_with_other_defaults(
        kube_api: Api, ready: str, tmp_path: Path, operator_process: OperatorProcess) -> None:
    ns = ready
    create_pipeline(kube_api, ns, compile_pipeline(tmp_path, SLOW.format(seconds=3), "slow"))
    create_run(kube_api, ns, "slow-1", "slow")
    wait_for_job(kube_api, ns, "slow-1-p0")
    pinned_store = operator_process.store_uri
    operator_process.stop()
    # As after a `helm upgrade` that changed the defaults: another store (with no run spec) and image.
    operator_process.env["BARQUE_DEFAULT_STORE"] = pinned_store + "-moved"
    operator_process.env["BARQUE_DEFAULT_IMAGE"] = "barque-runtime:upgraded"
    operator_process.start()
    run = wait_run(kube_api, ns, "slow-1", op=operator_process)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert (run["status"]["storeUri"], run["status"]["image"]) == (pinned_store, "barque-runtime:dev")
    names = sorted(j["metadata"]["name"] for j in jobs(kube_api, ns))
    assert names == ["slow-1-p0", "slow-1-p1", "slow-1-p2"]
    for job in jobs(kube_api, ns):
        (container,) = job["spec"]["template"]["spec"]["containers"]
        store = next(e["value"] for e in container["env"] if e["name"] == "BARQUE_STORE")
        assert (container["image"], store) == ("barque-runtime:dev", pinned_store), job["metadata"]["name"]
        assert container["envFrom"] == [{"secretRef": {"name": "barque-store"}}]
