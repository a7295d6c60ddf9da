"""Where a run's spec, phases and code live in the store, and that runs stored before the shared
code snapshot stay readable. In-memory store; no servers."""

from __future__ import annotations

import json

import pytest

from barque.errors import StoreError
from barque.model import Graph
from barque.plans import Phase, Plan, Step, Stream
from barque.runspec import (
    RunSpec,
    code_is_stored,
    code_prefix,
    read_code_files,
    read_phase,
    read_run_start,
    source_digest,
    write_phase,
    write_run_spec,
)
from barque.serializers import canonical_json
from barque.store.memory import MemoryStore

CODE = {"pipeline.py": "X = 1\n", "helpers/util.py": "Y = 2\n"}


def _plan() -> Plan:
    step = Step(id="a", node="a")
    phase = Phase(0, "start", (Stream("s0", ("a",)),))
    return Plan(phases=(phase,), steps={"a": step}, targets=("a",))


def _spec(run_id: str = "r1") -> RunSpec:
    return RunSpec(run_id=run_id, graph=Graph(root="/p", nodes={}))


def test_runs_of_one_code_version_share_one_snapshot_stored_under_its_digest() -> None:
    store = MemoryStore()
    write_run_spec(store, _spec("r1"), CODE)
    write_run_spec(store, _spec("r2"), CODE)
    prefix = code_prefix(source_digest(CODE))
    assert sorted(store.list("code/")) == sorted(prefix + path for path in CODE)
    assert not list(store.list("runs/r1/code/")) and code_is_stored(store, CODE)
    assert read_code_files(store, "r2") == {path: text.encode() for path, text in CODE.items()}


def test_a_spec_carries_the_phases_and_the_pin_it_was_written_with() -> None:
    store, plan = MemoryStore(), _plan()
    write_run_spec(store, _spec(), CODE, phases=[(plan.phases[0], plan)], pin={"plan": "p"})
    start = read_run_start(store, "r1")
    assert start is not None and start.pin == {"plan": "p"} and start.code_files == tuple(sorted(CODE))
    assert read_phase(store, "r1", 0, start) == (plan.phases[0], {"a": plan.steps["a"]})
    assert read_phase(store, "r1", 0) == read_phase(store, "r1", 0, start)  # without the spec in hand
    assert not list(store.list("runs/r1/phases/"))


def test_a_phase_the_spec_does_not_carry_is_read_from_its_own_file() -> None:
    store, plan = MemoryStore(), _plan()
    write_run_spec(store, _spec(), CODE)
    write_phase(store, "r1", plan.phases[0], plan)
    start = read_run_start(store, "r1")
    assert read_phase(store, "r1", 0, start) == (plan.phases[0], {"a": plan.steps["a"]})
    assert read_phase(store, "r1", 1, start) is None


def test_a_code_file_gone_from_the_shared_snapshot_fails_the_read_naming_it() -> None:
    store = MemoryStore()
    write_run_spec(store, _spec(), CODE)
    store.delete(code_prefix(source_digest(CODE)) + "helpers/util.py")
    with pytest.raises(StoreError, match="helpers/util.py is missing"):
        read_code_files(store, "r1")


def test_a_run_stored_before_the_shared_snapshot_reads_its_code_from_its_own_folder() -> None:
    store = MemoryStore()
    for path, text in CODE.items():
        store.put(f"runs/old/code/{path}", text.encode())
    doc = {**_spec("old").to_dict(), "code_digest": source_digest(CODE)}
    store.put("runs/old/spec.json", canonical_json(doc))
    start = read_run_start(store, "old")
    assert start is not None and start.code_files is None and start.phases == {}
    assert read_code_files(store, "old", start) == {path: text.encode() for path, text in CODE.items()}
    store.put("runs/old/code/pipeline.py", b"X = 666\n")
    with pytest.raises(StoreError, match="does not match the digest"):
        read_code_files(store, "old")
    assert json.loads(store.get("runs/old/spec.json") or b"{}")["run_id"] == "old"
