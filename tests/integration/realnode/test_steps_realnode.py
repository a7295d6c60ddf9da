"""Async and generator-stream steps in real Pods: the runtime image, non-root, read-only root
filesystem, the store in MinIO over the bridge. A stream of several segments is written chunk by
chunk from one Pod and read lazily (``Iterator``) and joined by others; an async step's timeout
cancels its coroutine inside the container and fails the step with the runtime's words.

Real: kube-apiserver, kube-controller-manager, kube-scheduler, a kubelet with containerd 2.x and
runc, CNI bridge networking, MinIO, the images built from the Dockerfile and the operator as the
chart's Deployment (`release`). Nothing is simulated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from testbed.kubeapi import Api
from tests.integration.runs import create_pipeline, create_run, step_states, stored_value, wait_run

from .flow import Release

MIB = 1 << 20

STREAMS = '''
import asyncio
from typing import Iterator
from barque import asset


@asset()
async def blocks() -> int:
    await asyncio.sleep(0.01)
    return 20


@asset(inputs={"n": blocks})
def raw(n: int):  # 20 MiB yielded 1 MiB at a time: three 8 MiB segments in the store
    for i in range(n):
        yield bytes([i]) * (1 << 20)


@asset(inputs={"raw": raw})
def upper(raw: Iterator[bytes]):  # lazily in, lazily out
    for segment in raw:
        yield segment.replace(b"\\x01", b"\\x02")


@asset(inputs={"data": upper})
def size(data: bytes) -> dict:  # joined
    return {"bytes": len(data), "twos": data.count(b"\\x02")}


@asset(timeout_seconds=2)
async def stuck() -> int:
    try:
        await asyncio.sleep(60)
    finally:
        print("cancelled cleanly")
    return 1
'''


def test_async_and_stream_steps_run_in_locked_down_pods_and_a_timeout_cancels_the_coroutine(
        kube_api: Api, release: Release, tmp_path: Path, minio: Any, barque_cli: Any) -> None:
    ns = release.namespace
    create_pipeline(kube_api, ns, release.compile(tmp_path, STREAMS, "streams"))
    create_run(kube_api, ns, "streams-1", "streams")
    run = wait_run(kube_api, ns, "streams-1", timeout=300, diagnose=release.operator_logs)
    status = run["status"]
    assert status["phase"] == "Failed", status
    assert step_states(run) == {"blocks": "succeeded", "raw": "succeeded", "upper": "succeeded", "size": "succeeded",
                                "stuck": "failed"}
    (stuck,) = [f for f in status["failures"] if f["step"] == "pipeline.py:stuck"]
    assert "StepTimeout" in stuck["message"] and "coroutine was cancelled" in stuck["message"]
    assert stored_value(minio, run, "size") == {"bytes": 20 * MIB, "twos": 2 * MIB}
    logs = barque_cli("logs", "streams-1", "pipeline.py:stuck", "-n", ns)
    assert logs.returncode == 0 and "cancelled cleanly" in logs.stdout, logs.stderr  # its finally block ran
    create_run(kube_api, ns, "streams-2", "streams")
    again = wait_run(kube_api, ns, "streams-2", timeout=300, diagnose=release.operator_logs)
    assert step_states(again)["size"] == "cached" and step_states(again)["upper"] == "cached"
