"""Faults mid-run on the test bed, one fast repetition each (bench/operator/faults.py repeats them and
measures recovery): the run still succeeds, with no duplicate Job and every artifact whole.

Real: etcd, kube-apiserver, kube-controller-manager (Job controller: a lost Pod's index is retried),
MinIO, `barque operator` as its own process; the faulty part is stopped and started again in place
(same ports and data). Simulated: the node (testbed.testnode; its restart reports the Pods it ran as
lost, as a kubelet coming back does).
"""

from __future__ import annotations

import signal
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed import cluster
from testbed.faults import artifact_problems, kill_pod_processes, restart, running_pod
from testbed.kubeapi import Api
from testbed.procs import http_ok, wait_until
from tests.integration.operator_fixtures import OperatorProcess
from tests.integration.runs import (
    DONE,
    SLOW,
    compile_pipeline,
    create_pipeline,
    create_run,
    get_run,
    jobs,
)


class Watched:
    """A run of the SLOW pipeline (2 s steps, 3 phases) and every Job uid seen while it ran."""

    def __init__(self, api: Api, ns: str, tmp_path: Path) -> None:
        self.api, self.ns = api, ns
        self.uids: dict[str, set[str]] = {}
        create_pipeline(api, ns, compile_pipeline(tmp_path, SLOW.format(seconds=2), "slow"))
        create_run(api, ns, "slow-1", "slow")
        wait_until(lambda: running_pod(api, ns, "slow-1"), timeout=90, what="a step of slow-1 to be running",
                   interval=0.1)

    def _look(self) -> dict[str, Any] | None:
        try:
            for job in jobs(self.api, self.ns):
                self.uids.setdefault(job["metadata"]["name"], set()).add(job["metadata"]["uid"])
            run = get_run(self.api, self.ns, "slow-1")
        except Exception:  # noqa: BLE001 - the API server may be the part that is down
            return None
        return run if (run.get("status") or {}).get("phase") in DONE else None

    def finish(self, minio: Any, op: OperatorProcess) -> dict[str, Any]:
        try:
            run = wait_until(self._look, timeout=150, what="slow-1 to finish", interval=0.3)
        except TimeoutError:
            raise AssertionError(f"slow-1 did not finish; operator log tail:\n{op.log_tail()}") from None
        assert run["status"]["phase"] == "Succeeded", run["status"]
        assert sorted(self.uids) == ["slow-1-p0", "slow-1-p1", "slow-1-p2"]
        assert all(len(u) == 1 for u in self.uids.values()), self.uids  # no Job made twice
        lost, corrupt, checked = artifact_problems(minio.client(), minio.bucket, run)
        assert (lost, corrupt, checked) == ([], [], 4)
        return run


def test_a_minio_restart_mid_phase_is_ridden_out_by_retries(kube_api: Api, ready: str, tmp_path: Path, minio: Any,
                                                             operator_process: OperatorProcess) -> None:
    watched = Watched(kube_api, ready, tmp_path)
    restart(minio.process, http_ok(f"{minio.endpoint_url}/minio/health/ready"), down_seconds=3)
    run = watched.finish(minio, operator_process)
    assert run["status"]["counts"]["succeeded"] == 4


def test_a_step_pod_deleted_mid_step_is_run_again_by_the_jobs_retry(kube_api: Api, ready: str, tmp_path: Path,
                                                                     minio: Any, operator_process: OperatorProcess) -> None:
    watched = Watched(kube_api, ready, tmp_path)
    pod = running_pod(kube_api, ready, "slow-1")
    assert pod is not None
    kube_api.request("DELETE", f"/api/v1/namespaces/{ready}/pods/{pod['metadata']['name']}")
    watched.finish(minio, operator_process)
    index = pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
    job = pod["metadata"]["labels"]["batch.kubernetes.io/job-name"]
    ran = [p for p in kube_api.request("GET", f"/api/v1/namespaces/{ready}/pods")["items"]
           if p["metadata"]["labels"].get("batch.kubernetes.io/job-name") == job
           and p["metadata"]["annotations"].get("batch.kubernetes.io/job-completion-index") == index]
    assert [p["status"]["phase"] for p in ran] == ["Succeeded"]  # the deleted Pod is gone, its retry succeeded


def test_an_api_server_restart_mid_run_is_ridden_out(kube_api: Api, kube_apiserver: Any, ready: str, tmp_path: Path,
                                                     minio: Any, operator_process: OperatorProcess) -> None:
    watched = Watched(kube_api, ready, tmp_path)
    ca = ssl.create_default_context(cafile=str(kube_apiserver.ca_cert))
    restart(kube_apiserver.process, http_ok(f"{kube_apiserver.url}/readyz", ca), down_seconds=2)
    watched.finish(minio, operator_process)


def test_the_node_going_away_and_coming_back_loses_only_the_pods_it_ran(
        kube_api: Api, sim_node: Any, ready: str, tmp_path: Path, minio: Any,
        operator_process: OperatorProcess) -> None:
    watched = Watched(kube_api, ready, tmp_path)
    sim_node.process._signal(signal.SIGKILL)
    assert kill_pod_processes(kube_api, ready) >= 1  # the machine takes its containers with it
    restart(sim_node.process, lambda: cluster.node_ready(kube_api, sim_node.name), down_seconds=2,
            sig=signal.SIGKILL)
    watched.finish(minio, operator_process)


@pytest.fixture(autouse=True)
def _parts_alive(kube_apiserver: Any, minio: Any, sim_node: Any) -> Iterator[None]:
    """After each fault, the restarted parts must be up again for the tests that follow."""
    yield
    for proc in (kube_apiserver.process, minio.process, sim_node.process):
        proc.check_alive()
