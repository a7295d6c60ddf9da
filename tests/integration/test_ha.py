"""Two operator replicas with leader election: exactly one acts, and when the active one is SIGKILLed
mid-run the other takes the Lease over and finishes the run with no duplicate Job.

Real: etcd, kube-apiserver (the Lease's compare-and-swap), kube-controller-manager, MinIO and two
`barque operator` processes with leader election on. Simulated: the node (testbed.testnode).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from testbed.kubeapi import Api
from testbed.procs import wait_until
from tests.integration.operator_fixtures import OperatorProcess, make_operator
from tests.integration.runs import DONE, SLOW, compile_pipeline, create_pipeline, create_run, get_run, jobs, pods

LEASE = "barque-operator"
ELECTION = {"BARQUE_LEASE_SECONDS": "4", "BARQUE_RENEW_DEADLINE_SECONDS": "3", "BARQUE_LEASE_RETRY_SECONDS": "0.5"}


@pytest.fixture
def replicas(namespace: str, store_secret: Callable[..., str], barque_crds: tuple[str, ...], kube_apiserver: Any,
             minio: Any, tmp_path: Path) -> Iterator[dict[str, OperatorProcess]]:
    """Replicas `a` (started first, so the leader) and `b`, electing on a Lease in the test's namespace."""
    store_secret(namespace)
    made: dict[str, OperatorProcess] = {}
    try:
        for name in ("a", "b"):
            log_dir = tmp_path / f"replica-{name}"
            log_dir.mkdir()
            op = make_operator(kube_apiserver, minio, tmp_path, log_dir, **ELECTION, BARQUE_LEADER_ELECTION=LEASE,
                               BARQUE_LEADER_NAMESPACE=namespace, BARQUE_LEADER_IDENTITY=name)
            made[name] = op.start()
            if name == "a":
                wait_until(lambda: "holds Lease" in op.logs(), timeout=30, what="replica a to take the Lease")
        yield made
    finally:
        for op in made.values():
            op.stop()


def holder(api: Api, ns: str) -> str | None:
    lease = api.get_or_none(f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{LEASE}")
    return (lease or {}).get("spec", {}).get("holderIdentity")


def test_the_standby_takes_over_a_killed_leader_mid_run_with_no_duplicate_job(
        kube_api: Api, namespace: str, replicas: dict[str, OperatorProcess], tmp_path: Path) -> None:
    ns, a, b = namespace, replicas["a"], replicas["b"]
    assert holder(kube_api, ns) == "a"
    create_pipeline(kube_api, ns, compile_pipeline(tmp_path, SLOW.format(seconds=3), "slow"))
    create_run(kube_api, ns, "slow-1", "slow")
    uids: dict[str, set[str]] = {}

    def first_job() -> list[dict[str, Any]] | None:
        found = jobs(kube_api, ns)
        for job in found:
            uids.setdefault(job["metadata"]["name"], set()).add(job["metadata"]["uid"])
        return found or None

    wait_until(first_job, timeout=60, what="the leader to create the first Job")
    assert "holds Lease" not in b.logs() and "waits for Lease" in b.logs()  # b only waited
    a.kill()
    wait_until(lambda: holder(kube_api, ns) == "b", timeout=30, what="replica b to take the Lease over")

    def finished() -> dict[str, Any] | None:
        first_job()
        run = get_run(kube_api, ns, "slow-1")
        return run if (run.get("status") or {}).get("phase") in DONE else None

    run = wait_until(finished, timeout=120, what="the run to finish under replica b", interval=0.3)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    names = sorted(j["metadata"]["name"] for j in jobs(kube_api, ns))
    assert names == ["slow-1-p0", "slow-1-p1", "slow-1-p2"]
    assert all(len(u) == 1 for u in uids.values()), uids  # no Job was made twice
    per_index = Counter((p["metadata"]["labels"]["batch.kubernetes.io/job-name"],
                         p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]) for p in pods(kube_api, ns))
    assert set(per_index.values()) == {1}, per_index  # every stream ran exactly once
