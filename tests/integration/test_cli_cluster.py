"""The `barque` CLI against runs the operator makes: micro-batches (`submit --param-file`), fail
fast and overrides from `submit`, resume after a failed phase (`submit --resume-from`), and
`barque why` / `barque graph --run` reading those runs from MinIO and the PipelineRun's status;
the terminal states a run ends in, on its status, its printer columns and the metrics.

Real: etcd, kube-apiserver, kube-controller-manager (Job controller), MinIO, `kubectl`, `barque
operator` as its own process and the `barque` CLI in child processes with only the test bed's
kubeconfig and MinIO's credentials. Simulated: the node (testbed.testnode runs each Pod as a
local process of `barque exec`); the real-node tier runs the same runtime in containers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from testbed.kubeapi import Api
from testbed.procs import wait_until
from tests.integration.operator_fixtures import OperatorProcess, barque_executable
from tests.integration.runs import (
    QUICK,
    RUNS,
    SLOW,
    compile_pipeline,
    create_pipeline,
    create_run,
    get_run,
    jobs,
    step_states,
    stored_value,
    wait_run,
)
from tests.pipelines import FAILS_EARLY, KILLED

Cli = Callable[..., Any]

SCALED = '''
import time
from barque import asset


@asset()
def scaled(factor: str = "1") -> int:
    time.sleep(1)
    return 21 * int(factor)
'''

FAILS_LATER = '''
from barque import asset


@asset()
def left() -> int:
    return 1


@asset()
def right() -> int:
    return 2


@asset(inputs={"a": left, "b": right})
def later(a: int, b: int, fix: str = "no") -> int:  # the second phase
    if fix != "yes":
        raise ValueError("not fixed yet")
    return a + b
'''


def _ok(proc: Any, code: int = 0) -> Any:
    assert proc.returncode == code, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc


def _store(minio: Any, ns: str, name: str) -> str:
    return f"s3://{minio.bucket}/cli-cluster-{ns}-{name}"


def _pipeline(kube_api: Api, tmp_path: Path, minio: Any, ns: str, source: str, name: str, **defaults: Any) -> Path:
    """The Pipeline compiled with a store of its own (``spec.store.uri``) and ``defaults`` added to
    its ``spec.defaults``, applied; its project folder."""
    manifest = compile_pipeline(tmp_path, source, name, "--store", _store(minio, ns, name), "--store-secret", "barque-store")
    manifest["spec"].setdefault("defaults", {}).update(defaults)
    create_pipeline(kube_api, ns, manifest)
    return tmp_path / f"project-{name}"


def _metric(op: OperatorProcess, name: str, **labels: str) -> float:
    text = urllib.request.urlopen(op.metrics_url, timeout=10).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_submit_param_file_makes_a_pipelinerun_per_set_two_at_a_time_and_prints_one_summary(
        kube_api: Api, ready: str, tmp_path: Path, minio: Any, barque_cli: Cli) -> None:
    ns = ready
    project = _pipeline(kube_api, tmp_path, minio, ns, SCALED, "scaled")
    (project / "sets.jsonl").write_text('{"factor": "1"}\n{"factor": "2"}\n{"factor": "3"}\n')
    proc = _ok(barque_cli("submit", "scaled", "-n", ns, "--param-file", str(project / "sets.jsonl"),
                          "--batch-concurrency", "2", "--poll", "0.5", timeout=300))
    summary = json.loads(proc.stdout)
    assert (summary["status"], summary["batches"], summary["batches_succeeded"]) == ("succeeded", 3, 3)
    assert [b["params"] for b in summary["runs"]] == [{"factor": "1"}, {"factor": "2"}, {"factor": "3"}]
    runs = [get_run(kube_api, ns, b["run_id"]) for b in summary["runs"]]
    assert [stored_value(minio, r, "scaled") for r in runs] == [21, 42, 63]
    spans = [(_when(r["metadata"]["creationTimestamp"]), _when(r["status"]["completionTime"])) for r in runs]
    most = max(sum(1 for start, end in spans if start <= t < end) for t, _ in spans)
    assert most == 2, spans  # the third run was created only once one of the first two had ended


def test_submit_fail_fast_cancels_what_is_left_and_the_state_is_on_the_status_the_metrics_and_the_graph(
        kube_api: Api, ready: str, tmp_path: Path, minio: Any, barque_cli: Cli, kubectl: Any,
        operator_process: OperatorProcess) -> None:
    ns = ready
    project = _pipeline(kube_api, tmp_path, minio, ns, FAILS_EARLY, "failfast")
    _ok(barque_cli("submit", "failfast", "-n", ns, "--name", "failfast-1", "--fail-fast", "--wait", "--poll", "0.5",
                   timeout=300), code=1)
    run = get_run(kube_api, ns, "failfast-1")
    assert run["spec"]["failurePolicy"] == "FailFast" and run["status"]["phase"] == "Failed"
    assert step_states(run)["broken"] == "failed" and step_states(run)["later"] == "cancelled"
    assert run["status"]["counts"]["cancelled"] >= 1 and run["status"]["counts"]["failed"] == 1
    wide = kubectl("get", "bpr", "failfast-1", "-n", ns, "-o", "wide").stdout.splitlines()
    columns = dict(zip(wide[0].split(), wide[1].split()))
    assert (columns["STATUS"], columns["FAILED"], columns["CRASHED"]) == ("Failed", "1", "0")
    assert columns["CANCELLED"] == str(run["status"]["counts"]["cancelled"])
    assert _metric(operator_process, "barque_steps_total", namespace=ns, pipeline="failfast", state="cancelled") >= 1
    assert _metric(operator_process, "barque_runs_finished_total", namespace=ns, pipeline="failfast", outcome="failed") == 1
    dot = _ok(barque_cli("graph", str(project / "pipeline.py"), "--run", "failfast-1", "-n", ns, "--format", "dot")).stdout
    assert 'label="pipeline.py:broken\\nfailed' in dot and 'label="pipeline.py:later\\ncancelled' in dot


def test_a_pipelines_default_fail_fast_applies_to_its_runs_unless_a_run_asks_to_continue(
        kube_api: Api, ready: str, tmp_path: Path, minio: Any, barque_cli: Cli) -> None:
    ns = ready
    _pipeline(kube_api, tmp_path, minio, ns, FAILS_EARLY, "strict", failurePolicy="FailFast")
    _ok(barque_cli("submit", "strict", "-n", ns, "--name", "strict-1", "--wait", "--poll", "0.5", timeout=300), code=1)
    assert step_states(get_run(kube_api, ns, "strict-1"))["later"] == "cancelled"
    create_run(kube_api, ns, "strict-2", "strict", failurePolicy="Continue")
    assert step_states(wait_run(kube_api, ns, "strict-2", timeout=180))["later"] == "succeeded"


def test_submit_overrides_stub_an_asset_and_what_reads_it_gets_the_stub(
        kube_api: Api, ready: str, tmp_path: Path, minio: Any, barque_cli: Cli) -> None:
    ns = ready
    _pipeline(kube_api, tmp_path, minio, ns, QUICK, "quick")
    _ok(barque_cli("submit", "quick", "-n", ns, "--name", "quick-stub", "--overrides", '{"numbers": [10, 20]}',
                   "--wait", "--poll", "0.5", timeout=300))
    run = get_run(kube_api, ns, "quick-stub")
    assert run["spec"]["overrides"] == {"numbers": [10, 20]}
    assert stored_value(minio, run, "report") == {"doubled": [20, 40], "total": 30}


def test_why_and_graph_read_a_pipelineruns_provenance_and_states_from_minio(
        kube_api: Api, ready: str, tmp_path: Path, minio: Any, barque_cli: Cli) -> None:
    ns = ready
    project = _pipeline(kube_api, tmp_path, minio, ns, QUICK, "quick")
    _ok(barque_cli("submit", "quick", "-n", ns, "--name", "quick-1", "--wait", "--poll", "0.5", timeout=300))
    run = get_run(kube_api, ns, "quick-1")
    files = str(project / "pipeline.py")
    (report,) = json.loads(_ok(barque_cli("why", "report", files, "--pipeline", "quick", "-n", ns, "--depth", "1")).stdout)
    assert report["run_id"] == run["status"]["runId"] and report["today"] == {"state": "current", "reason": "cached"}
    assert report["run"]["state"] == "succeeded" and report["run"]["attempts"] == 1
    assert {p["step"] for link in report["inputs"] for p in link["producers"]} == {"pipeline.py:doubled", "pipeline.py:total"}
    (project / "pipeline.py").write_text((project / "pipeline.py").read_text().replace("n * 2", "n * 3"))
    (doubled,) = json.loads(_ok(barque_cli("why", "doubled", files, "--pipeline", "quick", "-n", ns)).stdout)
    assert doubled["today"] == {"state": "stale", "reason": "changed: code"}
    mermaid = _ok(barque_cli("graph", files, "--run", "quick-1", "-n", ns)).stdout
    assert "class n_pipeline_py_report succeeded" in mermaid and "class n_pipeline_py_numbers succeeded" in mermaid
    svg = _ok(barque_cli("graph", files, "--run", "quick-1", "-n", ns, "--format", "svg")).stdout
    assert svg.lstrip().startswith("<?xml") and "pipeline.py:report" in svg


def test_submit_resume_from_after_a_failed_second_phase_runs_only_that_phase(
        kube_api: Api, ready: str, tmp_path: Path, minio: Any, barque_cli: Cli) -> None:
    ns = ready
    _pipeline(kube_api, tmp_path, minio, ns, FAILS_LATER, "later")
    _ok(barque_cli("submit", "later", "-n", ns, "--name", "later-1", "--wait", "--poll", "0.5", timeout=300), code=1)
    first = get_run(kube_api, ns, "later-1")
    assert step_states(first) == {"left": "succeeded", "right": "succeeded", "later": "failed"}
    assert [p["index"] for p in first["status"]["phases"]] == [0, 1]
    _ok(barque_cli("submit", "later", "-n", ns, "--name", "later-2", "--resume-from", "later-1", "--no-cache",
                   "--param", "fix=yes", "--wait", "--poll", "0.5", timeout=300))
    second = get_run(kube_api, ns, "later-2")
    assert step_states(second) == {"left": "cached", "right": "cached", "later": "succeeded"}
    assert [j["metadata"]["name"] for j in jobs(kube_api, ns, "later-2-")] == ["later-2-p1"]


def test_a_crashed_step_is_counted_in_the_printer_columns_the_metrics_and_drawn_crashed(
        kube_api: Api, ready: str, tmp_path: Path, minio: Any, barque_cli: Cli, kubectl: Any,
        operator_process: OperatorProcess) -> None:
    ns = ready
    project = _pipeline(kube_api, tmp_path, minio, ns, KILLED, "killed")
    _ok(barque_cli("submit", "killed", "-n", ns, "--name", "killed-1", "--wait", "--poll", "0.5", timeout=300), code=1)
    wide = kubectl("get", "bpr", "killed-1", "-n", ns, "-o", "wide").stdout.splitlines()
    columns = dict(zip(wide[0].split(), wide[1].split()))
    assert (columns["STATUS"], columns["FAILED"], columns["CRASHED"], columns["SKIPPED"]) == ("Failed", "0", "1", "1")
    assert _metric(operator_process, "barque_steps_total", namespace=ns, pipeline="killed", state="crashed") == 1
    assert _metric(operator_process, "barque_steps_total", namespace=ns, pipeline="killed", state="skipped") == 1
    dot = _ok(barque_cli("graph", str(project / "pipeline.py"), "--run", "killed-1", "-n", ns, "--format", "dot")).stdout
    assert 'label="pipeline.py:killed\\ncrashed' in dot and 'label="pipeline.py:after\\nskipped' in dot


def test_sigterm_to_submit_param_file_cancels_the_batches_runs_in_the_cluster_and_creates_no_more(
        kube_api: Api, ready: str, tmp_path: Path, minio: Any, kube_apiserver: Any,
        operator_process: OperatorProcess) -> None:
    ns = ready
    project = _pipeline(kube_api, tmp_path, minio, ns, SLOW.format(seconds=60), "slowbatch")
    (project / "sets.jsonl").write_text("".join(f'{{"n": "{i}"}}\n' for i in range(3)))
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(tmp_path), "KUBECONFIG": str(kube_apiserver.kubeconfig),
           **minio.env()}
    cli = subprocess.Popen([barque_executable(), "submit", "slowbatch", "-n", ns, "--param-file", str(project / "sets.jsonl"),
                            "--batch-concurrency", "2", "--poll", "0.5"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: len(_runs(kube_api, ns)) == 2 and all(
            (r.get("status") or {}).get("phase") == "Running" for r in _runs(kube_api, ns)), timeout=120,
            what="two batches' runs running")
        cli.send_signal(signal.SIGTERM)
        out, err = cli.communicate(timeout=60)
    finally:
        cli.kill()
    assert cli.returncode == 143, err
    summary = json.loads(out)
    assert summary["status"] == "cancelled" and [b["cancelled_by"] for b in summary["runs"]] == ["SIGTERM", "SIGTERM"]
    for name in (b["run_id"] for b in summary["runs"]):
        run = wait_run(kube_api, ns, name, timeout=120)
        assert run["spec"]["cancel"] is True and run["status"]["phase"] == "Cancelled", run["status"]
    assert len(_runs(kube_api, ns)) == 2  # the third set never got a run
    outcome = {"namespace": ns, "pipeline": "slowbatch", "outcome": "cancelled"}
    wait_until(lambda: _metric(operator_process, "barque_runs_finished_total", **outcome) == 2, timeout=30,
               what="both cancelled runs counted")


def _runs(kube_api: Api, ns: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kube_api.request("GET", RUNS.format(ns=ns))["items"]
    return items
