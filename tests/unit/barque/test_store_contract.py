"""The ArtifactStore contract, run against every backend.

Here against LocalStore (a real folder under tmp_path) and MemoryStore. The integration tier
runs these same functions against S3Store on a real MinIO server: it imports every ``test_*``
function of this module and supplies its own ``store`` fixture, so keep the tests
backend-neutral (only the protocol, ``open_store`` and ``store.uri``).
"""

from __future__ import annotations

import threading
import uuid

import pytest

from barque.store import ArtifactStore, open_store
from barque.store.local import LocalStore
from barque.store.memory import MemoryStore


@pytest.fixture(params=["local", "memory"])
def store(request, tmp_path):
    if request.param == "local":
        yield LocalStore(tmp_path / "store")
    else:
        yield MemoryStore.named(f"memory://contract-{uuid.uuid4().hex}")
        MemoryStore.forget_named()


def test_store_implements_the_protocol(store):
    assert isinstance(store, ArtifactStore)


def test_get_returns_the_bytes_put_stored(store):
    store.put("a/b/c.bin", b"\x00hello\xff")
    assert store.get("a/b/c.bin") == b"\x00hello\xff"


def test_get_of_a_missing_key_returns_none(store):
    assert store.get("nothing/here") is None


def test_empty_value_is_stored_and_distinct_from_missing(store):
    store.put("empty", b"")
    assert store.get("empty") == b""
    assert store.exists("empty")


def test_put_replaces_the_previous_value(store):
    store.put("k", b"old")
    store.put("k", b"new value")
    assert store.get("k") == b"new value"


def test_exists_follows_put_and_delete(store):
    assert not store.exists("x/y")
    store.put("x/y", b"1")
    assert store.exists("x/y")
    store.delete("x/y")
    assert not store.exists("x/y")
    assert store.get("x/y") is None


def test_size_is_the_length_of_the_stored_value_or_none(store):
    assert store.size("s/k") is None
    store.put("s/k", b"12345")
    assert store.size("s/k") == 5
    store.put("s/k", b"")
    assert store.size("s/k") == 0
    store.delete("s/k")
    assert store.size("s/k") is None
    store.put("s/k/deeper", b"1")
    assert store.size("s/k") is None  # a prefix is not a key


def test_a_key_prefix_is_not_itself_a_key(store):
    store.put("dir/file", b"1")
    assert not store.exists("dir")
    assert store.get("dir") is None


def test_delete_of_a_missing_key_is_not_an_error(store):
    store.delete("never/written")


def test_list_yields_keys_under_the_prefix_in_sorted_order(store):
    for key in ["runs/r1/b", "runs/r1/a/z", "runs/r1/a/b", "runs/r2/a", "runs/r1-x", "other"]:
        store.put(key, b"v")
    assert list(store.list("runs/r1/")) == ["runs/r1/a/b", "runs/r1/a/z", "runs/r1/b"]


def test_list_prefix_may_end_inside_a_segment(store):
    for key in ["blobs/ab/ab1", "blobs/ab/ab2", "blobs/ac/ac1", "blobs/b0/b01"]:
        store.put(key, b"v")
    assert list(store.list("blobs/a")) == ["blobs/ab/ab1", "blobs/ab/ab2", "blobs/ac/ac1"]


def test_list_with_empty_prefix_yields_every_key(store):
    for key in ["b", "a/1", "c/d/e"]:
        store.put(key, b"v")
    assert list(store.list("")) == ["a/1", "b", "c/d/e"]


def test_list_of_an_unknown_prefix_is_empty(store):
    store.put("a/b", b"v")
    assert list(store.list("zzz/")) == []


def test_keys_may_hold_unicode_percent_signs_and_dots(store):
    keys = ["refs/%2Ebuild%5Bx%5D.json", "runs/ü/ß.json", "a/.hidden", "a/b.c.d"]
    for i, key in enumerate(keys):
        store.put(key, str(i).encode())
    assert [store.get(k) for k in keys] == [b"0", b"1", b"2", b"3"]
    assert list(store.list("")) == sorted(keys)


@pytest.mark.parametrize(
    "key",
    ["", "/abs", "../up", "a/../../up", "a/..", "..", ".", "a/./b", "a//b", "a/", "a\\b", "a\0b", "a.#tmp.1.2"],
)
def test_keys_that_could_escape_the_root_are_rejected(store, key):
    for call in (lambda: store.put(key, b"x"), lambda: store.get(key), lambda: store.exists(key), lambda: store.delete(key)):
        with pytest.raises(ValueError, match="invalid store key"):
            call()


def test_list_rejects_a_prefix_that_escapes_the_root(store):
    with pytest.raises(ValueError, match="invalid store key"):
        list(store.list("../"))


def test_open_store_of_the_uri_sees_the_same_data(store):
    store.put("shared/key", b"seen")
    assert open_store(store.uri).get("shared/key") == b"seen"


def test_concurrent_readers_see_a_whole_old_or_whole_new_value(store):
    old, new = b"o" * 65536, b"n" * 65536
    store.put("hot", old)
    seen: set[bytes] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.add(store.get("hot") or b"")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(30):
            store.put("hot", new if i % 2 == 0 else old)
    finally:
        stop.set()
        reader.join()
    assert seen <= {old, new}
