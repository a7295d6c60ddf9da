"""Faults to inject into the test bed, and the checks that follow them; shared by the fault tests
(tests/integration/test_faults.py) and the fault matrix (bench/operator/faults.py).

A restarted part keeps its ports, data and ``ManagedProcess`` object, so whatever holds it (a
session fixture, the benchmark's test bed) keeps working with it.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from typing import Any

from testbed.kubeapi import Api
from testbed.procs import HealthCheck, ManagedProcess


def restart(proc: ManagedProcess, check: HealthCheck, down_seconds: float, sig: signal.Signals = signal.SIGTERM) -> float:
    """Stop ``proc`` (SIGTERM: it may shut down; SIGKILL: it may not), keep it down ``down_seconds``,
    start it again; the seconds it took to be healthy (``check``) once started."""
    if sig == signal.SIGKILL:
        proc._signal(signal.SIGKILL)
    proc.stop(grace=10)
    time.sleep(down_seconds)
    started = time.time()
    proc.start()
    proc.wait_healthy(check, timeout=120)
    return time.time() - started


def running_pod(api: Api, ns: str, run: str) -> dict[str, Any] | None:
    """A Pod of PipelineRun ``run`` whose container runs (its step is mid-way), else None."""
    for pod in api.request("GET", f"/api/v1/namespaces/{ns}/pods")["items"]:
        job = (pod["metadata"].get("labels") or {}).get("batch.kubernetes.io/job-name", "")
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        if job.startswith(f"{run}-p") and any("running" in (c.get("state") or {}) for c in statuses):
            return pod
    return None


def kill_pod_processes(api: Api, ns: str) -> int:
    """SIGKILL the process group of every running container the test node started in ``ns`` (its
    containerID ends in the pid), as a machine that dies takes its containers with it; the count."""
    killed = 0
    for pod in api.request("GET", f"/api/v1/namespaces/{ns}/pods")["items"]:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            cid = str(status.get("containerID") or "")
            if cid.startswith("testnode://") and "running" in (status.get("state") or {}):
                try:
                    os.killpg(int(cid.rsplit("-", 1)[-1]), signal.SIGKILL)
                    killed += 1
                except (ProcessLookupError, PermissionError, ValueError):
                    pass
    return killed


def artifact_problems(s3: Any, bucket: str, run: dict[str, Any]) -> tuple[list[str], list[str], int]:
    """Steps of ``run`` (a PipelineRun) whose artifact is missing from the store, or whose bytes do
    not hash to the sha256 its key names; and how many artifacts were checked."""
    status = run.get("status") or {}
    prefix = str(status.get("storeUri", "")).removeprefix(f"s3://{bucket}").strip("/")
    lost, corrupt, checked = [], [], 0
    for step in status.get("steps") or []:
        key = step.get("artifact")
        if step.get("state") not in ("succeeded", "cached") or not key:
            continue
        checked += 1
        try:
            data = s3.get_object(Bucket=bucket, Key=f"{prefix}/{key}" if prefix else key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            lost.append(step["id"])
            continue
        if hashlib.sha256(data).hexdigest() != key.rsplit("/", 1)[-1]:
            corrupt.append(step["id"])
    return lost, corrupt, checked


FLOWCONTROL = "/apis/flowcontrol.apiserver.k8s.io/v1"
REFUSE = "barque-fault-refuse"


def refuse_user(api: Api, user: str) -> None:
    """Make kube-apiserver answer every request of ``user`` with 429 Too Many Requests, until
    ``allow_user``."""
    refuse(api, {"subjects": [{"kind": "User", "user": {"name": user}}],
                 "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"],
                                    "namespaces": ["*"], "clusterScope": True}],
                 "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}]})


def refuse(api: Api, rule: dict[str, Any]) -> None:
    """Make kube-apiserver answer the requests ``rule`` (a FlowSchema's policy rule) matches with
    429 Too Many Requests, until ``allow_user``: API Priority and Fairness with a priority level of
    no seats that may not borrow any and rejects what it cannot seat, and a FlowSchema sending the
    requests there. It is the API server's own overload answer, so a client sees what it would
    see from a busy server. Precedence 2 and a name sorting before ``probes`` win over every
    FlowSchema but ``exempt`` (precedence 1, reserved), which exempts the ``system:masters``
    group: a client in that group cannot be refused this way."""
    api.request("POST", f"{FLOWCONTROL}/prioritylevelconfigurations", body={
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "PriorityLevelConfiguration",
        "metadata": {"name": REFUSE},
        "spec": {"type": "Limited", "limited": {"nominalConcurrencyShares": 0, "lendablePercent": 0,
                                                "borrowingLimitPercent": 0, "limitResponse": {"type": "Reject"}}}})
    api.request("POST", f"{FLOWCONTROL}/flowschemas", body={
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "FlowSchema",
        "metadata": {"name": REFUSE},
        "spec": {"matchingPrecedence": 2, "priorityLevelConfiguration": {"name": REFUSE},
                 "distinguisherMethod": {"type": "ByUser"}, "rules": [rule]}})


def allow_user(api: Api) -> None:
    """Undo ``refuse`` (or ``refuse_user``): the requests go back to the FlowSchemas they matched before."""
    api.request("DELETE", f"{FLOWCONTROL}/flowschemas/{REFUSE}")
    api.request("DELETE", f"{FLOWCONTROL}/prioritylevelconfigurations/{REFUSE}")
