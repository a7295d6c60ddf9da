"""`barque exec`: what a pod runs. It executes one stream of a stored run spec and phase and
leaves a small JSON result in the termination log.

Real: the `barque` CLI in a child process, a local-folder store written with
`barque.runspec`, and a termination-log file in place of the kubelet's.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from barque.artifacts import ArtifactRef, read_value
from barque.trust import AUTOMATIC
from barque.records import read_step_records
from barque.store import open_store
from barque_runtime.podexec import MESSAGE_LIMIT, termination_message

from .clirun import BARQUE, NUMBERS_TOTAL, barque, ran
from .pods import exec_pod, stage_run


def test_exec_runs_the_stream_and_writes_its_termination_message(tmp_path: Path) -> None:
    store_dir = stage_run(tmp_path, NUMBERS_TOTAL).store_dir
    code, message = exec_pod(tmp_path, store_dir)
    assert code == 0
    assert message == {"run": "ns/run-1", "phase": 0, "stream": 0, "counts": {"succeeded": 2}, "failed": []}
    assert ran(tmp_path / "pod") == ["numbers", "total"]
    records = read_step_records(open_store(str(store_dir)), "ns/run-1")
    assert {k: r["state"] for k, r in records.items()} == {"pipeline.py:numbers": "succeeded", "pipeline.py:total": "succeeded"}


def test_exec_of_a_later_phase_reads_earlier_outputs_from_the_store(tmp_path: Path) -> None:
    store_dir = stage_run(
        tmp_path,
        """
        from barque import asset

        @asset()
        def raw() -> int:
            return 2

        @asset(inputs={"x": raw})
        def left(x: int) -> int:
            return x + 1

        @asset(inputs={"x": raw})
        def right(x: int) -> int:
            return x * 10
        """,
        workers=2,
    ).store_dir
    assert exec_pod(tmp_path, store_dir, phase=0)[0] == 0
    # phase 1 has one stream per dependant; the stream index comes from $JOB_COMPLETION_INDEX
    assert exec_pod(tmp_path, store_dir, phase=1, stream=0) == (0, {"run": "ns/run-1", "phase": 1, "stream": 0, "counts": {"succeeded": 1}, "failed": []})
    assert exec_pod(tmp_path, store_dir, phase=1, stream=1)[1]["stream"] == 1
    store = open_store(str(store_dir))
    values = {}
    for step, rec in read_step_records(store, "ns/run-1").items():
        values[step] = read_value(store, ArtifactRef.from_dict(rec["artifact"]), allowed=AUTOMATIC)
    assert values == {"pipeline.py:raw": 2, "pipeline.py:left": 3, "pipeline.py:right": 20}


def test_exec_exits_3_when_a_user_step_failed(tmp_path: Path) -> None:
    store_dir = stage_run(tmp_path, NUMBERS_TOTAL.replace("return sum(nums)", 'raise ValueError("too many numbers")')).store_dir
    code, message = exec_pod(tmp_path, store_dir)
    assert code == 3
    assert message["counts"] == {"succeeded": 1, "failed": 1}
    assert message["failed"] == [{"step": "pipeline.py:total", "error": "ValueError: too many numbers"}]


def test_exec_of_a_run_missing_from_the_store_says_what_to_check(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    result = barque("exec", "--store", str(tmp_path / "store"), "--run", "nope", "--stream", "0", cwd=tmp_path)
    assert result.code == 2
    assert "run nope phase 0 is not in the store" in result.stderr


def test_termination_message_stays_within_4_kib_with_many_failures() -> None:
    recs = [
        {"step": f"pipeline.py:step_{i}", "state": "failed", "error": {"type": "ValueError", "message": "x" * 500}}
        for i in range(40)
    ]
    doc = json.loads(termination_message("ns/run", 1, 2, recs))
    assert len(termination_message("ns/run", 1, 2, recs).encode()) <= MESSAGE_LIMIT
    assert doc["counts"] == {"failed": 40}
    assert doc["truncated"] is True
    assert 0 < len(doc["failed"]) < 40


def test_streams_of_one_run_sharing_a_temp_folder_run_side_by_side(tmp_path: Path) -> None:
    store_dir = stage_run(
        tmp_path,
        "from barque import asset\n" + "".join(f"\n@asset()\ndef s{i}() -> int:\n    return {i}\n" for i in range(4)),
        workers=4,
    ).store_dir
    env = {"TMPDIR": str(tmp_path)}
    procs = [
        subprocess.Popen(
            [*BARQUE, "exec", "--store", str(store_dir), "--run", "ns/run-1", "--stream", str(i)],
            cwd=tmp_path, env={**os.environ, **env, "BARQUE_TERMINATION_LOG": str(tmp_path / f"log-{i}")},
        )
        for i in range(4)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    assert [json.loads((tmp_path / f"log-{i}").read_text())["counts"] for i in range(4)] == [{"succeeded": 1}] * 4
