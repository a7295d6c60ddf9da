"""The run spec carries the run's failure policy to every stream (a local worker or a Pod)."""

from __future__ import annotations

from barque.model import Graph
from barque.runspec import RunSpec, read_run_spec, write_run_spec
from barque.store.memory import MemoryStore


def test_a_fail_fast_spec_reads_back_fail_fast_from_the_store() -> None:
    store = MemoryStore()
    write_run_spec(store, RunSpec(run_id="r1", graph=Graph(root="/p", nodes={}), fail_fast=True))
    spec = read_run_spec(store, "r1")
    assert spec is not None and spec.fail_fast


def test_a_continue_spec_is_stored_as_before_the_policy_was_carried() -> None:
    # No key at all: the stored specs (and so their signatures) of Continue runs stay as they were.
    doc = RunSpec(run_id="r1", graph=Graph(root="/p", nodes={})).to_dict()
    assert "fail_fast" not in doc
    assert not RunSpec.from_dict(doc).fail_fast
