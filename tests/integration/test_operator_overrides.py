"""``spec.overrides`` in the cluster: the operator stages the stub, the asset is not run, the Pods
that read it get the stub, and a later real run is not served from anything the stub produced.

Real: etcd, kube-apiserver, kube-controller-manager (Job controller), MinIO and `barque operator`
as its own process. Simulated: the node (testbed.testnode runs Pods as local processes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from testbed.kubeapi import Api
from tests.integration.operator_fixtures import OperatorProcess
from tests.integration.runs import (
    QUICK,
    compile_pipeline,
    create_pipeline,
    create_run,
    step_states,
    stored_value,
    wait_run,
)


def test_a_run_with_overrides_reads_the_stub_and_a_real_run_after_it_does_not(
        kube_api: Api, ready: str, tmp_path: Path, minio: Any, operator_process: OperatorProcess) -> None:
    ns = ready
    create_pipeline(kube_api, ns, compile_pipeline(tmp_path, QUICK, "quick"))
    create_run(kube_api, ns, "stubbed-1", "quick", overrides={"numbers": [10, 20]})
    stubbed = wait_run(kube_api, ns, "stubbed-1", diagnose=operator_process.log_tail)
    assert stubbed["status"]["phase"] == "Succeeded", stubbed["status"]
    assert step_states(stubbed)["numbers"] == "cached"
    assert stored_value(minio, stubbed, "report") == {"doubled": [20, 40], "total": 30}
    create_run(kube_api, ns, "real-1", "quick")
    real = wait_run(kube_api, ns, "real-1", diagnose=operator_process.log_tail)
    assert step_states(real) == {"numbers": "succeeded", "doubled": "succeeded", "total": "succeeded", "report": "succeeded"}
    assert stored_value(minio, real, "report") == {"doubled": [2, 4, 6, 8, 10], "total": 15}
