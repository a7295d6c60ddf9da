"""Helpers for tests that drive barque's operator through the API: compile a pipeline as a user
does, create Pipelines and PipelineRuns, wait for a run, list what it made.

Shared by the simulated-node operator tests (tests/integration/test_operator_runs.py, where the
operator is a local process) and the real-node tier (tests/integration/realnode/, where it is the
chart's Deployment). Dicts in, dicts out through testbed.kubeapi.Api; no fixtures here.
"""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from barque import artifacts
from barque.records import read_step_records
from barque.store.s3 import S3Store
from testbed.kubeapi import Api
from testbed.procs import wait_until
from tests.integration.operator_fixtures import barque_executable

RUNS = "/apis/barque.dev/v1alpha1/namespaces/{ns}/pipelineruns"
PIPELINES = "/apis/barque.dev/v1alpha1/namespaces/{ns}/pipelines"
DONE = ("Succeeded", "Failed", "Cancelled")

QUICK = '''
from barque import asset


@asset()
def numbers() -> list[int]:
    return [1, 2, 3, 4, 5]


@asset(inputs={"nums": numbers})
def doubled(nums: list[int]) -> list[int]:
    return [n * 2 for n in nums]


@asset(inputs={"nums": numbers})
def total(nums: list[int]) -> int:
    return sum(nums)


@asset(inputs={"a": doubled, "b": total})
def report(a: list[int], b: int) -> dict:
    return {"doubled": a, "total": b}
'''

# Three phases (first; second and third; last), `{seconds}` of sleep in the first two.
SLOW = '''
import time
from barque import asset


@asset()
def first() -> int:
    time.sleep({seconds})
    return 1


@asset(inputs={{"x": first}})
def second(x: int) -> int:
    time.sleep({seconds})
    return x + 1


@asset(inputs={{"x": first}})
def third(x: int) -> int:
    return x + 2


@asset(inputs={{"a": second, "b": third}})
def last(a: int, b: int) -> int:
    return a + b
'''


def compile_pipeline(tmp_path: Path, source: str, name: str, *flags: str) -> dict[str, Any]:
    """`barque compile` exactly as a user runs it; returns the Pipeline manifest."""
    project = tmp_path / f"project-{name}"
    project.mkdir()
    (project / "pipeline.py").write_text(textwrap.dedent(source))
    out = subprocess.run([barque_executable(), "compile", "pipeline.py", "--name", name, *flags],
                         cwd=project, capture_output=True, text=True, check=True)
    manifest: dict[str, Any] = yaml.safe_load(out.stdout)
    return manifest


def create_namespace(api: Api, name: str) -> str:
    """Create the Namespace ``name`` and return it once its `default` ServiceAccount exists: until
    then the ServiceAccount admission plugin refuses the namespace's Pods."""
    api.request("POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    wait_until(lambda: api.get_or_none(f"/api/v1/namespaces/{name}/serviceaccounts/default") is not None,
               timeout=60, what=f"the default ServiceAccount in namespace {name}")
    return name


def create_pipeline(api: Api, ns: str, manifest: dict[str, Any]) -> dict[str, Any]:
    return api.request("POST", PIPELINES.format(ns=ns), body=manifest)


def create_run(api: Api, ns: str, name: str, pipeline: str, **spec: Any) -> dict[str, Any]:
    body = {"apiVersion": "barque.dev/v1alpha1", "kind": "PipelineRun", "metadata": {"name": name},
            "spec": {"pipelineRef": {"name": pipeline}, **spec}}
    return api.request("POST", RUNS.format(ns=ns), body=body)


def get_run(api: Api, ns: str, name: str) -> dict[str, Any]:
    return api.request("GET", f"{RUNS.format(ns=ns)}/{name}")


