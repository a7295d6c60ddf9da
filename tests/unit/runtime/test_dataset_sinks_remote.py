"""A dataset sink on an object store: each key's files are uploaded, then that key's old files
the write does not have are deleted; the marker names the owner.

Real: ``datasets.write_dataset`` with pandas and pyarrow, on the in-memory twin of the S3
store (``memory://``), which shares the store protocol the S3 backend implements.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from barque.model import Graph, Node, PartitionSpec, SinkSpec
from barque.plans import Plan, Step
from barque.store import open_store
from barque_runtime.datasets import DatasetSinkError, prune_removed_keys, write_dataset

NODE = Node(id="p.py:scored", kind="asset", file="p.py", module="p", function="scored", line=1,
            partitions=(PartitionSpec("retailer", "static", values=("r1", "r2")),))


def step(key: str) -> Step:
    return Step(f"p.py:scored[retailer={key}]", NODE.id, partition=(("retailer", key),))


def test_each_key_is_uploaded_and_its_stale_files_deleted(tmp_path: Path) -> None:
    sink = SinkSpec("memory://ds-upload/scored/", rows_per_file=1)
    write_dataset(sink, NODE, step("r1"), pd.DataFrame({"a": [1, 2, 3]}), tmp_path)
    write_dataset(sink, NODE, step("r2"), pd.DataFrame({"a": [4]}), tmp_path)
    store = open_store("memory://ds-upload/scored")
    assert sorted(store.list("")) == ["_barca_sink.json", "retailer=r1/part-0.parquet", "retailer=r1/part-1.parquet",
                                      "retailer=r1/part-2.parquet", "retailer=r2/part-0.parquet"]
    write_dataset(sink, NODE, step("r1"), pd.DataFrame({"a": [9]}), tmp_path)
    assert sorted(k for k in store.list("retailer=r1/")) == ["retailer=r1/part-0.parquet"]
    assert json.loads(store.get("_barca_sink.json") or b"{}")["asset"] == "p.py:scored"


def test_another_assets_prefix_is_refused(tmp_path: Path) -> None:
    sink = SinkSpec("memory://ds-owner/scored/")
    write_dataset(sink, NODE, step("r1"), pd.DataFrame({"a": [1]}), tmp_path)
    other = NODE._replace(id="p.py:other")
    with pytest.raises(DatasetSinkError, match="belongs to the asset p.py:scored"):
        write_dataset(sink, other, Step("p.py:other[retailer=r1]", other.id, partition=(("retailer", "r1"),)), pd.DataFrame({"a": [1]}), tmp_path)


def test_a_key_the_asset_no_longer_has_is_deleted_from_the_store(tmp_path: Path) -> None:
    sink = SinkSpec("memory://ds-prune/scored/")
    for key in ("r1", "r2"):
        write_dataset(sink, NODE, step(key), pd.DataFrame({"a": [1]}), tmp_path)
    node = NODE._replace(sinks=(sink,), partitions=(PartitionSpec("retailer", "static", values=("r1",)),))
    plan = Plan(phases=(), steps={step("r1").id: step("r1")})
    lines = prune_removed_keys(Graph(".", {node.id: node}), plan, tmp_path, narrowed=False)
    assert lines == ["barque: dataset sink memory://ds-prune/scored/: deleted 1 key its asset no longer has"]
    assert sorted(open_store("memory://ds-prune/scored").list("")) == ["_barca_sink.json", "retailer=r1/part-0.parquet"]
