"""The user's flow from the README, on the real node: helm install, kubectl apply, runs in pods.

Real: kube-apiserver, kube-controller-manager (Job, Deployment, ReplicaSet controllers),
kube-scheduler, a kubelet with containerd 2.x and runc, CNI bridge networking, MinIO, helm and
kubectl, and the runtime and operator images built from the Dockerfile. The operator runs as
the chart's Deployment with only its ServiceAccount's RBAC. Nothing is simulated.

Pods reach the API server and MinIO through the test bed's bridge address: the operator gets
KUBERNETES_SERVICE_HOST/PORT through the chart's `operator.extraEnv` (there is no kube-proxy),
and the store Secret's AWS_ENDPOINT_URL names MinIO's forwarder.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from testbed.kubeapi import Api
from testbed.procs import wait_until

from .conftest import RealNode

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "helm" / "barque"
EXAMPLES = ROOT / "examples"


@dataclass(frozen=True)
class Release:
    namespace: str
    store_prefix: str


def _install(helm: Any, real_node: RealNode, namespace: str, store_uri: str) -> None:
    imgs = real_node.containerd.images
    extra_env = [{"name": "KUBERNETES_SERVICE_HOST", "value": real_node.api_host},
                 {"name": "KUBERNETES_SERVICE_PORT", "value": str(real_node.api_port)}]
    helm("install", "barque", str(CHART), "--namespace", namespace, "--wait", "--timeout", "4m",
         "--set", f"operator.image.repository={imgs['operator'].repository}",
         "--set", f"operator.image.tag={imgs['operator'].tag}", "--set", "operator.image.pullPolicy=Never",
         "--set", f"runtime.image.repository={imgs['runtime'].repository}",
         "--set", f"runtime.image.tag={imgs['runtime'].tag}", "--set", "runtime.image.pullPolicy=Never",
         "--set", f"store.uri={store_uri}", "--set", "store.secretName=barque-store",
         "--set", f"watchNamespaces={{{namespace}}}",
         "--set-json", f"operator.extraEnv={json.dumps(extra_env)}", timeout=300)


@pytest.fixture(scope="module")
def release(real_node: RealNode, kube_api: Api, helm: Any, kubectl: Any, minio: Any) -> Iterator[Release]:
    """The chart installed into a fresh namespace with the test bed's images and MinIO as the store."""
    namespace = f"rn-flow-{time.strftime('%H%M%S')}"
    kubectl("create", "namespace", namespace)
    wait_until(lambda: kube_api.get_or_none(f"/api/v1/namespaces/{namespace}/serviceaccounts/default"),
               timeout=60, what="the default ServiceAccount")
    secret = {**minio.env(), "AWS_ENDPOINT_URL": real_node.minio_endpoint}
    kubectl("create", "secret", "generic", "barque-store", "-n", namespace,
            *(f"--from-literal={k}={v}" for k, v in secret.items()))
    prefix = f"realnode/{namespace}"
    try:
        _install(helm, real_node, namespace, f"s3://{minio.bucket}/{prefix}")
    except Exception:
        print(kubectl("get", "pods,deploy,rs,events", "-n", namespace, "-o", "wide", check=False).stdout)
        print(kubectl("logs", "-n", namespace, "deploy/barque", "--tail=100", check=False).stdout)
        raise
    yield Release(namespace=namespace, store_prefix=prefix)
    helm("uninstall", "barque", "--namespace", namespace, check=False)
    kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def _run_phase(kubectl: Any, namespace: str, name: str, timeout: float = 240) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        run = json.loads(kubectl("get", "pipelinerun", name, "-n", namespace, "-o", "json").stdout)
        return run if (run.get("status") or {}).get("phase") in ("Succeeded", "Failed", "Cancelled") else None

    try:
        return wait_until(finished, timeout=timeout, what=f"PipelineRun {namespace}/{name} to finish")
    except TimeoutError:
        print(kubectl("get", "pipelinerun", name, "-n", namespace, "-o", "yaml", check=False).stdout)
        print(kubectl("get", "pods,jobs", "-n", namespace, "-o", "wide", check=False).stdout)
        print(kubectl("logs", "-n", namespace, "deploy/barque", "--tail=200", check=False).stdout)
        raise


