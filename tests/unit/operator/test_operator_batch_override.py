"""A PipelineRun's ``spec.batch`` (barca's ``--batch`` for one run) in the operator's real reconcile.

The operator's ``reconcile_run`` with its Pods run as ``barque exec`` processes
(``tests/unit/cluster_sim.py``); the batched function notes each call's keys in a file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.cluster_sim import Cluster
from tests.unit.runtime.test_batch_flag import PIPELINE as BATCHED  # the same calls as the local --batch tests

PIPELINE = BATCHED + """

@asset(partitions={"k": partitions(["a", "b"])})
def plain(k: str) -> str:
    return k
"""


def _cluster(tmp_path: Path) -> Cluster:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "pipeline.py").write_text(PIPELINE)
    return Cluster([tmp_path / "src" / "pipeline.py"], tmp_path / "store")


@pytest.mark.parametrize(("batch", "calls"), [(["all"], ["a,b,c,d"]), (["scored=3"], ["a,b,c", "d"]), (["none"], ["a", "b", "c", "d"])])
def test_spec_batch_groups_the_runs_calls_as_asked(tmp_path: Path, batch: list[str], calls: list[str]) -> None:
    cluster = _cluster(tmp_path)
    run = cluster.run(targets=["scored"], noCache=True, batch=batch)
    assert run["status"]["phase"] == "Succeeded", run["status"].get("message")
    assert sorted((tmp_path / "calls.txt").read_text().split()) == calls


def test_without_spec_batch_the_nodes_own_batch_applies(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path)
    run = cluster.run(targets=["scored"], noCache=True)
    assert run["status"]["phase"] == "Succeeded", run["status"].get("message")
    assert sorted((tmp_path / "calls.txt").read_text().split()) == ["a,b", "c,d"]


@pytest.mark.parametrize(("batch", "said"), [(["0"], "spec.batch '0': '0' is not none, all or a whole number above 0"),
                                             (["plain=all"], "spec.batch names pipeline.py:plain, which declares no batch=")])
def test_a_spec_batch_the_operator_cannot_apply_fails_the_run_naming_the_field(tmp_path: Path, batch: list[str], said: str) -> None:
    cluster = _cluster(tmp_path)
    run = cluster.run(targets=["scored"], batch=batch)
    assert run["status"]["phase"] == "Failed"
    assert said in run["status"]["message"] and "spec.batch" in run["status"]["message"].split(" (", 1)[1]
    assert not (tmp_path / "calls.txt").exists()
