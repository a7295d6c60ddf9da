"""Generator steps: stored chunk by chunk; dependants get an iterator or the joined value; cache and cutoff on the whole stream.

Real: the `barque` CLI in a child process and a local-folder store.
"""

from __future__ import annotations

import json
from pathlib import Path

from barque import artifacts, streams
from barque.store import open_store

from .clirun import barque, pipeline, ran, run_ok, step_records

STREAMING = """
from typing import Iterator
from barque import asset

@asset()
def raw():
    trace("raw")
    for i in range(SIZE):
        yield bytes([65 + i % 26]) * 1000

@asset(inputs={"raw": raw})
def lowered(raw: Iterator[bytes]):
    trace("lowered")
    for chunk in raw:
        assert isinstance(chunk, bytes)
        yield chunk.lower()

@asset(inputs={"lowered": lowered})
def size(lowered: bytes) -> int:
    trace("size")
    return len(lowered)

@asset()
async def rows():
    for i in range(5):
        yield {"i": i}

@asset(inputs={"rows": rows})
def total(rows: list) -> int:
    return sum(r["i"] for r in rows)
"""


def test_a_stream_passes_through_a_lazy_step_to_one_that_takes_it_joined(tmp_path: Path) -> None:
    pipeline(tmp_path, STREAMING.replace("SIZE", "50"))
    assert run_ok("pipeline.py", "size", cwd=tmp_path)["final_output"] == 50_000


def test_an_async_generator_is_a_stream_whose_joined_value_is_the_list_of_its_items(tmp_path: Path) -> None:
    pipeline(tmp_path, STREAMING.replace("SIZE", "1"))
    assert run_ok("pipeline.py", "total", cwd=tmp_path)["final_output"] == 10


def test_a_stored_stream_is_served_from_cache_without_running_its_generator(tmp_path: Path) -> None:
    pipeline(tmp_path, STREAMING.replace("SIZE", "3"))
    run_ok("pipeline.py", "size", cwd=tmp_path)
    ran(tmp_path)
    summary = run_ok("pipeline.py", "size", cwd=tmp_path)
    assert ran(tmp_path) == [] and summary["steps_cached"] == 3


def test_a_stream_rechunked_to_the_same_bytes_cuts_off_its_dependants(tmp_path: Path) -> None:
    pipeline(tmp_path, STREAMING.replace("SIZE", "3"))
    run_ok("pipeline.py", "size", cwd=tmp_path)
    ran(tmp_path)
    # The same 3,000 bytes, yielded in other pieces: the stream's digest is unchanged.
    pipeline(tmp_path, STREAMING.replace("SIZE", "3").replace('yield bytes([65 + i % 26]) * 1000', 'yield from (bytes([65 + i % 26]) * 500, bytes([65 + i % 26]) * 500)'))
    summary = run_ok("pipeline.py", "size", cwd=tmp_path)
    assert ran(tmp_path) == ["raw"]
    assert summary["steps_cached"] == 2


def test_a_generator_that_fails_part_way_commits_nothing(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset

        @asset()
        def half():
            yield b"x" * 100
            raise OSError("the source closed")
        """,
    )
    result = barque("run", "pipeline.py", cwd=tmp_path)
    assert result.code == 1 and result.json["failures"][0]["error"] == "OSError: the source closed"
    assert not list((tmp_path / ".barque").glob("cache/*.json"))
    record = step_records(tmp_path / ".barque", result.json["run_id"])["pipeline.py:half"]
    assert record["state"] == "failed" and "artifact" not in record


def test_gc_keeps_the_chunks_of_a_stream_it_keeps(tmp_path: Path) -> None:
    pipeline(tmp_path, STREAMING.replace("SIZE", "3"))
    run_ok("pipeline.py", "size", cwd=tmp_path)
    ran(tmp_path)
    gc = barque("gc", "pipeline.py", "--keep-runs", "0", cwd=tmp_path)
    assert gc.code == 0, gc.stderr
    summary = run_ok("pipeline.py", "size", cwd=tmp_path)
    assert ran(tmp_path) == [] and summary["final_output"] == 3000


def test_a_sink_of_a_generator_asset_holds_the_whole_stream(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset, sink

        @asset()
        @sink("out/report.json", serializer="json")
        def report():
            for n in range(3):
                yield f"line {n}\\n"
        """,
    )
    run_ok("pipeline.py", cwd=tmp_path)
    assert json.loads((tmp_path / "out" / "report.json").read_text()) == "line 0\nline 1\nline 2\n"


def test_a_cached_stream_with_a_corrupt_chunk_is_recomputed_before_a_dependant_reads_it(tmp_path: Path) -> None:
    # 1.2 MB in one chunk: above the size up to which judging a record hash-checks blobs
    pipeline(tmp_path, STREAMING.replace("SIZE", "1200").replace("yield chunk.lower()", "yield bytes(chunk.lower())"))
    first = run_ok("pipeline.py", "size", cwd=tmp_path)
    store = tmp_path / ".barque"
    raw = step_records(store, first["run_id"])["pipeline.py:raw"]
    manifest = streams.read_manifest(open_store(str(store)), artifacts.ArtifactRef.from_dict(raw["artifact"]))
    assert len(manifest.chunks) == 1 and manifest.chunks[0][1] > artifacts.HASH_CHECK_BYTES
    chunk = store / artifacts.blob_key(manifest.chunks[0][0])
    chunk.write_bytes(b"?" + chunk.read_bytes()[1:])  # same size: only its hash tells
    ran(tmp_path)
    pipeline(tmp_path, STREAMING.replace("SIZE", "1200"))  # `lowered` changed: it runs and reads `raw`
    assert run_ok("pipeline.py", "size", cwd=tmp_path)["final_output"] == 1_200_000
    assert ran(tmp_path) == ["raw", "lowered"]  # raw healed first; lowered's output is unchanged, so size is cached
