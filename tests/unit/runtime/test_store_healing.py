"""A missing, corrupt or malformed artifact is not materialized: it is recomputed, and the dry run says so.

Real: the `barque` CLI in a child process and a local-folder store, damaged by hand between
runs the way a disk, a cleanup script or a killed writer would damage it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from barque.artifacts import INLINE_BYTES, cache_record_key, project_ref_scope, ref_key

from .clirun import barque, pipeline, ran, run_ok

# Values larger than INLINE_BYTES, so that each has a blob file to damage.
CHAIN = """
from barque import asset

@asset()
def raw() -> list:
    trace("raw")
    return [3, 1, 2] * 100

@asset(inputs={"raw": raw})
def report(raw: list) -> str:
    trace("report")
    return ",".join(map(str, sorted(raw)))
"""
REPORT = ",".join(map(str, sorted([3, 1, 2] * 100)))
assert len(REPORT) > INLINE_BYTES
# Values small enough to be inline in their commit records.
SMALL = CHAIN.replace(" * 100", "")

BIG = """
from barque import asset

@asset()
def big() -> str:
    trace("big")
    return "x" * 1_500_000

@asset(inputs={"big": big})
def size(big: str) -> int:
    trace("size")
    return len(big)
"""


def _ref(tmp_path: Path, step: str) -> dict:
    return json.loads((tmp_path / ".barque" / ref_key(project_ref_scope(str(tmp_path)), step)).read_text())


def _blob(tmp_path: Path, step: str) -> Path:
    h = _ref(tmp_path, step)["artifact"]["content_hash"]
    return tmp_path / ".barque" / "blobs" / h[:2] / h


def _corrupt(path: Path) -> None:
    """Flip one byte: the size stays, the hash does not."""
    data = bytearray(path.read_bytes())
    data[0] ^= 0x01
    path.write_bytes(bytes(data))


def _dry(tmp_path: Path) -> dict[str, tuple[str, str]]:
    result = barque("run", "pipeline.py", "--dry-run", cwd=tmp_path)
    assert result.code == 0, result.stderr
    return {s["step"]: (s["action"], s["reason"]) for s in result.json["steps"]}


def _intact(blob: Path) -> bool:
    return hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name


def test_dry_run_says_artifact_missing_for_a_deleted_blob(tmp_path: Path) -> None:
    pipeline(tmp_path, CHAIN)
    run_ok("pipeline.py", cwd=tmp_path)
    _blob(tmp_path, "pipeline.py:report").unlink()
    assert _dry(tmp_path)["pipeline.py:report"] == ("run", "artifact missing")


def test_dry_run_says_artifact_corrupt_for_a_corrupt_blob(tmp_path: Path) -> None:
    pipeline(tmp_path, CHAIN)
    run_ok("pipeline.py", cwd=tmp_path)
    _corrupt(_blob(tmp_path, "pipeline.py:report"))
    assert _dry(tmp_path)["pipeline.py:report"] == ("run", "artifact corrupt")


def test_run_recomputes_and_rewrites_a_deleted_blob(tmp_path: Path) -> None:
    pipeline(tmp_path, CHAIN)
    run_ok("pipeline.py", cwd=tmp_path)
    ran(tmp_path)
    blob = _blob(tmp_path, "pipeline.py:raw")
    blob.unlink()
    summary = run_ok("pipeline.py", cwd=tmp_path)
    assert ran(tmp_path) == ["raw"]  # same bytes again: report stays cached (early cutoff)
    assert summary["final_output"] == REPORT
    assert _intact(blob)


def test_fully_cached_run_recomputes_a_corrupt_blob(tmp_path: Path) -> None:
    pipeline(tmp_path, CHAIN)
    run_ok("pipeline.py", cwd=tmp_path)
    ran(tmp_path)
    blob = _blob(tmp_path, "pipeline.py:report")
    _corrupt(blob)
    summary = run_ok("pipeline.py", cwd=tmp_path)
    assert ran(tmp_path) == ["report"]
    assert summary["final_output"] == REPORT
    assert _intact(blob)


def test_no_cache_run_rewrites_a_corrupt_blob(tmp_path: Path) -> None:
    pipeline(tmp_path, CHAIN)
    run_ok("pipeline.py", cwd=tmp_path)
    blob = _blob(tmp_path, "pipeline.py:raw")
    _corrupt(blob)
    run_ok("pipeline.py", "--no-cache", cwd=tmp_path)
    assert _intact(blob)


def test_an_empty_commit_record_is_not_materialized_and_is_recomputed(tmp_path: Path) -> None:
    pipeline(tmp_path, CHAIN)
    run_ok("pipeline.py", cwd=tmp_path)
    ran(tmp_path)
    key = _ref(tmp_path, "pipeline.py:report")["cache_key"]
    (tmp_path / ".barque" / cache_record_key(key)).write_text("{}")
    assert _dry(tmp_path)["pipeline.py:report"] == ("run", "record unreadable")
    run_ok("pipeline.py", cwd=tmp_path)
    assert ran(tmp_path) == ["report"]


def test_a_large_corrupt_input_is_recomputed_before_the_step_that_reads_it(tmp_path: Path) -> None:
    # Above the size that is hash-checked on sight: found because a step that runs reads it.
    pipeline(tmp_path, BIG)
    run_ok("pipeline.py", cwd=tmp_path)
    ran(tmp_path)
    blob = _blob(tmp_path, "pipeline.py:big")
    _corrupt(blob)
    pipeline(tmp_path, BIG.replace("return len(big)", "return len(big) + 1"))
    assert _dry(tmp_path)["pipeline.py:big"] == ("run", "artifact corrupt")
    summary = run_ok("pipeline.py", cwd=tmp_path)
    assert sorted(ran(tmp_path)) == ["big", "size"]
    assert summary["final_output"] == 1_500_001
    assert _intact(blob)


def _inline_corrupted(record: Path) -> None:
    """Change one byte of the inline value in a commit record, which stays well-formed JSON."""
    doc = json.loads(record.read_text())
    data = bytearray(base64.b64decode(doc["artifact"]["inline"]))
    data[-2] ^= 0x01
    doc["artifact"]["inline"] = base64.b64encode(bytes(data)).decode()
    record.write_text(json.dumps(doc))


def test_a_small_value_has_no_blob_and_is_inline_in_its_commit_record(tmp_path: Path) -> None:
    pipeline(tmp_path, SMALL)
    run_ok("pipeline.py", cwd=tmp_path)
    key = _ref(tmp_path, "pipeline.py:report")["cache_key"]
    artifact = json.loads((tmp_path / ".barque" / cache_record_key(key)).read_text())["artifact"]
    assert base64.b64decode(artifact["inline"]) == b'"1,2,3"'
    assert hashlib.sha256(b'"1,2,3"').hexdigest() == artifact["content_hash"]
    assert not (tmp_path / ".barque" / "blobs").exists()


def test_a_corrupt_inline_value_is_not_materialized_and_its_record_is_rewritten(tmp_path: Path) -> None:
    pipeline(tmp_path, SMALL)
    run_ok("pipeline.py", cwd=tmp_path)
    ran(tmp_path)
    key = _ref(tmp_path, "pipeline.py:raw")["cache_key"]
    record = tmp_path / ".barque" / cache_record_key(key)
    _inline_corrupted(record)
    assert _dry(tmp_path)["pipeline.py:raw"] == ("run", "artifact corrupt")
    summary = run_ok("pipeline.py", cwd=tmp_path)
    assert ran(tmp_path) == ["raw"]  # same bytes again: report stays cached (early cutoff)
    assert summary["final_output"] == "1,2,3"
    assert base64.b64decode(json.loads(record.read_text())["artifact"]["inline"]) == b"[3,1,2]"
