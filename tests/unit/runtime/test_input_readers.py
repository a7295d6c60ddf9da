"""An input's parameter annotation picks the reader of a Parquet or CSV input, as in barca
(`barca docs types`, "Input: parameter annotations pick the reader"); JSON and pickle
inputs ignore it.

Real: the ``barque`` CLI in a child process, pandas and pyarrow.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .clirun import barque, run_ok, write

SOURCE = """
import pandas as pd
import pyarrow
from barque import asset


@asset(serializer="{fmt}")
def orders() -> pd.DataFrame:
    return pd.DataFrame({{"id": [1, 2], "amount": [9.5, 20.0]}})


@asset()
def meta() -> dict:
    return {{"rows": 2}}


@asset(inputs={{"orders": orders, "meta": meta}})
def kinds(orders: pyarrow.Table, meta: pyarrow.Table) -> list:
    return [type(orders).__module__.split(".")[0], type(orders).__name__, type(meta).__name__]


@asset(inputs={{"orders": orders}})
def default(orders) -> str:
    return type(orders).__name__


@asset(inputs={{"orders": orders}})
def as_rows(orders: list[dict]) -> str:
    return type(orders).__name__
"""


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_an_input_annotated_pyarrow_table_receives_an_arrow_table(tmp_path: Path, fmt: str) -> None:
    write(tmp_path, "pipeline.py", SOURCE.format(fmt=fmt))
    assert run_ok("kinds", "pipeline.py", cwd=tmp_path)["final_output"] == ["pyarrow", "Table", "dict"]


def test_an_input_without_an_annotation_receives_a_pandas_data_frame(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", SOURCE.format(fmt="parquet"))
    assert run_ok("default", "pipeline.py", cwd=tmp_path)["final_output"] == "DataFrame"


def test_a_rows_annotation_still_receives_a_data_frame_as_in_barca(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", SOURCE.format(fmt="parquet"))
    assert run_ok("as_rows", "pipeline.py", cwd=tmp_path)["final_output"] == "DataFrame"


def test_an_annotation_for_a_library_that_is_not_installed_fails_the_step_saying_which(tmp_path: Path) -> None:
    source = SOURCE.format(fmt="parquet").replace("def default(orders)", "def default(orders: \"pl.DataFrame\")")
    write(tmp_path, "pipeline.py", source)
    result = barque("run", "default", "pipeline.py", cwd=tmp_path)
    assert result.code == 1
    assert "annotated for polars, which is not installed" in result.stderr
