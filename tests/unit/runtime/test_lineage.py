"""``barque_runtime.lineage``: provenance built from records in an in-memory store.

Real: the artifact and step-record layers over ``MemoryStore``; the records are written by
hand as the executor writes them, so each test controls which run made what.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from barque import artifacts, records
from barque.cachestate import StepCache
from barque.store.memory import MemoryStore
from barque_runtime.lineage import format_text, matches, provenance

from ..barque.graphs import graph, inp, node

GRAPH = graph(node("a", env=("API_TOKEN", "MODE")), node("b", inputs=(inp("a", "a"),), serializer="json"))


def materialize(store: MemoryStore, step: str, run: str, data: bytes, inputs: dict[str, list[str]], serializer: str = "json") -> str:
    """Store ``data`` as ``step``'s value made by ``run`` (blob, commit, ref, step record); its output id."""
    h = hashlib.sha256(data).hexdigest()
    store.put(artifacts.blob_key(h), data)
    ref = artifacts.ArtifactRef(h, serializer, len(data))
    components: dict[str, Any] = {
        "node": step,
        "code": "c-" + step,
        "helpers": {"helpers.py:norm": "d-norm"},
        "partition": {},
        "params": {"day": "1"},
        "env": {"API_TOKEN": "digest:aaaa", "MODE": "digest:bbbb"},
        "inputs": inputs,
    }
    commit = {"step": step, "node": step, "run_id": run, "output_id": h, "components": components}
    artifacts.commit(store, "k-" + step, ref, commit)
    artifacts.put_ref(store, artifacts.project_ref_scope(GRAPH.root), step, {**commit, "cache_key": "k-" + step, "artifact": ref.to_dict()})
    records.write_step_record(
        store, run, {"step": step, "node": step, "state": "succeeded", "attempts": 2, "started_at": 1.0, "finished_at": 3.5,
                     "duration_seconds": 2.5, "cache_key": "k-" + step, "output_id": h}
    )
    return h


def test_provenance_names_the_run_its_code_helpers_params_attempts_and_timings() -> None:
    store = MemoryStore()
    materialize(store, "p.py:a", "r1", b"1", {})
    prov = provenance(store, GRAPH, "p.py:a", {"p.py:a": StepCache("cached", "k-p.py:a", "cached")})
    assert prov is not None
    assert (prov.run_id, prov.code, prov.helpers, prov.params) == ("r1", "c-p.py:a", {"helpers.py:norm": "d-norm"}, {"day": "1"})
    assert prov.run is not None and (prov.run.state, prov.run.attempts, prov.run.duration_seconds) == ("succeeded", 2, 2.5)
    assert (prov.today, prov.reason) == ("current", "cached")


def test_env_shows_names_with_digests_and_secret_looking_names_redacted() -> None:
    store = MemoryStore()
    materialize(store, "p.py:a", "r1", b"1", {})
    prov = provenance(store, GRAPH, "p.py:a", {})
    assert prov is not None and prov.env == {"API_TOKEN": "<redacted>", "MODE": "digest:bbbb"}
    assert "aaaa" not in format_text([prov])


def test_a_changed_key_is_stale_with_todays_reason() -> None:
    store = MemoryStore()
    materialize(store, "p.py:a", "r1", b"1", {})
    prov = provenance(store, GRAPH, "p.py:a", {"p.py:a": StepCache("run", "k-new", "changed: helper helpers.py:norm")})
    assert prov is not None and (prov.today, prov.reason) == ("stale", "changed: helper helpers.py:norm")


def test_depth_follows_an_input_served_from_cache_to_the_run_that_made_it() -> None:
    store = MemoryStore()
    a = materialize(store, "p.py:a", "r1", b"1", {})
    materialize(store, "p.py:b", "r2", b"2", {"a": [a]})
    records.write_step_record(store, "r2", {"step": "p.py:a", "node": "p.py:a", "state": "cached", "cache_key": "k-p.py:a", "output_id": a})
    prov = provenance(store, GRAPH, "p.py:b", {}, depth=1)
    assert prov is not None and [(i.param, i.source, i.output_ids) for i in prov.inputs] == [("a", "p.py:a", (a,))]
    (producer,) = prov.inputs[0].producers
    assert (producer.step, producer.run_id, producer.run and producer.run.attempts) == ("p.py:a", "r1", 2)
    assert provenance(store, GRAPH, "p.py:b", {}, depth=0).inputs[0].producers == ()  # type: ignore[union-attr]


def test_a_value_is_never_decoded_even_when_its_bytes_are_a_hostile_pickle() -> None:
    store = MemoryStore()
    materialize(store, "p.py:a", "r1", b"cos\nsystem\n(S'exit 3'\ntR.", {}, serializer="pickle")
    prov = provenance(store, GRAPH, "p.py:a", {})
    assert prov is not None and prov.artifact is not None and prov.artifact["serializer"] == "pickle" and prov.problem is None


def test_a_record_its_node_would_not_trust_is_reported_with_the_reason() -> None:
    store = MemoryStore()
    materialize(store, "p.py:b", "r1", b"x", {"a": []}, serializer="pickle")
    prov = provenance(store, GRAPH, "p.py:b", {})
    assert prov is not None and prov.problem == "record not trusted: serializer pickle, node allows json"


def test_a_record_that_fails_authentication_reads_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryStore()
    materialize(store, "p.py:a", "r1", b"1", {})
    monkeypatch.setenv("BARQUE_STORE_KEY", "a-key-the-writer-did-not-have")
    assert provenance(store, GRAPH, "p.py:a", {}) is None


def test_partition_filter_matches_every_given_dimension() -> None:
    store = MemoryStore()
    materialize(store, "p.py:a", "r1", b"1", {})
    prov = provenance(store, GRAPH, "p.py:a", {})
    assert prov is not None and matches(prov, {}) and not matches(prov, {"region": "emea"})


def test_a_task_is_never_cached_rather_than_stale() -> None:
    store = MemoryStore()
    materialize(store, "p.py:a", "r1", b"1", {})
    prov = provenance(store, GRAPH, "p.py:a", {"p.py:a": StepCache("run", None, "task: never cached")})
    assert prov is not None and (prov.today, prov.reason) == ("never cached", "task: never cached")
