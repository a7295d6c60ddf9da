"""barque.trust: record MACs, env digests, secret-looking names, and who may decode what.

Pure functions and the in-memory store; no server.
"""

from __future__ import annotations

import json

import pytest

from barque import records, trust
from barque.cachekeys import key_components
from barque.errors import StoreError
from barque.model import Graph, Node
from barque.runspec import RunSpec, code_prefix, read_code_files, read_run_spec, source_digest, write_run_spec
from barque.plans import Step
from barque.store.memory import MemoryStore


def test_a_signed_record_is_authentic_under_its_key_only():
    record = trust.sign({"output_id": "x", "n": 1}, b"k1")
    assert trust.authentic(record, b"k1")
    assert not trust.authentic(record, b"k2")
    assert not trust.authentic({**record, "n": 2}, b"k1")
    assert not trust.authentic({"output_id": "x", "n": 1}, b"k1")  # unsigned


def test_without_a_key_nothing_is_signed_and_everything_is_believed():
    assert trust.sign({"a": 1}, None) == {"a": 1}
    assert trust.authentic({"a": 1, "mac": "anything"}, None)


def test_the_key_comes_from_barque_store_key_and_empty_means_none():
    assert trust.configured_key({"BARQUE_STORE_KEY": "s3cr3t"}) == b"s3cr3t"
    assert trust.configured_key({"BARQUE_STORE_KEY": ""}) is None
    assert trust.configured_key({}) is None


def test_a_declared_serializer_is_the_only_one_allowed_and_automatic_allows_each():
    assert trust.allowed_serializers("json") == {"json"}
    assert trust.allowed_serializers(None) == {"json", "parquet", "pickle"}


def test_an_env_digest_hides_the_value_and_depends_on_the_key():
    with_key = trust.env_digest("API_TOKEN", "abc123", b"k1", b"")
    assert "abc123" not in with_key and trust.is_env_digest(with_key)
    assert with_key != trust.env_digest("API_TOKEN", "abc123", b"k2", b"")
    assert with_key == trust.env_digest("API_TOKEN", "abc123", b"k1", b"")
    salted = trust.env_digest("API_TOKEN", "abc123", None, b"salt-1")
    assert salted != trust.env_digest("API_TOKEN", "abc123", None, b"salt-2")
    assert trust.env_digest("API_TOKEN", None, b"k1", b"") is None


def test_unset_and_empty_env_values_have_different_digests():
    assert trust.env_digest("X", "", None, b"s") != trust.env_digest("X", None, None, b"s")


def test_env_digests_make_the_store_salt_once_and_reuse_it(monkeypatch):
    monkeypatch.delenv("BARQUE_STORE_KEY", raising=False)
    store = MemoryStore()
    first = trust.env_digests(store, {"A": "1"})
    assert store.exists(trust.SALT_KEY)
    assert trust.env_digests(store, {"A": "1"}) == first


def test_env_digests_on_a_read_only_store_use_a_throwaway_salt(monkeypatch):
    monkeypatch.delenv("BARQUE_STORE_KEY", raising=False)

    class ReadOnly(MemoryStore):
        def put(self, key, data, *, durable=True):
            raise StoreError("read-only")

    store = ReadOnly()
    assert trust.env_digests(store, {"A": "1"}) != trust.env_digests(store, {"A": "1"})


def test_with_a_store_key_env_digests_need_no_salt(monkeypatch):
    monkeypatch.setenv("BARQUE_STORE_KEY", "k1")
    store = MemoryStore()
    assert trust.env_digests(store, {"A": "1"}) == {"A": trust.env_digest("A", "1", b"k1", b"")}
    assert list(store.list("")) == []


def test_env_digests_of_no_variables_touch_no_salt():
    store = MemoryStore()
    assert trust.env_digests(store, {}) == {}
    assert list(store.list("")) == []


def test_cache_key_components_refuse_an_env_value_in_clear():
    node = Node(id="n", kind="asset", file="p.py", module="p", function="n", line=1, env=("API_TOKEN",), code_hash="c")
    step = Step(id="n", node="n")
    with pytest.raises(ValueError, match="must be passed as a digest"):
        key_components(node, step, {}, {}, {"API_TOKEN": "hunter2"})
    digest = trust.env_digest("API_TOKEN", "hunter2", b"k", b"")
    assert key_components(node, step, {}, {}, {"API_TOKEN": digest})["env"] == {"API_TOKEN": digest}


@pytest.mark.parametrize(
    ("name", "secret"),
    [("API_TOKEN", True), ("aws_secret_access_key", True), ("DB_PASSWORD", True), ("KEY", True),
     ("GITHUB_PAT_AUTH", True), ("REGION", False), ("SOURCE_CSV", False), ("DAY", False)],
)
def test_secret_looking_names(name, secret):
    assert trust.looks_secret(name) is secret


