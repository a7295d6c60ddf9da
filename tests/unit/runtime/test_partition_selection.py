"""`--partition dim=key` selects keys across the run, as barca's "Selecting keys" does.

Real: the `barque` CLI in a child process and a local-folder store in a temp folder; the
argument parser is checked as a pure function.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from barque.errors import BarqueError
from barque_runtime.positionals import parse_selection

from .clirun import barque, pipeline, ran, run_ok

SALES = """
from barque import asset, collect, partitions, partitions_from

@asset(partitions={"region": partitions(["amer", "apac", "emea"])})
def sales(region: str) -> int:
    trace("sales " + region)
    return len(region)

@asset(partitions={"region": partitions_from(sales)}, inputs={"sales": sales})
def scored(region: str, sales: int) -> int:
    trace("scored " + region)
    return sales * 2

@asset(inputs={"all": collect(scored)})
def total(all: list) -> int:
    trace("total")
    return sum(all)
"""


def test_partition_narrows_every_node_with_the_dimension_upstream_included(tmp_path: Path) -> None:
    pipeline(tmp_path, SALES)
    summary = run_ok("scored", "pipeline.py", "--partition", "region=emea,amer", cwd=tmp_path)
    assert summary["final_output"] == {"region=amer": 8, "region=emea": 8}
    assert sorted(ran(tmp_path)) == ["sales amer", "sales emea", "scored amer", "scored emea"]


def test_a_selected_key_is_cached_for_a_later_full_run(tmp_path: Path) -> None:
    pipeline(tmp_path, SALES)
    run_ok("scored", "pipeline.py", "--partition", "region=emea", cwd=tmp_path)
    ran(tmp_path)
    run_ok("total", "pipeline.py", cwd=tmp_path)
    assert sorted(ran(tmp_path)) == ["sales amer", "sales apac", "scored amer", "scored apac", "total"]


def test_without_target_a_fan_in_over_a_narrowed_node_is_skipped_and_the_exit_code_unchanged(tmp_path: Path) -> None:
    pipeline(tmp_path, SALES)
    result = barque("get", "pipeline.py", "--partition", "region=apac", cwd=tmp_path)
    assert result.code == 0, result.stderr
    steps = {s["id"]: s for s in result.json["steps"]}
    assert (steps["pipeline.py:total"]["status"], steps["pipeline.py:total"]["reason"]) == ("skipped", "partition_selection")
    assert "total" not in ran(tmp_path)


def test_a_json_object_selects_compound_keys_and_refresh_recomputes_only_them(tmp_path: Path) -> None:
    pipeline(tmp_path, SALES)
    run_ok("scored", "pipeline.py", cwd=tmp_path)
    ran(tmp_path)
    run_ok("scored", "pipeline.py", "--partition", '{"region": ["apac"]}', "--refresh", "scored", cwd=tmp_path)
    assert ran(tmp_path) == ["scored apac"]


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ("day=1", "no node the run needs has the dimension 'day'"),
        ("region=mars", "no step has that key"),
        ("region", "is not DIMENSION=KEY"),
    ],
)
def test_a_selection_that_cannot_match_is_a_usage_error(tmp_path: Path, selection: str, message: str) -> None:
    pipeline(tmp_path, SALES)
    result = barque("get", "scored", "pipeline.py", "--partition", selection, cwd=tmp_path)
    assert result.code == 2 and message in result.stderr
    assert ran(tmp_path) == []


def test_a_target_the_selection_skips_is_a_usage_error(tmp_path: Path) -> None:
    pipeline(tmp_path, SALES)
    result = barque("get", "total", "pipeline.py", "--partition", "region=emea", cwd=tmp_path)
    assert result.code == 2 and "leaves nothing of pipeline.py:total" in result.stderr


def test_parse_selection_takes_barcas_forms() -> None:
    assert parse_selection(None) == {}
    assert parse_selection("region=emea,amer") == {"region": ("emea", "amer")}
    assert parse_selection(["region=emea", "region=amer,emea"]) == {"region": ("emea", "amer")}
    assert parse_selection('{"region": "emea", "day": ["d1", "d2"]}') == {"region": ("emea",), "day": ("d1", "d2")}
    assert parse_selection({"region": "emea"}) == {"region": ("emea",)}
    for bad in ("region=", "=emea", "region=a,,b", "{not json"):
        with pytest.raises(BarqueError):
            parse_selection(bad)


def test_plan_takes_the_selection_and_lists_what_it_skips(tmp_path: Path) -> None:
    pipeline(tmp_path, SALES)
    result = barque("plan", "pipeline.py", "--partition", "region=amer", cwd=tmp_path)
    assert result.code == 0, result.stderr
    doc = result.json
    assert sorted(s["id"] for s in doc["steps"]) == ["pipeline.py:sales[region=amer]", "pipeline.py:scored[region=amer]"]
    assert doc["skipped"] == ["pipeline.py:total"]
