"""`@sink(path)`: an asset's output also lands in a file, atomically, in the format its extension
names; a sink that fails fails its step, as in barca.

Real: the `barque` CLI in a child process, a local-folder store, sink files in a temp folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from .clirun import barque, pipeline


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
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["sales_region_amer.json", "sales_region_emea.json"]
    assert json.loads((tmp_path / "out" / "sales_region_emea.json").read_text()) == {"region": "emea"}


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


def test_a_failed_sink_fails_its_step_with_exit_1_naming_the_sink(tmp_path: Path) -> None:
    pipeline(tmp_path, SINK_FAILS)
    (tmp_path / "blocker").write_text("a file where the sink wants a folder")
    result = barque("run", "pipeline.py", cwd=tmp_path)
    assert result.code == 1
    assert result.json["status"] == "failed"
    (failure,) = result.json["failures"]
    assert failure["step"] == "pipeline.py:report"
    assert failure["error"].startswith("SinkError: sink blocker/report.json:")
    assert result.json["steps_skipped"] == 1  # `after` reads the failed asset


def test_a_failed_sink_leaves_nothing_cached_so_the_next_run_tries_again(tmp_path: Path) -> None:
    pipeline(tmp_path, SINK_FAILS)
    (tmp_path / "blocker").write_text("a file where the sink wants a folder")
    assert barque("run", "pipeline.py", cwd=tmp_path).code == 1
    (tmp_path / "blocker").unlink()
    again = barque("run", "pipeline.py", cwd=tmp_path)
    assert again.code == 0 and again.json["steps_executed"] == 2
    assert json.loads((tmp_path / "blocker" / "report.json").read_text()) == {"total": 3}


def test_a_pkl_sink_holds_pickle_bytes_of_the_value(tmp_path: Path) -> None:
    import pickle

    pipeline(
        tmp_path,
        """
        from barque import asset, sink

        @asset()
        @sink("out/model.pkl")
        def model() -> dict:
            return {"weights": [1, 2]}
        """,
    )
    assert barque("run", "pipeline.py", cwd=tmp_path).code == 0
    assert pickle.loads((tmp_path / "out" / "model.pkl").read_bytes()) == {"weights": [1, 2]}


def test_a_parquet_sink_of_a_value_that_is_not_a_data_frame_fails_rather_than_write_other_bytes(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset, sink

        @asset()
        @sink("out/rows.parquet")
        def rows() -> dict:
            return {"a": 1}
        """,
    )
    result = barque("run", "pipeline.py", cwd=tmp_path)
    assert result.code == 1 and "only pandas DataFrames are written as Parquet" in result.json["failures"][0]["error"]
    assert not (tmp_path / "out" / "rows.parquet").exists()


def test_a_csv_sink_writes_a_header_and_no_index(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        import pandas as pd
        from barque import asset, sink

        @asset()
        @sink("out/rows.csv")
        def rows() -> pd.DataFrame:
            return pd.DataFrame({"id": [1, 2], "amount": [9.5, 20.0]})
        """,
    )
    assert barque("run", "pipeline.py", cwd=tmp_path).code == 0
    assert (tmp_path / "out" / "rows.csv").read_text().splitlines() == ["id,amount", "1,9.5", "2,20.0"]


def test_every_sink_is_tried_before_the_step_fails(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset, sink

        @asset()
        @sink("blocker/a.json")
        @sink("out/b.json")
        def report() -> dict:
            return {"total": 3}
        """,
    )
    (tmp_path / "blocker").write_text("a file where the sink wants a folder")
    result = barque("run", "pipeline.py", cwd=tmp_path)
    assert result.code == 1
    assert json.loads((tmp_path / "out" / "b.json").read_text()) == {"total": 3}
