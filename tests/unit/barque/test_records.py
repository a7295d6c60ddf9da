"""Run-scoped step records and captured logs, on the in-memory twin."""

from __future__ import annotations

import pytest

from barque.errors import StoreError
from barque.records import (
    read_json,
    read_log,
    read_step_record,
    read_step_records,
    write_json,
    write_log,
    write_step_record,
    write_stream_records,
)
from barque.store.memory import MemoryStore


@pytest.fixture
def store():
    return MemoryStore()


def test_a_step_record_reads_back_as_written(store):
    write_step_record(store, "run-1", {"step": "clean[a/b]", "state": "succeeded", "attempts": 1})
    assert read_step_record(store, "run-1", "clean[a/b]") == {"step": "clean[a/b]", "state": "succeeded", "attempts": 1}
    assert store.exists("runs/run-1/steps/clean%5Ba%2Fb%5D.json")


def test_a_missing_step_record_reads_as_none(store):
    assert read_step_record(store, "run-1", "nope") is None


def test_read_step_records_returns_every_step_of_the_run_only(store):
    write_step_record(store, "ns/uid-1", {"step": "b", "state": "failed"})
    write_step_record(store, "ns/uid-1", {"step": "a/x", "state": "cached"})
    write_step_record(store, "ns/uid-2", {"step": "c", "state": "succeeded"})
    write_log(store, "ns/uid-1", "b", 1, "stdout", b"not a record")
    assert read_step_records(store, "ns/uid-1") == {
        "a/x": {"step": "a/x", "state": "cached"},
        "b": {"step": "b", "state": "failed"},
    }


def test_a_record_without_its_step_id_is_refused(store):
    with pytest.raises(ValueError, match="needs its step id"):
        write_step_record(store, "run-1", {"state": "succeeded"})


def test_a_run_id_that_escapes_is_refused(store):
    with pytest.raises(ValueError, match="invalid store key"):
        write_step_record(store, "../x", {"step": "s"})


def test_write_log_stores_raw_bytes_and_returns_the_key(store):
    key = write_log(store, "run-1", "train[eu]", 2, "stderr", b"warn\xff\n")
    assert key == "runs/run-1/logs/train%5Beu%5D/2.stderr"
    assert read_log(store, key) == b"warn\xff\n"


def test_a_missing_log_reads_as_none(store):
    assert read_log(store, "runs/run-1/logs/x/1.stdout") is None


@pytest.mark.parametrize(("attempt", "stream"), [(-1, "stdout"), (1, "../x"), (1, ""), ("1", "stdout")])
def test_bad_log_coordinates_are_refused(store, attempt, stream):
    with pytest.raises(ValueError):
        write_log(store, "run-1", "s", attempt, stream, b"")


def test_write_json_is_canonical(store):
    write_json(store, "k.json", {"b": [1, 2], "a": "é"})
    assert store.get("k.json") == '{"a":"é","b":[1,2]}'.encode()
    assert read_json(store, "k.json") == {"a": "é", "b": [1, 2]}


def test_read_json_of_garbage_raises_store_error_naming_the_key(store):
    store.put("bad.json", b"{not json")
    with pytest.raises(StoreError, match="unreadable JSON record") as info:
        read_json(store, "bad.json")
    assert "bad.json" in str(info.value)


def test_the_records_of_a_stream_stored_as_one_object_read_back_by_step(store):
    write_stream_records(store, "run-1", "p0-w0", [{"step": "a", "state": "succeeded"}, {"step": "b[x/y]", "state": "failed"}])
    assert [k for k in store.list("runs/run-1/")] == ["runs/run-1/streams/p0-w0.json"]
    assert read_step_record(store, "run-1", "b[x/y]") == {"step": "b[x/y]", "state": "failed"}
    assert read_step_records(store, "run-1") == {"a": {"step": "a", "state": "succeeded"}, "b[x/y]": {"step": "b[x/y]", "state": "failed"}}


def test_a_steps_own_record_wins_over_its_streams_copy(store):
    write_stream_records(store, "run-1", "p0-w0", [{"step": "a", "state": "failed"}, {"step": "b", "state": "cached"}])
    write_step_record(store, "run-1", {"step": "a", "state": "succeeded"})
    assert read_step_record(store, "run-1", "a") == {"step": "a", "state": "succeeded"}
    assert read_step_records(store, "run-1") == {"a": {"step": "a", "state": "succeeded"}, "b": {"step": "b", "state": "cached"}}


def test_rewriting_a_streams_records_replaces_them(store):
    write_stream_records(store, "run-1", "p0-w0", [{"step": "a", "state": "succeeded"}])
    write_stream_records(store, "run-1", "p0-w0", [{"step": "a", "state": "succeeded"}, {"step": "b", "state": "succeeded"}])
    assert sorted(read_step_records(store, "run-1")) == ["a", "b"]


def test_a_stream_record_without_its_step_id_is_refused(store):
    with pytest.raises(ValueError, match="needs its step id"):
        write_stream_records(store, "run-1", "p0-w0", [{"step": "a"}, {"state": "succeeded"}])
    assert read_step_records(store, "run-1") == {}


def test_a_stream_object_that_is_not_records_is_an_error_naming_it(store):
    store.put("runs/run-1/streams/p0-w0.json", b'{"records": 3}')
    with pytest.raises(StoreError, match="p0-w0"):
        read_step_records(store, "run-1")
