"""The example manifests and the `barque` CLI against the API server, without a node: the CLI's
errors, and the CRDs accepting the scheduled example. Running the examples (`kubectl apply`,
`barque submit`, `barque status`, `barque logs`) is the real-node tier's:
tests/integration/realnode/test_user_flow.py.

Real: etcd, kube-apiserver, kubectl and the `barque` CLI with only the test bed's kubeconfig.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_cli_errors_name_the_object_and_exit_non_zero(barque_crds: Any, namespace: str, barque_cli: Any) -> None:
    missing_pipeline = barque_cli("submit", "no-such-pipeline", "-n", namespace)
    assert missing_pipeline.returncode == 2  # barca's usage: a name that is not there
    assert f"Pipeline {namespace}/no-such-pipeline: not found" in missing_pipeline.stderr
    missing_run = barque_cli("status", "no-such-run", "-n", namespace)
    assert missing_run.returncode == 2 and "not found" in missing_run.stderr


def test_scheduled_example_is_accepted_by_the_crds(barque_crds: Any, namespace: str, kubectl: Any) -> None:
    applied = kubectl("apply", "--dry-run=server", "-n", namespace,
                      "-f", str(EXAMPLES / "etl" / "pipeline.yaml"), "-f", str(EXAMPLES / "etl" / "run.yaml")).stdout
    assert "pipeline.barque.dev/etl created (server dry run)" in applied
    assert "pipelinerun.barque.dev/etl-example created (server dry run)" in applied
    schedule = yaml.safe_load((EXAMPLES / "etl" / "pipeline.yaml").read_text())["spec"]["schedule"]
    assert schedule["cron"] == "0 6 * * *"
