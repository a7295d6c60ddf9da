"""The operator end to end: Pipelines compiled by `barque compile`, runs created through the API, Jobs run by
the real Job controller on the test node, artifacts and step records in MinIO.

Real: etcd, kube-apiserver, kube-controller-manager (Job controller, garbage collector), MinIO, kubectl and
`barque operator` as its own process. Simulated: the node (testbed.testnode runs Pods as local processes).
"""

from __future__ import annotations

import subprocess
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from testbed.kubeapi import Api, ApiError
from testbed.procs import wait_until
from tests.integration.operator_fixtures import (  # noqa: F401  (fixtures)
    OperatorProcess,
    barque_crds,
    barque_executable,
    operator_process,
)

RUNS = "/apis/barque.dev/v1alpha1/namespaces/{ns}/pipelineruns"
PIPELINES = "/apis/barque.dev/v1alpha1/namespaces/{ns}/pipelines"
DONE = ("Succeeded", "Failed", "Cancelled")

QUICK = '''
from barque import asset


@asset()
def numbers() -> list[int]:
    return [1, 2, 3, 4, 5]


@asset(inputs={"nums": numbers})
def doubled(nums: list[int]) -> list[int]:
    return [n * 2 for n in nums]


@asset(inputs={"nums": numbers})
def total(nums: list[int]) -> int:
    return sum(nums)


@asset(inputs={"a": doubled, "b": total})
def report(a: list[int], b: int) -> dict:
    return {"doubled": a, "total": b}
'''

FAILING = '''
from barque import asset


@asset()
def source() -> dict:
    return {"rows": 3}


@asset(inputs={"data": source})
def broken(data: dict) -> dict:
    raise ValueError(f"cannot load {data['rows']} rows:\\nthe upstream schema changed")


@asset(inputs={"data": broken})
def downstream(data: dict) -> dict:
    return data


@asset(inputs={"data": source})
def independent(data: dict) -> int:
    return data["rows"] * 2
'''

SLOW = '''
import time
from barque import asset


@asset()
def first() -> int:
    time.sleep({seconds})
    return 1


@asset(inputs={{"x": first}})
def second(x: int) -> int:
    time.sleep({seconds})
    return x + 1


@asset(inputs={{"x": first}})
def third(x: int) -> int:
    return x + 2


@asset(inputs={{"a": second, "b": third}})
def last(a: int, b: int) -> int:
    return a + b
'''


# -- helpers -------------------------------------------------------------------------------------


def compile_pipeline(tmp_path: Path, source: str, name: str, *flags: str) -> dict[str, Any]:
    """`barque compile` exactly as a user runs it; returns the Pipeline manifest."""
    project = tmp_path / f"project-{name}"
    project.mkdir()
    (project / "pipeline.py").write_text(textwrap.dedent(source))
    out = subprocess.run([barque_executable(), "compile", "pipeline.py", "--name", name, *flags],
                         cwd=project, capture_output=True, text=True, check=True)
    manifest: dict[str, Any] = yaml.safe_load(out.stdout)
    return manifest


def create_pipeline(api: Api, ns: str, manifest: dict[str, Any]) -> dict[str, Any]:
    return api.request("POST", PIPELINES.format(ns=ns), body=manifest)


def create_run(api: Api, ns: str, name: str, pipeline: str, **spec: Any) -> dict[str, Any]:
    body = {"apiVersion": "barque.dev/v1alpha1", "kind": "PipelineRun", "metadata": {"name": name},
            "spec": {"pipelineRef": {"name": pipeline}, **spec}}
    return api.request("POST", RUNS.format(ns=ns), body=body)


def get_run(api: Api, ns: str, name: str) -> dict[str, Any]:
    return api.request("GET", f"{RUNS.format(ns=ns)}/{name}")


def wait_run(api: Api, ns: str, name: str, timeout: float = 120, phases: tuple[str, ...] = DONE,
             op: OperatorProcess | None = None) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run = get_run(api, ns, name)
        return run if (run.get("status") or {}).get("phase") in phases else None

    try:
        return wait_until(done, timeout=timeout, what=f"PipelineRun {ns}/{name} to reach {phases}", interval=0.5)
    except TimeoutError:
        status = (get_run(api, ns, name).get("status") or {})
        logs = op.logs()[-6000:] if op else ""
        raise AssertionError(f"run {name} did not finish; status: {status}\noperator log tail:\n{logs}") from None


