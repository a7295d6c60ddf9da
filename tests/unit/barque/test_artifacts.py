"""Artifacts: content addressing, dedup, commit-after-blob, and that torn writes stay invisible.

The store is the in-memory twin; the backends' own atomicity is tested in test_store_contract."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from barque import artifacts
from barque.artifacts import HASH_CHECK_BYTES, INLINE_BYTES, ArtifactRef, commit, encode_step_id, find, get_ref, lookup, put_ref, read_value, write_value
from barque.errors import StoreError
from barque.store.memory import MemoryStore
from barque.trust import AUTOMATIC

SCOPE = artifacts.project_ref_scope("/work/etl")

KEY = "c0ffee" * 10 + "beef"
# A value whose bytes are a blob (more than INLINE_BYTES), and those bytes with one digit changed.
LONG = list(range(200))


def _altered(data: bytes) -> bytes:
    """The same length, other bytes: what a flipped bit on disk makes of a blob."""
    return data.replace(b"199", b"198")


@pytest.fixture
def store():
    return MemoryStore()


@pytest.fixture(autouse=True)
def no_store_key(monkeypatch):
    """Records are unsigned unless a test sets BARQUE_STORE_KEY itself."""
    monkeypatch.delenv("BARQUE_STORE_KEY", raising=False)


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.puts: list[str] = []

        self.durable: dict[str, bool] = {}

    def put(self, key: str, data: bytes, *, durable: bool = True) -> None:
        self.puts.append(key)
        self.durable[key] = durable
        super().put(key, data, durable=durable)


def test_write_value_stores_the_bytes_under_their_sha256(store):
    ref = write_value(store, "a" * 600)
    data = b'"' + b"a" * 600 + b'"'
    assert ref == ArtifactRef(hashlib.sha256(data).hexdigest(), "json", 602)
    assert store.get(f"blobs/{ref.content_hash[:2]}/{ref.content_hash}") == data


def test_a_small_value_is_inline_in_its_reference_and_writes_no_blob():
    store = CountingStore()
    ref = write_value(store, {"a": 1})
    assert ref == ArtifactRef(hashlib.sha256(b'{"a":1}').hexdigest(), "json", 7, b'{"a":1}')
    assert store.puts == []
    assert read_value(store, ref, allowed=AUTOMATIC) == {"a": 1}


def test_values_up_to_inline_bytes_are_inline_and_larger_ones_are_blobs(store):
    at, above = "x" * (INLINE_BYTES - 2), "x" * (INLINE_BYTES - 1)  # JSON adds the two quotes
    assert write_value(store, at).inline is not None and not store.exists(write_value(store, at).key)
    assert write_value(store, above).inline is None and store.exists(write_value(store, above).key)


@given(st.binary(max_size=INLINE_BYTES), st.sampled_from(["json", "pickle"]))
def test_an_inline_ref_round_trips_through_its_dict_and_json(data, serializer):
    ref = ArtifactRef(hashlib.sha256(data).hexdigest(), serializer, len(data), data)
    assert ArtifactRef.from_dict(json.loads(json.dumps(ref.to_dict()))) == ref


def test_an_inline_value_is_committed_without_a_blob_and_served(store):
    ref = _committed(store, [1, 2])
    assert list(store.list("")) == [f"cache/{KEY}.json"]
    found = find(store, KEY, AUTOMATIC)
    assert found.ok and found.ref == ref and read_value(store, found.ref, allowed=AUTOMATIC) == [1, 2]


def _with_inline(store, inline):
    record = json.loads(store.get(f"cache/{KEY}.json"))
    record["artifact"]["inline"] = inline
    store.put(f"cache/{KEY}.json", json.dumps(record).encode())


def test_a_corrupt_inline_value_is_artifact_corrupt_and_never_decoded(store):
    _committed(store, [1, 2])
    _with_inline(store, base64.b64encode(b"[1,3]").decode())  # well-formed, not the hashed bytes
    assert find(store, KEY, AUTOMATIC).problem == "artifact corrupt"
    with pytest.raises(StoreError, match="corrupt"):
        read_value(store, ArtifactRef.from_dict(lookup(store, KEY)["artifact"]), allowed=AUTOMATIC)


@pytest.mark.parametrize("inline", ["not base64!", 12, "QQ"])
def test_an_inline_value_that_is_not_base64_is_record_unreadable(store, inline):
    _committed(store, [1, 2])
    _with_inline(store, inline)
    assert find(store, KEY, AUTOMATIC).problem == "record unreadable"


def test_equal_content_is_stored_once():
    store = CountingStore()
    first = write_value(store, {"b": 2, "a": 1, "long": LONG})
    second = write_value(store, {"a": 1, "long": LONG, "b": 2})
    assert first == second
    assert store.puts == [first.key]


def test_read_value_returns_what_was_written(store):
    assert read_value(store, write_value(store, (1, "two")), allowed=AUTOMATIC) == (1, "two")


def test_read_value_of_a_missing_blob_raises_store_error(store):
    ref = ArtifactRef("ab" * 32, "json", 2)
    with pytest.raises(StoreError, match="artifact abababababab is missing"):
        read_value(store, ref, allowed=AUTOMATIC)


def test_read_value_of_a_corrupt_blob_raises_store_error(store):
    ref = write_value(store, LONG)
    store.put(ref.key, _altered(store.get(ref.key)))
    with pytest.raises(StoreError, match="corrupt"):
        read_value(store, ref, allowed=AUTOMATIC)


def test_commit_writes_a_record_naming_key_and_artifact(store):
    ref = write_value(store, 42)
    commit(store, KEY, ref, {"step": "s", "output_id": ref.content_hash})
    assert lookup(store, KEY) == {"step": "s", "output_id": ref.content_hash, "cache_key": KEY, "artifact": ref.to_dict()}


def test_commit_is_written_after_the_blob():
    store = CountingStore()
    ref = write_value(store, LONG)
    commit(store, KEY, ref, {})
    assert store.puts == [ref.key, f"cache/{KEY}.json"]


def test_commit_of_a_ref_whose_blob_is_missing_is_refused(store):
    with pytest.raises(StoreError, match="is not stored"):
        commit(store, KEY, ArtifactRef("cd" * 32, "json", 1), {})
    assert lookup(store, KEY) is None


def test_lookup_of_an_unknown_cache_key_returns_none(store):
    assert lookup(store, KEY) is None


def test_a_writer_that_dies_after_the_blob_leaves_nothing_to_look_up(store):
    write_value(store, {"half": "done"})  # the crash: no commit follows
    assert lookup(store, KEY) is None


def test_cache_keys_that_are_not_one_segment_are_rejected(store):
    for bad in ["", "a/b", "..", ".hidden"]:
        with pytest.raises(ValueError, match="invalid cache key"):
            lookup(store, bad)


def test_artifact_ref_round_trips_through_a_dict():
    ref = ArtifactRef("ef" * 32, "pickle", 10)
    assert ArtifactRef.from_dict(ref.to_dict()) == ref


def test_a_malformed_ref_dict_raises_store_error():
    with pytest.raises(StoreError, match="malformed artifact reference"):
        ArtifactRef.from_dict({"content_hash": "../../etc", "serializer": "json", "size": 1})


def test_an_inline_ref_whose_size_is_not_its_bytes_is_malformed():
    ref = ArtifactRef("ef" * 32, "json", 2, b"{}").to_dict()
    assert ArtifactRef.from_dict(ref).inline == b"{}"
    with pytest.raises(StoreError, match="size 3 is not the 2 inline bytes"):
        ArtifactRef.from_dict({**ref, "size": 3})


def test_put_ref_and_get_ref_keep_the_latest_materialization(store):
    put_ref(store, SCOPE, "sales[2024-01]", {"cache_key": "k1"})
    put_ref(store, SCOPE, "sales[2024-01]", {"cache_key": "k2"})
    assert get_ref(store, SCOPE, "sales[2024-01]") == {"cache_key": "k2", "step": "sales[2024-01]"}
    assert get_ref(store, SCOPE, "sales[2024-02]") is None


@pytest.mark.parametrize(
    ("step_id", "encoded"),
    [("plain_name", "plain_name"), ("a/b", "a%2Fb"), ("x[2024-01-01]", "x%5B2024-01-01%5D"), ("..", "%2E."), (".x", "%2Ex")],
)
def test_encode_step_id_gives_one_readable_segment(step_id, encoded):
    assert encode_step_id(step_id) == encoded


def test_encode_step_id_keeps_long_distinct_ids_distinct_and_short():
    a, b = encode_step_id("p[" + "x" * 300 + "a]"), encode_step_id("p[" + "x" * 300 + "b]")
    assert a != b
    assert len(a) <= artifacts._MAX_SEGMENT and "/" not in a


def _committed(store, value, serializer=None):
    ref = write_value(store, value, serializer)
    commit(store, KEY, ref, {"step": "s", "output_id": ref.content_hash})
    return ref


def test_find_serves_a_sound_record(store):
    ref = _committed(store, {"a": 1})
    found = artifacts.find(store, KEY, AUTOMATIC)
    assert found.problem is None and found.ref == ref and found.served == lookup(store, KEY)


def test_find_of_an_unknown_key_says_never_materialized(store):
    assert artifacts.find(store, KEY, AUTOMATIC).problem == "never materialized"


def test_find_of_a_deleted_blob_says_artifact_missing(store):
    store.delete(_committed(store, LONG).key)
    found = artifacts.find(store, KEY, AUTOMATIC)
    assert found.problem == "artifact missing" and found.served is None


def test_find_of_a_same_size_corrupt_blob_says_artifact_corrupt(store):
    ref = _committed(store, LONG)
    store.put(ref.key, _altered(store.get(ref.key)))
    assert artifacts.find(store, KEY, AUTOMATIC).problem == "artifact corrupt"


def test_find_of_a_large_blob_checks_its_size_without_reading_it(store):
    ref = _committed(store, "x" * 600)
    store.put(ref.key, b"y" * ref.size)  # same size, wrong bytes: not seen without a read
    assert artifacts.find(store, KEY, AUTOMATIC, hash_check_bytes=10).problem is None
    store.put(ref.key, b"y" * (ref.size - 1))
    assert artifacts.find(store, KEY, AUTOMATIC, hash_check_bytes=10).problem == "artifact corrupt"


@pytest.mark.parametrize("record", [b"{}", b"not json", b"[1]", b'{"artifact": {"content_hash": "zz"}, "output_id": "x"}'])
def test_find_of_a_malformed_record_says_record_unreadable(store, record):
    store.put(f"cache/{KEY}.json", record)
    assert artifacts.find(store, KEY, AUTOMATIC).problem == "record unreadable"


def test_find_refuses_a_serializer_the_node_does_not_allow(store):
    _committed(store, (1, 2))  # pickled
    found = artifacts.find(store, KEY, frozenset({"json"}))
    assert found.problem == "record not trusted: serializer pickle, node allows json"


class _Payload:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_read_value_never_decodes_a_serializer_it_was_not_allowed(store, tmp_path):
    ref = write_value(store, _Payload(tmp_path / "pwned"), "pickle")
    with pytest.raises(StoreError, match="claims serializer 'pickle'"):
        read_value(store, ref, allowed=frozenset({"json"}))
    assert not (tmp_path / "pwned").exists()


def test_read_value_deletes_a_corrupt_blob_so_the_next_look_finds_it_missing(store):
    ref = _committed(store, LONG)
    store.put(ref.key, _altered(store.get(ref.key)))
    with pytest.raises(StoreError, match="corrupt"):
        read_value(store, ref, allowed=AUTOMATIC)
    assert artifacts.find(store, KEY, AUTOMATIC, hash_check_bytes=0).problem == "artifact missing"


def test_write_value_rewrites_a_corrupt_blob(store):
    ref = write_value(store, LONG)
    data = store.get(ref.key)
    store.put(ref.key, _altered(data))
    write_value(store, LONG)
    assert store.get(ref.key) == data


def test_with_a_key_commit_is_signed_and_served(store, monkeypatch):
    monkeypatch.setenv("BARQUE_STORE_KEY", "k1")
    _committed(store, 42)
    assert "mac" in lookup(store, KEY)
    assert artifacts.find(store, KEY, AUTOMATIC).problem is None


def test_with_a_key_a_tampered_record_is_not_authenticated(store, monkeypatch):
    monkeypatch.setenv("BARQUE_STORE_KEY", "k1")
    _committed(store, 42)
    record = lookup(store, KEY)
    store.put(f"cache/{KEY}.json", json.dumps({**record, "output_id": "forged"}).encode())
    assert artifacts.find(store, KEY, AUTOMATIC).problem == "record not authenticated"
    assert lookup(store, KEY) is None


def test_with_another_key_a_record_is_not_authenticated(store, monkeypatch):
    monkeypatch.setenv("BARQUE_STORE_KEY", "k1")
    _committed(store, 42)
    monkeypatch.setenv("BARQUE_STORE_KEY", "k2")
    assert artifacts.find(store, KEY, AUTOMATIC).problem == "record not authenticated"


def test_with_a_key_an_unsigned_ref_is_not_believed(store, monkeypatch):
    put_ref(store, SCOPE, "s", {"cache_key": "k1"})
    monkeypatch.setenv("BARQUE_STORE_KEY", "k1")
    assert get_ref(store, SCOPE, "s") is None
    put_ref(store, SCOPE, "s", {"cache_key": "k1"})
    assert get_ref(store, SCOPE, "s")["cache_key"] == "k1"


def test_only_a_blob_judged_by_its_size_alone_is_synced_before_its_record():
    store = CountingStore()
    inline = write_value(store, "v")  # no blob at all: its bytes are in the record
    small = write_value(store, LONG)
    large = write_value(store, "x" * (HASH_CHECK_BYTES + 1))
    commit(store, KEY, small, {"output_id": small.content_hash})
    commit(store, "k2", inline, {"output_id": inline.content_hash})
    assert store.durable == {small.key: False, large.key: True, f"cache/{KEY}.json": False, "cache/k2.json": False}


@pytest.mark.parametrize("lost", ["blob lost", "blob torn", "blob zeroed", "record lost", "record torn", "inline record torn"])
def test_what_a_power_loss_does_to_unsynced_writes_is_not_materialized(store, lost):
    # A power loss can drop an unsynced file or leave a prefix (or zeros) of its bytes: the
    # record and the small blob are unsynced, and either damage is seen, never served.
    ref = write_value(store, {"value": list(range(50 if lost == "inline record torn" else 200))})
    commit(store, KEY, ref, {"output_id": ref.content_hash})
    record_key = f"cache/{KEY}.json"
    blob, record = ref.inline or store.get(ref.key), store.get(record_key)
    assert blob is not None and record is not None
    if lost == "blob lost":
        store.delete(ref.key)
    elif lost == "blob torn":
        store.put(ref.key, blob[: len(blob) // 2])
    elif lost == "blob zeroed":
        store.put(ref.key, bytes(len(blob)))
    elif lost == "record lost":
        store.delete(record_key)
    else:
        for cut in range(len(record)):
            store.put(record_key, record[:cut])
            assert not find(store, KEY, AUTOMATIC).ok
        return
    assert not find(store, KEY, AUTOMATIC).ok


@pytest.mark.parametrize("key", [None, "k" * 32])
def test_an_assets_ref_on_a_folder_store_is_its_commit_record_under_a_second_name(tmp_path, monkeypatch, key):
    from barque.store.local import LocalStore

    if key:
        monkeypatch.setenv("BARQUE_STORE_KEY", key)
    else:
        monkeypatch.delenv("BARQUE_STORE_KEY", raising=False)
    store = LocalStore(tmp_path)
    ref = write_value(store, [1, 2])
    record = {"step": "p.py:a", "node": "p.py:a", "run_id": "r", "output_id": ref.content_hash}
    commit(store, KEY, ref, record)
    put_ref(store, SCOPE, "p.py:a", {**record, "cache_key": KEY, "artifact": ref.to_dict()})
    ref_path = tmp_path / artifacts.ref_key(SCOPE, "p.py:a")
    assert ref_path.stat().st_ino == (tmp_path / f"cache/{KEY}.json").stat().st_ino
    assert get_ref(store, SCOPE, "p.py:a") == lookup(store, KEY)
    # a ref that says something else than the commit record is its own file
    put_ref(store, SCOPE, "p.py:a", {**record, "cache_key": KEY, "artifact": ref.to_dict(), "extra": 1})
    assert ref_path.stat().st_ino != (tmp_path / f"cache/{KEY}.json").stat().st_ino
    assert get_ref(store, SCOPE, "p.py:a")["extra"] == 1
