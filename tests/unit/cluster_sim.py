"""A PipelineRun carried through the operator's real reconcile, with its Jobs' Pods run as processes.

What is real: the operator's ``reconcile_run`` (and so the run driver), the store (a local
folder), the runtime in each "Pod" (``barque exec`` in a child process, as the image runs it),
the Pods' termination messages. What is simulated: the API server and the Job controller (a
dict of Jobs; each created Job runs all its indexes at once, then ends Complete or Failed) and
the kubelet's view of a Pod that died (its exit code, from the child's).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Mapping

from barque_cli.cmd_compile import build_manifest, read_sources
from barque.parsing import parse_project
from barque_operator.context import Context
from barque_operator.metrics import Metrics
from barque_operator.observed import JobView
from barque_operator.reconcile import TERMINAL
from barque_operator.runcycle import Seen, reconcile_run
from barque_operator.settings import OperatorSettings

INDEX = "batch.kubernetes.io/job-completion-index"


class FakeKube:
    """The API objects a reconcile touches: Jobs created and deleted, Pods of each Job."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.pods: dict[str, list[dict[str, Any]]] = {}
        self.runs: dict[str, dict[str, Any]] = {}

    def create_job(self, body: Mapping[str, Any]) -> bool:
        name = body["metadata"]["name"]
        if name in self.jobs:
            return False
        self.jobs[name] = dict(body)
        return True

    def delete_job(self, namespace: str, name: str) -> None:
        self.jobs.pop(name, None)

    def list_job_pods(self, namespace: str, job_name: str) -> list[dict[str, Any]]:
        return self.pods.get(job_name, [])

    def get_run(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.runs.get(name)


class Cluster:
    """One namespace with one Pipeline compiled from ``files``, parallelism ``parallelism``."""

    def __init__(self, files: list[Path], store: Path, parallelism: int = 2, work: Path | None = None) -> None:
        graph = parse_project([str(f) for f in files])
        sources = read_sources(Path(graph.root), graph.files)
        self.pipeline = build_manifest(graph.to_dict(), sources, name="demo", namespace="team-a", image="img:1",
                                       store=str(store))
        self.pipeline["metadata"]["uid"] = "11111111-2222-3333-4444-555555555555"
        self.pipeline["metadata"]["generation"] = 1
        self.pipeline["spec"].setdefault("defaults", {})["parallelism"] = parallelism
        self.store = store
        self.work = work or store.parent
        self.kube = FakeKube()
        self.now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
        self.ctx = Context(settings=OperatorSettings(default_image="img:1", default_store=str(store)),
                           kube=self.kube, metrics=Metrics(), clock=lambda: self.now)  # type: ignore[arg-type]
        self.views: dict[str, JobView] = {}

    def run(self, name: str = "demo-1", **spec: Any) -> dict[str, Any]:
        """Create a PipelineRun and reconcile it until it ends; its final object."""
        body: dict[str, Any] = {
            "apiVersion": "barque.dev/v1alpha1", "kind": "PipelineRun",
            "metadata": {"name": name, "namespace": "team-a", "uid": f"abcdef12-0000-4000-8000-{len(self.kube.runs):012d}",
                         "generation": 1, "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"pipelineRef": {"name": "demo"}, **spec},
            "status": {},
        }
        self.kube.runs[name] = body
        for _ in range(100):
            jobs = {v.phase: v for v in self.views.values() if v.name.startswith(f"{name}-")}
            seen = Seen(jobs=jobs, pipeline=lambda ns, n: self.pipeline if n == "demo" else None)
            new = reconcile_run(self.ctx, body, seen)
            body["status"] = {k: v for k, v in {**body["status"], **new}.items() if v is not None}
            if body["status"].get("phase") in TERMINAL:
                return body
            for index, view in seen.created.items():
                self._run_job(body, index, view)
            self.now += timedelta(seconds=1)
        raise AssertionError(f"run {name} did not end: {body['status'].get('phase')}")

    def _command(self, job_name: str) -> list[str]:
        """The Job's container command after ``barque`` (a phase's ``exec --phase N``, the hook
        Job's ``exec --hooks``), with its ``$(VAR)`` references filled in from its env."""
        container = self.kube.jobs[job_name]["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e["value"] for e in container["env"]}
        out = []
        for arg in container["command"][1:]:
            for name, value in env.items():
                arg = arg.replace(f"$({name})", value)
            out.append(arg)
        return out

    def _run_job(self, run: Mapping[str, Any], phase: int, view: JobView) -> None:
        """Every index of the Job runs ``barque exec``; the Job ends Complete or Failed."""
        pods, failed = [], []
        for index in range(view.completions):
            log = self.work / f"term-{view.name}-{index}"
            # Each Pod has its own /tmp (an emptyDir), where it writes the run's inline code out:
            # a shared one would let two tests' runs of the same name import each other's files.
            tmp = self.work / f"tmp-{view.name}-{index}"
            tmp.mkdir(exist_ok=True)
            env = {**os.environ, "BARQUE_TERMINATION_LOG": str(log), "JOB_COMPLETION_INDEX": str(index), "TMPDIR": str(tmp)}
            proc = subprocess.run(
                [sys.executable, "-m", "barque_cli.main", *self._command(view.name)],
                env=env, cwd=self.work, capture_output=True, text=True, timeout=120,
            )
            code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode  # the kubelet's way
            message = log.read_text() if log.exists() else proc.stderr[-2000:]
            pods.append({"metadata": {"annotations": {INDEX: str(index)}, "creationTimestamp": "2025-01-01T12:00:00Z"},
                         "status": {"containerStatuses": [{"state": {"terminated": {
                             "exitCode": code, "message": message, "finishedAt": "2025-01-01T12:00:01Z",
                             **({"reason": "Error"} if code else {})}}}]}})
            if code:
                failed.append(index)
        self.kube.pods[view.name] = pods
        self.views[view.name] = replace(view, active=0, succeeded=view.completions - len(failed), failed=len(failed),
                                        outcome="Failed" if failed else "Complete",
                                        reason="FailedIndexes" if failed else "Completions", failed_indexes=tuple(failed),
                                        start_time="2025-01-01T12:00:00Z", completion_time="2025-01-01T12:00:01Z")


def step_states(run: Mapping[str, Any]) -> dict[str, str]:
    return {s["id"]: s["state"] for s in run["status"]["steps"]}


def local_states(summary: Mapping[str, Any]) -> dict[str, str]:
    """A local summary's ``steps[]`` in the record's words (barca's ``ran`` is ``succeeded``)."""
    return {s["id"]: {"ran": "succeeded"}.get(s["status"], s["status"]) for s in summary["steps"]}