def wait_run(api: Api, ns: str, name: str, timeout: float = 120, phases: tuple[str, ...] = DONE,
             diagnose: Callable[[], str] | None = None) -> dict[str, Any]:
    """The run once its phase is one of ``phases``; on timeout an AssertionError with its status
    and ``diagnose()`` (e.g. the operator's log tail)."""
    def done() -> dict[str, Any] | None:
        run = get_run(api, ns, name)
        return run if (run.get("status") or {}).get("phase") in phases else None

    try:
        return wait_until(done, timeout=timeout, what=f"PipelineRun {ns}/{name} to reach {phases}", interval=0.5)
    except TimeoutError:
        status = (get_run(api, ns, name).get("status") or {})
        extra = diagnose() if diagnose else ""
        raise AssertionError(f"run {name} did not finish; status: {status}\n{extra}") from None


def jobs(api: Api, ns: str, prefix: str = "") -> list[dict[str, Any]]:
    """The namespace's Jobs whose name starts with ``prefix``."""
    items: list[dict[str, Any]] = api.request("GET", f"/apis/batch/v1/namespaces/{ns}/jobs")["items"]
    return [j for j in items if j["metadata"]["name"].startswith(prefix)]


def pods(api: Api, ns: str, prefix: str = "") -> list[dict[str, Any]]:
    """The namespace's Pods whose name starts with ``prefix``."""
    items: list[dict[str, Any]] = api.request("GET", f"/api/v1/namespaces/{ns}/pods")["items"]
    return [p for p in items if p["metadata"]["name"].startswith(prefix)]


def live_jobs(api: Api, ns: str, prefix: str = "") -> list[dict[str, Any]]:
    """Jobs not being deleted."""
    return [j for j in jobs(api, ns, prefix) if not j["metadata"].get("deletionTimestamp")]


def events(api: Api, ns: str, name: str) -> list[tuple[str, str]]:
    items = api.request("GET", f"/api/v1/namespaces/{ns}/events")["items"]
    return [(e["reason"], e["message"]) for e in items if e["involvedObject"].get("name") == name]


def store_keys(minio: Any, prefix: str) -> list[str]:
    client = minio.client()
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=minio.bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def stored_value(minio: Any, run: dict[str, Any], step: str) -> Any:
    """The JSON value ``run`` (a PipelineRun) stored for the step whose id ends in ``:step``, read
    from MinIO through its step record (a small value is inline there, a larger one a blob it names)."""
    status = run["status"]
    store = S3Store(minio.bucket, status["storeUri"].removeprefix(f"s3://{minio.bucket}/"), client=minio.client())
    stored = read_step_records(store, status["runId"])
    record = next(r for sid, r in stored.items() if sid.endswith(":" + step))
    return artifacts.read_value(store, artifacts.ArtifactRef.from_dict(record["artifact"]), allowed={"json"})


def step_states(run: dict[str, Any]) -> dict[str, str]:
    return {s["id"].rsplit(":", 1)[-1]: s["state"] for s in run["status"]["steps"]}


def wait_for_job(api: Api, ns: str, prefix: str, timeout: float = 60,
                 diagnose: Callable[[], str] | None = None) -> dict[str, Any]:
    """The first Job named ``prefix``*; on timeout an AssertionError with ``diagnose()`` (e.g. the
    operator's log tail) and the names of the namespace's Jobs."""
    def found() -> dict[str, Any] | None:
        return next(iter(jobs(api, ns, prefix)), None)

    try:
        return wait_until(found, timeout=timeout, what=f"a Job {prefix}* in {ns}")
    except TimeoutError:
        if diagnose is None:
            raise
        seen = sorted(j["metadata"]["name"] for j in jobs(api, ns, ""))
        raise AssertionError(f"no Job {prefix}* in {ns} within {timeout} s; Jobs there: {seen}\n{diagnose()}") from None


def pods_per_completion_index(api: Api, ns: str, prefix: str) -> dict[tuple[str, str], int]:
    """(Job, completion index) -> how many Pods ran it, for the Jobs named ``prefix``*."""
    per_index: dict[tuple[str, str], int] = {}
    for pod in pods(api, ns, prefix):
        key = (pod["metadata"]["labels"]["batch.kubernetes.io/job-name"],
               pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"])
        per_index[key] = per_index.get(key, 0) + 1
    return per_index
