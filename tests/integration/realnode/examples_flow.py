"""The examples as a GitOps user runs them, watched by a real Prometheus (shared by the
observability and GitOps tests through the `examples_release` fixture).

Real: the chart installed with helm, the operator pod, the examples' manifests applied with
server-side apply, their runs in pods on the real node, MinIO reached by pods through a
Service ClusterIP (kube-proxy), and a Prometheus server built from the Go module proxy
scraping the operator with the job the chart's ServiceMonitor describes. Each pipeline runs
at least twice with scrapes in between (a cached rerun, a `noCache` rerun, the failing one
again), because a counter or histogram series shows up in `rate()` and `increase()` only
from its second sample on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from testbed import cluster
from testbed import prometheus as prom
from testbed.kubeapi import Api
from testbed.node import config
from testbed.procs import http_ok, start_and_wait, wait_until

from .conftest import RealNode

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "helm" / "barque"
EXAMPLES = (ROOT / "examples" / "quickstart", ROOT / "examples" / "failing")
# Not "barque": the chart's ClusterRoles are named after the release, and test_user_flow's
# release "barque" may be installed at the same time.
RELEASE = "barque-obs"
METRICS_SERVICE = f"{RELEASE}-metrics"
SCRAPE_INTERVAL = 2  # seconds; the ServiceMonitor's interval, set through the chart's value
MINIO_SERVICE_PORT = 9000
# The examples' own runs, then one more run of each pipeline (PipelineRun name -> spec).
RERUNS = {"quickstart-again": {"pipelineRef": {"name": "quickstart"}},
          "quickstart-fresh": {"pipelineRef": {"name": "quickstart"}, "noCache": True},
          "failing-again": {"pipelineRef": {"name": "failing"}}}
FINISHED = ("Succeeded", "Failed", "Cancelled")


@dataclass(frozen=True)
class ExamplesRelease:
    namespace: str
    store_prefix: str
    manifests: tuple[Path, ...]  # the directories applied with `kubectl apply --server-side`
    runs: dict[str, dict[str, Any]]  # every PipelineRun, as it finished
    minio_cluster_ip: str  # what the store Secret's AWS_ENDPOINT_URL names
    prometheus: prom.Client
    started: float  # unix time before anything was applied
    scrape_interval: float


def _minio_service(kubectl: cluster.Tool, namespace: str, real_node: RealNode) -> str:
    """A Service for MinIO, outside the cluster as a managed object store would be: no selector,
    an EndpointSlice naming MinIO's forwarder on the bridge. Its ClusterIP."""
    forward_port = int(real_node.minio_endpoint.rsplit(":", 1)[1])
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "minio"},
               "spec": {"ports": [{"name": "s3", "port": MINIO_SERVICE_PORT, "targetPort": forward_port,
                                   "protocol": "TCP"}]}}
    slice_ = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
              "metadata": {"name": "minio-1", "labels": {"kubernetes.io/service-name": "minio"}},
              "addressType": "IPv4", "ports": [{"name": "s3", "port": forward_port, "protocol": "TCP"}],
              "endpoints": [{"addresses": [config.SUBNET_GATEWAY], "conditions": {"ready": True}}]}
    for obj in (service, slice_):
        kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=json.dumps(obj))
    ip: str = json.loads(kubectl("get", "service", "minio", "-n", namespace, "-o", "json").stdout)["spec"]["clusterIP"]
    return ip


def _chart_values(real_node: RealNode, namespace: str, store_uri: str) -> list[str]:
    imgs = real_node.containerd.images
    extra_env = [{"name": "KUBERNETES_SERVICE_HOST", "value": real_node.api_host},
                 {"name": "KUBERNETES_SERVICE_PORT", "value": str(real_node.api_port)}]
    values = {"operator.image.repository": imgs["operator"].repository, "operator.image.tag": imgs["operator"].tag,
              "operator.image.pullPolicy": "Never", "runtime.image.repository": imgs["runtime"].repository,
              "runtime.image.tag": imgs["runtime"].tag, "runtime.image.pullPolicy": "Never",
              "store.uri": store_uri, "store.secretName": "barque-store", "watchNamespaces": f"{{{namespace}}}",
              "metrics.serviceMonitor.interval": f"{SCRAPE_INTERVAL}s",
              "metrics.serviceMonitor.scrapeTimeout": f"{SCRAPE_INTERVAL}s"}
    args = [arg for key, value in values.items() for arg in ("--set", f"{key}={value}")]
    return [*args, "--set-json", f"operator.extraEnv={json.dumps(extra_env)}"]


