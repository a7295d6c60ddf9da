"""The operator as a local process on the simulated node: what needs the operator's process in the
test's hands (stopped, restarted with another environment), which the chart's Deployment on the
real node would only give through a rollout, and a step that kills itself (in a real container
the step is PID 1, which a signal it sends itself does not kill).

The user's flows (runs succeed, are cached, fail, are cancelled, deleted, resumed, time out,
grow their plan, run on schedule; the operator pod dies mid-run) run on the real node:
tests/integration/realnode/. Real here: etcd, kube-apiserver, kube-controller-manager (Job
controller, garbage collector), MinIO and `barque operator` as its own process. Simulated: the
node (testbed/testnode runs each Pod's containers as local processes, ignoring images).
"""

from __future__ import annotations

from pathlib import Path

from testbed.kubeapi import Api
from tests.integration.operator_fixtures import OperatorProcess
from tests.integration.runs import (
    SLOW,
    compile_pipeline,
    create_pipeline,
    create_run,
    jobs,
    step_states,
    wait_for_job,
    wait_run,
)
from tests.pipelines import KILLED


def test_a_run_keeps_the_image_and_store_it_pinned_when_the_operator_restarts_with_other_defaults(
        kube_api: Api, ready: str, tmp_path: Path, operator_process: OperatorProcess) -> None:
    ns = ready
    create_pipeline(kube_api, ns, compile_pipeline(tmp_path, SLOW.format(seconds=3), "slow"))
    create_run(kube_api, ns, "slow-1", "slow")
    wait_for_job(kube_api, ns, "slow-1-p0")
    pinned_store = operator_process.store_uri
    operator_process.stop()
    # As after a `helm upgrade` that changed the defaults: another store (with no run spec) and image.
    operator_process.env["BARQUE_DEFAULT_STORE"] = pinned_store + "-moved"
    operator_process.env["BARQUE_DEFAULT_IMAGE"] = "barque-runtime:upgraded"
    operator_process.start()
    run = wait_run(kube_api, ns, "slow-1", diagnose=operator_process.log_tail)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert (run["status"]["storeUri"], run["status"]["image"]) == (pinned_store, "barque-runtime:dev")
    names = sorted(j["metadata"]["name"] for j in jobs(kube_api, ns))
    assert names == ["slow-1-p0", "slow-1-p1", "slow-1-p2"]
    for job in jobs(kube_api, ns):
        (container,) = job["spec"]["template"]["spec"]["containers"]
        store = next(e["value"] for e in container["env"] if e["name"] == "BARQUE_STORE")
        assert (container["image"], store) == ("barque-runtime:dev", pinned_store), job["metadata"]["name"]
        assert container["envFrom"] == [{"secretRef": {"name": "barque-store"}}]


def test_a_step_whose_pod_is_killed_by_a_signal_crashes_and_its_dependants_are_skipped(
        kube_api: Api, ready: str, tmp_path: Path, operator_process: OperatorProcess) -> None:
    # Here, not on the real node: there the step is its container's PID 1, and a signal that an
    # init process sends itself is ignored, so a step cannot crash itself in a real pod.
    ns = ready
    create_pipeline(kube_api, ns, compile_pipeline(tmp_path, KILLED, "killed"))
    create_run(kube_api, ns, "killed-1", "killed")
    run = wait_run(kube_api, ns, "killed-1", timeout=240, diagnose=operator_process.log_tail)
    status = run["status"]
    assert status["phase"] == "Failed", status
    states = step_states(run)
    assert states.pop("source") in ("succeeded", "cached")
    assert states == {"killed": "crashed", "after": "skipped", "independent": "succeeded"}
    assert status["message"].startswith("step pipeline.py:killed crashed"), status["message"]
    assert status["counts"]["crashed"] == 1 and status["counts"]["failed"] == 0

