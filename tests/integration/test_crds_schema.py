"""The generated CRDs on a real kube-apiserver: applied with kubectl, valid objects accepted, invalid ones
rejected by the server's own schema validation, and every status field the operator writes kept.

Real: etcd, kube-apiserver, kubectl (the test bed's). No operator runs here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from barque.plans import Phase, Plan, Step, Stream
from barque.steprecord import StepRecord
from barque_operator.models import pack_files
from barque_operator.status import PhaseView, build_status, plan_summary
from testbed.cluster import Tool, ToolError
from testbed.kubeapi import Api
from tests.unit.operator.operator_samples import SOURCE, pipeline, run

pytestmark = pytest.mark.usefixtures("barque_crds")


def apply(kubectl: Tool, namespace: str, obj: dict[str, Any]) -> str:
    return kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(obj)).stdout


def rejected(kubectl: Tool, namespace: str, obj: dict[str, Any]) -> str:
    with pytest.raises(ToolError) as err:
        apply(kubectl, namespace, obj)
    return str(err.value)


def test_valid_pipeline_and_run_are_accepted_and_listed_by_short_name(kubectl: Tool, namespace: str) -> None:
    apply(kubectl, namespace, pipeline(namespace=namespace))
    apply(kubectl, namespace, run(namespace=namespace, targets=["report"], params={"day": "mon"}, timeoutSeconds=60))
    out = kubectl("get", "bpl,bpr", "-n", namespace).stdout
    assert "demo" in out and "demo-1" in out
    header = kubectl("get", "bpr", "-n", namespace).stdout.splitlines()[0].split()
    assert header == ["NAME", "PIPELINE", "STATUS", "PROGRESS", "CACHED", "AGE", "DURATION"]
    assert "demo-1" in kubectl("get", "barque", "-n", namespace).stdout  # the category


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"code": {"inline": {"files": {"p.py": "x"}}, "image": "img", "path": "/app"}}, "exactly one of code.inline"),
        ({"code": {"image": "img"}}, "code.path is required"),
        ({"schedule": {"cron": "every minute"}}, "spec.schedule.cron"),
        ({"schedule": {"cron": "* * * * *", "concurrencyPolicy": "Sometimes"}}, "concurrencyPolicy"),
        ({"defaults": {"parallelism": 0}}, "spec.defaults.parallelism"),
        ({"store": {"uri": "ftp://nope"}}, "spec.store.uri"),
    ],
)
def test_invalid_pipelines_are_rejected_by_the_api_server(kubectl: Tool, namespace: str, change: dict[str, Any],
                                                          words: str) -> None:
    assert words in rejected(kubectl, namespace, pipeline(namespace=namespace, **change))


def _packed(**inline: Any) -> dict[str, Any]:
    """The sample Pipeline in the packed form barque compile writes for a large pipeline: no graph."""
    body = pipeline()
    del body["spec"]["graph"]
    body["spec"]["code"]["inline"] = inline
    return body


def test_a_packed_pipeline_is_accepted_and_a_graphless_one_without_its_files_is_not(kubectl: Tool, namespace: str) -> None:
    packed = _packed(filesGzip=pack_files({"pipeline.py": SOURCE}), pipelineFiles=["pipeline.py"])
    packed["metadata"]["namespace"] = namespace
    apply(kubectl, namespace, packed)
    stored = json.loads(kubectl("get", "bpl", "demo", "-n", namespace, "-o", "json").stdout)
    assert stored["spec"]["code"]["inline"] == packed["spec"]["code"]["inline"] and "graph" not in stored["spec"]
    for inline, words in [({"files": {"pipeline.py": SOURCE}}, "spec.graph is required unless spec.code.inline.pipelineFiles"),
                          ({"files": {"pipeline.py": SOURCE}, "filesGzip": pack_files({"pipeline.py": SOURCE}),
                            "pipelineFiles": ["pipeline.py"]}, "set exactly one of files and filesGzip")]:
        body = _packed(**inline)
        body["metadata"].update(namespace=namespace, name="graphless")
        assert words in rejected(kubectl, namespace, body)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"pipelineRef": {"name": "Not_A_Name"}}, "spec.pipelineRef.name"),
        ({"pipelineRef": {}}, "spec.pipelineRef.name: Required"),
        ({"timeoutSeconds": 0}, "spec.timeoutSeconds"),
        ({"params": {"not an identifier": "x"}}, "parameter names must be identifiers"),
    ],
)
def test_invalid_runs_are_rejected_by_the_api_server(kubectl: Tool, namespace: str, change: dict[str, Any],
                                                     words: str) -> None:
    assert words in rejected(kubectl, namespace, run(namespace=namespace, **change))


def big_status() -> dict[str, Any]:
    """A status with every field status.py writes, for a run past the per-step bound."""
    steps = {f"pipeline.py:step_{i}": Step(f"pipeline.py:step_{i}", "n") for i in range(600)}
    ids = list(steps)
    plan = Plan(phases=(Phase(0, "initial", (Stream("p0-w0", tuple(ids[:300])), Stream("p0-w1", tuple(ids[300:])))),),
                steps=steps)
    records = {sid: {"step": sid, "state": "failed", "attempts": 2, "started_at": 1.0, "finished_at": 2.0,
                     "duration_seconds": 1.0, "error": {"type": "ValueError", "message": "bad"}} for sid in ids[:60]}
    base = {"runId": "k8s/ns/r-1", "storeUri": "s3://b/p", "sourceDigest": "d" * 64, "observedGeneration": 1,
            "plan": plan_summary(plan, 500, "runs/k8s/ns/r-1/operator/plan.json")}
    from datetime import datetime, timezone

    status = build_status(plan=plan, records={sid: StepRecord.from_dict(r) for sid, r in records.items()},
                          phases=[PhaseView(0, "Running", "r-1-p0", 2, "2025-01-01T00:00:00Z")],
                          run_phase="Running", message=None, base=base, start_time="2025-01-01T00:00:00Z",
                          completion_time=None, previous_conditions=None,
                          now=datetime(2025, 1, 1, 0, 1, tzinfo=timezone.utc), limit=500)
    return {k: v for k, v in status.items() if v is not None}


def small_status() -> dict[str, Any]:
    from datetime import datetime, timezone

    steps = {"a": Step("a", "a"), "b": Step("b", "b", deps=("a",)), "c": Step("c", "c")}
    plan = Plan(phases=(Phase(0, "initial", (Stream("p0-w0", ("a", "b")), Stream("p0-w1", ("c",)))),), steps=steps)
    records = {"a": {"step": "a", "state": "succeeded", "attempts": 1, "started_at": 1.0, "finished_at": 2.0,
                     "duration_seconds": 1.0, "artifact": {"content_hash": "ab" * 32}},
               "b": {"step": "b", "state": "skipped", "reason": "upstream a failed"},
               "c": {"step": "c", "state": "crashed", "error": {"type": "OOMKilled", "message": "exit code 137"}}}
    base = {"runId": "k8s/ns/r-1", "storeUri": "s3://b/p", "sourceDigest": "d" * 64,
            "plan": plan_summary(plan, 500, "k")}
    status = build_status(plan=plan, records={sid: StepRecord.from_dict(r) for sid, r in records.items()},
                          phases=[PhaseView(0, "Failed", "r-1-p0", 2)],
                          run_phase="Failed", message="step c crashed: OOMKilled: exit code 137", base=base,
                          start_time="2025-01-01T00:00:00Z",
                          completion_time="2025-01-01T00:00:05Z", previous_conditions=None,
                          now=datetime(2025, 1, 1, 0, 1, tzinfo=timezone.utc), limit=500)
    return {k: v for k, v in status.items() if v is not None}


@pytest.mark.parametrize("make", [big_status, small_status], ids=["large-run", "small-run"])
def test_every_status_field_the_operator_writes_lands_on_the_server(kubectl: Tool, kube_api: Api, namespace: str,
                                                                    make: Any) -> None:
    # kopf #308/#574: the API server silently drops status fields its schema does not know.
    apply(kubectl, namespace, run(namespace=namespace))
    status = {**make(), "kopf": {"progress": {"some-handler": {"retries": 1}}}}
    path = f"/apis/barque.dev/v1alpha1/namespaces/{namespace}/pipelineruns/demo-1/status"
    kube_api.request("PATCH", path, body={"status": status}, content_type="application/merge-patch+json")
    stored = kube_api.request("GET", path)["status"]
    assert json.loads(json.dumps(stored)) == json.loads(json.dumps(status))
    assert "STATUS" in kubectl("get", "bpr", "demo-1", "-n", namespace).stdout
