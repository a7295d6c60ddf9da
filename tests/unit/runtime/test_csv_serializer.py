"""`serializer="csv"`: an asset stored as CSV (a header, no index) reads back as a DataFrame, as in barca.

Real: the `barque` CLI in a child process, pandas.
"""

from __future__ import annotations

from pathlib import Path

from .clirun import pipeline, run_ok

SOURCE = """
import pandas as pd
from barque import asset


@asset(serializer="csv")
def rows() -> pd.DataFrame:
    return pd.DataFrame({"id": [1, 2], "amount": [9.5, 20.0]})


@asset(inputs={"rows": rows})
def total(rows: pd.DataFrame) -> float:
    assert isinstance(rows, pd.DataFrame) and list(rows.columns) == ["id", "amount"]
    return float(rows["amount"].sum())
"""


def test_a_csv_asset_reaches_its_dependant_as_a_data_frame(tmp_path: Path):
    pipeline(tmp_path, SOURCE)
    summary = run_ok("pipeline.py", "total", cwd=tmp_path)
    assert summary["final_output"] == 29.5


def test_a_csv_asset_is_cached_like_any_other(tmp_path: Path):
    pipeline(tmp_path, SOURCE)
    run_ok("pipeline.py", "total", cwd=tmp_path)
    assert run_ok("pipeline.py", "total", cwd=tmp_path)["steps_cached"] == 2
