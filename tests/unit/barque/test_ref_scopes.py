"""Refs (the latest materialization of a step: sensors' observations, ``Manual`` pins, ``show``)
belong to one pipeline: a project locally, a namespace and Pipeline in the cluster. Pure: the
in-memory store."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from barque import artifacts
from barque.store.memory import MemoryStore
from barque.storegc import plan_gc

STEP = "pipeline.py:inbox"
NAMES = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)


def test_two_pipelines_sharing_a_store_do_not_read_each_others_refs() -> None:
    store = MemoryStore()
    a, b = artifacts.cluster_ref_scope("team-a", "etl"), artifacts.cluster_ref_scope("team-b", "etl")
    artifacts.put_ref(store, a, STEP, {"cache_key": "k-a"})
    assert artifacts.get_ref(store, a, STEP) == {"cache_key": "k-a", "step": STEP}
    assert artifacts.get_ref(store, b, STEP) is None


def test_a_project_and_a_cluster_pipeline_of_the_same_name_have_separate_scopes() -> None:
    assert artifacts.ref_prefix(artifacts.project_ref_scope("/home/me/etl")) == "refs/project/etl/"
    assert artifacts.ref_prefix(artifacts.cluster_ref_scope("default", "etl")) == "refs/k8s/default/etl/"


def test_a_moved_project_keeps_its_scope() -> None:
    assert artifacts.project_ref_scope("/home/me/etl") == artifacts.project_ref_scope("/srv/ci/checkout/etl")


def test_a_ref_written_before_scoping_is_read_by_no_pipeline() -> None:
    store = MemoryStore()
    legacy = f"refs/{artifacts.encode_step_id(STEP)}.json"
    store.put(legacy, b'{"cache_key": "k-old", "step": "pipeline.py:inbox", "artifact": {}, "output_id": "x"}')
    assert artifacts.is_legacy_ref(legacy)
    for scope in (artifacts.project_ref_scope("/p/etl"), artifacts.cluster_ref_scope("default", "etl")):
        assert artifacts.get_ref(store, scope, STEP) is None
        assert not artifacts.is_legacy_ref(artifacts.ref_key(scope, STEP))


@pytest.mark.parametrize("scope", ["", "refs", "k8s//etl", "project/.hidden", "../x"])
def test_a_scope_not_made_by_the_scope_functions_is_refused(scope: str) -> None:
    with pytest.raises(ValueError, match="invalid refs scope"):
        artifacts.ref_key(scope, STEP)


@given(NAMES, NAMES, NAMES, NAMES)
def test_distinct_pipelines_get_distinct_ref_keys_for_the_same_step(ns1: str, p1: str, ns2: str, p2: str) -> None:
    k1 = artifacts.ref_key(artifacts.cluster_ref_scope(ns1, p1), STEP)
    k2 = artifacts.ref_key(artifacts.cluster_ref_scope(ns2, p2), STEP)
    assert (k1 == k2) == ((ns1, p1) == (ns2, p2))
    assert not artifacts.is_legacy_ref(k1)


@given(st.text(min_size=1, max_size=40).filter(lambda s: "/" not in s and s not in (".", "..")))
def test_any_folder_name_gives_a_valid_project_scope(name: str) -> None:
    scope = artifacts.project_ref_scope(f"/work/{name}")
    assert artifacts.ref_prefix(scope).startswith("refs/project/")
    assert artifacts.ref_prefix(scope).count("/") == 3


def test_gc_removes_refs_from_before_scoping_and_keeps_other_pipelines_refs() -> None:
    store = MemoryStore()
    ours, theirs = artifacts.project_ref_scope("/p/etl"), artifacts.cluster_ref_scope("default", "etl")
    legacy = f"refs/{artifacts.encode_step_id(STEP)}.json"
    store.put(legacy, b'{"step": "pipeline.py:inbox"}')
    artifacts.put_ref(store, ours, "pipeline.py:gone", {"cache_key": "k1"})
    artifacts.put_ref(store, ours, STEP, {"cache_key": "k2"})
    artifacts.put_ref(store, theirs, "other.py:x", {"cache_key": "k3"})
    plan = plan_gc(store, set(), {"pipeline.py:inbox"}, keep_runs=0, scope=ours)
    assert set(plan.refs) == {legacy, artifacts.ref_key(ours, "pipeline.py:gone")}
