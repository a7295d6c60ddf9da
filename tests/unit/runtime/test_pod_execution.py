"""The pod contract, driven the way the operator drives it but without a cluster:
plan, write the run spec and each phase to the store, run `barque exec` per stream as a
separate process, read the records, resolve deferred keys, plan again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from barque import records
from barque.deferred import read_deferred_keys
from barque.parsing import parse_project
from barque.planner import make_plan
from barque.runspec import RunSpec, write_phase, write_run_spec
from barque.store import open_store

PIPELINE = '''
from barque import asset, partitions

KEYS = sorted({"b", "a"})

@asset(partitions={"k": partitions(KEYS)})
def per_key(k: str) -> str:
    return k * 2

@asset(inputs={"v": per_key})
def shout(v: str) -> str:
    return v.upper()
'''


def exec_stream(store: Path, run_id: str, phase: int, stream: int, tmp: Path) -> tuple[int, dict]:
    log = tmp / f"term-{phase}-{stream}"
    env = {**os.environ, "BARQUE_TERMINATION_LOG": str(log), "JOB_COMPLETION_INDEX": str(stream)}
    proc = subprocess.run(
        [sys.executable, "-m", "barque_cli.main", "exec", "--store", str(store), "--run", run_id, "--phase", str(phase)],
        env=env, cwd=tmp, capture_output=True, text=True,
    )
    assert proc.returncode in (0, 3), proc.stderr
    return proc.returncode, json.loads(log.read_text())


def test_partition_expressions_are_evaluated_by_a_step_and_the_plan_grows(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "pipeline.py").write_text(PIPELINE)
    graph = parse_project([src / "pipeline.py"])
    store_dir = tmp_path / "store"
    store = open_store(str(store_dir))
    spec = RunSpec(run_id="r1", graph=graph)
    write_run_spec(store, spec, {"pipeline.py": PIPELINE})

    first = make_plan(graph, workers=2)
    assert [s.id for s in first.steps.values()] == ["pipeline.py:per_key#partitions"]
    write_phase(store, "r1", first.phases[0], first)
    code, message = exec_stream(store_dir, "r1", 0, 0, tmp_path)
    assert code == 0 and message["counts"] == {"succeeded": 1}

    keys, unresolvable = read_deferred_keys(store, "r1", first, [d.node for d in first.deferred])
    assert unresolvable == {}
    assert keys["pipeline.py:per_key"] == ["a", "b"]
    grown = make_plan(graph, workers=2, resolved_partitions=keys)
    assert not grown.deferred
    for index, phase in enumerate(grown.phases, start=1):
        write_phase(store, "r1", phase.__class__(index, phase.reason, phase.streams), grown)
        for stream in range(len(phase.streams)):
            exec_stream(store_dir, "r1", index, stream, tmp_path)

    recs = records.read_step_records(store, "r1")
    assert {k: v["state"] for k, v in recs.items() if "shout" in k} == {
        "pipeline.py:shout[k=a]": "succeeded",
        "pipeline.py:shout[k=b]": "succeeded",
    }


def test_a_failing_step_exits_3_and_names_the_error_in_the_termination_message(tmp_path):
    code_text = "from barque import asset\n\n@asset()\ndef boom() -> int:\n    raise RuntimeError('disk full')\n"
    src = tmp_path / "src"
    src.mkdir()
    (src / "pipeline.py").write_text(code_text)
    graph = parse_project([src / "pipeline.py"])
    store_dir = tmp_path / "store"
    store = open_store(str(store_dir))
    write_run_spec(store, RunSpec(run_id="r2", graph=graph), {"pipeline.py": code_text})
    plan = make_plan(graph, workers=1)
    write_phase(store, "r2", plan.phases[0], plan)
    code, message = exec_stream(store_dir, "r2", 0, 0, tmp_path)
    assert code == 3
    assert message["failed"] == [{"step": "pipeline.py:boom", "error": "RuntimeError: disk full"}]
    assert "disk full" in records.read_step_record(store, "r2", "pipeline.py:boom")["error"]["traceback"]
