"""Faults to inject into the test bed, and the checks that follow them; shared by the fault tests
(tests/integration/test_faults.py) and the fault matrix (bench/operator/faults.py).

A restarted part keeps its ports, data and ``ManagedProcess`` object, so whatever holds it (a
session fixture, the benchmark's test bed) keeps working with it.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

from barque import artifacts
from barque.errors import StoreError
from barque.records import read_step_records
from barque.store.s3 import S3Store
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
    """Steps of ``run`` (a PipelineRun) that succeeded or were served from cache with a value, but
    whose value the store cannot serve: lost (no step record, or its blob missing) or corrupt (bytes,
    read in full, that do not hash to the sha256 its record names); and how many were checked. A
    small value is inline in its step record (no blob) and is checked there."""
    status = run.get("status") or {}
    prefix = str(status.get("storeUri", "")).removeprefix(f"s3://{bucket}").strip("/")
    store = S3Store(bucket, prefix, client=s3)
    stored = read_step_records(store, str(status.get("runId", "")))
    lost, corrupt, checked = [], [], 0
    for step in status.get("steps") or []:
        if step.get("state") not in ("succeeded", "cached") or not step.get("artifact"):
            continue
        checked += 1
        try:
            ref = artifacts.ArtifactRef.from_dict(stored[step["id"]]["artifact"])
        except (KeyError, TypeError, StoreError):
            lost.append(step["id"])
            continue
        problem = artifacts.blob_problem(store, ref, hash_check_bytes=sys.maxsize)
        if problem == "artifact missing":
            lost.append(step["id"])
        elif problem is not None:
            corrupt.append(step["id"])
    return lost, corrupt, checked
