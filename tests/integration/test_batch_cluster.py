"""barca's ``--batch`` for one run in the cluster: ``barque submit --batch`` sets the run's
``spec.batch`` and the operator plans and runs the batched node's keys as the override asks.

Real: etcd, kube-apiserver, kube-controller-manager, `barque operator` as its own process, MinIO as
the store, the `barque` CLI with only the test bed's kubeconfig. Simulated: the node
(testbed.testnode runs each Pod as a local process of `barque exec`); the batched function notes
each call's keys in a file outside the Pod's sandbox, which is how the test sees the calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from testbed.kubeapi import Api
from tests.integration.operator_fixtures import OperatorProcess
from tests.integration.runs import compile_pipeline, create_pipeline, create_run, get_run, wait_run

BATCHED = """
from barque import asset, partitions

@asset(partitions={{"k": partitions(["a", "b", "c", "d"])}}, batch=1)
def scored(k: list) -> dict:
    with open({calls!r}, "a") as f:
        f.write(",".join(k) + "\\n")
    return {{key: key.upper() for key in k}}


@asset(partitions={{"k": partitions(["a", "b"])}})
def plain(k: str) -> str:
    return k
"""


def _pipeline(kube_api: Api, ns: str, tmp_path: Path) -> Path:
    calls = tmp_path / "calls.txt"
    create_pipeline(kube_api, ns, compile_pipeline(tmp_path, BATCHED.format(calls=str(calls)), "batched"))
    return calls


def test_submit_batch_all_runs_the_batched_nodes_keys_as_one_call(
    kube_api: Api, ready: str, tmp_path: Path, operator_process: OperatorProcess, barque_cli: Callable[..., Any]
) -> None:
    ns = ready
    calls = _pipeline(kube_api, ns, tmp_path)
    submitted = barque_cli("submit", "batched", "-n", ns, "--name", "batched-1", "--target", "scored", "--batch", "all")
    assert submitted.returncode == 0, submitted.stderr
    run = wait_run(kube_api, ns, "batched-1", timeout=180, diagnose=operator_process.log_tail)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert run["spec"]["batch"] == ["all"]
    assert calls.read_text().split() == ["a,b,c,d"]  # batch=1 alone would have made four calls


def test_a_spec_batch_naming_a_node_without_batch_fails_the_run_naming_the_field(
    kube_api: Api, ready: str, tmp_path: Path, operator_process: OperatorProcess
) -> None:
    ns = ready
    calls = _pipeline(kube_api, ns, tmp_path)
    create_run(kube_api, ns, "batched-2", "batched", batch=["plain=all"])
    run = wait_run(kube_api, ns, "batched-2", timeout=120, diagnose=operator_process.log_tail)
    assert run["status"]["phase"] == "Failed"
    assert "spec.batch names pipeline.py:plain, which declares no batch=" in run["status"]["message"]
    assert not calls.exists() and get_run(kube_api, ns, "batched-2")["spec"]["batch"] == ["plain=all"]