def test_redact_env_hides_secret_values_and_keeps_unset_visible():
    assert trust.redact_env({"API_TOKEN": "t", "REGION": "eu", "DB_PASSWORD": None}) == {
        "API_TOKEN": "<redacted>", "REGION": "eu", "DB_PASSWORD": None,
    }


@pytest.fixture
def keyed(monkeypatch):
    monkeypatch.setenv("BARQUE_STORE_KEY", "k1")


def _spec(store):
    write_run_spec(store, RunSpec(run_id="r1", graph=Graph(root="/p", nodes={})), {"pipeline.py": "X = 1\n"})


def test_with_a_key_changed_inline_code_is_refused(keyed):
    store = MemoryStore()
    _spec(store)
    assert read_code_files(store, "r1") == {"pipeline.py": b"X = 1\n"}
    store.put(code_prefix(source_digest({"pipeline.py": "X = 1\n"})) + "pipeline.py", b"import os; os.system('evil')\n")
    with pytest.raises(StoreError, match="does not match the digest"):
        read_code_files(store, "r1")


def test_with_a_key_a_forged_run_spec_is_refused(keyed):
    store = MemoryStore()
    _spec(store)
    assert read_run_spec(store, "r1") is not None
    doc = json.loads(store.get("runs/r1/spec.json"))
    store.put("runs/r1/spec.json", json.dumps({**doc, "code_digest": "forged"}).encode())
    with pytest.raises(StoreError, match="not authenticated"):
        read_run_spec(store, "r1")


def test_with_a_key_a_forged_step_record_reads_as_missing(keyed):
    store = MemoryStore()
    records.write_step_record(store, "r1", {"step": "s", "state": "succeeded"})
    assert records.read_step_record(store, "r1", "s") == {"step": "s", "state": "succeeded"}
    key = records.step_record_key("r1", "s")
    store.put(key, json.dumps({"step": "s", "state": "succeeded", "artifact": {"serializer": "pickle"}}).encode())
    assert records.read_step_record(store, "r1", "s") is None
    assert records.read_step_records(store, "r1") == {}


def test_secret_values_are_those_of_secret_looking_names_long_enough_to_hunt():
    env = {"API_TOKEN": "abcdef123", "DB_PASSWORD": "pw", "REGION": "eu-west-1-long", "SESSION_KEY": "abcdef123456"}
    assert trust.secret_values(env) == ["abcdef123456", "abcdef123"]


def test_scrub_replaces_each_secret_and_the_longest_first():
    secrets = trust.secret_values({"A_KEY": "abcdef123456", "B_TOKEN": "abcdef"})
    assert trust.scrub("x abcdef123456 y abcdef", secrets) == "x <redacted> y <redacted>"
    assert trust.scrub_bytes(b"token=abcdef!", secrets) == b"token=<redacted>!"


def test_a_step_record_is_stored_with_its_error_redacted(monkeypatch):
    monkeypatch.setenv("API_TOKEN", "hunter2-token")
    store = MemoryStore()
    error = {"type": "ValueError", "message": "bad hunter2-token", "traceback": "... hunter2-token ..."}
    stored = records.write_step_record(store, "r1", {"step": "s", "state": "failed", "error": error})
    assert stored["error"] == {"type": "ValueError", "message": "bad <redacted>", "traceback": "... <redacted> ..."}
    assert b"hunter2-token" not in store.get(records.step_record_key("r1", "s"))


def test_with_a_key_a_forged_record_in_a_streams_object_reads_as_missing(keyed):
    store = MemoryStore()
    records.write_stream_records(store, "r1", "p0-w0", [{"step": "s", "state": "succeeded"}, {"step": "t", "state": "succeeded"}])
    key = records.stream_records_key("r1", "p0-w0")
    body = json.loads(store.get(key))
    body["records"][0]["artifact"] = {"serializer": "pickle"}  # its MAC no longer holds
    store.put(key, json.dumps(body).encode())
    assert records.read_step_record(store, "r1", "s") is None
    assert records.read_step_records(store, "r1") == {"t": {"step": "t", "state": "succeeded"}}


def test_a_streams_records_are_stored_with_their_errors_redacted(monkeypatch):
    monkeypatch.setenv("API_TOKEN", "hunter2-token")
    store = MemoryStore()
    error = {"type": "ValueError", "message": "bad hunter2-token", "traceback": "... hunter2-token ..."}
    records.write_stream_records(store, "r1", "p0-w0", [{"step": "s", "state": "failed", "error": error}])
    assert b"hunter2-token" not in store.get(records.stream_records_key("r1", "p0-w0"))
    assert records.read_step_record(store, "r1", "s")["error"]["message"] == "bad <redacted>"
