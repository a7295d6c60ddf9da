"""A partition key from data never makes a sink write outside the sink's folder.

Pure tests of ``sink_path`` (one file-name segment per key, unambiguous), and one real run:
the `barque` CLI in a child process with keys that try to escape.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from barque.plans import Step
from barque_runtime.sinks import sink_path

from .clirun import pipeline, run_ok


def _step(**partition: str) -> Step:
    return Step(id="s", node="n", partition=tuple(partition.items()))


@pytest.mark.parametrize("key", ["../../x", "..", "a/b", "/etc/passwd", "a\\b", "nul\0byte", "%2F", ".hidden"])
def test_a_hostile_partition_key_stays_one_file_name_in_the_sink_folder(key: str) -> None:
    path = PurePosixPath(sink_path("out/report.json", _step(region=key)))
    assert path.parent == PurePosixPath("out")
    assert path.name not in ("..", ".") and "/" not in path.name and "\0" not in path.name and "\\" not in path.name


def test_partition_file_names_are_unambiguous() -> None:
    names = {
        sink_path("out/r.json", _step(a="x,b=y")),
        sink_path("out/r.json", _step(a="x", b="y")),
        sink_path("out/r.json", _step(a="a/b")),
        sink_path("out/r.json", _step(a="a%2Fb")),
    }
    assert len(names) == 4


def test_a_plain_key_is_named_as_barca_names_it() -> None:
    assert sink_path("out/sales.json", _step(region="emea")) == "out/sales_region_emea.json"
    assert sink_path("out/sales.json", _step(region="north_east")) == "out/sales_region_north_east.json"


def test_with_several_dimensions_an_underscore_in_a_key_cannot_make_two_names_one() -> None:
    assert sink_path("r.json", _step(a="x_b", b="y")) != sink_path("r.json", _step(a="x", b="b_y"))


def test_a_very_long_key_is_shortened_to_a_valid_file_name_and_stays_distinct() -> None:
    first = sink_path("out/r.json", _step(k="x" * 400 + "1"))
    second = sink_path("out/r.json", _step(k="x" * 400 + "2"))
    assert first != second
    assert all(len(PurePosixPath(p).name.encode()) <= 255 and p.endswith(".json") for p in (first, second))


def test_a_run_with_escaping_keys_writes_only_inside_the_sink_folder(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    pipeline(
        project,
        """
        from barque import asset, partitions, sink

        @asset(partitions={"region": partitions(["../../escaped", "a/b"])})
        @sink("out/report.json")
        def report(region: str) -> dict:
            return {"region": region}
        """,
    )
    run_ok("pipeline.py", cwd=project)
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.json") if ".barque" not in p.parts)
    assert written == ["project/out/report_region_..%2F..%2Fescaped.json", "project/out/report_region_a%2Fb.json"]
