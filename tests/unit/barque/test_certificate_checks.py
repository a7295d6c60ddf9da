"""The run certificate's generic checks and line format (``barque.certificate``), each on the file system."""

from __future__ import annotations

import os
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from barque import certificate, seal

OUTCOME = [certificate.line("output", "text"), certificate.line("history", "/h", "{}"), certificate.line("steps", "1")]


def _holds(*checks: str, written: int | None = None, environ: dict[str, str] | None = None) -> bool:
    """Whether a certificate with these check lines (stamped ``written``, by default now) answers."""
    stamp = time.time_ns() + 10**9 if written is None else written
    lines = [certificate.line("written", str(stamp)), certificate.line("prefixes", "BARQUE_"), *checks, *OUTCOME]
    return certificate._checked("".join(lines).split("\n")[:-1], environ or {}) is not None


def _file_line(path: Path, status: tuple[int, ...] | None = None, digest: str | None = None) -> str:
    found = certificate.fingerprint(str(path))
    assert found is not None
    return certificate.line("file", str(path), *map(str, status or found[0]), found[1] if digest is None else digest)


def test_a_same_size_rewrite_with_its_modification_time_set_back_fails_a_file_check(tmp_path: Path) -> None:
    path = tmp_path / "module.py"
    path.write_bytes(b"RATE = 1\n")
    before = path.stat()
    recorded = _file_line(path)
    time.sleep(0.02)  # past the file system's timestamp tick
    path.write_bytes(b"RATE = 2\n")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert not _holds(recorded)


def test_a_racily_clean_file_rewritten_within_the_same_tick_with_the_same_size_is_refused(tmp_path: Path) -> None:
    # Within one tick of the file system clock a rewrite of the same size leaves the status as
    # it was: recorded = what the file's status is now, digest = the bytes before the rewrite.
    path = tmp_path / "blob"
    path.write_bytes(b"value-1")
    old_digest = certificate.file_digest(str(path))
    path.write_bytes(b"value-2")
    now = certificate.file_status(str(path))
    assert now is not None and old_digest is not None
    same_tick = _file_line(path, now, old_digest)
    assert not _holds(same_tick, written=now[2])  # the certificate began in the file's tick: hashed, refused
    assert not _holds(same_tick, written=now[2] - 1)
    assert _holds(same_tick, written=now[2] + 1)  # a status older than the certificate is trusted unread


def test_a_file_whose_status_changed_but_not_its_bytes_holds_by_its_digest(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.py"
    path.write_bytes(b"x = 1\n")
    recorded = _file_line(path)
    os.utime(path, ns=(1, 1))  # a touch, a checkout of the same bytes
    assert _holds(recorded)
    path.write_bytes(b"x = 2\n")
    assert not _holds(recorded)


def test_a_status_only_check_fails_when_the_status_changed(tmp_path: Path) -> None:
    path = tmp_path / "module.py"
    path.write_bytes(b"A = 1\n")
    recorded = _file_line(path, digest="")
    assert _holds(recorded)
    os.utime(path, ns=(1, 1))
    assert not _holds(recorded)


def test_an_untouched_file_holds_every_kind_of_check(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"value")
    assert _holds(_file_line(path), certificate.line("size", str(path), "5"), certificate.line("absent", str(tmp_path / "gone")),
                  certificate.line("dir", str(tmp_path), "blob"), certificate.line("probe", str(path), "f", "1"),
                  certificate.line("arg", str(path), *certificate.path_kind(str(path))))


def test_a_file_appearing_where_none_was_fails_an_absence_check(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("A=1\n")
    assert not _holds(certificate.line("absent", str(tmp_path / ".env")))


def test_a_line_it_does_not_write_makes_the_certificate_absent(tmp_path: Path) -> None:
    lines = [certificate.line("written", "1"), certificate.line("prefixes"), certificate.line("mtime", str(tmp_path), "0"), *OUTCOME]
    try:
        certificate._checked("".join(lines).split("\n")[:-1], {})
    except ValueError:
        return
    raise AssertionError("an unknown line was read")


def test_a_named_pipe_where_a_file_was_fails_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipeline.py"
    os.mkfifo(fifo)
    assert certificate.file_digest(str(fifo)) is None


def test_a_folder_listing_changes_when_an_entry_appears(tmp_path: Path) -> None:
    check = certificate.line("dir", str(tmp_path), *(certificate.listing(str(tmp_path)) or []))
    assert _holds(check)
    (tmp_path / "extra.py").write_text("")
    assert not _holds(check)


def test_a_new_variable_under_a_prefix_or_a_changed_one_fails() -> None:
    check = certificate.line("env", "BARQUE_A", certificate.env_digest("1"))
    assert _holds(check, environ={"BARQUE_A": "1"})
    assert not _holds(check, environ={"BARQUE_A": "2"})
    assert not _holds(check, environ={"BARQUE_A": "1", "BARQUE_B": ""})


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.text(alphabet=st.sampled_from("ab\\\t\n\rtnr\x00é"), max_size=12), max_size=5))
def test_fields_read_back_as_written_whatever_they_hold(values: list[str]) -> None:
    raw = certificate.line("k", *values)
    assert raw.count("\n") == 1
    kind, *fields = raw[:-1].split("\t")
    assert kind == "k" and [certificate.unfield(f) for f in fields] == values


@settings(max_examples=50, deadline=None)
@given(body=st.binary(max_size=200), flip=st.integers(0, 10_000), key=st.one_of(st.none(), st.binary(min_size=1, max_size=8)))
def test_a_sealed_body_changed_anywhere_is_not_unsealed(body: bytes, flip: int, key: bytes | None) -> None:
    data = bytearray(seal.sealed(body, key))
    assert seal.unseal(bytes(data), key) == body
    i = flip % len(data)
    data[i] ^= 1
    assert seal.unseal(bytes(data), key) is None


@settings(max_examples=50, deadline=None)
@given(cut=st.integers(0, 10_000))
def test_a_certificate_torn_anywhere_is_absent(cut: int) -> None:
    argv, cwd = ["run", "pipeline.py"], "/nowhere"
    body = (certificate.FORMAT + "\n" + certificate.request_lines(argv, cwd)
            + "".join([certificate.line("written", "1"), certificate.line("prefixes"), *OUTCOME, "end\n"])).encode()
    data = seal.sealed(body, None)
    assert certificate._served(data, None, argv, cwd, {}) is not None
    assert certificate._served(data[: cut % len(data)], None, argv, cwd, {}) is None


def test_a_variable_is_recorded_only_as_a_digest_and_its_absence_as_empty() -> None:
    assert certificate.env_digest(None) == ""
    assert certificate.env_digest("secret") != "secret" and len(certificate.env_digest("secret")) == 64
