"""``spec.overrides`` on a PipelineRun stubs an asset's output as ``barque.run(overrides=)`` does:
the asset is not run, what reads it gets the stub, and a later real run is not served from it.

Real: ``barque.run`` with its workers and a local-folder store; the operator's reconcile with
``barque exec`` as each Pod (``tests/unit/cluster_sim.py`` says what is simulated).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, Mapping

import pytest

import barque
from barque import artifacts, trust
from barque.records import read_step_records
from barque.store import open_store
from tests.unit.cluster_sim import Cluster, local_states, step_states

PIPELINE = """
    from barque import asset

    @asset()
    def raw() -> list:
        return [1, 2, 3]

    @asset(inputs={"raw": raw})
    def total(raw: list) -> int:
        return sum(raw)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "barque.toml").write_text("")
    (tmp_path / "pipeline.py").write_text(textwrap.dedent(PIPELINE).lstrip())
    return tmp_path


def _total(store: Path, run: Mapping[str, Any]) -> Any:
    """The value the cluster run stored for ``total``."""
    s = open_store(str(store))
    record = read_step_records(s, run["status"]["runId"])["pipeline.py:total"]
    return artifacts.read_value(s, artifacts.ArtifactRef.from_dict(record["artifact"]), allowed=trust.DATA_ONLY)


def test_a_cluster_run_with_overrides_reads_the_stub_as_a_local_one_does(project: Path) -> None:
    local = barque.run(str(project / "pipeline.py"), store=str(project / "local-store"), overrides={"raw": [10, 20]})
    cluster = Cluster([project / "pipeline.py"], project / "cluster-store")
    run = cluster.run("stubbed-1", overrides={"raw": [10, 20]})
    assert run["status"]["phase"] == "Succeeded" and local["final_output"] == 30
    assert _total(project / "cluster-store", run) == 30
    assert step_states(run) == local_states(local) | {"pipeline.py:raw": "cached"}


def test_a_real_cluster_run_after_a_stubbed_one_is_not_served_from_the_stub(project: Path) -> None:
    cluster = Cluster([project / "pipeline.py"], project / "cluster-store")
    cluster.run("stubbed-1", overrides={"raw": [10, 20]})
    real = cluster.run("real-1")
    assert step_states(real) == {"pipeline.py:raw": "succeeded", "pipeline.py:total": "succeeded"}
    assert _total(project / "cluster-store", real) == 6


def test_an_override_naming_no_asset_fails_the_run_before_it_starts(project: Path) -> None:
    run = Cluster([project / "pipeline.py"], project / "cluster-store").run("bad-1", overrides={"nope": 1})
    assert run["status"]["phase"] == "Failed"
    assert run["status"]["message"].startswith("spec.overrides: unknown target 'nope'")