def _service_monitor(helm: cluster.Tool, namespace: str, values: list[str]) -> dict[str, Any]:
    """The chart's ServiceMonitor for this release (its CRD is not in the test bed: rendered only)."""
    out = helm("template", RELEASE, str(CHART), "--namespace", namespace, *values,
               "--set", "metrics.serviceMonitor.enabled=true", "--show-only", "templates/servicemonitor.yaml")
    monitor: dict[str, Any] = yaml.safe_load(out.stdout)
    return monitor


def _wait_finished(kube_api: Api, namespace: str, names: list[str], timeout: float = 300) -> dict[str, dict[str, Any]]:
    def finished() -> dict[str, dict[str, Any]] | None:
        runs = {name: kube_api.get_or_none(f"/apis/barque.dev/v1alpha1/namespaces/{namespace}/pipelineruns/{name}")
                for name in names}
        done = all(run and (run.get("status") or {}).get("phase") in FINISHED for run in runs.values())
        return {k: v for k, v in runs.items() if v} if done else None

    return wait_until(finished, timeout=timeout, what=f"PipelineRuns {names} in {namespace} to finish", interval=1)


def _scraped_finished_runs(client: prom.Client, namespace: str) -> float:
    result = client.query(f'sum(barque_runs_finished_total{{namespace="{namespace}"}})')
    return float(result[0]["value"][1]) if result else 0.0


@contextmanager
def examples_release(real_node: RealNode, prometheus_bin: Path, testbed_dir: Path, kubeconfig: Path,
                     kube_api: Api, helm: cluster.Tool, kubectl: cluster.Tool, minio: Any) -> Iterator[ExamplesRelease]:
    """Install, start Prometheus, apply and run the examples, rerun them; tear all down after."""
    namespace = f"rn-obs-{time.strftime('%H%M%S')}"
    kubectl("create", "namespace", namespace)
    wait_until(lambda: kube_api.get_or_none(f"/api/v1/namespaces/{namespace}/serviceaccounts/default"),
               timeout=60, what="the default ServiceAccount")
    minio_ip = _minio_service(kubectl, namespace, real_node)
    secret = {**minio.env(), "AWS_ENDPOINT_URL": f"http://{minio_ip}:{MINIO_SERVICE_PORT}"}
    kubectl("create", "secret", "generic", "barque-store", "-n", namespace,
            *(f"--from-literal={k}={v}" for k, v in secret.items()))
    prefix = f"realnode/{namespace}"
    values = _chart_values(real_node, namespace, f"s3://{minio.bucket}/{prefix}")
    state = testbed_dir / "prometheus" / namespace
    state.mkdir(parents=True)
    (state / "prometheus.yml").write_text(prom.config([prom.scrape_job(_service_monitor(helm, namespace, values),
                                                                       kubeconfig)]))
    port = cluster.free_port()
    server = start_and_wait("prometheus", prom.argv(prometheus_bin, state / "prometheus.yml", state / "data", port),
                            testbed_dir / "logs" / f"prometheus-{namespace}.log",
                            http_ok(f"http://127.0.0.1:{port}/-/ready"), timeout=60)
    client = prom.Client(f"http://127.0.0.1:{port}")
    try:
        helm("install", RELEASE, str(CHART), "--namespace", namespace, "--wait", "--timeout", "4m", *values,
             timeout=300)
        started = time.time()
        for manifest in EXAMPLES:
            kubectl("apply", "--server-side", "-n", namespace, "-f", str(manifest))
        runs = _wait_finished(kube_api, namespace, ["quickstart-example", "failing-example"])
        for name, spec in RERUNS.items():
            body = {"apiVersion": "barque.dev/v1alpha1", "kind": "PipelineRun", "metadata": {"name": name},
                    "spec": spec}
            kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=json.dumps(body))
            runs.update(_wait_finished(kube_api, namespace, [name]))
        wait_until(lambda: _scraped_finished_runs(client, namespace) >= len(runs), timeout=60,
                   what="Prometheus to scrape every finished run", interval=1)
        time.sleep(2 * SCRAPE_INTERVAL)  # a last sample after the last change, as a dashboard would see
        yield ExamplesRelease(namespace=namespace, store_prefix=prefix, manifests=EXAMPLES, runs=runs,
                              minio_cluster_ip=minio_ip, prometheus=client, started=started,
                              scrape_interval=SCRAPE_INTERVAL)
    except Exception:
        print(kubectl("get", "pods,deploy,pipelineruns,events", "-n", namespace, "-o", "wide", check=False).stdout)
        print(kubectl("logs", "-n", namespace, f"deploy/{RELEASE}", "--tail=100", check=False).stdout)
        raise
    finally:
        server.stop()
        helm("uninstall", RELEASE, "--namespace", namespace, check=False)
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)
