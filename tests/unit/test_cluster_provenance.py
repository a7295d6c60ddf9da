"""``barque why`` and ``barque graph --run`` about runs the operator made: what a Pipeline's runs
stored is read under its refs scope and env, and a PipelineRun's picture comes from its pinned
run id's records, with the steps the operator never recorded (cancelled) from its status.

Real: the operator's reconcile with ``barque exec`` as each Pod and a local-folder store
(``tests/unit/cluster_sim.py`` says what is simulated); ``barque_runtime.lineage.why`` as the CLI
calls it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from barque.artifacts import cluster_ref_scope
from barque.errors import BarqueError
from barque.graphviz import run_states
from barque.hookstore import hooks_of_run
from barque.store import open_store
from barque_cli.cluster_records import cluster_run_records
from barque_runtime.lineage import ClusterScope, why
from tests.pipelines import FAILS_EARLY, HOOKED
from tests.unit.cluster_sim import Cluster

PIPELINE = """
    from barque import asset

    @asset(env=["MODE"])
    def raw() -> list:
        return [1, 2, 3]

    @asset(inputs={"raw": raw})
    def total(raw: list) -> int:
        return sum(raw)
"""

def _project(tmp_path: Path, source: str) -> Path:
    (tmp_path / "barque.toml").write_text("")
    (tmp_path / "pipeline.py").write_text(textwrap.dedent(source).lstrip())
    return tmp_path / "pipeline.py"


@pytest.fixture
def ran(tmp_path: Path) -> tuple[Path, Cluster, dict]:
    files = _project(tmp_path, PIPELINE)
    cluster = Cluster([files], tmp_path / "cluster-store")
    cluster.pipeline["spec"]["defaults"]["env"] = {"MODE": "prod"}
    run = cluster.run("demo-1")
    assert run["status"]["phase"] == "Succeeded", run["status"]
    return files, cluster, run


def _scope(env: dict[str, str]) -> ClusterScope:
    return ClusterScope(scope=cluster_ref_scope("team-a", "demo"), env=env)


def test_why_names_the_pipelineruns_run_id_for_a_value_the_operator_stored(ran: tuple[Path, Cluster, dict]) -> None:
    files, cluster, run = ran
    (total,) = why([str(files)], "total", store=str(cluster.store), cluster=_scope({"MODE": "prod"}), depth=1)
    assert total.run_id == run["status"]["runId"] and total.run is not None and total.run.state == "succeeded"
    assert (total.today, total.reason) == ("current", "cached")
    (producer,) = total.inputs[0].producers
    assert producer.step == "pipeline.py:raw" and producer.run_id == run["status"]["runId"]


def test_why_judges_a_cluster_value_with_the_pipelines_env_not_the_shells(ran: tuple[Path, Cluster, dict],
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    files, cluster, _ = ran
    monkeypatch.setenv("MODE", "local")
    (raw,) = why([str(files)], "raw", store=str(cluster.store), cluster=_scope({"MODE": "prod"}))
    assert raw.today == "current"
    (changed,) = why([str(files)], "raw", store=str(cluster.store), cluster=_scope({"MODE": "staging"}))
    assert changed.today == "stale"


def test_why_without_the_pipeline_finds_no_value_of_the_local_project(ran: tuple[Path, Cluster, dict]) -> None:
    files, cluster, _ = ran
    with pytest.raises(BarqueError, match="has no stored value"):
        why([str(files)], "total", store=str(cluster.store))


def test_a_pipelineruns_records_give_each_node_its_state(ran: tuple[Path, Cluster, dict]) -> None:
    _, cluster, run = ran
    recs = cluster_run_records(open_store(str(cluster.store)), run, run["status"]["runId"])
    assert {n: s.state for n, s in run_states(recs.values()).items()} == {
        "pipeline.py:raw": "succeeded", "pipeline.py:total": "succeeded"}


def test_steps_a_fail_fast_run_cancelled_show_cancelled_in_its_picture(tmp_path: Path) -> None:
    cluster = Cluster([_project(tmp_path, FAILS_EARLY)], tmp_path / "cluster-store", parallelism=3)
    run = cluster.run("ff-1", failurePolicy="FailFast")
    assert run["status"]["phase"] == "Failed", run["status"]
    recs = cluster_run_records(open_store(str(cluster.store)), run, run["status"]["runId"])
    states = {n: s.state for n, s in run_states(recs.values()).items()}
    assert states["pipeline.py:broken"] == "failed" and states["pipeline.py:later"] == "cancelled"


def test_the_hooks_of_a_pipelinerun_are_in_its_picture_with_their_own_state(tmp_path: Path) -> None:
    cluster = Cluster([_project(tmp_path, HOOKED)], tmp_path / "cluster-store")
    run = cluster.run("hooked-1")
    store, run_id = open_store(str(cluster.store)), run["status"]["runId"]
    states = run_states(cluster_run_records(store, run, run_id).values(), hooks_of_run(store, run_id))
    assert {n: s.state for n, s in states.items()} == {
        "pipeline.py:src": "succeeded", "pipeline.py:broken": "failed",
        "pipeline.py:alert": "succeeded", "pipeline.py:pager": "failed"}
