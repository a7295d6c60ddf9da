"""The user's flow from the README, on the real node: helm install, kubectl apply, the `barque`
CLI, runs in pods, the operator pod dying mid-run, schedules.

Real: kube-apiserver, kube-controller-manager (Job, Deployment, ReplicaSet controllers),
kube-scheduler, a kubelet with containerd 2.x and runc, CNI bridge networking, MinIO, helm and
kubectl, and the runtime and operator images built from the Dockerfile. The operator runs as
the chart's Deployment with only its ServiceAccount's RBAC (`release`, one install per session,
tests/integration/realnode/flow.py). Nothing is simulated.

Pods reach the API server and MinIO through the test bed's bridge address: the operator gets
KUBERNETES_SERVICE_HOST/PORT through the chart's `operator.extraEnv` (there is no kube-proxy),
and the store Secret's AWS_ENDPOINT_URL names MinIO's forwarder. Tests run in file order: the
second quickstart run needs the first, `kubectl logs` of the security run needs that run, and
the schedule test is last so that its minute boundaries have passed during the others.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from testbed.kubeapi import Api
from testbed.procs import wait_until
from tests.integration.runs import (
    PIPELINES,
    RUNS,
    SLOW,
    create_pipeline,
    create_run,
    events,
    get_run,
    jobs,
    live_jobs,
    pods,
    pods_per_completion_index,
    step_states,
    store_keys,
    stored_value,
    wait_for_job,
    wait_run,
)

from .conftest import RealNode
from .flow import ScheduledPipelines, Release

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
OPERATOR_PODS = "app.kubernetes.io/name=barque,app.kubernetes.io/component=operator"


def operator_pods(kube_api: Api, ns: str) -> list[dict[str, Any]]:
    found = kube_api.request("GET", f"/api/v1/namespaces/{ns}/pods", query={"labelSelector": OPERATOR_PODS})
    items: list[dict[str, Any]] = found["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def wait_for_events(kube_api: Api, ns: str, name: str, reasons: set[str]) -> None:
    """Until the object has Events with every one of ``reasons`` (the operator posts them after
    the status it reports them with, so they may land a moment after the run's phase)."""
    wait_until(lambda: reasons <= {r for r, _ in events(kube_api, ns, name)}, timeout=30,
               what=f"Events {sorted(reasons)} on {name}")


def test_the_operator_runs_as_the_charts_deployment_under_its_service_account(
        release: Release, kube_api: Api) -> None:
    (operator,) = operator_pods(kube_api, release.namespace)
    assert operator["spec"]["serviceAccountName"] == "barque"
    assert operator["status"]["phase"] == "Running"
    assert all(c["ready"] for c in operator["status"]["containerStatuses"])


def test_quickstart_succeeds_in_pods_with_its_artifacts_in_minio(
        release: Release, kubectl: Any, kube_api: Api, minio: Any) -> None:
    ns = release.namespace
    kubectl("apply", "-n", ns, "-f", str(EXAMPLES / "quickstart"))
    run = wait_run(kube_api, ns, "quickstart-example", timeout=240, diagnose=release.operator_logs)
    status = run["status"]
    assert status["phase"] == "Succeeded", status
    assert status["progress"] == "2/2" and status["counts"]["succeeded"] == 2
    assert status["conditions"][0]["type"] == "Succeeded" and status["conditions"][0]["status"] == "True"
    assert status["startTime"] <= status["completionTime"] and status["duration"]
    names = sorted(j["metadata"]["name"] for j in jobs(kube_api, ns, "quickstart-example-"))
    assert names and names == sorted(p["job"] for p in status["phases"] if p.get("job"))
    wait_for_events(kube_api, ns, "quickstart-example", {"Started", "PhaseStarted", "Succeeded"})

    # Step records are in MinIO under the release's store prefix, and each step's value reads back
    # through its record, hash-checked (a small value is inline in it, a larger one a blob it names).
    keys = store_keys(minio, release.store_prefix + "/")
    assert status["storeUri"].endswith(release.store_prefix)
    assert stored_value(minio, run, "numbers") == [1, 2, 3, 4, 5]
    assert stored_value(minio, run, "summary") == {"count": 5, "total": 15, "mean": 3.0}
    assert any(k.startswith(f"{release.store_prefix}/runs/{status['runId']}/steps/") for k in keys)

    # The step pod: placed on the real node, read-only root, its termination message written by
    # the runtime, its log served by the kubelet.
    step_pod = pods(kube_api, ns, names[0])[0]
    assert step_pod["spec"]["nodeName"] == "realnode"
    container = step_pod["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    terminated = step_pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0
    assert json.loads(terminated["message"])["counts"]
    kubectl("logs", "-n", ns, step_pod["metadata"]["name"])


def test_a_second_run_submitted_with_the_cli_is_fully_cached_and_creates_no_job(
        release: Release, kube_api: Api, barque_cli: Any) -> None:
    ns = release.namespace
    out = barque_cli("submit", "quickstart", "-n", ns, "--wait")
    assert out.returncode == 0, out.stderr + release.operator_logs()
    name = out.stdout.strip()
    assert name.startswith("quickstart-") and "\n" not in name
    run = get_run(kube_api, ns, name)
    assert run["status"]["phase"] == "Succeeded"
    assert run["status"]["counts"]["cached"] == 2 and run["status"]["progress"] == "2/2"
    assert {p["state"] for p in run["status"]["phases"]} == {"Cached"}
    assert jobs(kube_api, ns, f"{name}-") == []
    status = barque_cli("status", name, "-n", ns)
    assert status.returncode == 0, status.stderr
    assert "Phase:     Succeeded" in status.stdout and "Progress:  2/2" in status.stdout
    as_json = barque_cli("status", "quickstart-example", "-n", ns, "--json")
    assert json.loads(as_json.stdout)["pipeline"] == "quickstart"


def test_the_metrics_service_answers_with_the_runs_and_cached_steps_counted(release: Release, kubectl: Any) -> None:
    # Through the API server's service proxy: the Service's endpoints are the operator pod's IP
    # on the bridge (there is no kube-proxy for its ClusterIP).
    path = f"/api/v1/namespaces/{release.namespace}/services/barque-metrics:metrics/proxy/metrics"
    text = wait_until(lambda: kubectl("get", "--raw", path, check=False).stdout, timeout=60,
                      what="the metrics Service's endpoints")
    lines = text.splitlines()
    assert any(line.startswith("barque_runs_started_total") for line in lines)
    assert any(line.startswith("barque_runs_finished_total") for line in lines)
    assert any(line.startswith("barque_run_duration_seconds_bucket") for line in lines)
    cached = [line for line in lines if line.startswith("barque_steps_total") and 'state="cached"' in line]
    assert cached and float(cached[0].rsplit(" ", 1)[1]) >= 2


def test_the_failing_example_fails_with_its_error_and_traceback_in_status_cli_and_kubectl_logs(
        release: Release, kubectl: Any, kube_api: Api, barque_cli: Any) -> None:
    ns = release.namespace
    kubectl("apply", "-n", ns, "-f", str(EXAMPLES / "failing"))
    run = wait_run(kube_api, ns, "failing-example", timeout=240, diagnose=release.operator_logs)
    status = run["status"]
    assert status["phase"] == "Failed"
    assert status["message"].startswith("step pipeline.py:broken failed: ValueError:"), status["message"]
    assert "upstream schema changed" in status["message"]
    assert step_states(run) == {"source": "succeeded", "broken": "failed", "downstream": "skipped",
                                "independent": "succeeded"}
    assert status["failures"][0]["step"] == "pipeline.py:broken"
    assert status["conditions"][0]["status"] == "False"
    wait_for_events(kube_api, ns, "failing-example", {"StepFailed", "Failed"})

    shown = barque_cli("status", "failing-example", "-n", ns)
    assert "Phase:     Failed" in shown.stdout
    assert "pipeline.py:broken" in shown.stdout and "upstream schema changed" in shown.stdout
    logs = barque_cli("logs", "failing-example", "broken", "-n", ns)
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.startswith("== pipeline.py:broken: failed, attempt 2 of 2 ==")
    assert "Traceback (most recent call last)" in logs.stdout
    assert "error: ValueError: cannot load 3 rows: the upstream schema changed" in logs.stdout
    first = barque_cli("logs", "failing-example", "pipeline.py:broken", "--attempt", "1", "-n", ns)
    assert "attempt 1 of 2" in first.stdout and "error:" not in first.stdout
    skipped = barque_cli("logs", "failing-example", "downstream", "-n", ns)
    assert "skipped" in skipped.stdout.splitlines()[0]

    # The same traceback through the kubelet, from the pod that ran the failed step.
    pod_logs = "".join(kubectl("logs", "-n", ns, p["metadata"]["name"]).stdout
                       for p in pods(kube_api, ns, "failing-example-"))
    assert "Traceback (most recent call last)" in pod_logs
    assert "ValueError: cannot load 3 rows: the upstream schema changed" in pod_logs


def _operator_container_id(kube_api: Api, ns: str) -> tuple[str, int]:
    """The running operator container's containerd id and its restart count."""
    (pod,) = operator_pods(kube_api, ns)
    (status,) = pod["status"]["containerStatuses"]
    return status.get("containerID", "").removeprefix("containerd://"), status["restartCount"]


def test_the_operator_killed_and_then_its_pod_deleted_mid_run_finishes_the_run_without_a_duplicate_job(
        release: Release, real_node: RealNode, kube_api: Api, tmp_path: Path) -> None:
    """SIGKILL of the operator's container (no cleanup; the kubelet restarts it) while the first
    phase runs, then its pod deleted (the Deployment makes a new one) while the second runs."""
    ns = release.namespace
    create_pipeline(kube_api, ns, release.compile(tmp_path, SLOW.format(seconds=10), "slow-kill"))
    create_run(kube_api, ns, "slow-kill-1", "slow-kill")
    wait_for_job(kube_api, ns, "slow-kill-1-p0", timeout=120)
    container, restarts = _operator_container_id(kube_api, ns)
    real_node.containerd.ctr("tasks", "kill", "--signal", "SIGKILL", container)
    wait_until(lambda: _operator_container_id(kube_api, ns)[1] > restarts, timeout=90,
               what="the kubelet to restart the killed operator container")
    wait_for_job(kube_api, ns, "slow-kill-1-p1", timeout=120, diagnose=release.operator_logs)
    release.kubectl("delete", "pod", "-n", ns, "-l", OPERATOR_PODS, "--wait=false")
    run = wait_run(kube_api, ns, "slow-kill-1", timeout=300, diagnose=release.operator_logs)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert run["status"]["counts"]["succeeded"] == 4
    names = sorted(j["metadata"]["name"] for j in jobs(kube_api, ns, "slow-kill-1-"))
    assert names == ["slow-kill-1-p0", "slow-kill-1-p1", "slow-kill-1-p2"]
    per_index = pods_per_completion_index(kube_api, ns, "slow-kill-1-")
    assert per_index and set(per_index.values()) == {1}, per_index  # every stream ran exactly once


def test_cancel_deletes_the_live_jobs_and_cancels_every_step(release: Release, kubectl: Any, kube_api: Api,
                                                             tmp_path: Path) -> None:
    ns = release.namespace
    create_pipeline(kube_api, ns, release.compile(tmp_path, SLOW.format(seconds=60), "slow-cancel"))
    create_run(kube_api, ns, "slow-cancel-1", "slow-cancel")
    wait_for_job(kube_api, ns, "slow-cancel-1-p0", timeout=120)
    kubectl("patch", "pipelinerun", "slow-cancel-1", "-n", ns, "--type", "merge", "-p", '{"spec":{"cancel":true}}')
    run = wait_run(kube_api, ns, "slow-cancel-1", timeout=120, diagnose=release.operator_logs)
    assert run["status"]["phase"] == "Cancelled", run["status"]
    assert run["status"]["counts"]["cancelled"] == 4
    wait_until(lambda: not live_jobs(kube_api, ns, "slow-cancel-1-"), timeout=60,
               what="the cancelled run's Jobs to be deleted")


SECURITY_PIPELINE = """from barque import asset


@asset()
def identity() -> dict:
    import os
    caps = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("CapEff"))
    if os.getuid() != 10001 or int(caps, 16) != 0:
        raise RuntimeError(f"running as uid {os.getuid()} with capabilities {caps}")
    print("step output: uid", os.getuid(), "capabilities", caps)
    return {"uid": os.getuid(), "caps": caps}


@asset()
def writes_outside_tmp() -> str:
    with open("/app/out.txt", "w") as f:
        f.write("should not be possible")
    return "written"
"""


def test_steps_run_as_uid_10001_without_capabilities_and_cannot_write_outside_tmp(
        release: Release, kube_api: Api, tmp_path: Path) -> None:
    ns = release.namespace
    create_pipeline(kube_api, ns, release.compile(tmp_path, SECURITY_PIPELINE, "security"))
    create_run(kube_api, ns, "security-1", "security")
    run = wait_run(kube_api, ns, "security-1", timeout=240, diagnose=release.operator_logs)
    assert run["status"]["phase"] == "Failed"
    steps = step_states(run)
    assert steps["identity"] == "succeeded", steps  # its own checks of uid and CapEff passed
    assert steps["writes_outside_tmp"] == "failed", steps
    assert "Read-only file system" in json.dumps(run["status"])


def test_kubectl_logs_of_a_step_pod_shows_the_steps_output(release: Release, kubectl: Any, kube_api: Api) -> None:
    ns = release.namespace
    security = [p["metadata"]["name"] for p in pods(kube_api, ns, "security-1")]
    assert security
    logs = "".join(kubectl("logs", "-n", ns, name).stdout for name in security)
    assert "step output: uid 10001" in logs


def _scheduled(kube_api: Api, ns: str, pipeline: str) -> list[dict[str, Any]]:
    """The runs the Pipeline's schedule created, oldest slot first."""
    items: list[dict[str, Any]] = kube_api.request(
        "GET", RUNS.format(ns=ns), query={"labelSelector": f"barque.dev/scheduled-by={pipeline}"})["items"]
    return sorted(items, key=lambda r: r["metadata"]["annotations"]["barque.dev/scheduled-at"])


def _slot(run: dict[str, Any]) -> str:
    slot: str = run["metadata"]["annotations"]["barque.dev/scheduled-at"]
    return slot


def test_scheduled_pipelines_run_on_time_and_a_failing_schedule_skips_its_ticks(
        release: Release, kube_api: Api, scheduled_pipelines: ScheduledPipelines) -> None:
    """The Pipelines were created at the start of the tier (flow.scheduled_pipelines), so their
    minute boundaries have usually passed by now. `nightly` gets a run per slot; `flaky`
    (Schedule(max_failures=1, timeout_seconds=600)) gets one, which fails, and the next slot is
    skipped with the ScheduleFailing condition, while `nightly` shows that slot was due."""
    ns, good, bad = release.namespace, scheduled_pipelines.succeeding, scheduled_pipelines.failing
    first = wait_until(lambda: _scheduled(kube_api, ns, good), timeout=150, what=f"a run scheduled by {good}")[0]
    assert _slot(first).endswith(":00Z")
    assert first["metadata"]["ownerReferences"][0]["kind"] == "Pipeline"
    done = wait_run(kube_api, ns, first["metadata"]["name"], timeout=240, diagnose=release.operator_logs)
    assert done["status"]["phase"] == "Succeeded"

    (failed,) = wait_until(lambda: _scheduled(kube_api, ns, bad), timeout=150, what=f"a run scheduled by {bad}")
    assert failed["spec"]["timeoutSeconds"] == 600
    done = wait_run(kube_api, ns, failed["metadata"]["name"], timeout=240, diagnose=release.operator_logs)
    assert done["status"]["phase"] == "Failed"

    def pipeline_status(name: str) -> dict[str, Any]:
        status: dict[str, Any] = kube_api.request("GET", f"{PIPELINES.format(ns=ns)}/{name}").get("status") or {}
        return status

    def failing() -> dict[str, Any] | None:
        status = pipeline_status(bad)
        cond = next((c for c in status.get("conditions") or () if c["type"] == "ScheduleFailing"), None)
        return status if cond and cond["status"] == "True" else None

    status = wait_until(failing, timeout=60, what="the ScheduleFailing condition")
    assert status["consecutiveFailures"] == 1
    assert status["lastScheduleTime"] == _slot(failed)

    # The slot after the failed run's: due (nightly has a run for it), and skipped by flaky.
    next_slot = (datetime.fromisoformat(_slot(failed).replace("Z", "+00:00")) + timedelta(minutes=1))
    due = next_slot.strftime("%Y-%m-%dT%H:%M:%SZ")
    wait_until(lambda: any(_slot(r) >= due for r in _scheduled(kube_api, ns, good)), timeout=150,
               what=f"{good}'s run for {due} or later")
    wait_until(lambda: pipeline_status(bad).get("nextScheduleTime", "") > due, timeout=60,
               what=f"{bad}'s schedule timer to pass {due}")
    assert [r["metadata"]["name"] for r in _scheduled(kube_api, ns, bad)] == [failed["metadata"]["name"]]
    assert pipeline_status(bad)["lastScheduleTime"] == _slot(failed)
    good_status = pipeline_status(good)
    assert good_status["lastScheduleTime"] >= due and good_status["nextScheduleTime"] > good_status["lastScheduleTime"]
