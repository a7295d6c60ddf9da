"""Partitions: static keys, keys from an upstream, keys known only after a source ran, collect.

Real: the `barque` CLI in a child process and a local-folder store.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .clirun import BARQUE, barque, pipeline, ran, run_ok

STATIC = """
from barque import asset, collect, partitions, partitions_from
import time

@asset(partitions={"region": partitions(["amer", "emea"])})
def orders(region: str) -> list:
    trace("orders:" + region)
    if region == "amer":
        time.sleep(0.1)  # finishes last: collect must still follow key order
    return [{"amer": 1, "emea": 2}[region]] * 2

@asset(partitions={"region": partitions_from(orders)})
def revenue(region: str, orders: list) -> dict:
    trace("revenue:" + region)
    return {"region": region, "total": sum(orders)}

@asset(inputs={"rev": revenue})
def doubled(rev: dict) -> int:
    return rev["total"] * 2

@asset(inputs={"all": collect(revenue)})
def report(all: list) -> list:
    return [r["region"] for r in all]
"""


def test_static_partitions_run_one_step_per_key(tmp_path: Path) -> None:
    pipeline(tmp_path, STATIC)
    summary = run_ok("pipeline.py", "orders", cwd=tmp_path)
    assert summary["final_output"] == {"region=amer": [1, 1], "region=emea": [2, 2]}
    assert sorted(ran(tmp_path)) == ["orders:amer", "orders:emea"]


def test_partitions_from_a_partitioned_upstream_reads_the_same_key(tmp_path: Path) -> None:
    pipeline(tmp_path, STATIC)
    summary = run_ok("pipeline.py", "revenue", cwd=tmp_path)
    assert summary["final_output"] == {
        "region=amer": {"region": "amer", "total": 2},
        "region=emea": {"region": "emea", "total": 4},
    }


def test_dependant_without_collect_inherits_the_partitions(tmp_path: Path) -> None:
    pipeline(tmp_path, STATIC)
    plan = barque("plan", "pipeline.py", "doubled", cwd=tmp_path).json
    assert {s["id"] for s in plan["steps"] if s["node"] == "pipeline.py:doubled"} == {
        "pipeline.py:doubled[region=amer]",
        "pipeline.py:doubled[region=emea]",
    }
    summary = run_ok("pipeline.py", "doubled", cwd=tmp_path)
    assert summary["final_output"] == {"region=amer": 4, "region=emea": 8}


def test_collect_passes_every_partition_as_a_list_in_key_order(tmp_path: Path) -> None:
    pipeline(tmp_path, STATIC)
    summary = run_ok("pipeline.py", "report", "--workers", "2", cwd=tmp_path)
    assert summary["final_output"] == ["amer", "emea"]


FROM_SOURCE = """
from barque import asset, partitions_from

@asset()
def regions() -> dict:
    trace("regions")
    return {"amer": 10, "emea": 20}

@asset(inputs={"amount": regions}, partitions={"region": partitions_from(regions)})
def scaled(region: str, amount: int) -> dict:
    trace("scaled:" + region)
    return {region: amount * 2}
"""


def test_partitions_from_an_unpartitioned_source_are_known_after_it_ran(tmp_path: Path) -> None:
    pipeline(tmp_path, FROM_SOURCE)
    plan = barque("plan", "pipeline.py", cwd=tmp_path).json
    assert plan["deferred"] == [{"node": "pipeline.py:scaled", "waits_for": "pipeline.py:regions"}]
    assert plan["total_steps"] == 1
    summary = run_ok("pipeline.py", cwd=tmp_path)
    assert summary["phases"] == 2  # the plan grew a phase once the keys were known
    assert summary["steps_executed"] == 3


def test_dict_source_gives_each_key_its_own_value(tmp_path: Path) -> None:
    pipeline(tmp_path, FROM_SOURCE)
    summary = run_ok("pipeline.py", "scaled", cwd=tmp_path)
    assert summary["final_output"] == {"region=amer": {"amer": 20}, "region=emea": {"emea": 40}}


def test_changing_one_value_of_a_dict_source_reruns_one_key(tmp_path: Path) -> None:
    pipeline(tmp_path, FROM_SOURCE)
    run_ok("pipeline.py", cwd=tmp_path)
    ran(tmp_path)
    pipeline(tmp_path, FROM_SOURCE.replace('"emea": 20', '"emea": 21'))
    summary = run_ok("pipeline.py", cwd=tmp_path)
    assert ran(tmp_path) == ["regions", "scaled:emea"]
    assert summary["steps_cached"] == 1


def test_dict_source_value_reaches_a_parameter_named_after_the_source(tmp_path: Path) -> None:
    pipeline(tmp_path, FROM_SOURCE.replace('inputs={"amount": regions}, ', "").replace("amount", "regions"))
    summary = run_ok("pipeline.py", "scaled", cwd=tmp_path)
    assert summary["final_output"] == {"region=amer": {"amer": 20}, "region=emea": {"emea": 40}}


def test_list_source_gives_the_keys(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset, partitions_from

        @asset()
        def days() -> list:
            return ["d1", "d2", "d3"]

        @asset(partitions={"day": partitions_from(days)})
        def load(day: str) -> str:
            return day.upper()
        """,
    )
    summary = run_ok("pipeline.py", "load", cwd=tmp_path)
    assert summary["final_output"] == {"day=d1": "D1", "day=d2": "D2", "day=d3": "D3"}


