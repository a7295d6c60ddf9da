"""Sensors and ``Manual`` nodes in Pods, and their refs scoped by Pipeline: two Pipelines sharing the
operator's default store, with the same step ids, keep their own sensor observations and Manual pins.

Real: etcd, kube-apiserver, kube-controller-manager, MinIO (the shared store), `barque operator` as its
own process, steps run by `barque exec` in Pods. Simulated: the node (testbed.testnode).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from testbed.kubeapi import Api
from tests.integration.operator_fixtures import OperatorProcess
from tests.integration.runs import (
    PIPELINES,
    compile_pipeline,
    create_pipeline,
    create_run,
    stored_value,
    wait_run,
)

SENSOR = '''
import os
from barque import asset, sensor


@sensor()
def inbox():
    detected, value = os.environ["INBOX"].split()
    return detected == "yes", value


@asset(inputs={"files": inbox})
def parsed(files: str) -> str:
    return files.upper()
'''

MANUAL = '''
from barque import Manual, asset


@asset(freshness=Manual)
def baseline() -> dict:
    return {"v": VERSION}
'''


def _pipeline(api: Api, ns: str, tmp_path: Path, source: str, name: str, env: dict[str, str] | None = None) -> None:
    manifest = compile_pipeline(tmp_path, source, name)
    if env:
        manifest["spec"].setdefault("defaults", {})["env"] = env
    create_pipeline(api, ns, manifest)


def _value(api: Api, ns: str, run: str, step: str, minio: Any, op: OperatorProcess) -> Any:
    """The value step ``step`` of ``run`` stored, read back from MinIO (the run must succeed)."""
    done = wait_run(api, ns, run, diagnose=op.log_tail)
    assert done["status"]["phase"] == "Succeeded", done["status"]
    return stored_value(minio, done, step)


def test_a_sensor_in_a_pod_keeps_its_own_pipelines_observation(kube_api: Api, ready: str, tmp_path: Path, minio: Any,
                                                               operator_process: OperatorProcess) -> None:
    ns = ready
    _pipeline(kube_api, ns, tmp_path, SENSOR, "sales", {"INBOX": "yes a"})
    _pipeline(kube_api, ns, tmp_path, SENSOR, "marketing", {"INBOX": "no m"})
    create_run(kube_api, ns, "sales-1", "sales")
    assert _value(kube_api, ns, "sales-1", "parsed", minio, operator_process) == "A"
    # marketing's sensor reports no update: with no observation of its own, it keeps what it
    # returned, never sales' "a" from the same store and step id
    create_run(kube_api, ns, "marketing-1", "marketing")
    assert _value(kube_api, ns, "marketing-1", "parsed", minio, operator_process) == "M"


def test_a_manual_node_in_a_pod_is_pinned_per_pipeline(kube_api: Api, ready: str, tmp_path: Path, minio: Any,
                                                       operator_process: OperatorProcess) -> None:
    ns = ready
    _pipeline(kube_api, ns, tmp_path, MANUAL.replace("VERSION", "1"), "sales")
    _pipeline(kube_api, ns, tmp_path, MANUAL.replace("VERSION", "2"), "marketing")
    create_run(kube_api, ns, "sales-1", "sales")
    assert _value(kube_api, ns, "sales-1", "baseline", minio, operator_process) == {"v": 1}
    create_run(kube_api, ns, "marketing-1", "marketing")  # never computed in its own Pipeline: computed
    assert _value(kube_api, ns, "marketing-1", "baseline", minio, operator_process) == {"v": 2}
    (tmp_path / "edited").mkdir()
    edited = compile_pipeline(tmp_path / "edited", MANUAL.replace("VERSION", "3"), "sales")
    kube_api.request("PATCH", f"{PIPELINES.format(ns=ns)}/sales", body={"spec": edited["spec"]},
                     content_type="application/merge-patch+json")
    create_run(kube_api, ns, "sales-2", "sales")  # its code changed, but a Manual node stays pinned
    assert _value(kube_api, ns, "sales-2", "baseline", minio, operator_process) == {"v": 1}
