"""What each store backend does beyond the shared contract: LocalStore's files on disk,
MemoryStore's named instances, S3Store's URI handling (no server here; the integration
tier runs the contract on MinIO), and that boto3 stays unloaded until an S3 request."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from barque.errors import StoreError
from barque.store import open_store
from barque.store.base import TEMP_MARK
from barque.store import local
from barque.store.local import LocalStore
from barque.store.memory import MemoryStore
from barque.store.s3 import S3Store


def test_local_root_is_created_by_the_first_put(tmp_path):
    store = LocalStore(tmp_path / "not" / "yet")
    assert list(store.list("")) == []
    store.put("a/b", b"1")
    assert (tmp_path / "not" / "yet" / "a" / "b").read_bytes() == b"1"


def test_local_put_leaves_no_temp_file(tmp_path):
    store = LocalStore(tmp_path)
    store.put("d/k", b"1")
    store.put("d/k", b"2")
    assert os.listdir(tmp_path / "d") == ["k"]


def test_local_failed_put_keeps_the_old_value_and_removes_its_temp_file(tmp_path, monkeypatch):
    store = LocalStore(tmp_path)
    store.put("k", b"old")

    def broken_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(StoreError, match="cannot write 'k'"):
        store.put("k", b"new")
    monkeypatch.undo()
    assert store.get("k") == b"old"
    # The sweep marker (holding the temp mark, so never a key) is not a temp file of this put.
    assert [n for n in os.listdir(tmp_path) if n != local.SWEEP_MARKER] == ["k"]


def test_local_leftover_temp_file_of_a_crashed_writer_is_not_listed(tmp_path):
    store = LocalStore(tmp_path)
    store.put("cache/k.json", b"{}")
    (tmp_path / "cache" / f"j.json{TEMP_MARK}123.0").write_bytes(b"partial")
    assert list(store.list("cache/")) == ["cache/k.json"]


def test_local_key_used_as_a_folder_cannot_also_be_a_file(tmp_path):
    store = LocalStore(tmp_path)
    store.put("a", b"1")
    with pytest.raises(StoreError, match="cannot write 'a/b'"):
        store.put("a/b", b"2")


def test_open_store_reads_plain_and_file_uris_as_folders(tmp_path):
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    assert open_store(f"file://{tmp_path}").root == str(tmp_path)


def test_memory_named_returns_one_instance_per_name():
    try:
        a = MemoryStore.named("memory://a")
        assert MemoryStore.named("memory://a") is a
        assert open_store("memory://a") is a
        assert MemoryStore.named("memory://b") is not a
    finally:
        MemoryStore.forget_named()


def test_memory_put_copies_the_bytes():
    store = MemoryStore()
    buf = bytearray(b"abc")
    store.put("k", buf)
    buf[0] = ord("z")
    assert store.get("k") == b"abc"


@pytest.mark.parametrize(
    ("uri", "bucket", "prefix"),
    [("s3://bkt", "bkt", ""), ("s3://bkt/", "bkt", ""), ("s3://bkt/a/b/", "bkt", "a/b")],
)
def test_s3_from_uri_splits_bucket_and_prefix(uri, bucket, prefix):
    store = S3Store.from_uri(uri)
    assert (store.bucket, store.prefix) == (bucket, prefix)
    assert S3Store.from_uri(store.uri).prefix == prefix


def test_s3_rejects_a_uri_without_bucket():
    with pytest.raises(ValueError, match="bucket"):
        S3Store.from_uri("s3:///prefix")


def test_s3_rejects_keys_that_escape_before_any_request():
    store = S3Store("bkt", "p", client=object())  # any request on this client would fail loudly
    with pytest.raises(ValueError, match="invalid store key"):
        store.get("../other-prefix/key")


def test_importing_the_store_and_opening_an_s3_uri_does_not_import_boto3():
    code = (
        "import sys\n"
        "import barque.store, barque.artifacts, barque.records, barque.serializers\n"
        "import barque.store.local, barque.store.memory\n"
        "from barque.store import open_store\n"
        "open_store('s3://bucket/prefix')\n"
        "loaded = sorted(m for m in ('boto3', 'botocore') if m in sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_s3_without_boto3_says_to_install_the_extra(monkeypatch):
    for name in ("boto3", "botocore", "botocore.config", "botocore.exceptions"):
        monkeypatch.setitem(sys.modules, name, None)  # makes the import fail
    with pytest.raises(StoreError, match="needs boto3") as info:
        S3Store("bkt").get("k")
    assert "barque[s3]" in str(info.value)


def test_s3_with_an_unknown_profile_is_a_store_error_before_any_request(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    with pytest.raises(StoreError, match="s3://bkt/p/k") as info:
        S3Store("bkt", "p", profile="no-such-profile").get("k")
    assert "no-such-profile" in str(info.value)


def _age(path, seconds):
    old = os.stat(path).st_mtime - seconds
    os.utime(path, (old, old))


def test_local_stale_temp_file_of_a_killed_writer_is_swept_by_the_next_writer(tmp_path):
    LocalStore(tmp_path).put("blobs/ab/k", b"v")
    os.unlink(tmp_path / local.SWEEP_MARKER)  # as in a store older than the sweep
    leftover = tmp_path / "blobs" / "ab" / f"k{TEMP_MARK}4242.0"
    leftover.write_bytes(b"half")
    _age(leftover, local.STALE_AFTER_SECONDS + 60)
    LocalStore(tmp_path).put("other", b"x")
    assert not leftover.exists()
    assert LocalStore(tmp_path).get("blobs/ab/k") == b"v"


def test_local_recent_temp_file_is_kept_as_its_writer_may_be_alive(tmp_path):
    LocalStore(tmp_path).put("k", b"v")
    os.unlink(tmp_path / local.SWEEP_MARKER)
    live = tmp_path / f"k{TEMP_MARK}4242.0"
    live.write_bytes(b"being written")
    LocalStore(tmp_path).put("other", b"x")
    assert live.exists()


def test_local_sweep_walks_at_most_once_per_period(tmp_path):
    LocalStore(tmp_path).put("k", b"v")  # leaves a fresh marker
    leftover = tmp_path / f"k{TEMP_MARK}4242.0"
    leftover.write_bytes(b"half")
    _age(leftover, local.STALE_AFTER_SECONDS + 60)
    assert local.sweep_temp_files(str(tmp_path)) == 0  # the marker is fresh: no walk
    _age(tmp_path / local.SWEEP_MARKER, local.SWEEP_EVERY_SECONDS + 60)
    assert local.sweep_temp_files(str(tmp_path)) == 1


def test_local_readers_never_sweep(tmp_path):
    LocalStore(tmp_path).put("k", b"v")
    os.unlink(tmp_path / local.SWEEP_MARKER)
    leftover = tmp_path / f"k{TEMP_MARK}4242.0"
    leftover.write_bytes(b"half")
    _age(leftover, local.STALE_AFTER_SECONDS + 60)
    reader = LocalStore(tmp_path)
    reader.get("k"), reader.exists("k"), list(reader.list(""))
    assert leftover.exists()


def test_local_link_gives_a_key_the_same_bytes_and_later_puts_keep_them_apart(tmp_path):
    store = LocalStore(tmp_path)
    store.put("cache/k.json", b"record")
    assert store.link("cache/k.json", "refs/s.json")
    assert store.get("refs/s.json") == b"record"
    assert os.stat(tmp_path / "refs" / "s.json").st_ino == os.stat(tmp_path / "cache" / "k.json").st_ino
    store.put("refs/s.json", b"newer")
    assert store.get("cache/k.json") == b"record"
    store.link("cache/k.json", "refs/s.json")
    store.put("cache/k.json", b"rewritten")
    assert store.get("refs/s.json") == b"record"
    assert sorted(os.listdir(tmp_path / "refs")) == ["s.json"]


def test_local_link_of_a_missing_source_is_false_and_leaves_nothing(tmp_path):
    store = LocalStore(tmp_path)
    assert not store.link("cache/none.json", "refs/s.json")
    assert store.get("refs/s.json") is None
    assert list(store.list("")) == []


def test_local_a_new_store_is_not_walked_by_its_next_writer(tmp_path, monkeypatch):
    root = tmp_path / "new"
    LocalStore(root).put("k", b"v")  # the store's folder did not exist: its first put marks it swept
    walked = []
    monkeypatch.setattr(os, "walk", lambda *a, **k: walked.append(a) or iter(()))
    LocalStore(root).put("other", b"x")
    assert walked == []
    assert (root / local.SWEEP_MARKER).exists()