def jobs(api: Api, ns: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.request("GET", f"/apis/batch/v1/namespaces/{ns}/jobs")["items"]
    return items


def pods(api: Api, ns: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.request("GET", f"/api/v1/namespaces/{ns}/pods")["items"]
    return items


def events(api: Api, ns: str, name: str) -> list[tuple[str, str]]:
    items = api.request("GET", f"/api/v1/namespaces/{ns}/events")["items"]
    return [(e["reason"], e["message"]) for e in items if e["involvedObject"].get("name") == name]


def store_keys(minio: Any, prefix: str) -> list[str]:
    client = minio.client()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=minio.bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def step_states(run: dict[str, Any]) -> dict[str, str]:
    return {s["id"].rsplit(":", 1)[-1]: s["state"] for s in run["status"]["steps"]}


@pytest.fixture
def ready(namespace: str, store_secret: Callable[..., str], operator_process: OperatorProcess) -> str:
    """A namespace with the store Secret the operator's default store names, and the operator running."""
    store_secret(namespace)
    return namespace


# -- scenarios -----------------------------------------------------------------------------------


def test_a_run_succeeds_with_its_artifacts_in_minio(kube_api: Api, ready: str, tmp_path: Path, minio: Any,
                                                    operator_process: OperatorProcess) -> None:
    ns = ready
    create_pipeline(kube_api, ns, compile_pipeline(tmp_path, QUICK, "quick"))
    create_run(kube_api, ns, "quick-1", "quick")
    run = wait_run(kube_api, ns, "quick-1", op=operator_process)
    status = run["status"]
    assert status["phase"] == "Succeeded", status
    assert status["progress"] == "4/4" and status["counts"]["succeeded"] == 4
    assert step_states(run) == {"numbers": "succeeded", "doubled": "succeeded", "total": "succeeded",
                                "report": "succeeded"}
    assert status["conditions"][0]["type"] == "Succeeded" and status["conditions"][0]["status"] == "True"
    assert status["startTime"] <= status["completionTime"] and status["duration"]
    names = sorted(j["metadata"]["name"] for j in jobs(kube_api, ns))
    assert names == [p["job"] for p in status["phases"] if p.get("job")]
    assert all(n.startswith("quick-1-p") for n in names)
    prefix = operator_process.store_uri.split("/", 3)[3] + "/"
    keys = store_keys(minio, prefix)
    artifacts = [s["artifact"] for s in status["steps"]]
    assert all(prefix + a in keys for a in artifacts), (artifacts, keys[:20])
    assert any(k.startswith(f"{prefix}runs/{status['runId']}/steps/") for k in keys)
    reasons = [r for r, _ in events(kube_api, ns, "quick-1")]
    assert "Started" in reasons and "PhaseStarted" in reasons and "Succeeded" in reasons


def metric_lines(op: OperatorProcess, name: str) -> list[str]:
    text = urllib.request.urlopen(op.metrics_url, timeout=5).read().decode()
    return [line for line in text.splitlines() if line.startswith(name)]


def test_a_second_run_is_fully_cached_and_creates_no_job(kube_api: Api, ready: str, tmp_path: Path,
                                                         operator_process: OperatorProcess) -> None:
    ns = ready
    create_pipeline(kube_api, ns, compile_pipeline(tmp_path, QUICK, "quick"))
    create_run(kube_api, ns, "quick-1", "quick")
    assert wait_run(kube_api, ns, "quick-1", op=operator_process)["status"]["phase"] == "Succeeded"
    before = {j["metadata"]["name"] for j in jobs(kube_api, ns)}
    create_run(kube_api, ns, "quick-2", "quick")
    run = wait_run(kube_api, ns, "quick-2", op=operator_process)
    assert run["status"]["phase"] == "Succeeded"
    assert run["status"]["counts"]["cached"] == 4 and run["status"]["progress"] == "4/4"
    assert {p["state"] for p in run["status"]["phases"]} == {"Cached"}
    assert {j["metadata"]["name"] for j in jobs(kube_api, ns)} == before  # no Job for quick-2
    cached = [line for line in metric_lines(operator_process, "barque_steps_total") if 'state="cached"' in line]
    assert cached and float(cached[0].rsplit(" ", 1)[1]) >= 4
    assert metric_lines(operator_process, "barque_runs_finished_total")
    assert metric_lines(operator_process, "barque_run_duration_seconds_bucket")


def test_a_failing_step_fails_the_run_with_its_error_and_skips_its_dependants(
        kube_api: Api, ready: str, tmp_path: Path, operator_process: OperatorProcess) -> None:
    ns = ready
    create_pipeline(kube_api, ns, compile_pipeline(tmp_path, FAILING, "failing"))
    create_run(kube_api, ns, "failing-1", "failing")
    run = wait_run(kube_api, ns, "failing-1", op=operator_process)
    status = run["status"]
    assert status["phase"] == "Failed"
    assert status["message"].startswith("step pipeline.py:broken failed: ValueError: the upstream schema changed")
    assert step_states(run) == {"source": "succeeded", "broken": "failed", "downstream": "skipped",
                                "independent": "succeeded"}
    assert status["failures"][0]["step"] == "pipeline.py:broken"
    assert status["conditions"][0]["status"] == "False"
    reasons = [r for r, _ in events(kube_api, ns, "failing-1")]
    assert "StepFailed" in reasons and "Failed" in reasons


KILLED = '''
import os
import signal

from barque import asset


@asset()
def source() -> int:
    return 11


@asset(inputs={"s": source})
def killed(s: int) -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return s


@asset(inputs={"k": killed})
def after(k: int) -> int:
    return k


@asset()
def independent() -> int:
    return 2
'''


def test_a_step_whose_pod_is_killed_by_a_signal_crashes_and_its_dependants_are_skipped(
        kube_api: Api, ready: str, tmp_path: Path, operator_process: OperatorProcess) -> None:
    ns = ready
    create_pipeline(kube_api, ns, compile_pipeline(tmp_path, KILLED, "killed"))
    create_run(kube_api, ns, "killed-1", "killed")
    run = wait_run(kube_api, ns, "killed-1", op=operator_process)
    status = run["status"]
    assert status["phase"] == "Failed"
    states = step_states(run)
    assert states.pop("source") in ("succeeded", "cached")  # another test's pipeline may have stored it
    assert states == {"killed": "crashed", "after": "skipped", "independent": "succeeded"}
    assert status["message"].startswith("step pipeline.py:killed crashed: Signal: killed by signal 9")
    assert status["counts"]["crashed"] == 1 and status["counts"]["failed"] == 0


def test_fail_fast_stops_a_run_at_its_first_failure(kube_api: Api, ready: str, tmp_path: Path,
                                                   operator_process: OperatorProcess) -> None:
    ns = ready
    source = FAILING + '''

@asset(inputs={"i": independent, "s": source})
def later(i: int, s: dict) -> int:
    return i
'''
    create_pipeline(kube_api, ns, compile_pipeline(tmp_path, source, "failfast"))
    create_run(kube_api, ns, "failfast-1", "failfast", failurePolicy="FailFast")
    run = wait_run(kube_api, ns, "failfast-1", op=operator_process)
    assert run["status"]["phase"] == "Failed"
    states = step_states(run)
    assert states["broken"] == "failed" and states["later"] == "cancelled"  # under Continue it would run


def wait_for_job(api: Api, ns: str, prefix: str, timeout: float = 60) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        return next((j for j in jobs(api, ns) if j["metadata"]["name"].startswith(prefix)), None)

    return wait_until(found, timeout=timeout, what=f"a Job {prefix}* in {ns}")


def test_cancel_deletes_live_jobs_and_cancels_the_rest(kube_api: Api, ready: str, tmp_path: Path,
                                                       operator_process: OperatorProcess) -> None:
    ns = ready
    create_pipeline(kube_api, ns, compile_pipeline(tmp_path, SLOW.format(seconds=60), "slow"))
    create_run(kube_api, ns, "slow-1", "slow")
    wait_for_job(kube_api, ns, "slow-1-p0")
    kube_api.request("PATCH", f"{RUNS.format(ns=ns)}/slow-1", body={"spec": {"cancel": True}},
                     content_type="application/merge-patch+json")
    run = wait_run(kube_api, ns, "slow-1", timeout=30, op=operator_process)
    assert run["status"]["phase"] == "Cancelled"
    assert run["status"]["counts"]["cancelled"] == 4
    wait_until(lambda: not [j for j in jobs(kube_api, ns) if not j["metadata"].get("deletionTimestamp")],
               timeout=30, what="the cancelled run's Jobs to be deleted")


def test_a_killed_operator_restarts_and_the_run_completes_without_duplicate_jobs(
        kube_api: Api, ready: str, tmp_path: Path, operator_process: OperatorProcess) -> None:
    ns = ready
    create_pipeline(kube_api, ns, compile_pipeline(tmp_path, SLOW.format(seconds=3), "slow"))
    create_run(kube_api, ns, "slow-1", "slow")
    wait_for_job(kube_api, ns, "slow-1-p0")
    operator_process.kill()
    time.sleep(4)  # the Job goes on without the operator
    operator_process.start()
    wait_for_job(kube_api, ns, "slow-1-p1")
    operator_process.kill()
    operator_process.start()
    run = wait_run(kube_api, ns, "slow-1", op=operator_process)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert run["status"]["counts"]["succeeded"] == 4
    names = sorted(j["metadata"]["name"] for j in jobs(kube_api, ns))
    assert names == ["slow-1-p0", "slow-1-p1", "slow-1-p2"]
    per_index: dict[tuple[str, str], int] = {}
    for pod in pods(kube_api, ns):
        key = (pod["metadata"]["labels"]["batch.kubernetes.io/job-name"],
               pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"])
        per_index[key] = per_index.get(key, 0) + 1
    assert set(per_index.values()) == {1}, per_index  # every stream ran exactly once


def test_an_invalid_pipeline_is_not_ready_and_its_runs_fail_at_once(kube_api: Api, ready: str, tmp_path: Path,
                                                                     operator_process: OperatorProcess) -> None:
    ns = ready
    manifest = compile_pipeline(tmp_path, QUICK, "broken")
    for node in manifest["spec"]["graph"]["nodes"]:
        if node["function"] == "doubled":
            node["inputs"] = [{"param": "nums", "source": "pipeline.py:nowhere", "collect": False}]
    create_pipeline(kube_api, ns, manifest)

    def ready_condition() -> dict[str, Any] | None:
        status = kube_api.request("GET", f"{PIPELINES.format(ns=ns)}/broken").get("status") or {}
        return next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)

    cond = wait_until(ready_condition, timeout=30, what="the Pipeline's Ready condition")
    assert cond["status"] == "False" and "reads unknown node 'pipeline.py:nowhere'" in cond["message"]
    create_run(kube_api, ns, "broken-1", "broken")
    run = wait_run(kube_api, ns, "broken-1", timeout=30, op=operator_process)
    assert run["status"]["phase"] == "Failed"
    assert "Pipeline broken is invalid" in run["status"]["message"] and "nowhere" in run["status"]["message"]
    assert jobs(kube_api, ns) == []


def test_concurrent_runs_all_complete(kube_api: Api, ready: str, tmp_path: Path,
                                      operator_process: OperatorProcess) -> None:
    ns = ready
    create_pipeline(kube_api, ns, compile_pipeline(tmp_path, QUICK, "quick"))
    names = [f"quick-{i}" for i in range(3)]
    for i, name in enumerate(names):
        create_run(kube_api, ns, name, "quick", noCache=True, params={"attempt": str(i)})
    for name in names:
        run = wait_run(kube_api, ns, name, timeout=180, op=operator_process)
        assert run["status"]["phase"] == "Succeeded", (name, run["status"])
        assert run["status"]["counts"]["succeeded"] == 4


def test_a_scheduled_pipeline_creates_runs_on_time(kube_api: Api, ready: str, tmp_path: Path,
                                                   operator_process: OperatorProcess) -> None:
    ns = ready
    create_pipeline(kube_api, ns, compile_pipeline(tmp_path, QUICK, "nightly", "--schedule", "* * * * *"))

    def scheduled() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = kube_api.request(
            "GET", RUNS.format(ns=ns), query={"labelSelector": "barque.dev/scheduled-by=nightly"})["items"]
        return items

    (run,) = wait_until(scheduled, timeout=90, what="a scheduled PipelineRun")
    slot = run["metadata"]["annotations"]["barque.dev/scheduled-at"]
    assert slot.endswith(":00Z")
    assert run["metadata"]["ownerReferences"][0]["kind"] == "Pipeline"
    done = wait_run(kube_api, ns, run["metadata"]["name"], op=operator_process)
    assert done["status"]["phase"] == "Succeeded"
    status = kube_api.request("GET", f"{PIPELINES.format(ns=ns)}/nightly")["status"]
    assert status["lastScheduleTime"] == slot and status["nextScheduleTime"] > slot


FAILING_ON_SCHEDULE = '''
from barque import Schedule, asset


@asset(freshness=Schedule("* * * * *", max_failures=1, timeout_seconds=600))
def nightly() -> int:
    raise ValueError("the source is down")
'''


def test_a_schedule_whose_runs_fail_max_failures_times_skips_its_ticks(kube_api: Api, ready: str, tmp_path: Path,
                                                                        operator_process: OperatorProcess) -> None:
    """Schedule(max_failures=1, timeout_seconds=600) compiled from the node: the run has the timeout, fails,
    and the next slot is skipped with the ScheduleFailing condition on the Pipeline."""
    ns = ready
    pipeline = compile_pipeline(tmp_path, FAILING_ON_SCHEDULE, "flaky")
    assert pipeline["spec"]["schedule"]["maxFailures"] == 1
    create_pipeline(kube_api, ns, pipeline)

    def scheduled() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = kube_api.request(
            "GET", RUNS.format(ns=ns), query={"labelSelector": "barque.dev/scheduled-by=flaky"})["items"]
        return items

    (run,) = wait_until(scheduled, timeout=90, what="a scheduled PipelineRun")
    assert run["spec"]["timeoutSeconds"] == 600
    done = wait_run(kube_api, ns, run["metadata"]["name"], timeout=180, op=operator_process)
    assert done["status"]["phase"] == "Failed"

    def failing() -> dict[str, Any] | None:
        status = kube_api.request("GET", f"{PIPELINES.format(ns=ns)}/flaky").get("status") or {}
        cond = next((c for c in status.get("conditions") or () if c["type"] == "ScheduleFailing"), None)
        return status if cond and cond["status"] == "True" else None

    status = wait_until(failing, timeout=30, what="the ScheduleFailing condition")
    assert status["consecutiveFailures"] == 1
    last = status["lastScheduleTime"]
    time.sleep(70)  # past the next slot, and many timer intervals
    assert [r["metadata"]["name"] for r in scheduled()] == [run["metadata"]["name"]]
    assert kube_api.request("GET", f"{PIPELINES.format(ns=ns)}/flaky")["status"]["lastScheduleTime"] == last


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


def test_a_step_fans_out_and_integer_partition_keys_work_in_pods(kube_api: Api, ready: str, tmp_path: Path,
                                                                  operator_process: OperatorProcess) -> None:
    """parallel_map branches run inside the step's pod; a keys source's int keys become strings, as locally."""
    ns = ready
    create_pipeline(kube_api, ns, compile_pipeline(tmp_path, FAN_OUT_AND_KEYS, "fan"))
    create_run(kube_api, ns, "fan-1", "fan")
    run = wait_run(kube_api, ns, "fan-1", timeout=180, op=operator_process)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    ids = {s["id"] for s in run["status"]["steps"]}
    assert {"pipeline.py:cubes", "pipeline.py:per_region[region=1]", "pipeline.py:per_region[region=2]"} <= ids
