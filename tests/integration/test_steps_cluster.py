"""Async, streaming and batched steps against the real parts: MinIO as the store, the operator's Jobs.

Real: MinIO (S3Store over HTTP on loopback, boto3), the `barque` CLI in child processes, and for
the cluster test etcd, kube-apiserver, kube-controller-manager and `barque operator` as its own
process. Simulated: the node (testbed.testnode runs each Pod as a local process of `barque exec`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from barque import artifacts, streams, trust
from barque.errors import StoreError
from barque.store.s3 import S3Store
from testbed.kubeapi import Api
from tests.integration.operator_fixtures import OperatorProcess
from tests.integration.runs import compile_pipeline, create_pipeline, create_run, step_states, wait_run

STEPS = '''
import asyncio
from typing import Iterator
from barque import asset

@asset()
async def numbers() -> list:
    await asyncio.sleep(0.01)
    return list(range(2000))

@asset(inputs={"nums": numbers})
def lines(nums: list):
    for n in nums:
        yield f"row {n}\\n"

@asset(inputs={"lines": lines})
def count(lines: Iterator[str]) -> int:
    return sum(piece.count("\\n") for piece in lines)

@asset(inputs={"lines": lines})
def joined_length(lines: str) -> int:
    return len(lines)
'''


@pytest.fixture
def s3(minio: Any) -> Iterator[S3Store]:
    store = S3Store(minio.bucket, f"streams-{uuid.uuid4().hex}", endpoint_url=minio.endpoint_url,
                    access_key=minio.access_key, secret_key=minio.secret_key, region=minio.region)
    yield store
    for key in store.list(""):
        store.delete(key)


def test_a_stream_is_stored_in_chunks_in_minio_and_read_back_lazily(s3: S3Store) -> None:
    data = os.urandom(300_000)
    out = streams.write_stream(s3, (data[i:i + 7_000] for i in range(0, len(data), 7_000)), segment_bytes=64 << 10)
    assert len(out.manifest.chunks) == 5
    assert all(s3.size(artifacts.blob_key(h)) == n for h, n in out.manifest.chunks)
    assert b"".join(streams.iter_stream(s3, out.ref, allowed=trust.AUTOMATIC)) == data


def test_a_stream_with_a_chunk_truncated_in_minio_is_never_read_as_complete(s3: S3Store) -> None:
    out = streams.write_stream(s3, [os.urandom(200_000)], segment_bytes=64 << 10)
    artifacts.commit(s3, "k", out.ref, {"output_id": out.ref.content_hash})
    key = artifacts.blob_key(out.manifest.chunks[1][0])
    s3.put(key, (s3.get(key) or b"")[:1000])
    assert artifacts.find(s3, "k", trust.AUTOMATIC).problem == "artifact corrupt"
    with pytest.raises(StoreError, match="corrupt"):
        streams.read_joined(s3, out.ref, allowed=trust.AUTOMATIC)


def barque_cli(args: list[str], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "barque_cli.main", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def test_async_and_streaming_steps_run_against_minio_and_a_rerun_is_cached(minio: Any, tmp_path: Path) -> None:
    (tmp_path / "pipeline.py").write_text(textwrap.dedent(STEPS))
    env = {**os.environ, **minio.env()}
    store = f"s3://{minio.bucket}/steps-{uuid.uuid4().hex}"
    first = barque_cli(["run", "pipeline.py", "count,joined_length", "--store", store], tmp_path, env)
    second = barque_cli(["run", "pipeline.py", "count,joined_length", "--store", store], tmp_path, env)
    assert first["targets"]["count"]["final_output"] == 2000
    assert first["targets"]["joined_length"]["final_output"] == sum(len(f"row {n}\n") for n in range(2000))
    assert second["steps_executed"] == 0 and second["steps_cached"] == 4


def test_micro_batches_against_minio_run_once_per_parameter_set(minio: Any, tmp_path: Path) -> None:
    (tmp_path / "pipeline.py").write_text(textwrap.dedent('''
        from barque import asset

        @asset()
        def scaled(factor: str = "1") -> int:
            return 21 * int(factor)
    '''))
    (tmp_path / "sets.jsonl").write_text('{"factor": "1"}\n{"factor": "2"}\n{"factor": "3"}\n')
    env = {**os.environ, **minio.env()}
    store = f"s3://{minio.bucket}/batches-{uuid.uuid4().hex}"
    summary = barque_cli(["run", "pipeline.py", "--store", store, "--param-file", "sets.jsonl", "--batch-concurrency", "2"], tmp_path, env)
    assert summary["batches_succeeded"] == 3
    assert [r["final_output"] for r in summary["runs"]] == [21, 42, 63]


def test_async_and_streaming_steps_run_in_the_cluster_and_a_second_run_is_cached(
    kube_api: Api, ready: str, tmp_path: Path, operator_process: OperatorProcess
) -> None:
    ns = ready
    create_pipeline(kube_api, ns, compile_pipeline(tmp_path, STEPS, "steps"))
    create_run(kube_api, ns, "steps-1", "steps")
    run = wait_run(kube_api, ns, "steps-1", diagnose=operator_process.log_tail)
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert set(step_states(run).values()) == {"succeeded"}
    create_run(kube_api, ns, "steps-2", "steps")
    again = wait_run(kube_api, ns, "steps-2", diagnose=operator_process.log_tail)
    assert again["status"]["phase"] == "Succeeded" and again["status"]["counts"]["cached"] == 4
