"""Filtered steps: a step that returns ``barque.Skip`` ends ``filtered``; what reads it is
filtered too, a ``collect`` over it receives the keys that produced, and the verdict is cached.

Real: ``barque.run`` with its worker processes and a local-folder store, and ``barque run`` for
the exit code.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import barque
from tests.pipelines import FILTERED_KEY_SOURCE

from .clirun import barque as barque_cli, pipeline, ran

ROOT = Path(__file__).resolve().parents[3]

REGIONS = """
from barque import Skip, asset, collect, partitions, task

EMPTY = ["emea"]

@asset(partitions={"region": partitions(["amer", "emea", "apac"])})
def orders(region: str) -> list:
    return [] if region in EMPTY else [len(region)]

@asset(inputs={"orders": orders})
def with_orders(orders: list) -> list:
    trace(f"with_orders {orders}")
    if not orders:
        return Skip("no orders")
    return orders

@asset(inputs={"orders": with_orders})
def doubled(orders: list) -> list:
    return [2 * x for x in orders]

@asset(inputs={"per_region": collect(doubled)})
def total(per_region: list) -> list:
    trace(f"total {per_region}")
    return per_region
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pipeline(tmp_path, REGIONS)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def states(summary: dict[str, Any]) -> dict[str, str]:
    return {s["id"].removeprefix("pipeline.py:"): s["status"] for s in summary["steps"]}


def test_a_step_that_returns_skip_ends_filtered_with_its_reason(project: Path) -> None:
    summary = barque.run("pipeline.py", workers=2)
    step = next(s for s in summary["steps"] if s["id"] == "pipeline.py:with_orders[region=emea]")
    assert (step["status"], step["reason"], step["detail"]) == ("filtered", "filtered", "no orders")


def test_the_dependants_of_a_filtered_step_are_filtered_not_skipped_and_the_run_succeeds(project: Path) -> None:
    summary = barque.run("pipeline.py", workers=2)
    assert states(summary)["doubled[region=emea]"] == "filtered"
    assert (summary["status"], summary["steps_filtered"], summary["steps_skipped"]) == ("succeeded", 2, 0)


def test_a_collect_over_partly_filtered_keys_receives_the_keys_that_produced_in_key_order(project: Path) -> None:
    summary = barque.run("pipeline.py", workers=2, target="total")
    assert summary["final_output"] == [[8], [8]]  # apac, amer: 2 * len(region), emea left out
    assert ran(project)[-1] == "total [[8], [8]]"


def test_a_filtered_verdict_is_cached_so_a_second_run_calls_nothing(project: Path) -> None:
    barque.run("pipeline.py", workers=2)
    ran(project)
    again = barque.run("pipeline.py", workers=2)
    assert ran(project) == []
    assert states(again)["with_orders[region=emea]"] == "filtered"
    assert again["steps_filtered"] == 2 and again["steps_executed"] == 0


def test_a_key_that_starts_producing_reruns_the_collect_over_it(project: Path) -> None:
    barque.run("pipeline.py", workers=2)
    pipeline(project, REGIONS.replace('EMPTY = ["emea"]', 'EMPTY = ["amer"]'))
    ran(project)
    summary = barque.run("pipeline.py", workers=2, target="total")
    assert summary["final_output"] == [[8], [8]]  # the same values from other keys...
    assert "total [[8], [8]]" in ran(project)  # ...yet a new key: it names which keys produced


def test_a_collect_whose_every_key_was_filtered_receives_an_empty_list(project: Path) -> None:
    pipeline(project, REGIONS.replace('EMPTY = ["emea"]', 'EMPTY = ["amer", "emea", "apac"]'))
    summary = barque.run("pipeline.py", workers=2, target="total")
    assert (summary["status"], summary["final_output"]) == ("succeeded", [])


