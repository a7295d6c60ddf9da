"""The pod contract, driven the way the operator drives it but without a cluster:
plan, write the run spec and each phase to the store, run `barque exec` per stream as a
separate process, read the records, resolve deferred keys, plan again."""

from __future__ import annotations

from barque import records
from barque.deferred import read_deferred_keys
from barque.planner import make_plan
from barque.runspec import write_phase
from barque.store import open_store

from .pods import exec_pod, stage_run

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


def test_partition_expressions_are_evaluated_by_a_step_and_the_plan_grows(tmp_path):
    staged = stage_run(tmp_path, PIPELINE, "r1", workers=2)
    first, store_dir = staged.plan, staged.store_dir
    store = open_store(str(store_dir))
    assert [s.id for s in first.steps.values()] == ["pipeline.py:per_key#partitions"]
    code, message = exec_pod(tmp_path, store_dir, "r1")
    assert code == 0 and message["counts"] == {"succeeded": 1}

    keys, unresolvable = read_deferred_keys(store, "r1", first, [d.node for d in first.deferred])
    assert unresolvable == {}
    assert keys["pipeline.py:per_key"] == ["a", "b"]
    grown = make_plan(staged.graph, workers=2, resolved_partitions=keys)
    assert not grown.deferred
    for index, phase in enumerate(grown.phases, start=1):
        write_phase(store, "r1", phase.__class__(index, phase.reason, phase.streams), grown)
        for stream in range(len(phase.streams)):
            assert exec_pod(tmp_path, store_dir, "r1", index, stream)[0] == 0

    recs = records.read_step_records(store, "r1")
    assert {k: v["state"] for k, v in recs.items() if "shout" in k} == {
        "pipeline.py:shout[k=a]": "succeeded",
        "pipeline.py:shout[k=b]": "succeeded",
    }


def test_a_failing_step_exits_3_and_names_the_error_in_the_termination_message(tmp_path):
    code_text = "from barque import asset\n\n@asset()\ndef boom() -> int:\n    raise RuntimeError('disk full')\n"
    store_dir = stage_run(tmp_path, code_text, "r2").store_dir
    code, message = exec_pod(tmp_path, store_dir, "r2")
    assert code == 3
    assert message["failed"] == [{"step": "pipeline.py:boom", "error": "RuntimeError: disk full"}]
    assert "disk full" in records.read_step_record(open_store(str(store_dir)), "r2", "pipeline.py:boom")["error"]["traceback"]
