"""What the chart's NOTES tell a user to do, done for real: apply the checked-in example
manifests, then `barque submit`, `barque status` and `barque logs` against the cluster.

Real: etcd, kube-apiserver, kube-controller-manager (Job controller), MinIO, kubectl, and
`barque operator` and the `barque` CLI as their own processes, each with only the test bed's
kubeconfig. Simulated: the node (testbed.testnode runs Pods as local processes).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from tests.integration.operator_fixtures import (  # noqa: F401  (fixtures)
    OperatorProcess,
    barque_crds,
    barque_executable,
    operator_process,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def barque(kube_apiserver: Any, minio: Any, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """The `barque` CLI with the test bed's kubeconfig and MinIO's credentials, nothing else."""
    home = tmp_path / "cli-home"
    home.mkdir()
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(home),
           "KUBECONFIG": str(kube_apiserver.kubeconfig), **minio.env()}

    def run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run([barque_executable(), *args], capture_output=True, text=True, env=env, timeout=timeout)

    return run


@pytest.fixture
def ready(namespace: str, store_secret: Callable[..., str], operator_process: OperatorProcess) -> str:
    store_secret(namespace)
    return namespace


def test_quickstart_manifests_run_to_success(ready: str, kubectl: Any, barque: Any, operator_process: OperatorProcess) -> None:
    ns = ready
    kubectl("apply", "-n", ns, "-f", str(EXAMPLES / "quickstart" / "pipeline.yaml"), "-f", str(EXAMPLES / "quickstart" / "run.yaml"))
    out = barque("submit", "quickstart", "-n", ns, "--wait")
    assert out.returncode == 0, out.stderr + operator_process.logs()[-4000:]
    name = out.stdout.strip()
    assert name.startswith("quickstart-") and "\n" not in name

    status = barque("status", name, "-n", ns)
    assert status.returncode == 0, status.stderr
    assert "Phase:     Succeeded" in status.stdout and "Progress:  2/2" in status.stdout

    # The checked-in run.yaml ran too (applied above): same pipeline, its own fixed name.
    as_json = barque("status", "quickstart-example", "-n", ns, "--json")
    assert json.loads(as_json.stdout)["pipeline"] == "quickstart"


def test_failing_example_reports_the_failure_and_its_logs(ready: str, kubectl: Any, barque: Any,
                                                          operator_process: OperatorProcess) -> None:
    ns = ready
    kubectl("apply", "-n", ns, "-f", str(EXAMPLES / "failing" / "pipeline.yaml"))
    out = barque("submit", "failing", "-n", ns, "--name", "failing-1", "--wait")
    assert out.returncode == 1, out.stderr + operator_process.logs()[-4000:]
    assert out.stdout == "failing-1\n"
    assert "Failed steps:" in out.stderr  # --wait ends with the status on stderr

    status = barque("status", "failing-1", "-n", ns)
    assert "Phase:     Failed" in status.stdout
    assert "pipeline.py:broken" in status.stdout and "upstream schema changed" in status.stdout

    logs = barque("logs", "failing-1", "broken", "-n", ns)
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.startswith("== pipeline.py:broken: failed, attempt 2 of 2 ==")
    assert "Traceback (most recent call last)" in logs.stdout
    assert "error: ValueError: cannot load 3 rows: the upstream schema changed" in logs.stdout
    first = barque("logs", "failing-1", "pipeline.py:broken", "--attempt", "1", "-n", ns)
    assert "attempt 1 of 2" in first.stdout and "error:" not in first.stdout

    skipped = barque("logs", "failing-1", "downstream", "-n", ns)
    assert "skipped" in skipped.stdout.splitlines()[0]


def test_cli_errors_name_the_object_and_exit_non_zero(ready: str, barque: Any) -> None:
    missing_pipeline = barque("submit", "no-such-pipeline", "-n", ready)
    assert missing_pipeline.returncode == 2  # barca's usage: a name that is not there
    assert f"Pipeline {ready}/no-such-pipeline: not found" in missing_pipeline.stderr
    missing_run = barque("status", "no-such-run", "-n", ready)
    assert missing_run.returncode == 2 and "not found" in missing_run.stderr


def test_scheduled_example_is_accepted_by_the_crds(barque_crds: Any, namespace: str, kubectl: Any) -> None:
    applied = kubectl("apply", "--dry-run=server", "-n", namespace,
                      "-f", str(EXAMPLES / "etl" / "pipeline.yaml"), "-f", str(EXAMPLES / "etl" / "run.yaml")).stdout
    assert "pipeline.barque.dev/etl created (server dry run)" in applied
    assert "pipelinerun.barque.dev/etl-example created (server dry run)" in applied
    schedule = yaml.safe_load((EXAMPLES / "etl" / "pipeline.yaml").read_text())["spec"]["schedule"]
    assert schedule["cron"] == "0 6 * * *"