def test_a_task_that_returns_skip_is_filtered_and_exits_zero(tmp_path: Path) -> None:
    pipeline(tmp_path, """
        from barque import Skip, task

        @task()
        def notify() -> None:
            return Skip("nothing to say")
    """)
    result = barque_cli("run", "pipeline.py", "notify", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert '"steps_filtered": 1' in result.stdout


def test_the_edge_filter_example_passes_on_only_the_regions_with_orders(tmp_path: Path) -> None:
    shutil.copy(ROOT / "examples/filtering/pipeline.py", tmp_path / "pipeline.py")
    summary = barque.run(str(tmp_path / "pipeline.py"), workers=2, target="total")
    assert summary["final_output"] == 245
    assert states(summary)["revenue[region=emea]"] == "filtered"


def test_the_planner_serves_a_collect_over_filtered_keys_from_cache_before_anything_runs(project: Path) -> None:
    from barque_runtime.api import dry_run

    barque.run("pipeline.py", workers=2)
    actions = {s["step"].removeprefix("pipeline.py:"): s["action"] for s in dry_run("pipeline.py")["steps"]}
    assert actions["total"] == "cached"


def test_the_history_counts_a_runs_filtered_steps(project: Path) -> None:
    barque.run("pipeline.py", workers=2)
    history = barque_cli("history", cwd=project).json
    assert history[0]["steps_filtered"] == 2


def test_the_human_summary_says_how_many_steps_were_filtered(project: Path) -> None:
    result = barque_cli("run", "pipeline.py", "--output", "pretty", cwd=project)
    assert ", 2 filtered" in result.stdout.splitlines()[0], result.stdout + result.stderr
    assert any(line.split()[:1] == ["filtered"] for line in result.stdout.splitlines())


RUN_IF = """
from barque import asset, collect, partitions

@asset(partitions={"region": partitions(["amer", "emea", "apac"])})
def orders(region: str) -> list:
    return [] if region == "emea" else [len(region)]

@asset(inputs={"orders": orders}, run_if=lambda orders: len(orders) > 0)
def revenue(orders: list) -> int:
    trace(f"revenue {orders}")
    return sum(orders)

@asset(inputs={"all": collect(revenue)})
def total(all: list) -> int:
    return sum(all)
"""


def test_a_false_run_if_ends_the_step_filtered_without_calling_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline(tmp_path, RUN_IF)
    monkeypatch.chdir(tmp_path)
    summary = barque.run("pipeline.py", workers=2, target="total")
    step = next(s for s in summary["steps"] if s["id"] == "pipeline.py:revenue[region=emea]")
    assert (step["status"], step["detail"]) == ("filtered", "run_if is false: lambda orders: len(orders) > 0")
    assert summary["final_output"] == 8 and sorted(ran(tmp_path)) == ["revenue [4]", "revenue [4]"]


def test_changing_run_if_changes_the_cache_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline(tmp_path, RUN_IF)
    monkeypatch.chdir(tmp_path)
    barque.run("pipeline.py", workers=2)
    ran(tmp_path)
    pipeline(tmp_path, RUN_IF.replace("len(orders) > 0", "len(orders) >= 0"))
    summary = barque.run("pipeline.py", workers=2, target="total")
    assert sorted(ran(tmp_path)) == ["revenue [4]", "revenue [4]", "revenue []"] and summary["steps_filtered"] == 0


@pytest.mark.parametrize(("condition", "says"), [
    ('"orders"', "must be a lambda over its inputs"),
    ("lambda rows: len(rows) > 0", "`rows`, which is not a parameter of revenue()"),
    ("lambda orders: LIMIT < len(orders)", "reads `LIMIT`, which is neither one of its parameters"),
    ("lambda *orders: True", "must take plain parameters"),
])
def test_a_run_if_barque_cannot_read_is_refused_naming_its_line(tmp_path: Path, condition: str, says: str) -> None:
    pipeline(tmp_path, RUN_IF.replace("lambda orders: len(orders) > 0", condition))
    result = barque_cli("run", "pipeline.py", cwd=tmp_path)
    assert result.code != 0 and says in result.stderr and "pipeline.py:7" in result.stderr, result.stderr


def test_a_filtered_source_of_partition_keys_leaves_its_partitioned_dependant_unplanned_and_the_run_succeeds(tmp_path: Path) -> None:
    pipeline(tmp_path, FILTERED_KEY_SOURCE)
    summary = barque.run(str(tmp_path / "pipeline.py"), workers=2)
    assert (summary["status"], summary["steps_filtered"], summary["steps_skipped"]) == ("succeeded", 1, 0)


def test_barque_logs_shows_a_filtered_step_and_its_reason(project: Path) -> None:
    run_id = barque.run("pipeline.py", workers=2)["run_id"]
    result = barque_cli("logs", run_id, "pipeline.py:with_orders[region=emea]", cwd=project)
    assert result.code == 0, result.stderr
    assert "pipeline.py:with_orders[region=emea]: filtered" in result.stdout and "reason: no orders" in result.stdout


def test_a_batched_call_that_returns_skip_for_a_key_filters_that_key_alone(tmp_path: Path) -> None:
    pipeline(tmp_path, """
        from barque import Skip, asset, collect, partitions

        @asset(partitions={"region": partitions(["amer", "emea", "apac"])}, batch="all")
        def orders(region: list[str]) -> dict:
            return {r: Skip("closed") if r == "emea" else len(r) for r in region}

        @asset(inputs={"all": collect(orders)})
        def total(all: list) -> list:
            return all
    """)
    summary = barque.run(str(tmp_path / "pipeline.py"), workers=1, target="total")
    assert states(summary)["orders[region=emea]"] == "filtered"
    assert (summary["status"], summary["final_output"]) == ("succeeded", [4, 4])
