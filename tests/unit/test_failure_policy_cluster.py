"""A Pipeline's ``spec.defaults.failurePolicy`` is its runs' failure policy unless a run's own
``spec.failurePolicy`` says otherwise, as ``barque run --fail-fast`` is per run locally.

Real: the operator's reconcile with ``barque exec`` as each Pod and a local-folder store
(``tests/unit/cluster_sim.py`` says what is simulated).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.cluster_sim import Cluster, step_states
from tests.pipelines import FAILS_EARLY
from tests.unit.test_cluster_provenance import _project


@pytest.fixture
def fail_fast_pipeline(tmp_path: Path) -> Cluster:
    cluster = Cluster([_project(tmp_path, FAILS_EARLY)], tmp_path / "cluster-store", parallelism=3)
    cluster.pipeline["spec"]["defaults"]["failurePolicy"] = "FailFast"
    return cluster


def test_a_run_of_a_fail_fast_pipeline_stops_at_its_first_failure(fail_fast_pipeline: Cluster) -> None:
    states = step_states(fail_fast_pipeline.run("ff-1"))
    assert states["pipeline.py:broken"] == "failed" and states["pipeline.py:later"] == "cancelled"


def test_a_run_that_asks_to_continue_overrides_its_pipelines_fail_fast(fail_fast_pipeline: Cluster) -> None:
    states = step_states(fail_fast_pipeline.run("go-on-1", failurePolicy="Continue"))
    assert states["pipeline.py:broken"] == "failed" and states["pipeline.py:later"] == "succeeded"
