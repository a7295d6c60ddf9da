"""``Manual`` freshness as barca 0.33 has it: read as it is, computed only when --refresh names it.

Real: the ``barque`` CLI in a child process and a local-folder store in a temp folder. What
barca printed for the same file (``BARCA_POOL_SIZE=2 barca get ... p.py --json``): ``get
report`` and ``get baseline`` before any result exit 2 with ``Compute it first: barca get
baseline p.py --refresh baseline``; ``get baseline --refresh baseline`` computes it; after a
code change ``get baseline`` still returns the old value (``Manual and stale``); with no
target, ``get p.py`` computes it.
"""

from __future__ import annotations

from pathlib import Path

from .clirun import barque, pipeline, ran, run_ok

PIPELINE = """
from barque import Manual, asset

@asset(freshness=Manual)
def baseline() -> dict:
    trace("baseline")
    return {"v": 1}

@asset(inputs={"b": baseline})
def report(b: dict) -> dict:
    trace("report")
    return {"r": b["v"]}
"""


def test_a_never_computed_manual_upstream_is_an_error_that_says_to_target_it(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    result = barque("get", "report", "pipeline.py", cwd=tmp_path)
    assert result.code == 2
    assert "Manual and has never been computed" in result.stderr
    assert "barque get baseline pipeline.py --refresh baseline" in result.stderr
    assert ran(tmp_path) == []


def test_a_never_computed_manual_target_is_the_same_error_and_dry_run_predicts_it(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    assert barque("get", "baseline", "pipeline.py", cwd=tmp_path).code == 2
    assert barque("get", "baseline", "pipeline.py", "--dry-run", cwd=tmp_path).code == 2
    assert ran(tmp_path) == []


def test_a_manual_target_serves_its_stored_value_until_refreshed(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    assert run_ok("baseline", "pipeline.py", "--refresh", "baseline", cwd=tmp_path)["final_output"] == {"v": 1}
    pipeline(tmp_path, PIPELINE.replace('{"v": 1}', '{"v": 2}'))
    served = run_ok("baseline", "pipeline.py", cwd=tmp_path)
    assert served["final_output"] == {"v": 1} and served["steps"][0]["status"] == "cached"
    assert run_ok("report", "pipeline.py", cwd=tmp_path)["final_output"] == {"r": 1}
    assert run_ok("baseline", "pipeline.py", "--refresh", "baseline", cwd=tmp_path)["final_output"] == {"v": 2}
    assert ran(tmp_path) == ["baseline", "report", "baseline"]


def test_with_no_target_a_never_computed_manual_asset_is_computed(tmp_path: Path) -> None:
    pipeline(tmp_path, PIPELINE)
    assert run_ok("pipeline.py", cwd=tmp_path)["final_output"] == {"r": 1}
    assert ran(tmp_path) == ["baseline", "report"]


def test_a_stale_manual_node_read_as_it_is_says_how_to_recompute_it(tmp_path: Path) -> None:
    # barca: "[barca] note: baseline is Manual and stale; barca get baseline p.py --refresh baseline to recompute"
    pipeline(tmp_path, PIPELINE)
    run_ok("report", "pipeline.py", "--refresh", "baseline", cwd=tmp_path)
    fresh = barque("get", "report", "pipeline.py", cwd=tmp_path)
    assert fresh.code == 0 and "Manual and stale" not in fresh.stderr
    pipeline(tmp_path, PIPELINE.replace('{"v": 1}', '{"v": 2}'))
    stale = barque("get", "report", "pipeline.py", cwd=tmp_path)
    assert stale.code == 0 and stale.json["final_output"] == {"r": 1}
    assert "baseline is Manual and stale; barque get baseline pipeline.py --refresh baseline to recompute" in stale.stderr


def test_dry_run_and_run_agree_on_a_partitioned_manual_upstream(tmp_path: Path) -> None:
    # barca 0.33 recomputes a partitioned Manual node after a code change (``get rep q.py``
    # printed 2, then 10); barque pins it, and its plan must say what the run does.
    source = PIPELINE_PARTITIONED
    pipeline(tmp_path, source)
    run_ok("rep", "pipeline.py", "--refresh", "sales", cwd=tmp_path)
    pipeline(tmp_path, source.replace("return 1", "return 5"))
    dry = barque("get", "rep", "pipeline.py", "--dry-run", cwd=tmp_path).json
    assert {s["step"]: s["action"] for s in dry["steps"]} == dict.fromkeys(
        ["pipeline.py:rep", "pipeline.py:sales[region=amer]", "pipeline.py:sales[region=emea]"], "cached"
    )
    assert run_ok("rep", "pipeline.py", cwd=tmp_path)["final_output"] == 2


PIPELINE_PARTITIONED = """
from barque import Manual, asset, collect, partitions

@asset(partitions={"region": partitions(["amer", "emea"])}, freshness=Manual)
def sales(region: str) -> int:
    return 1

@asset(inputs={"s": collect(sales)})
def rep(s: list) -> int:
    return sum(s)
"""
