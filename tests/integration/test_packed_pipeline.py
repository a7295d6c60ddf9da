"""A packed Pipeline (`barque compile --form packed`: code gzip-compressed, no graph) on a real API server
runs as its plain form does.

Real: etcd, kube-apiserver (the CRD's schema and CEL rules), kube-controller-manager, MinIO and
`barque operator` as its own process, which parses the packed Pipeline's graph. Simulated: the
node (testbed/testnode runs each Pod's containers as local processes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from barque_operator.models import pack_files
from testbed.kubeapi import Api
from testbed.procs import wait_until
from tests.integration.operator_fixtures import OperatorProcess
from tests.integration.runs import PIPELINES, QUICK, compile_pipeline, create_pipeline, create_run, step_states, wait_run


def _ready(api: Api, ns: str, name: str) -> dict[str, Any]:
    def checked() -> dict[str, Any] | None:
        status = api.request("GET", f"{PIPELINES.format(ns=ns)}/{name}").get("status") or {}
        return status if status.get("conditions") else None

    return wait_until(checked, timeout=60, what=f"the operator's Ready check of Pipeline {ns}/{name}")


def test_a_packed_pipeline_is_ready_and_runs_as_its_plain_form_does(
        kube_api: Api, ready: str, tmp_path: Path, operator_process: OperatorProcess) -> None:
    ns = ready
    plain = compile_pipeline(tmp_path, QUICK, "quick-plain", "--form", "plain")
    packed = compile_pipeline(tmp_path, QUICK, "quick-packed", "--form", "packed")
    assert "graph" not in packed["spec"] and "filesGzip" in packed["spec"]["code"]["inline"]
    for manifest in (plain, packed):
        create_pipeline(kube_api, ns, manifest)
    status = _ready(kube_api, ns, "quick-packed")
    ready_condition = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready_condition["status"] == "True" and status["nodes"] == 4, status
    runs = []
    for name in ("quick-plain", "quick-packed"):
        create_run(kube_api, ns, f"{name}-1", name, noCache=True)
    for name in ("quick-plain", "quick-packed"):
        run = wait_run(kube_api, ns, f"{name}-1", diagnose=operator_process.log_tail)
        assert run["status"]["phase"] == "Succeeded", run["status"]
        runs.append(run["status"])
    assert step_states({"status": runs[1]}) == step_states({"status": runs[0]})
    plans = [{k: v for k, v in r["plan"].items() if k != "storeKey"} for r in runs]  # the key names the run
    assert runs[1]["sourceDigest"] == runs[0]["sourceDigest"] and plans[1] == plans[0]
    artifacts = [{s["id"]: s.get("artifact") for s in r["steps"]} for r in runs]
    assert artifacts[1] == artifacts[0]  # the same cache keys: the parsed graph is the compiled one


def test_a_packed_pipeline_whose_code_does_not_parse_is_not_ready_and_its_run_fails(
        kube_api: Api, ready: str, tmp_path: Path, operator_process: OperatorProcess) -> None:
    ns = ready
    packed = compile_pipeline(tmp_path, QUICK, "broken", "--form", "packed")
    broken = QUICK + '\n\n@asset(inputs={"x": nowhere})\ndef lost(x: int) -> int:\n    return x\n'
    packed["spec"]["code"]["inline"]["filesGzip"] = pack_files({"pipeline.py": broken.lstrip("\n")})
    create_pipeline(kube_api, ns, packed)
    ready_condition = next(c for c in _ready(kube_api, ns, "broken")["conditions"] if c["type"] == "Ready")
    assert ready_condition["status"] == "False" and "spec.code.inline: pipeline.py:" in ready_condition["message"]
    assert "unknown input" in ready_condition["message"]
    create_run(kube_api, ns, "broken-1", "broken")
    run = wait_run(kube_api, ns, "broken-1", diagnose=operator_process.log_tail)
    assert run["status"]["phase"] == "Failed" and "spec.code.inline: pipeline.py:" in run["status"]["message"]
