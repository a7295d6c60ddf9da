"""`@sink(path)`: an asset's output also lands in a file, atomically; a sink failure is reported.

Real: the `barque` CLI in a child process, a local-folder store, sink files in a temp folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from .clirun import barque, pipeline, step_records


def test_sink_writes_the_output_to_its_path_in_the_project(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset, sink

        @asset()
        @sink("out/report.json", serializer="json")
        def report() -> dict:
            return {"total": 3}
        """,
    )
    (tmp_path / "elsewhere").mkdir()
    result = barque("run", str(tmp_path / "pipeline.py"), cwd=tmp_path / "elsewhere")
    assert result.code == 0, result.stderr
    assert json.loads((tmp_path / "out" / "report.json").read_text()) == {"total": 3}
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["report.json"]  # no temporary left behind


def test_partitioned_sink_puts_the_key_in_the_file_name(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset, partitions, sink

        @asset(partitions={"region": partitions(["amer", "emea"])})
        @sink("out/sales.json")
        def sales(region: str) -> dict:
            return {"region": region}
        """,
    )
    assert barque("run", "pipeline.py", cwd=tmp_path).code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["sales.region=amer.json", "sales.region=emea.json"]
    assert json.loads((tmp_path / "out" / "sales.region=emea.json").read_text()) == {"region": "emea"}


SINK_FAILS = """
from barque import asset, sink

@asset()
@sink("blocker/report.json")
def report() -> dict:
    return {"total": 3}

@asset(inputs={"r": report})
def after(r: dict) -> int:
    return r["total"]
"""


def test_sink_failure_does_not_fail_the_asset_but_is_reported_on_stderr(tmp_path: Path) -> None:
    pipeline(tmp_path, SINK_FAILS)
    (tmp_path / "blocker").write_text("a file where the sink wants a folder")
    result = barque("run", "pipeline.py", cwd=tmp_path)
    assert result.code == 0
    assert result.json["status"] == "succeeded"
    assert result.json["final_output"] == 3
    assert "SINK FAILED" in result.stderr and "blocker/report.json" in result.stderr


def test_sink_failure_is_recorded_in_the_run(tmp_path: Path) -> None:
    pipeline(tmp_path, SINK_FAILS)
    (tmp_path / "blocker").write_text("a file where the sink wants a folder")
    summary = barque("run", "pipeline.py", cwd=tmp_path).json
    record = step_records(tmp_path / ".barque", summary["run_id"])["pipeline.py:report"]
    (sink,) = record["sinks"]
    assert sink["path"] == "blocker/report.json" and sink["error"]
    assert summary["sink_failures"] == [{"step": "pipeline.py:report", "path": "blocker/report.json", "error": sink["error"]}]
