"""A step whose container the kernel OOM-kills ends `crashed`, not `failed`, on the real node:
the cgroup memory limit of the Pipeline's `defaults.resources` is enforced by runc, the kubelet
reports the container `OOMKilled`, and the operator says so on the status and its `-o wide`
columns; what reads the step is `skipped`, and an independent stream still succeeds.

Real: kube-apiserver, kube-controller-manager, kube-scheduler, a kubelet with containerd 2.x and
runc (cgroupfs), CNI bridge networking, MinIO, the images built from the Dockerfile and the
operator as the chart's Deployment (`release`). Nothing is simulated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from testbed.kubeapi import Api
from tests.integration.runs import create_pipeline, create_run, step_states, wait_run

from .flow import Release

HOG = '''
from barque import asset


@asset()
def hog() -> int:
    chunks = [b"x" * (64 << 20) for _ in range(32)]  # 2 GiB, written: the pages are really used
    return len(chunks)


@asset(inputs={"n": hog})
def after(n: int) -> int:
    return n


@asset()
def small() -> int:
    return 1
'''


def test_a_step_over_its_memory_limit_is_oom_killed_and_crashes_in_the_status_and_the_columns(
        kube_api: Api, release: Release, tmp_path: Path, kubectl: Any) -> None:
    ns = release.namespace
    manifest = release.compile(tmp_path, HOG, "hog")
    manifest["spec"].setdefault("defaults", {})["resources"] = {"limits": {"memory": "256Mi"}}
    create_pipeline(kube_api, ns, manifest)
    create_run(kube_api, ns, "hog-1", "hog")
    run = wait_run(kube_api, ns, "hog-1", timeout=300, diagnose=release.operator_logs)
    status = run["status"]
    assert status["phase"] == "Failed", status
    assert step_states(run) == {"hog": "crashed", "after": "skipped", "small": "succeeded"}
    assert status["message"].startswith("step pipeline.py:hog crashed") and "OOMKilled" in status["message"], status["message"]
    wide = kubectl("get", "bpr", "hog-1", "-n", ns, "-o", "wide").stdout.splitlines()
    columns = dict(zip(wide[0].split(), wide[1].split()))
    assert (columns["CRASHED"], columns["FAILED"], columns["SKIPPED"]) == ("1", "0", "1")
