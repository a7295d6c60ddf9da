"""The chart installed on the real node once per session, and what the tests of its flows share.

`release`: `helm install` of the chart into a fresh namespace with the test bed's images, MinIO
(through its forwarder on the bridge) as the store, the operator as the chart's Deployment. Every
real-node test of the operator's flows uses this one install, each with its own Pipeline and
run names (a test counts only the Jobs named after its runs) and, through `Release.compile`,
its own store prefix, so that one test's results are never another's cache hits. Only the
examples (applied as a user would) use the release's default store.

`scheduled_pipelines`: two scheduled Pipelines applied into the release's namespace, requested
by the first module that uses the release, so that the minute boundaries their schedule waits
for pass while the other tests run; the test that checks them runs last
(test_user_flow.py). Fixtures are imported into conftest.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from testbed.kubeapi import Api
from testbed.procs import wait_until
from tests.integration.runs import QUICK, compile_pipeline, create_pipeline

if TYPE_CHECKING:  # conftest imports this module's fixtures
    from .conftest import RealNode

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "helm" / "barque"
SCHEDULE_SECONDS = 2  # the operator's schedule timer (BARQUE_SCHEDULE_SECONDS); the chart's default is 10

FAILING_ON_SCHEDULE = '''
from barque import Schedule, asset


@asset(freshness=Schedule("* * * * *", max_failures=1, timeout_seconds=600))
def nightly() -> int:
    raise ValueError("the source is down")
'''


@dataclass(frozen=True)
class Release:
    namespace: str
    bucket: str
    store_prefix: str  # the release's default store: s3://<bucket>/<store_prefix>
    kubectl: Any

    def compile(self, tmp_path: Path, source: str, name: str, *flags: str) -> dict[str, Any]:
        """`barque compile` of ``source`` as Pipeline ``name`` with a store of its own."""
        return compile_pipeline(tmp_path, source, name, "--store", f"s3://{self.bucket}/{self.store_prefix}-{name}",
                                "--store-secret", "barque-store", *flags)

    def operator_logs(self) -> str:
        """The operator's log tail, for a failure's message."""
        out = self.kubectl("logs", "-n", self.namespace, "deploy/barque", "--tail=200", check=False)
        before = self.kubectl("logs", "-n", self.namespace, "deploy/barque", "--previous", "--tail=100", check=False)
        previous = f"\nthe container before its last restart:\n{before.stdout}" if before.returncode == 0 else ""
        return f"operator log tail:\n{out.stdout}{out.stderr}{previous}"


def _install(helm: Any, real_node: RealNode, namespace: str, store_uri: str) -> None:
    imgs = real_node.containerd.images
    extra_env = [{"name": "KUBERNETES_SERVICE_HOST", "value": real_node.api_host},
                 {"name": "KUBERNETES_SERVICE_PORT", "value": str(real_node.api_port)},
                 {"name": "BARQUE_SCHEDULE_SECONDS", "value": str(SCHEDULE_SECONDS)},
                 {"name": "BARQUE_RESYNC_SECONDS", "value": "5"}]
    helm("install", "barque", str(CHART), "--namespace", namespace, "--wait", "--timeout", "4m",
         "--set", f"operator.image.repository={imgs['operator'].repository}",
         "--set", f"operator.image.tag={imgs['operator'].tag}", "--set", "operator.image.pullPolicy=Never",
         "--set", f"runtime.image.repository={imgs['runtime'].repository}",
         "--set", f"runtime.image.tag={imgs['runtime'].tag}", "--set", "runtime.image.pullPolicy=Never",
         "--set", f"store.uri={store_uri}", "--set", "store.secretName=barque-store",
         "--set", f"watchNamespaces={{{namespace}}}",
         "--set-json", f"operator.extraEnv={json.dumps(extra_env)}", timeout=300)


@pytest.fixture(scope="session")
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
    yield Release(namespace=namespace, bucket=minio.bucket, store_prefix=prefix, kubectl=kubectl)
    helm("uninstall", "barque", "--namespace", namespace, check=False)
    kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@dataclass(frozen=True)
class ScheduledPipelines:
    succeeding: str  # QUICK on "* * * * *"
    failing: str  # FAILING_ON_SCHEDULE: Schedule("* * * * *", max_failures=1, timeout_seconds=600)
    applied_at: float  # unix time


@pytest.fixture(scope="session")
def scheduled_pipelines(release: Release, kube_api: Api,
                        tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScheduledPipelines]:
    """Both Pipelines, compiled by `barque compile` (the failing one's schedule from its node's
    `Schedule(...)`), created in the release's namespace; deleted at the end of the session."""
    tmp = tmp_path_factory.mktemp("scheduled")
    succeeding = release.compile(tmp, QUICK, "nightly", "--schedule", "* * * * *")
    failing = release.compile(tmp, FAILING_ON_SCHEDULE, "flaky")
    assert failing["spec"]["schedule"]["maxFailures"] == 1
    applied_at = time.time()
    for manifest in (succeeding, failing):
        create_pipeline(kube_api, release.namespace, manifest)
    yield ScheduledPipelines(succeeding="nightly", failing="flaky", applied_at=applied_at)
    for name in ("nightly", "flaky"):
        release.kubectl("delete", "pipeline", name, "-n", release.namespace, "--wait=false", check=False)
