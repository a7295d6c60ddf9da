"""`barque gc`: evict what no current plan reads, keep what it does, and old runs go.

Real: the `barque` CLI in a child process on a local-folder store; the unit cases at the end
run `barque.storegc` on the in-memory twin.
"""

from __future__ import annotations

import json
from pathlib import Path

from barque import artifacts
from barque.storegc import apply_gc, plan_gc
from barque.store.memory import MemoryStore

from .clirun import barque, run_ok, write

# Lists longer than artifacts.INLINE_BYTES, so that each value is a blob (a smaller one is
# inline in its commit record and goes with it).
TWO_STEPS = """
from barque import asset

@asset()
def a() -> list:
    return [{value}] * 300

@asset(inputs={{"x": a}})
def b(x: list) -> list:
    return [v + 1 for v in x]
"""


def project(folder: Path, value: int) -> None:
    write(folder, "pipeline.py", TWO_STEPS.format(value=value))


def gc(folder: Path, *args: str) -> dict:
    result = barque("gc", *args, cwd=folder)
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def blobs(folder: Path) -> set[str]:
    return {p.name for p in (folder / ".barque" / "blobs").rglob("*") if p.is_file()}


def test_after_gc_the_current_plan_is_still_fully_cached_with_the_same_values(tmp_path: Path):
    project(tmp_path, 1)
    first = run_ok("pipeline.py", cwd=tmp_path)
    gc(tmp_path)
    again = run_ok("pipeline.py", cwd=tmp_path)
    assert again["steps_cached"] == 2 and again["final_output"] == first["final_output"]


def test_an_edited_steps_old_results_are_evicted_and_their_blob_freed(tmp_path: Path):
    project(tmp_path, 1)
    run_ok("pipeline.py", cwd=tmp_path)
    project(tmp_path, 10)
    run_ok("pipeline.py", cwd=tmp_path)
    before = blobs(tmp_path)
    done = gc(tmp_path, "--keep-runs", "0")  # a kept run keeps the results it recorded
    assert done["records"] == 2 and done["blobs"] == 2  # a=[1...] and b=[2...] are nobody's now
    assert len(blobs(tmp_path)) == len(before) - 2
    assert run_ok("pipeline.py", cwd=tmp_path)["steps_cached"] == 2


def test_a_kept_run_keeps_the_results_it_recorded(tmp_path: Path):
    project(tmp_path, 1)
    run_ok("pipeline.py", cwd=tmp_path)
    project(tmp_path, 10)
    run_ok("pipeline.py", cwd=tmp_path)
    done = gc(tmp_path, "--keep-runs", "2")
    assert done["records"] == 2 and done["blobs"] == 0


def test_dry_run_deletes_nothing(tmp_path: Path):
    project(tmp_path, 1)
    run_ok("pipeline.py", cwd=tmp_path)
    project(tmp_path, 10)
    run_ok("pipeline.py", cwd=tmp_path)
    files = sorted(p for p in (tmp_path / ".barque").rglob("*") if p.is_file())
    assert gc(tmp_path, "--dry-run")["records"] == 2
    assert sorted(p for p in (tmp_path / ".barque").rglob("*") if p.is_file()) == files


def test_only_the_newest_runs_are_kept(tmp_path: Path):
    ids = []
    for value in (1, 2, 3):
        project(tmp_path, value)
        ids.append(run_ok("pipeline.py", cwd=tmp_path)["run_id"])
    done = gc(tmp_path, "--keep-runs", "1")
    assert set(done["runs"]) == set(ids[:2])
    assert {p.name for p in (tmp_path / ".barque" / "runs").iterdir() if any(p.rglob("*.json"))} == {ids[2]}


def test_a_size_that_cannot_be_parsed_is_an_error_saying_how_to_write_it(tmp_path: Path):
    project(tmp_path, 1)
    result = barque("gc", "--max-size", "lots", cwd=tmp_path)
    assert result.code == 2 and "not a size" in result.stderr


def _commit(store: MemoryStore, key: str, step: str, run_id: str, value: object) -> str:
    ref = artifacts.write_value(store, value, "json")
    artifacts.commit(store, key, ref, {"step": step, "node": step, "run_id": run_id})
    return ref.key


def test_under_a_size_limit_the_oldest_unread_records_go_first_and_no_more_than_needed():
    store = MemoryStore()
    old = _commit(store, "k1", "p.py:gone", "20260101T000000-000001", "x" * 600)
    newer = _commit(store, "k2", "p.py:gone", "20260102T000000-000001", "y" * 600)
    live = _commit(store, "k3", "p.py:a", "20260103T000000-000001", "z" * 600)
    plan = plan_gc(store, {"k3"}, {"p.py:a"}, keep_runs=10, max_size=1500)
    assert plan.records == ("cache/k1.json",) and plan.blobs == (old,)
    apply_gc(store, plan)
    assert store.exists(newer) and store.exists(live) and not store.exists(old)


def test_a_size_limit_counts_small_values_inline_in_their_records():
    store = MemoryStore()
    for n in range(4):  # 4 values of 302 bytes, each inline (no blob): 1,208 bytes in all
        _commit(store, f"k{n}", "p.py:gone", f"2026010{n + 1}T000000-000001", "v" * 300)
    plan = plan_gc(store, set(), set(), keep_runs=10, max_size=700)
    assert plan.records == ("cache/k0.json", "cache/k1.json") and plan.blobs == ()
    assert plan.kept_bytes == 604 and not plan.over_limit


def test_what_the_plan_reads_stays_even_over_the_size_limit():
    store = MemoryStore()
    live = _commit(store, "k3", "p.py:a", "20260103T000000-000001", "z" * 600)
    plan = plan_gc(store, {"k3"}, {"p.py:a"}, keep_runs=10, max_size=10)
    assert plan.over_limit and plan.blobs == () and plan.records == ()
    apply_gc(store, plan)
    assert store.exists(live)


def test_a_blob_another_kept_record_names_is_kept():
    store = MemoryStore()
    shared = _commit(store, "k1", "p.py:old", "20260101T000000-000001", [1, 2] * 200)
    _commit(store, "k2", "p.py:a", "20260102T000000-000001", [1, 2] * 200)
    plan = plan_gc(store, {"k2"}, {"p.py:a"}, keep_runs=10)
    assert plan.records == ("cache/k1.json",) and shared not in plan.blobs


def test_an_operators_runs_and_the_env_salt_are_never_deleted():
    store = MemoryStore()
    store.put("runs/team-a/0b6f-uid/spec.json", b"{}")
    store.put("keys/env-salt", b"salt")
    plan = plan_gc(store, set(), set(), keep_runs=0)
    apply_gc(store, plan)
    assert store.exists("runs/team-a/0b6f-uid/spec.json") and store.exists("keys/env-salt")
