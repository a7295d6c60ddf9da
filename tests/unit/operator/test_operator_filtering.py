"""Filtered steps in the cluster: the operator's status, printer columns and metrics carry them.

Real: the operator's reconcile with ``barque exec`` as each Pod (``tests/unit/cluster_sim.py``
says what is simulated), on the checked-in edge-filter example.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from barque_operator.crdgen import pipelinerun_crd
from tests.unit.cluster_sim import Cluster, step_states

ROOT = Path(__file__).resolve().parents[3]


def _cluster(tmp_path: Path) -> Cluster:
    (tmp_path / "src").mkdir()
    shutil.copy(ROOT / "examples/filtering/pipeline.py", tmp_path / "src/pipeline.py")
    return Cluster([tmp_path / "src/pipeline.py"], tmp_path / "store", parallelism=2, work=tmp_path)


def test_a_run_with_filtered_steps_succeeds_and_its_status_counts_them(tmp_path: Path) -> None:
    run = _cluster(tmp_path).run()
    status = run["status"]
    assert status["phase"] == "Succeeded"
    assert status["counts"]["filtered"] == 2 and status["counts"]["skipped"] == 0
    assert step_states(run)["pipeline.py:revenue[region=emea]"] == "filtered"
    entry = {s["id"]: s for s in status["steps"]}["pipeline.py:with_orders[region=emea]"]
    assert entry["message"] == "no orders in this region"


def test_the_steps_metric_counts_filtered_steps_by_their_state(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path)
    cluster.run()
    value = cluster.ctx.metrics.registry.get_sample_value(
        "barque_steps_total", {"namespace": "team-a", "pipeline": "demo", "state": "filtered"})
    assert value == 2


def test_kubectl_get_pipelineruns_wide_shows_the_filtered_count() -> None:
    columns = pipelinerun_crd()["spec"]["versions"][0]["additionalPrinterColumns"]
    assert {"name": "Filtered", "jsonPath": ".status.counts.filtered"}.items() <= next(c for c in columns if c["name"] == "Filtered").items()
