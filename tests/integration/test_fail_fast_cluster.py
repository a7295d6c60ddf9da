"""Fail fast inside one Pod's stream on the real control plane: with parallelism 1 a failing step
and an independent one share a stream (one Pod), and under FailFast the Pod itself stops there.

Real: etcd, kube-apiserver, kube-controller-manager, `barque operator` as its own process, MinIO as
the store. Simulated: the node (testbed.testnode runs each Pod as a local process of `barque exec`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from barque.records import read_step_records
from barque.store.s3 import S3Store
from testbed.kubeapi import Api
from tests.integration.operator_fixtures import OperatorProcess
from tests.integration.runs import compile_pipeline, create_pipeline, create_run, jobs, step_states, wait_run
from tests.pipelines import FAILS_BEFORE_A_LATER_STEP


def one_stream_pipeline(tmp_path: Path, name: str, **defaults: Any) -> dict[str, Any]:
    manifest = compile_pipeline(tmp_path, FAILS_BEFORE_A_LATER_STEP, name)
    manifest["spec"].setdefault("defaults", {}).update(parallelism=1, **defaults)
    return manifest


def stored_record(minio: Any, operator_process: OperatorProcess, run: dict[str, Any], step: str) -> dict[str, Any]:
    """A step's record as the store holds it (the operator's default store, on MinIO)."""
    prefix = operator_process.store_uri.removeprefix(f"s3://{minio.bucket}/")
    store = S3Store(minio.bucket, prefix, endpoint_url=minio.endpoint_url, access_key=minio.access_key,
                    secret_key=minio.secret_key, region=minio.region)
    return read_step_records(store, run["status"]["runId"])[step]


def test_fail_fast_stops_a_pods_stream_at_its_failure(
    kube_api: Api, ready: str, tmp_path: Path, operator_process: OperatorProcess, minio: Any
) -> None:
    ns = ready
    create_pipeline(kube_api, ns, one_stream_pipeline(tmp_path, "onestream"))
    create_run(kube_api, ns, "onestream-1", "onestream", failurePolicy="FailFast")
    run = wait_run(kube_api, ns, "onestream-1", timeout=180, diagnose=operator_process.log_tail)
    assert run["status"]["phase"] == "Failed", run["status"]
    assert step_states(run) == {"broken": "failed", "later": "cancelled"}
    (job,) = jobs(kube_api, ns, "onestream-1-")
    assert job["spec"]["completions"] == 1  # one Pod ran both steps
    record = stored_record(minio, operator_process, run, "pipeline.py:later")
    # No ``by``: the Pod's own record, its stream stopped; not the operator settling it afterwards.
    assert (record["state"], record.get("by"), record["attempts"]) == ("cancelled", None, 0)


def test_a_pipelines_fail_fast_default_stops_a_pods_stream_and_a_runs_continue_runs_it(
    kube_api: Api, ready: str, tmp_path: Path, operator_process: OperatorProcess
) -> None:
    ns = ready
    create_pipeline(kube_api, ns, one_stream_pipeline(tmp_path, "strict", failurePolicy="FailFast"))
    create_run(kube_api, ns, "strict-1", "strict")
    create_run(kube_api, ns, "strict-2", "strict", failurePolicy="Continue")
    by_default = wait_run(kube_api, ns, "strict-1", timeout=180, diagnose=operator_process.log_tail)
    overridden = wait_run(kube_api, ns, "strict-2", timeout=180, diagnose=operator_process.log_tail)
    assert step_states(by_default) == {"broken": "failed", "later": "cancelled"}
    assert step_states(overridden) == {"broken": "failed", "later": "succeeded"}
