"""``batch=`` groups keys into the calls barca makes, whatever the worker count: the planner puts
every key of a batched node in one stream (``planner._units``).

Real: the ``barque`` CLI in a child process, a local-folder store. The expected calls are what
barca 0.33 made on this same file (``BARCA_POOL_SIZE`` 1, 2 and 3; recorded 2026-12-01).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .clirun import pipeline, ran, run_ok

SOURCE = """
from barca import asset, collect, partitions, partitions_from

KEYS = [f"r{i:02d}" for i in range(1, 11)]


@asset(partitions={"r": partitions(KEYS)})
def cleaned(r: str) -> dict:
    return {"n": int(r[1:])}


@asset(partitions={"r": partitions_from(cleaned)}, batch=3)
def scored(r: list, cleaned: dict) -> dict:
    trace(",".join(r))
    return {k: {"n": cleaned[k]["n"] * 10} for k in r}


@asset(partitions={"r": partitions(KEYS)}, batch=4)
def alone(r: list) -> dict:
    trace("alone:" + ",".join(r))
    return {k: 1 for k in r}


@asset(inputs={"all": collect(scored), "other": collect(alone)})
def total(all: list, other: list) -> int:
    return sum(x["n"] for x in all) + sum(other)
"""

BARCA_CALLS = [
    "alone:r01,r02,r03,r04", "alone:r05,r06,r07,r08", "alone:r09,r10",
    "r01,r02,r03", "r04,r05,r06", "r07,r08,r09", "r10",
]


@pytest.mark.parametrize("workers", ["1", "2", "4"])
def test_batched_keys_share_the_calls_barca_makes_on_any_number_of_workers(tmp_path: Path, workers: str) -> None:
    pipeline(tmp_path, SOURCE)
    assert run_ok("total", "pipeline.py", "--workers", workers, cwd=tmp_path)["final_output"] == 560
    assert sorted(ran(tmp_path)) == BARCA_CALLS
