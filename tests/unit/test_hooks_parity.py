"""Run hooks reach the same end on the laptop and in the cluster: the driver picks the same hooks,
each gets the same report, a failed hook is reported (summary ``hooks[]``, status ``hooks``) and
the run keeps the outcome its steps made.

Real: ``barque.run`` with its workers and a local-folder store; the operator's reconcile with
``barque exec`` as each Pod, the hook Job's too (``tests/unit/cluster_sim.py`` says what is
simulated).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any, Mapping

import pytest

import barque
from tests.pipelines import HOOKED
from tests.unit.cluster_sim import Cluster, local_states, step_states


def _hooks(entries: Any) -> dict[str, str]:
    return {h["hook"]: h["state"] for h in entries or ()}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "barque.toml").write_text("")
    (tmp_path / "pipeline.py").write_text(textwrap.dedent(HOOKED).lstrip())
    return tmp_path


def test_both_runners_call_the_same_hooks_with_the_report_and_keep_the_runs_outcome(project: Path) -> None:
    summary = barque.run(str(project / "pipeline.py"), store=str(project / "local-store"), workers=2)
    cluster = Cluster([project / "pipeline.py"], project / "cluster-store").run()
    status: Mapping[str, Any] = cluster["status"]
    assert summary["status"] == "failed" and status["phase"] == "Failed"
    assert status["message"].startswith("step pipeline.py:broken failed: ValueError: bad row")
    expected = {"pipeline.py:alert": "succeeded", "pipeline.py:pager": "failed"}
    assert _hooks(summary["hooks"]) == _hooks(status["hooks"]) == expected
    assert local_states(summary) == step_states(cluster)


def test_the_cluster_runs_the_hooks_as_the_runs_last_job_indexed_by_hook(project: Path) -> None:
    sim = Cluster([project / "pipeline.py"], project / "cluster-store")
    sim.run()
    hook_job = next(j for j in sim.kube.jobs.values() if j["metadata"]["name"].endswith("-p1000000"))
    assert hook_job["spec"]["completionMode"] == "Indexed" and hook_job["spec"]["completions"] == 2
    assert hook_job["spec"]["template"]["spec"]["containers"][0]["command"][-1] == "--hooks"
    label = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")  # what the API server accepts
    assert all(label.fullmatch(v) for v in hook_job["metadata"]["labels"].values())


def test_a_run_whose_outcome_calls_no_hook_creates_no_hook_job(project: Path) -> None:
    source = textwrap.dedent(HOOKED).lstrip()
    (project / "pipeline.py").write_text(source.replace('on="always"', 'on="success"').replace('on="failure"', 'on="success"'))
    sim = Cluster([project / "pipeline.py"], project / "cluster-store")
    run = sim.run()
    assert "hooks" not in run["status"]
    assert not [j for j in sim.kube.jobs if j.endswith("-p1000000")]


def test_a_run_stopped_by_its_deadline_runs_its_always_hooks_before_it_ends(project: Path) -> None:
    (project / "pipeline.py").write_text(textwrap.dedent("""
        from barque import asset, task

        @asset()
        def src() -> int:
            return 1

        @task(on="always")
        def cleanup(run_report) -> None:
            assert run_report["status"] == "cancelled", run_report

        @task(on="failure")
        def alert() -> None:
            pass
    """).lstrip())
    run = Cluster([project / "pipeline.py"], project / "cluster-store").run("late-1", timeoutSeconds=1)
    assert run["status"]["phase"] == "Failed" and run["status"]["message"].startswith("timed out")
    assert _hooks(run["status"]["hooks"]) == {"pipeline.py:cleanup": "succeeded"}
