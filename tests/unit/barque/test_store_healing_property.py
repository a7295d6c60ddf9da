"""Property: whatever happens to the store between runs, every value served equals a fresh computation.

Hypothesis draws sequences of runs and damage (a flipped byte, a truncated or deleted blob, a
deleted or emptied record, and, with a store key, a forged record pointing at another value)
against the in-memory store. A "run" of a step is what the executor does: serve the record
if ``find`` accepts it, else recompute, write and commit. No server; a bounded budget.
"""

from __future__ import annotations

import json
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from barque import artifacts, trust
from barque.store.memory import MemoryStore

KEYS = [f"{i:02d}" * 32 for i in range(3)]
DECLARED = [None, "json", "pickle"]  # the serializer each step declares


def compute(i: int):
    """The fresh value of step ``i``: JSON for 0 and 1 (sharing a blob), a tuple (pickled) for 2."""
    return (2, "two") if i == 2 else {"v": "shared" if i < 2 else i}


def _run(store: MemoryStore, i: int):
    allowed = trust.allowed_serializers(DECLARED[i])
    found = artifacts.find(store, KEYS[i], allowed)
    if found.served is None or found.ref is None:
        ref = artifacts.write_value(store, compute(i), DECLARED[i])
        artifacts.commit(store, KEYS[i], ref, {"step": str(i), "output_id": ref.content_hash})
        found = artifacts.find(store, KEYS[i], allowed)
        assert found.ref is not None and found.problem is None, found
    return artifacts.read_value(store, found.ref, allowed=allowed)


def _damage(store: MemoryStore, kind: str, i: int, keyed: bool) -> None:
    record_key = artifacts.cache_record_key(KEYS[i])
    record = artifacts.lookup(store, KEYS[i])
    if record is None or "artifact" not in record:
        return
    blob = artifacts.ArtifactRef.from_dict(record["artifact"]).key
    data = store.get(blob)
    if kind == "flip" and data:
        store.put(blob, bytes([data[0] ^ 1]) + data[1:])
    elif kind == "truncate" and data:
        store.put(blob, data[:-1])
    elif kind == "delete_blob":
        store.delete(blob)
    elif kind == "delete_record":
        store.delete(record_key)
    elif kind == "empty_record":
        store.put(record_key, b"{}")
    elif kind == "forge" and keyed:
        # Without a key a store writer is trusted by design; with one, a forgery must not pass.
        other = artifacts.write_value(store, {"forged": i})
        body = {k: v for k, v in record.items() if k != "mac"}
        store.put(record_key, json.dumps({**body, "artifact": other.to_dict(), "output_id": other.content_hash}).encode())


ACTIONS = st.lists(
    st.tuples(st.sampled_from(["run", "flip", "truncate", "delete_blob", "delete_record", "empty_record", "forge"]),
              st.integers(0, 2)),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(actions=ACTIONS, keyed=st.booleans())
def test_every_served_value_equals_a_fresh_computation(actions, keyed):
    before = os.environ.pop(trust.KEY_ENV, None)
    if keyed:
        os.environ[trust.KEY_ENV] = "property-key"
    try:
        store = MemoryStore()
        for kind, i in actions:
            if kind == "run":
                assert _run(store, i) == compute(i)
            else:
                _damage(store, kind, i, keyed)
        for i in range(3):
            assert _run(store, i) == compute(i)
    finally:
        os.environ.pop(trust.KEY_ENV, None)
        if before is not None:
            os.environ[trust.KEY_ENV] = before
