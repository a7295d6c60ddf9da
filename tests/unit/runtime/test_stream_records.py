"""A local run stores each stream's step records as one object, written by the runner's parent.

Real: the `barque` CLI in a child process with its forked workers and a local-folder store.
"""

from __future__ import annotations

import json
from pathlib import Path

from .clirun import barque, pipeline, run_ok, step_records

FOUR = """
from barque import asset

@asset()
def a() -> int:
    return 1

@asset()
def b() -> int:
    return 2

@asset(inputs={"x": a})
def c(x: int) -> int:
    return x + 1

@asset(inputs={"y": b})
def d(y: int) -> int:
    return y + 1
"""


def test_a_local_run_stores_one_record_object_per_stream_and_no_file_per_step(tmp_path: Path) -> None:
    pipeline(tmp_path, FOUR)
    summary = run_ok("pipeline.py", "--workers", "2", cwd=tmp_path)
    streams = [s for phase in json.loads(barque("plan", "pipeline.py", "--workers", "2", cwd=tmp_path).stdout)["phases"] for s in phase["streams"]]
    run = tmp_path / ".barque" / "runs" / summary["run_id"]
    assert sorted(p.name for p in (run / "streams").iterdir()) == sorted(f"{s['stream_id']}.json" for s in streams)
    assert not (run / "steps").exists()
    stored = step_records(tmp_path / ".barque", summary["run_id"])
    assert {sid: rec["state"] for sid, rec in stored.items()} == {f"pipeline.py:{n}": "succeeded" for n in "abcd"}


def test_a_worker_that_dies_mid_stream_leaves_the_records_of_the_steps_it_finished(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset
        import os

        @asset()
        def first() -> int:
            return 1

        @asset(inputs={"x": first})
        def dies(x: int) -> int:
            os._exit(3)
        """,
    )
    result = barque("run", "pipeline.py", "--workers", "1", cwd=tmp_path)
    assert result.code == 1, result.stderr
    stored = step_records(tmp_path / ".barque", result.json["run_id"])
    assert stored["pipeline.py:first"]["state"] == "succeeded"
    assert (stored["pipeline.py:dies"]["state"], stored["pipeline.py:dies"]["error"]["type"]) == ("crashed", "WorkerDied")
