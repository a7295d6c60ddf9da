"""Run hooks in the cluster: once a run's steps are over, the operator runs the hooks its outcome
calls as the run's last Job (one Pod per hook), each with the run report; a hook that fails is
in the status and an Event, and the run keeps the phase and message its steps made.

Real: etcd, kube-apiserver, kube-controller-manager (Job controller), MinIO and `barque operator`
as its own process. Simulated: the node (testbed.testnode runs Pods as local processes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from testbed.kubeapi import Api
from tests.integration.operator_fixtures import OperatorProcess
from tests.integration.runs import (
    compile_pipeline,
    create_pipeline,
    create_run,
    events,
    jobs,
    step_states,
    wait_run,
)
from tests.pipelines import HOOKED  # the same pipeline the parity test runs in both runners


def test_the_hooks_run_as_the_last_job_with_the_report_and_a_failed_hook_keeps_the_runs_outcome(
        kube_api: Api, ready: str, tmp_path: Path, operator_process: OperatorProcess) -> None:
    ns = ready
    create_pipeline(kube_api, ns, compile_pipeline(tmp_path, HOOKED, "hooked"))
    create_run(kube_api, ns, "hooked-1", "hooked")
    run = wait_run(kube_api, ns, "hooked-1", diagnose=operator_process.log_tail)
    status: dict[str, Any] = run["status"]
    assert status["phase"] == "Failed"
    assert status["message"].startswith("step pipeline.py:broken failed: ValueError: bad row")
    assert step_states(run) == {"src": "succeeded", "broken": "failed"}
    hooks = {h["hook"]: h for h in status["hooks"]}
    assert set(hooks) == {"pipeline.py:alert", "pipeline.py:pager"}
    assert hooks["pipeline.py:alert"]["state"] == "succeeded"
    assert hooks["pipeline.py:pager"]["state"] == "failed" and hooks["pipeline.py:pager"]["error"] == "RuntimeError: pager down"
    hook_job = next(j for j in jobs(kube_api, ns) if j["metadata"]["name"] == "hooked-1-p1000000")
    assert hook_job["spec"]["completions"] == 2 and hook_job["spec"]["completionMode"] == "Indexed"
    reasons = [r for r, _ in events(kube_api, ns, "hooked-1")]
    assert "HooksStarted" in reasons and "HookFailed" in reasons and "Failed" in reasons
