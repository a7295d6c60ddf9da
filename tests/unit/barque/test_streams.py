"""Chunked artifacts (``barque.streams``): content-defined chunks, lazy reads, and never a partial stream.

Real: the in-memory store twin (every backend passes the same store contract).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from barque import artifacts, streams, trust
from barque.errors import StoreError
from barque.serializers import SerializerError
from barque.store.memory import MemoryStore

SEGMENT = 16


def pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the (sorted, deduplicated) offsets ``cuts``."""
    bounds = [0, *sorted({c % (len(data) + 1) for c in cuts}), len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200), st.lists(st.integers(min_value=0), max_size=20), st.lists(st.integers(min_value=0), max_size=20))
def test_the_same_bytes_yielded_in_any_pieces_have_the_same_digest(data: bytes, cuts_a: list[int], cuts_b: list[int]) -> None:
    store = MemoryStore()
    a = streams.write_stream(store, pieces(data, cuts_a), segment_bytes=SEGMENT)
    b = streams.write_stream(store, pieces(data, cuts_b), segment_bytes=SEGMENT)
    assert a.ref == b.ref
    assert streams.read_joined(store, a.ref, allowed=trust.AUTOMATIC) == data


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=120), st.lists(st.integers(min_value=0), max_size=10), st.lists(st.integers(min_value=0), max_size=10))
def test_the_same_text_yielded_in_any_pieces_has_the_same_digest(text: str, cuts_a: list[int], cuts_b: list[int]) -> None:
    store = MemoryStore()

    def cut(cuts: list[int]) -> list[str]:
        bounds = [0, *sorted({c % (len(text) + 1) for c in cuts}), len(text)]
        return [text[x:y] for x, y in zip(bounds, bounds[1:])]

    a = streams.write_stream(store, cut(cuts_a), segment_bytes=SEGMENT)
    b = streams.write_stream(store, cut(cuts_b), segment_bytes=SEGMENT)
    assert a.ref == b.ref
    assert streams.read_joined(store, a.ref, allowed=trust.AUTOMATIC) == text


def test_a_bytes_stream_is_read_lazily_in_segments_of_the_segment_size() -> None:
    store = MemoryStore()
    out = streams.write_stream(store, [b"x" * 40, b"y" * 5], segment_bytes=SEGMENT)
    assert [len(c) for c in streams.iter_stream(store, out.ref, allowed=trust.AUTOMATIC)] == [16, 16, 13]
    assert out.manifest.length == 45


def test_an_items_stream_joins_to_the_list_of_its_items() -> None:
    store = MemoryStore()
    rows = [{"i": i, "name": f"row {i}"} for i in range(30)]
    out = streams.write_stream(store, iter(rows), segment_bytes=64)
    assert len(out.manifest.chunks) > 1
    assert streams.read_joined(store, out.ref, allowed=trust.AUTOMATIC) == rows
    assert artifacts.read_value(store, out.ref, allowed=trust.AUTOMATIC) == rows  # what `show` and `get` read


def test_an_empty_generator_is_an_empty_list() -> None:
    store = MemoryStore()
    out = streams.write_stream(store, iter([]))
    assert streams.read_joined(store, out.ref, allowed=trust.AUTOMATIC) == []


def test_mixing_bytes_and_text_in_one_stream_is_refused_with_a_hint() -> None:
    with pytest.raises(SerializerError, match="a stream of bytes got a builtins.str item"):
        streams.write_stream(MemoryStore(), [b"a", "b"])


def test_a_stream_item_is_decoded_only_with_a_serializer_the_reader_allows() -> None:
    store = MemoryStore()
    out = streams.write_stream(store, [{1, 2}])  # a set is not JSON: pickled
    with pytest.raises(StoreError, match="claims serializer 'pickle'"):
        list(streams.iter_stream(store, out.ref, allowed=trust.DATA_ONLY))


def test_a_generator_that_raises_part_way_leaves_no_manifest() -> None:
    store = MemoryStore()

    def broken():
        yield b"a" * 40
        raise RuntimeError("source went away")

    with pytest.raises(RuntimeError):
        streams.write_stream(store, broken(), segment_bytes=SEGMENT)
    blobs = [store.get(k) for k in store.list("blobs/")]
    assert blobs == [b"a" * 16]  # the full segments (equal, so one blob), an orphan no record names; no manifest


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=200), st.data())
def test_a_stream_with_a_chunk_truncated_anywhere_is_never_read_as_complete(data: bytes, choose: st.DataObject) -> None:
    store = MemoryStore()
    out = streams.write_stream(store, [data], segment_bytes=SEGMENT)
    chunk, size = choose.draw(st.sampled_from(out.manifest.chunks))
    cut = choose.draw(st.integers(min_value=0, max_value=size - 1))
    key = artifacts.blob_key(chunk)
    store.put(key, store.get(key)[:cut])
    assert artifacts.blob_problem(store, out.ref) == "artifact corrupt"
    with pytest.raises(StoreError, match="corrupt"):
        streams.read_joined(store, out.ref, allowed=trust.AUTOMATIC)


def test_a_stream_with_a_chunk_missing_is_not_served_from_cache() -> None:
    store = MemoryStore()
    out = streams.write_stream(store, [b"z" * 100], segment_bytes=SEGMENT)
    artifacts.commit(store, "k", out.ref, {"output_id": out.ref.content_hash})
    assert artifacts.find(store, "k", trust.AUTOMATIC).ok
    store.delete(artifacts.blob_key(out.manifest.chunks[2][0]))
    assert artifacts.find(store, "k", trust.AUTOMATIC).problem == "artifact missing"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=12), st.data())
def test_a_generator_stopped_at_any_point_leaves_no_stream_to_read(pieces_: list[bytes], choose: st.DataObject) -> None:
    store = MemoryStore()
    stop = choose.draw(st.integers(min_value=0, max_value=len(pieces_) - 1))

    def cut_short():
        yield from pieces_[:stop]
        raise ConnectionError("went away")

    with pytest.raises(ConnectionError):
        streams.write_stream(store, cut_short(), segment_bytes=SEGMENT)
    for key in store.list("blobs/"):
        with pytest.raises(StoreError):  # every blob left is a bare chunk: none reads as a manifest
            streams.Manifest.from_bytes(store.get(key) or b"", key)


def test_an_empty_piece_after_a_full_segment_adds_no_chunk() -> None:
    store = MemoryStore()
    whole = streams.write_stream(store, ["0" * SEGMENT], segment_bytes=SEGMENT)
    assert streams.write_stream(store, ["0" * SEGMENT, ""], segment_bytes=SEGMENT).ref == whole.ref
