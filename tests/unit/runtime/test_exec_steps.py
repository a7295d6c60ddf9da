"""What a pod runs (`barque exec`) for async steps, generator steps and a spec with overrides.

The same executor as the local workers; these check it from a stored run spec, as the
operator's Job pods see it. Real: the `barque` CLI in a child process, a local-folder store
written with `barque.runspec`, and a termination-log file in place of the kubelet's.
"""

from __future__ import annotations

from pathlib import Path

from barque import streams
from barque.artifacts import ArtifactRef, read_value
from barque.records import read_step_records
from barque.runspec import read_run_spec, write_run_spec, read_code_files
from barque.store import open_store
from barque.trust import AUTOMATIC
from barque.overrides import stage

from .clirun import ran
from .pods import exec_pod, stage_run

STEPS = """
import asyncio
from typing import Iterator
from barque import asset

@asset()
async def numbers() -> list:
    trace("numbers")
    await asyncio.sleep(0)
    return [1, 2, 3]

@asset(inputs={"nums": numbers})
def lines(nums: list):
    trace("lines")
    for n in nums:
        yield f"line {n}\\n"

@asset(inputs={"lines": lines})
def count(lines: Iterator[str]) -> int:
    trace("count")
    return sum(piece.count("\\n") for piece in lines)
"""


def _values(store_dir: Path, run_id: str = "ns/run-1") -> dict[str, object]:
    store = open_store(str(store_dir))
    recs = read_step_records(store, run_id)
    return {sid.split(":")[1]: read_value(store, ArtifactRef.from_dict(r["artifact"]), allowed=AUTOMATIC) for sid, r in recs.items()}


def test_a_pod_runs_async_and_generator_steps_and_stores_the_stream_in_chunks(tmp_path: Path) -> None:
    store_dir = stage_run(tmp_path, STEPS).store_dir
    code, message = exec_pod(tmp_path, store_dir)
    assert code == 0 and message["counts"] == {"succeeded": 3}
    assert _values(store_dir) == {"numbers": [1, 2, 3], "lines": "line 1\nline 2\nline 3\n", "count": 3}
    rec = read_step_records(open_store(str(store_dir)), "ns/run-1")["pipeline.py:lines"]
    assert rec["artifact"]["serializer"] == streams.STREAM


def test_a_pod_settles_an_overridden_node_from_the_spec_without_running_it(tmp_path: Path) -> None:
    store_dir = stage_run(tmp_path, STEPS).store_dir
    store = open_store(str(store_dir))
    spec = read_run_spec(store, "ns/run-1")
    assert spec is not None
    code_files = {path: data.decode() for path, data in read_code_files(store, "ns/run-1").items()}
    write_run_spec(store, stage(spec, store, {"numbers": [7, 8]}), code_files)
    code, _ = exec_pod(tmp_path, store_dir)
    assert code == 0
    assert ran(tmp_path / "pod") == ["lines", "count"]
    assert _values(store_dir)["count"] == 2
    assert read_step_records(store, "ns/run-1")["pipeline.py:numbers"]["overridden"] is True
