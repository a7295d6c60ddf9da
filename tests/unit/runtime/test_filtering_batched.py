"""``run_if=`` and ``Skip`` on partitioned and ``batch=`` nodes: a key that is filtered ends
``filtered`` alone, what reads that key is filtered (never skipped), a ``collect`` receives the
keys that produced, and a batched call never sees a key its ``run_if`` rejected.

Real: ``barque.run`` with its worker processes and a local-folder store in a temporary folder.
"""

from __future__ import annotations

import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import barque

from .clirun import pipeline, ran

BATCHED = """
from barque import Skip, asset, collect, partitions

@asset(partitions={"region": partitions(["amer", "apac", "emea"])})
def orders(region: str) -> list:
    return {"amer": [120, 5], "apac": [30], "emea": []}[region]

@asset(inputs={"orders": orders}, partitions={"region": partitions(["amer", "apac", "emea"])}, batch="all",
       run_if=lambda orders: len(orders) > 0)
def revenue(orders: dict, region: list) -> dict:
    trace("revenue " + ",".join(region))
    return {r: sum(orders[r]) for r in region}

@asset(inputs={"per_region": collect(revenue)})
def total(per_region: list) -> list:
    return per_region
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pipeline(tmp_path, BATCHED)
    monkeypatch.chdir(tmp_path)  # the trace is written in the working folder
    return tmp_path


def _states(summary: dict[str, Any]) -> dict[str, str]:
    return {s["id"].removeprefix("pipeline.py:"): s["status"] for s in summary["steps"]}


def test_run_if_on_a_batched_node_filters_the_keys_it_rejects_and_the_call_never_sees_them(project: Path) -> None:
    summary = barque.run(str(project / "pipeline.py"), workers=1)
    assert summary["status"] == "succeeded"
    assert _states(summary)["revenue[region=emea]"] == "filtered"
    assert ran(project) == ["revenue amer,apac"]


def test_a_collect_over_a_batched_node_with_filtered_keys_receives_the_keys_that_produced(project: Path) -> None:
    summary = barque.run(str(project / "pipeline.py"), workers=1, target="total")
    assert summary["final_output"] == [125, 30]


def test_a_batched_keys_filtered_verdict_is_cached_so_a_second_run_calls_nothing(project: Path) -> None:
    barque.run(str(project / "pipeline.py"), workers=1)
    ran(project)
    again = barque.run(str(project / "pipeline.py"), workers=1)
    assert ran(project) == []
    assert _states(again)["revenue[region=emea]"] == "filtered" and again["steps_executed"] == 0


# -- the rule as a property, over keys, filters and groupings ----------------------------------

PROPERTY = """
from barque import Skip, asset, collect, partitions

KEYS = {keys!r}

@asset(partitions={{"region": partitions(KEYS)}})
def orders(region: str) -> list:
    if region in {skip!r}:
        return Skip("closed")
    return [] if region in {empty!r} else [len(region)]

@asset(inputs={{"orders": orders}}, partitions={{"region": partitions(KEYS)}}, run_if=lambda orders: len(orders) > 0{batch})
{revenue}

@asset(inputs={{"revenue": revenue}})
def flag(revenue: int) -> bool:
    return revenue > 2

@asset(inputs={{"per_region": collect(revenue)}})
def total(per_region: list) -> list:
    return per_region
"""
UNBATCHED = """def revenue(orders: list, region: str) -> int:
    return sum(orders)"""
BATCHED_REVENUE = """def revenue(orders: dict, region: list) -> dict:
    return {r: sum(orders[r]) for r in region}"""

NAMES = ["a", "bb", "ccc", "dddd", "eeeee"]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.sampled_from(NAMES), min_size=1, max_size=5, unique=True).map(sorted),
    st.sets(st.sampled_from(NAMES)),
    st.sets(st.sampled_from(NAMES)),
    st.sampled_from([None, "1", "2", '"all"']),
)
def test_filtered_keys_and_what_reads_them_are_filtered_never_skipped_and_collect_gets_the_rest(
    keys: list[str], skip: set[str], empty: set[str], batch: str | None
) -> None:
    source = PROPERTY.format(keys=keys, skip=sorted(skip), empty=sorted(empty),
                             batch="" if batch is None else f", batch={batch}",
                             revenue=UNBATCHED if batch is None else BATCHED_REVENUE)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "pipeline.py").write_text(textwrap.dedent(source))
        summary = barque.run(str(Path(tmp) / "pipeline.py"), target=["flag", "total"], workers=2, store=str(Path(tmp) / "store"))
    states = _states(summary)
    assert summary["status"] == "succeeded" and "skipped" not in states.values()
    for key in keys:
        blocked = key in skip or key in empty
        assert states[f"orders[region={key}]"] == ("filtered" if key in skip else "ran")
        assert states[f"revenue[region={key}]"] == ("filtered" if blocked else "ran")
        assert states[f"flag[region={key}]"] == ("filtered" if blocked else "ran")
    assert summary["targets"]["total"]["final_output"] == [len(k) for k in keys if k not in skip and k not in empty]
