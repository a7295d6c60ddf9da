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
        return run if (run.get("status") or {}).get("phase") in ("Succeeded", "Failed") else None

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
