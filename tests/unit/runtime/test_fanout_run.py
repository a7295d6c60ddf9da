"""``parallel`` inside steps of a real run: barca's fan-out example gives barca's output.

Real: the `barque` CLI in a child process, its forked workers and the branches they fork.
"""

from __future__ import annotations

from pathlib import Path

from .clirun import pipeline, run_ok

BARCA_EXAMPLE = """
import datetime
from functools import partial

from barca import ParallelError, parallel, parallel_map, task, asset


@task()
def check(region: str) -> dict:
    if region == "ap":
        raise RuntimeError("region unavailable")
    return {"region": region, "checked": datetime.date(2026, 1, 2), "zones": {"a", "b"}}


@task()
def check_all() -> dict:
    regions = ["us", "eu", "ap"]
    results = parallel(*(partial(check, r) for r in regions))
    ok = [r for r in results if not isinstance(r, ParallelError)]
    return {
        "failed": [reg for reg, r in zip(regions, results) if isinstance(r, ParallelError)],
        "checked": [r["checked"].isoformat() for r in ok],
        "zones": sorted(set().union(*(r["zones"] for r in ok))),
    }


def cube(x: int) -> int:
    return x ** 3


@asset()
def cubes() -> list[int]:
    return parallel_map(cube, range(5))
"""


def test_barcas_fan_out_example_gives_barcas_final_output(tmp_path: Path):
    pipeline(tmp_path, BARCA_EXAMPLE)
    summary = run_ok("pipeline.py", "check_all", cwd=tmp_path)
    assert summary["final_output"] == {"checked": ["2026-01-02", "2026-01-02"], "failed": ["ap"], "zones": ["a", "b"]}


def test_an_asset_that_fans_out_is_cached_like_any_other(tmp_path: Path):
    pipeline(tmp_path, BARCA_EXAMPLE)
    first = run_ok("pipeline.py", "cubes", cwd=tmp_path)
    assert first["final_output"] == [0, 1, 8, 27, 64]
    again = run_ok("pipeline.py", "cubes", cwd=tmp_path)
    assert again["steps_cached"] == 1 and again["final_output"] == [0, 1, 8, 27, 64]