EXPR = """
from barque import asset, partitions
import os

with open("imported-by.txt", "a") as f:
    f.write(f"{os.getpid()}\\n")

def shards():
    return [f"s{i}" for i in range(3)]

@asset(partitions={"shard": partitions(shards())})
def part(shard: str) -> str:
    return shard
"""


def test_planning_expression_partitions_imports_nothing_and_shows_the_step_that_evaluates_them(tmp_path: Path) -> None:
    pipeline(tmp_path, EXPR)
    result = barque("plan", "pipeline.py", cwd=tmp_path)
    assert result.code == 0, result.stderr
    plan = result.json
    assert [s["id"] for s in plan["steps"]] == ["pipeline.py:part#partitions"]
    assert plan["deferred"] == [{"node": "pipeline.py:part", "waits_for": "pipeline.py:part#partitions"}]
    assert not (tmp_path / "imported-by.txt").exists()


def test_expression_partitions_are_evaluated_by_a_step_in_a_worker_and_the_plan_grows(tmp_path: Path) -> None:
    pipeline(tmp_path, EXPR)
    proc = subprocess.Popen([*BARQUE, "run", "pipeline.py"], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    summary = json.loads(out)
    ids = [s["id"] for s in summary["steps"]]
    assert ids[0] == "pipeline.py:part#partitions"
    assert sorted(ids[1:]) == [f"pipeline.py:part[shard=s{i}]" for i in range(3)]
    assert summary["phases"] == 2
    importers = [int(p) for p in (tmp_path / "imported-by.txt").read_text().split()]
    assert importers and proc.pid not in importers


def test_listing_and_drawing_the_graph_never_import_the_pipeline(tmp_path: Path) -> None:
    pipeline(tmp_path, EXPR)
    assert barque("list", "pipeline.py", cwd=tmp_path).code == 0
    assert barque("graph", "pipeline.py", cwd=tmp_path).code == 0
    assert not (tmp_path / "imported-by.txt").exists()


def test_expression_partitions_of_a_module_that_prints_at_import(tmp_path: Path) -> None:
    pipeline(tmp_path, EXPR.replace("import os\n", "import os\nprint('loading')\n"))
    summary = run_ok("pipeline.py", cwd=tmp_path)
    assert summary["final_output"] == {"shard=s0": "s0", "shard=s1": "s1", "shard=s2": "s2"}


def test_a_failing_partition_expression_fails_its_step_with_the_traceback_naming_the_line(tmp_path: Path) -> None:
    pipeline(tmp_path, EXPR.replace("for i in range(3)]", "for i in range(3)] + [1 / 0]"))
    result = barque("run", "pipeline.py", cwd=tmp_path)
    assert result.code == 1
    assert result.json["failures"] == [{"step": "pipeline.py:part#partitions", "error": "ZeroDivisionError: division by zero"}]
    assert "pipeline.py:part#partitions" in result.stderr and "ZeroDivisionError" in result.stderr


def test_one_failing_partition_skips_only_what_reads_it(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset, collect, partitions

        @asset(partitions={"region": partitions(["amer", "emea"])})
        def orders(region: str) -> int:
            if region == "emea":
                raise ValueError("emea feed is down")
            return 1

        @asset(inputs={"o": orders})
        def doubled(o: int) -> int:
            trace("doubled")
            return o * 2

        @asset(inputs={"all": collect(orders)})
        def report(all: list) -> int:
            trace("report")
            return sum(all)
        """,
    )
    result = barque("run", "pipeline.py", cwd=tmp_path)
    assert result.code == 1
    summary = result.json
    assert summary["failures"] == [{"step": "pipeline.py:orders[region=emea]", "error": "ValueError: emea feed is down"}]
    assert ran(tmp_path) == ["doubled"]
    assert (summary["steps_failed"], summary["steps_skipped"]) == (1, 2)


def _dry(folder: Path) -> dict[str, str]:
    result = barque("run", "pipeline.py", "--dry-run", cwd=folder)
    assert result.code == 0, result.stderr
    return {s["step"]: s["action"] for s in result.json["steps"]}


def test_dry_run_lists_the_partitions_a_cached_source_already_holds(tmp_path: Path) -> None:
    pipeline(tmp_path, FROM_SOURCE)
    run_ok("pipeline.py", cwd=tmp_path)
    assert _dry(tmp_path) == {
        "pipeline.py:regions": "cached",
        "pipeline.py:scaled[region=amer]": "cached",
        "pipeline.py:scaled[region=emea]": "cached",
    }


def test_dry_run_after_reverting_a_sources_edit_shows_its_partitions_cached(tmp_path: Path) -> None:
    pipeline(tmp_path, FROM_SOURCE)
    run_ok("pipeline.py", cwd=tmp_path)
    pipeline(tmp_path, FROM_SOURCE.replace('"emea": 20', '"emea": 21'))
    run_ok("pipeline.py", cwd=tmp_path)
    pipeline(tmp_path, FROM_SOURCE)  # back to the first version: everything is stored
    assert set(_dry(tmp_path).values()) == {"cached"}
    assert run_ok("pipeline.py", cwd=tmp_path)["steps_executed"] == 0
