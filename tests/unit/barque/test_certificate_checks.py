"""The run certificate's generic checks (``barque.certificate``), each on the file system."""

from __future__ import annotations

import os
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from barque import certificate, seal


def test_a_same_size_rewrite_with_its_modification_time_set_back_fails_a_status_check(tmp_path: Path) -> None:
    path = tmp_path / "module.py"
    path.write_bytes(b"RATE = 1\n")
    before = path.stat()
    recorded = certificate.file_status(str(path))
    time.sleep(0.02)  # past the file system's timestamp tick
    path.write_bytes(b"RATE = 2\n")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert not certificate._files_hold([[str(path), "stat", recorded]])


def test_an_untouched_file_holds_every_kind_of_check(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"value")
    checks: list[list[object]] = [[str(path), "sha256", certificate.file_digest(str(path))], [str(path), "size", 5],
              [str(path), "stat", certificate.file_status(str(path))], [str(tmp_path / "gone"), "absent", None]]
    assert certificate._files_hold(checks)


def test_a_file_appearing_where_none_was_fails_an_absence_check(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("A=1\n")
    assert not certificate._files_hold([[str(tmp_path / ".env"), "absent", None]])


def test_an_unknown_kind_of_check_never_holds(tmp_path: Path) -> None:
    assert not certificate._files_hold([[str(tmp_path), "mtime", 0]])


def test_a_named_pipe_where_a_file_was_fails_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipeline.py"
    os.mkfifo(fifo)
    assert certificate.file_digest(str(fifo)) is None


def test_a_folder_listing_changes_when_an_entry_appears(tmp_path: Path) -> None:
    before = certificate.listing_digest(str(tmp_path))
    (tmp_path / "extra.py").write_text("")
    assert certificate.listing_digest(str(tmp_path)) != before


@settings(max_examples=50, deadline=None)
@given(body=st.binary(max_size=200), flip=st.integers(0, 10_000), key=st.one_of(st.none(), st.binary(min_size=1, max_size=8)))
def test_a_sealed_body_changed_anywhere_is_not_unsealed(body: bytes, flip: int, key: bytes | None) -> None:
    data = bytearray(seal.sealed(body, key))
    assert seal.unseal(bytes(data), key) == body
    i = flip % len(data)
    data[i] ^= 1
    assert seal.unseal(bytes(data), key) is None


def test_a_variable_is_recorded_only_as_a_digest_and_its_absence_as_none() -> None:
    assert certificate.env_digest(None) is None
    assert certificate.env_digest("secret") != "secret" and len(certificate.env_digest("secret") or "") == 64
