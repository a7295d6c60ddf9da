"""The local runner and the operator reach the same step states for the same pipeline: both ask
the run driver (``barque.rundriver``), so the laptop and the cluster cannot drift.

Real: ``barque.run`` with its worker processes and a local-folder store; the operator's reconcile
with ``barque exec`` as each Pod (``tests/unit/cluster_sim.py`` says what is simulated).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import barque
from barque.records import read_step_records
from barque.store import open_store
from tests.pipelines import FAILS_BEFORE_A_LATER_STEP, FILTERED_KEY_SOURCE, KILLED
from tests.unit.cluster_sim import Cluster, local_states, step_states

SCENARIOS = {
    "a failure skips what reads it, independent streams finish": """
        from barque import asset

        @asset()
        def src() -> int:
            return 1

        @asset(inputs={"s": src})
        def broken(s: int) -> int:
            raise ValueError("bad row")

        @asset(inputs={"b": broken})
        def below(b: int) -> int:
            return b

        @asset(inputs={"s": src})
        def fine(s: int) -> int:
            return s + 1

        @asset(inputs={"f": fine, "b": below})
        def joined(f: int, b: int) -> int:
            return f + b

        @asset()
        def alone() -> str:
            return "x"
    """,
    "keys an upstream returns grow the plan, one failing key skips its dependants": """
        from barque import asset, collect, partitions_from

        @asset()
        def regions() -> list:
            return ["amer", "emea", "apac"]

        @asset(partitions={"region": partitions_from(regions)})
        def sales(region: str) -> int:
            if region == "emea":
                raise RuntimeError("feed down")
            return len(region)

        @asset(inputs={"s": sales})
        def doubled(s: int) -> int:
            return 2 * s

        @asset(inputs={"all": collect(sales)})
        def total(all: list) -> int:
            return sum(all)
    """,
    "a partition expression is evaluated by a step in both places": """
        from barque import asset, partitions

        def shards():
            return ["s0", "s1"]

        @asset(partitions={"shard": partitions(shards())})
        def part(shard: str) -> str:
            return shard

        @asset(inputs={"p": part})
        def upper(p: str) -> str:
            return p.upper()
    """,
    "a skipped key is filtered with its dependants, a collect gets the keys that produced": """
        from barque import Skip, asset, collect, partitions

        @asset(partitions={"region": partitions(["amer", "emea", "apac"])})
        def orders(region: str) -> list:
            return [] if region == "emea" else [len(region)]

        @asset(inputs={"o": orders})
        def with_orders(o: list) -> list:
            return o if o else Skip("no orders")

        @asset(inputs={"o": with_orders})
        def revenue(o: list) -> int:
            return sum(o)

        @asset(inputs={"all": collect(revenue)})
        def total(all: list) -> int:
            return sum(all)
    """,
    "a filtered source of partition keys plans nothing below it and fails nothing": FILTERED_KEY_SOURCE,
    "a process killed mid-step crashes it, not fails it": KILLED,
}


def _project(folder: Path, source: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "pipeline.py").write_text(textwrap.dedent(source))
    return folder / "pipeline.py"


@pytest.mark.parametrize("source", SCENARIOS.values(), ids=list(SCENARIOS))
def test_the_local_runner_and_the_operator_reach_the_same_step_states(tmp_path: Path, source: str) -> None:
    local_file = _project(tmp_path / "local", source)
    summary = barque.run(str(local_file), workers=2)
    cluster = Cluster([_project(tmp_path / "cluster", source)], tmp_path / "store", parallelism=2, work=tmp_path)
    run = cluster.run()
    assert step_states(run) == local_states(summary)
    assert run["status"]["phase"] == {"succeeded": "Succeeded", "failed": "Failed"}[summary["status"]]
    assert run["status"]["plan"]["phaseCount"] == summary["phases"]  # the same grown plan


@pytest.mark.parametrize("scenario", ["keys an upstream returns grow the plan, one failing key skips its dependants",
                                      "a skipped key is filtered with its dependants, a collect gets the keys that produced"])
def test_a_second_run_is_cached_in_both_places(tmp_path: Path, scenario: str) -> None:
    source = SCENARIOS[scenario]
    local_file = _project(tmp_path / "local", source)
    barque.run(str(local_file), workers=2)
    again = barque.run(str(local_file), workers=2)
    cluster = Cluster([_project(tmp_path / "cluster", source)], tmp_path / "store", parallelism=2, work=tmp_path)
    cluster.run("first")
    second = cluster.run("second")
    assert step_states(second) == local_states(again)
    assert "cached" in set(local_states(again).values())


FAILS_BEFORE_A_LATER_PHASE = """
    from barque import asset

    @asset()
    def source() -> int:
        return 1

    @asset(inputs={"s": source})
    def broken(s: int) -> int:
        raise ValueError("bad")

    @asset(inputs={"s": source})
    def independent(s: int) -> int:
        return s

    @asset(inputs={"i": independent, "s": source})
    def later(i: int, s: int) -> int:
        return i
"""


def test_fail_fast_cancels_the_later_phases_in_both_places_and_continue_runs_them(tmp_path: Path) -> None:
    local_file = _project(tmp_path / "local", FAILS_BEFORE_A_LATER_PHASE)
    fast = local_states(barque.run(str(local_file), workers=2, fail_fast=True))
    cluster = Cluster([_project(tmp_path / "cluster", FAILS_BEFORE_A_LATER_PHASE)], tmp_path / "store", parallelism=2, work=tmp_path)
    in_cluster = step_states(cluster.run("fast", failurePolicy="FailFast"))
    for states in (fast, in_cluster):
        assert (states["pipeline.py:broken"], states["pipeline.py:later"]) == ("failed", "cancelled")
    assert step_states(cluster.run("continue"))["pipeline.py:later"] == "succeeded"
    assert local_states(barque.run(str(local_file), workers=2))["pipeline.py:later"] == "succeeded"


def test_fail_fast_stops_a_stream_at_its_failure_in_both_places(tmp_path: Path) -> None:
    # One worker, parallelism 1: both steps share a stream, so a worker or a Pod has to stop it itself.
    local = local_states(barque.run(str(_project(tmp_path / "local", FAILS_BEFORE_A_LATER_STEP)), workers=1, fail_fast=True))
    cluster = Cluster([_project(tmp_path / "cluster", FAILS_BEFORE_A_LATER_STEP)], tmp_path / "store", parallelism=1, work=tmp_path)
    run = cluster.run("fast", failurePolicy="FailFast")
    assert step_states(run) == local == {"pipeline.py:broken": "failed", "pipeline.py:later": "cancelled"}
    stored = read_step_records(open_store(str(tmp_path / "store")), run["status"]["runId"])["pipeline.py:later"]
    assert (stored["state"], stored.get("by")) == ("cancelled", None)  # the Pod's own record: its stream stopped


def test_a_pipelines_fail_fast_default_reaches_its_pods_and_a_runs_continue_wins(tmp_path: Path) -> None:
    cluster = Cluster([_project(tmp_path / "cluster", FAILS_BEFORE_A_LATER_STEP)], tmp_path / "store", parallelism=1, work=tmp_path)
    cluster.pipeline["spec"]["defaults"]["failurePolicy"] = "FailFast"
    assert step_states(cluster.run("by-default"))["pipeline.py:later"] == "cancelled"
    assert step_states(cluster.run("continue", failurePolicy="Continue"))["pipeline.py:later"] == "succeeded"