def _jobs(kubectl: Any, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(kubectl("get", "jobs", "-n", namespace, "-o", "json").stdout)["items"]
    return items


def test_the_operator_runs_as_the_charts_deployment_under_its_service_account(
        release: Release, kubectl: Any) -> None:
    pods = json.loads(kubectl("get", "pods", "-n", release.namespace, "-l", "app.kubernetes.io/name=barque",
                              "-o", "json").stdout)["items"]
    operator = [p for p in pods if p["metadata"]["name"].startswith("barque-")]
    assert operator, pods
    spec = operator[0]["spec"]
    assert spec["serviceAccountName"] == "barque"
    assert operator[0]["status"]["phase"] == "Running"
    assert all(c["ready"] for c in operator[0]["status"]["containerStatuses"])


def test_quickstart_succeeds_in_pods_and_a_second_run_is_fully_cached(
        release: Release, kubectl: Any, minio: Any) -> None:
    ns = release.namespace
    kubectl("apply", "-n", ns, "-f", str(EXAMPLES / "quickstart"))
    run = _run_phase(kubectl, ns, "quickstart-example")
    assert run["status"]["phase"] == "Succeeded", run["status"]
    jobs = _jobs(kubectl, ns)
    assert jobs, "the first run created a Job"

    # Artifacts are in MinIO under the release's store prefix.
    listed = minio.client().list_objects_v2(Bucket=minio.bucket, Prefix=release.store_prefix)
    assert listed.get("KeyCount", 0) > 0

    # The step pod: uid 10001, the kubelet has its log, `kubectl logs` reaches it.
    pods = json.loads(kubectl("get", "pods", "-n", ns, "-l", f"job-name={jobs[0]['metadata']['name']}",
                              "-o", "json").stdout)["items"]
    assert pods
    step_pod = pods[0]
    assert step_pod["spec"]["nodeName"] == "realnode"
    container = step_pod["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    terminated = step_pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0
    assert json.loads(terminated["message"])["counts"]  # the termination message, written by the runtime
    kubectl("logs", "-n", ns, step_pod["metadata"]["name"])  # answers through the kubelet

    # A second run of the same pipeline: everything cached, no new Job.
    second = dict(run)
    manifest = {"apiVersion": "barque.dev/v1alpha1", "kind": "PipelineRun",
                "metadata": {"name": "quickstart-again"}, "spec": second["spec"]}
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest))
    again = _run_phase(kubectl, ns, "quickstart-again")
    assert again["status"]["phase"] == "Succeeded", again["status"]
    assert len(_jobs(kubectl, ns)) == len(jobs)


def test_the_metrics_service_answers_with_the_runs_counted(release: Release, kubectl: Any) -> None:
    # Through the API server's service proxy: the Service's endpoints are the operator pod's IP
    # on the bridge (there is no kube-proxy for its ClusterIP).
    path = f"/api/v1/namespaces/{release.namespace}/services/barque-metrics:metrics/proxy/metrics"
    text = wait_until(lambda: kubectl("get", "--raw", path, check=False).stdout, timeout=60,
                      what="the metrics Service's endpoints")
    assert "barque_runs_started_total" in text
    assert "barque_runs_finished_total" in text


SLOW_PIPELINE = """from barque import asset


@asset()
def slow() -> int:
    import time
    time.sleep(25)
    return 1


@asset(inputs={"x": slow})
def after(x: int) -> int:
    return x + 1
"""


def _compile(tmp_path: Path, name: str, source: str) -> str:
    """`barque compile` of a pipeline file, as a user would run it: the Pipeline manifest."""
    import subprocess
    import sys

    (tmp_path / "pipeline.py").write_text(source)
    barque = Path(sys.executable).parent / "barque"
    out = subprocess.run([str(barque), "compile", str(tmp_path / "pipeline.py"), "--name", name],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _submit(kubectl: Any, namespace: str, pipeline: str, run: str) -> None:
    manifest = {"apiVersion": "barque.dev/v1alpha1", "kind": "PipelineRun", "metadata": {"name": run},
                "spec": {"pipelineRef": {"name": pipeline}}}
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))


