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
