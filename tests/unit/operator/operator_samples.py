"""Sample Pipeline and PipelineRun objects shared by the operator's unit tests (plain data, no servers)."""

from __future__ import annotations

import copy
from typing import Any

from barque.model import Graph, InputSpec, Node, PartitionSpec


def graph(extra: dict[str, Node] | None = None) -> Graph:
    """raw -> clean -> report, plus an independent ``other`` asset and a partitioned ``per_day``."""
    nodes = {
        "raw": Node(id="raw", kind="asset", file="pipeline.py", module="pipeline", function="raw", line=4, code_hash="h-raw"),
        "clean": Node(
            id="clean", kind="asset", file="pipeline.py", module="pipeline", function="clean", line=9,
            inputs=(InputSpec("raw", "raw"),), code_hash="h-clean",
        ),
        "report": Node(
            id="report", kind="asset", file="pipeline.py", module="pipeline", function="report", line=14,
            inputs=(InputSpec("clean", "clean"), InputSpec("other", "other")), code_hash="h-report",
        ),
        "other": Node(id="other", kind="asset", file="pipeline.py", module="pipeline", function="other", line=20, code_hash="h-o"),
        "per_day": Node(
            id="per_day", kind="asset", file="pipeline.py", module="pipeline", function="per_day", line=25,
            partitions=(PartitionSpec("day", "static", values=("mon", "tue")),), code_hash="h-p",
        ),
    }
    nodes.update(extra or {})
    return Graph(root=".", nodes=nodes, files={"pipeline.py": "0" * 64})


SOURCE = "from barque import asset\n\n@asset\ndef raw():\n    return 1\n"


def pipeline(name: str = "demo", namespace: str = "team-a", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "barque.dev/v1alpha1",
        "kind": "Pipeline",
        "metadata": {"name": name, "namespace": namespace, "uid": "11111111-2222-3333-4444-555555555555", "generation": 1},
        "spec": {
            "graph": graph().to_dict(),
            "code": {"inline": {"files": {"pipeline.py": SOURCE}}},
            "defaults": {
                "image": "registry.example/barque-runtime:1.0",
                "parallelism": 2,
                "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
                "serviceAccountName": "pipelines",
                "env": {"REGION": "eu-west-1", "BARQUE_RUN_ID": "ignored"},
                "nodeSelector": {"pool": "batch"},
                "tolerations": [{"key": "batch", "operator": "Exists", "effect": "NoSchedule"}],
            },
            "store": {"uri": "s3://barque-artifacts/demo", "secretName": "barque-store"},
        },
    }
    body["spec"].update(spec)
    return body


def run(name: str = "demo-1", namespace: str = "team-a", uid: str = "abcdef12-0000-4000-8000-000000000001", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "barque.dev/v1alpha1",
        "kind": "PipelineRun",
        "metadata": {"name": name, "namespace": namespace, "uid": uid, "generation": 1,
                     "creationTimestamp": "2025-01-01T00:00:00Z"},
        "spec": {"pipelineRef": {"name": "demo"}},
    }
    body["spec"].update(spec)
    return copy.deepcopy(body)