def test_failing_example_fails_with_its_error_on_the_status(release: Release, kubectl: Any) -> None:
    ns = release.namespace
    kubectl("apply", "-n", ns, "-f", str(EXAMPLES / "failing"))
    runs = json.loads(kubectl("get", "pipelineruns", "-n", ns, "-o", "json").stdout)["items"]
    name = next(r["metadata"]["name"] for r in runs if r["spec"]["pipelineRef"]["name"] == "failing")
    run = _run_phase(kubectl, ns, name)
    assert run["status"]["phase"] == "Failed"
    assert "upstream schema changed" in json.dumps(run["status"])


def test_the_operator_pod_deleted_mid_run_is_replaced_and_the_run_finishes_without_a_duplicate_job(
        release: Release, kubectl: Any, tmp_path: Path) -> None:
    ns = release.namespace
    kubectl("apply", "-n", ns, "-f", "-", input=_compile(tmp_path, "slow", SLOW_PIPELINE))
    _submit(kubectl, ns, "slow", "slow-1")

    def job_running() -> bool:
        return any(j["metadata"]["name"].startswith("slow-1") and (j.get("status") or {}).get("active")
                   for j in _jobs(kubectl, ns))

    wait_until(job_running, timeout=120, what="the slow run's first Job to be active")
    before = {j["metadata"]["name"]: j["metadata"]["uid"] for j in _jobs(kubectl, ns)
              if j["metadata"]["name"].startswith("slow-1")}
    kubectl("delete", "pod", "-n", ns, "-l", "app.kubernetes.io/name=barque,app.kubernetes.io/component=operator",
            "--wait=false")
    run = _run_phase(kubectl, ns, "slow-1", timeout=300)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    after = {j["metadata"]["name"]: j["metadata"]["uid"] for j in _jobs(kubectl, ns)
             if j["metadata"]["name"].startswith("slow-1")}
    assert {name: after.get(name) for name in before} == before  # the same Job, not a second one


def test_cancel_stops_a_running_run(release: Release, kubectl: Any, tmp_path: Path) -> None:
    ns = release.namespace
    kubectl("apply", "-n", ns, "-f", "-", input=_compile(tmp_path, "slow-cancel", SLOW_PIPELINE.replace("1\n", "2\n")))
    _submit(kubectl, ns, "slow-cancel", "slow-cancel-1")
    wait_until(lambda: any(j["metadata"]["name"].startswith("slow-cancel-1") for j in _jobs(kubectl, ns)),
               timeout=120, what="the run's first Job")
    kubectl("patch", "pipelinerun", "slow-cancel-1", "-n", ns, "--type", "merge", "-p", '{"spec":{"cancel":true}}')
    run = _run_phase(kubectl, ns, "slow-cancel-1", timeout=120)
    assert run["status"]["phase"] == "Cancelled", run["status"]


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


def _step_states(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"].split(":")[-1]: s for s in run["status"].get("steps") or []}


def test_steps_run_as_uid_10001_without_capabilities_and_cannot_write_outside_tmp(
        release: Release, kubectl: Any, tmp_path: Path) -> None:
    ns = release.namespace
    kubectl("apply", "-n", ns, "-f", "-", input=_compile(tmp_path, "security", SECURITY_PIPELINE))
    _submit(kubectl, ns, "security", "security-1")
    run = _run_phase(kubectl, ns, "security-1")
    assert run["status"]["phase"] == "Failed"
    steps = _step_states(run)
    assert steps["identity"]["state"] == "succeeded", steps  # its own checks of uid and CapEff passed
    assert steps["writes_outside_tmp"]["state"] == "failed", steps
    assert "Read-only file system" in json.dumps(run["status"])


def test_kubectl_logs_of_a_step_pod_shows_the_steps_output(release: Release, kubectl: Any) -> None:
    ns = release.namespace
    pods = json.loads(kubectl("get", "pods", "-n", ns, "-o", "json").stdout)["items"]
    security = [p["metadata"]["name"] for p in pods if p["metadata"]["name"].startswith("security-1")]
    assert security, [p["metadata"]["name"] for p in pods]
    logs = "".join(kubectl("logs", "-n", ns, name).stdout for name in security)
    assert "step output: uid 10001" in logs
