"""Dataset sinks: ``@sink("prefix/", partition_by=[...], rows_per_file=N)`` writes barca's
Hive-partitioned layout, one key's directory per run of that key.

Real: the ``barque`` CLI in a child process, pandas and pyarrow, the local file system. The
layouts asserted here are the ones barca 0.33 wrote for the same files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from .clirun import barque, run_ok, write

SCORED = """
import pandas as pd
from barca import asset, partitions, sink


@asset(partitions={"retailer": partitions(["r1", "r2"])})
@sink("./exports/scored/", partition_by=["order_date"])
def scored(retailer: str) -> pd.DataFrame:
    return pd.DataFrame({
        "order_date": ["2026-10-21", "2026-10-22", "2026-10-22"],
        "amount": [1.0, 2.0, 3.0],
        "retailer": [retailer] * 3,
    })
"""


def files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_a_partitioned_asset_writes_one_hive_level_per_dimension_then_per_partition_by_column(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", SCORED)
    run_ok("pipeline.py", cwd=tmp_path)
    assert files(tmp_path / "exports/scored") == [
        "_barca_sink.json",
        "retailer=r1/order_date=2026-10-21/part-0.parquet",
        "retailer=r1/order_date=2026-10-22/part-0.parquet",
        "retailer=r2/order_date=2026-10-21/part-0.parquet",
        "retailer=r2/order_date=2026-10-22/part-0.parquet",
    ]


def test_partition_and_dimension_columns_are_left_out_of_the_files(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", SCORED)
    run_ok("pipeline.py", cwd=tmp_path)
    table = pq.read_table(tmp_path / "exports/scored/retailer=r1/order_date=2026-10-22/part-0.parquet")
    assert table.column_names == ["amount"] and table.column("amount").to_pylist() == [2.0, 3.0]


def test_the_marker_names_the_owning_asset_and_the_layout(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", SCORED)
    run_ok("pipeline.py", cwd=tmp_path)
    marker = json.loads((tmp_path / "exports/scored/_barca_sink.json").read_text())
    assert marker == {"barca_sink": 1, "asset": "pipeline.py:scored", "dims": ["retailer"],
                      "partition_by": ["order_date"], "format": "parquet"}


def test_rows_per_file_caps_each_parquet_file(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", """
        import pandas as pd
        from barca import asset, sink

        @asset()
        @sink("./exports/orders/", rows_per_file=2)
        def orders() -> pd.DataFrame:
            return pd.DataFrame({"id": [1, 2, 3, 4, 5]})
    """)
    run_ok("pipeline.py", cwd=tmp_path)
    parts = [f for f in files(tmp_path / "exports/orders") if f.endswith(".parquet")]
    assert parts == ["part-0.parquet", "part-1.parquet", "part-2.parquet"]
    assert [pq.read_table(tmp_path / "exports/orders" / p).num_rows for p in parts] == [2, 2, 1]


def test_a_value_that_is_not_a_table_is_one_json_lines_document(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", """
        from barca import asset, sink

        @asset()
        @sink("./exports/doc/")
        def doc() -> dict:
            return {"a": 1}
    """)
    run_ok("pipeline.py", cwd=tmp_path)
    assert (tmp_path / "exports/doc/part-0.jsonl").read_text() == '{"a": 1}\n'


def test_a_prefix_holding_files_barque_did_not_write_is_refused_and_fails_the_step(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", SCORED)
    write(tmp_path, "exports/scored/notes.txt", "mine")
    result = barque("run", "pipeline.py", cwd=tmp_path)
    assert result.code == 1
    assert "holds files barque did not write (for example notes.txt)" in result.stderr
    assert (tmp_path / "exports/scored/notes.txt").read_text() == "mine"


def test_a_prefix_another_asset_owns_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", SCORED)
    run_ok("pipeline.py", cwd=tmp_path)
    write(tmp_path, "pipeline.py", SCORED.replace("def scored", "def other"))
    result = barque("run", "pipeline.py", cwd=tmp_path)
    assert result.code == 1
    assert "belongs to the asset pipeline.py:scored" in result.stderr


def test_a_key_that_runs_again_replaces_the_old_files_of_its_directory(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", SCORED)
    run_ok("pipeline.py", cwd=tmp_path)
    write(tmp_path, "pipeline.py", SCORED.replace('["r1", "r2"]', '["r1", "r2", "r3"]').replace('"2026-10-21", "2026-10-22", "2026-10-22"', '"2026-10-23", "2026-10-23", "2026-10-23"'))
    summary = run_ok("pipeline.py", cwd=tmp_path)
    assert summary["steps_executed"] == 3  # the code changed: every key runs and rewrites its own directory
    assert [f for f in files(tmp_path / "exports/scored") if f.startswith("retailer=r1")] == ["retailer=r1/order_date=2026-10-23/part-0.parquet"]


def test_a_key_the_asset_no_longer_has_is_deleted_after_the_run(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", SCORED)
    run_ok("pipeline.py", cwd=tmp_path)
    write(tmp_path, "pipeline.py", SCORED.replace('["r1", "r2"]', '["r1"]'))
    done = barque("get", "pipeline.py", cwd=tmp_path)
    assert done.code == 0, done.stderr
    assert "barque: dataset sink ./exports/scored/: deleted 1 key its asset no longer has" in done.stderr
    assert sorted({f.split("/")[0] for f in files(tmp_path / "exports/scored")}) == ["_barca_sink.json", "retailer=r1"]


def test_a_run_narrowed_with_partition_deletes_no_key(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", SCORED)
    run_ok("pipeline.py", cwd=tmp_path)
    done = barque("get", "pipeline.py", "--partition", "retailer=r1", cwd=tmp_path)
    assert done.code == 0, done.stderr
    assert "deleted" not in done.stderr
    assert {f.split("/")[0] for f in files(tmp_path / "exports/scored")} == {"_barca_sink.json", "retailer=r1", "retailer=r2"}


def test_key_directories_in_a_prefix_another_asset_owns_are_left_alone(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", SCORED)
    run_ok("pipeline.py", cwd=tmp_path)
    marker = tmp_path / "exports/scored/_barca_sink.json"
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "asset": "other.py:scored"}))
    write(tmp_path, "pipeline.py", SCORED.replace('["r1", "r2"]', '["r1"]'))
    barque("get", "pipeline.py", cwd=tmp_path)  # r1 is cached: nothing writes into the prefix
    assert (tmp_path / "exports/scored/retailer=r2").is_dir()
