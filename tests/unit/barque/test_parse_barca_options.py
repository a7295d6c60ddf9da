"""barca's options barque reads: ``weight=``, ``cutoff=``, ``deterministic=``, ``batch=`` and
dataset sinks (``partition_by=``, ``rows_per_file=``), and the annotations that pick a reader.

Real parts: the parser and files written to a temporary directory. Nothing is imported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from barque.cachekeys import decorator_fingerprint
from barque.errors import PipelineDefinitionError
from barque.model import BatchSpec, Graph, Node, SinkSpec

from .fixtures.parse import parse, parse_error, write

HEADER = "from barca import asset, batches, batches_by, partitions, sensor, sink, task\n"
KEYS = 'partitions={"r": partitions(["r1", "r2", "r3"])}'


def node_of(tmp_path: Path, body: str, name: str = "a") -> Node:
    write(tmp_path, {"p.py": HEADER + body.lstrip("\n")})
    return parse(tmp_path).nodes[f"p.py:{name}"]


def error_in(tmp_path: Path, body: str) -> PipelineDefinitionError:
    write(tmp_path, {"p.py": HEADER + body.lstrip("\n")})
    return parse_error(tmp_path)


def test_weight_is_read_on_assets_tasks_and_sensors(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": HEADER + "@asset(weight=2)\ndef a(): return 1\n@task(weight=3)\ndef t(): pass\n"
                     "@sensor(weight=4)\ndef s(): return 1\n"})
    nodes = parse(tmp_path).nodes
    assert [nodes[f"p.py:{n}"].weight for n in "ats"] == [2, 3, 4]


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "True", '"2"'])
def test_a_weight_that_is_not_a_whole_number_of_at_least_one_is_an_error(tmp_path: Path, value: str) -> None:
    err = error_in(tmp_path, f"@asset(weight={value})\ndef a(): return 1\n")
    assert err.where == "p.py:2:15"
    assert "weight= must be a whole number of at least 1" in err.message


def test_cutoff_and_deterministic_are_read_as_written(tmp_path: Path) -> None:
    node = node_of(tmp_path, "@asset(cutoff=True, deterministic=False)\ndef a(): return 1\n")
    assert (node.cutoff, node.deterministic) == (True, False)


def test_cutoff_on_a_task_is_an_error_that_says_it_is_for_assets(tmp_path: Path) -> None:
    err = error_in(tmp_path, "@task(cutoff=True)\ndef a(): pass\n")
    assert "applies to @asset only" in (err.hint or "")


@pytest.mark.parametrize(
    ("written", "spec"),
    [
        ("20", BatchSpec("size", size=20)),
        ('"all"', BatchSpec("all")),
        ('batches([["r1", "r2"], ["r3"]])', BatchSpec("groups", groups=(("r1", "r2"), ("r3",)))),
        ('batches([["r1"]], strict=True)', BatchSpec("groups", groups=(("r1",),), strict=True)),
        ("batches(GROUPS())", BatchSpec("groups_expr", expr="GROUPS()")),
        ("batches_by(label, max_size=2)", BatchSpec("by", expr="label", max_size=2)),
    ],
)
def test_each_batch_grouping_is_read_as_written(tmp_path: Path, written: str, spec: BatchSpec) -> None:
    node = node_of(tmp_path, f"@asset({KEYS}, batch={written})\ndef a(r: list[str]): return {{}}\n")
    assert node.batch == spec


def test_batch_none_is_no_batching(tmp_path: Path) -> None:
    assert node_of(tmp_path, f"@asset({KEYS}, batch=None)\ndef a(r): return r\n").batch is None


@pytest.mark.parametrize("value", ["0", "-3", '"some"', "True", "[1]"])
def test_a_batch_value_barca_does_not_know_is_an_error(tmp_path: Path, value: str) -> None:
    err = error_in(tmp_path, f"@asset({KEYS}, batch={value})\ndef a(r): return {{}}\n")
    assert "is not a grouping barca knows" in err.message


def test_batch_on_an_unpartitioned_node_is_an_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, "@asset(batch=2)\ndef a(): return {}\n")
    assert "not partitioned" in err.message


def test_a_batched_partition_parameter_annotated_as_one_key_is_an_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, f"@asset({KEYS}, batch=2)\ndef a(r: str): return {{}}\n")
    assert err.where == "p.py:3:7"
    assert "list[str]" in (err.hint or "")


@pytest.mark.parametrize("groups", ['[["r1"], []]', '[["r1"], ["r2", "r1"]]'])
def test_an_empty_group_or_a_key_in_two_groups_is_an_error(tmp_path: Path, groups: str) -> None:
    err = error_in(tmp_path, f"@asset({KEYS}, batch=batches({groups}))\ndef a(r): return {{}}\n")
    assert "batches()" in err.message


def test_batch_on_a_sensor_is_not_an_argument(tmp_path: Path) -> None:
    err = error_in(tmp_path, f"@sensor({KEYS}, batch=2)\ndef a(r): return 1\n")
    assert "`batch` is not an argument of @sensor" in err.message


def test_a_dataset_sink_reads_partition_by_and_rows_per_file(tmp_path: Path) -> None:
    node = node_of(tmp_path, '@asset()\n@sink("out/ds/", partition_by=["day"], rows_per_file=100)\ndef a(): return 1\n')
    assert node.sinks == (SinkSpec("out/ds/", None, ("day",), 100),)
    assert node.sinks[0].dataset


def test_partition_by_on_a_file_sink_is_an_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, '@asset()\n@sink("out/a.parquet", partition_by=["day"])\ndef a(): return 1\n')
    assert "dataset sink, a path ending in `/`" in err.message


def test_rows_per_file_must_be_a_whole_number(tmp_path: Path) -> None:
    err = error_in(tmp_path, '@asset()\n@sink("out/ds/", rows_per_file=0)\ndef a(): return 1\n')
    assert "rows_per_file= must be a whole number of at least 1" in err.message


@pytest.mark.parametrize(
    ("annotation", "reader"),
    [("pyarrow.Table", "arrow"), ("pl.DataFrame", "polars"), ("polars.LazyFrame", "polars_lazy"),
     ("duckdb.DuckDBPyRelation", "duckdb"), ('"pyarrow.Table"', "arrow")],
)
def test_an_input_annotation_names_its_reader(tmp_path: Path, annotation: str, reader: str) -> None:
    write(tmp_path, {"p.py": HEADER + f"@asset()\ndef up(): return 1\n@asset(inputs={{'x': up}})\ndef a(x: {annotation}): return 1\n"})
    assert parse(tmp_path).nodes["p.py:a"].readers == (("x", reader),)


def test_pandas_and_other_annotations_keep_the_default_reader(tmp_path: Path) -> None:
    # `pa.Table` and `list[dict]` too: barca 0.33 reads only the conventional names, and hands both a DataFrame.
    write(tmp_path, {"p.py": HEADER + "@asset()\ndef up(): return 1\n@asset(inputs={'x': up, 'y': up, 'z': up, 'w': up})\n"
                     "def a(x: pd.DataFrame, y: dict, z: pa.Table, w: list[dict]): return 1\n"})
    assert parse(tmp_path).nodes["p.py:a"].readers == ()


def test_the_new_options_survive_the_graphs_dict_form(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": HEADER + f'@asset({KEYS}, batch=batches([["r1"]], strict=True), weight=2, cutoff=True)\n'
                     '@sink("ds/", partition_by=["d"])\ndef a(r: list): return {}\n'})
    graph = parse(tmp_path)
    assert Graph.from_dict(graph.to_dict()).nodes == graph.nodes


def test_a_node_without_the_new_options_has_the_same_dict_form_as_before(tmp_path: Path) -> None:
    node = node_of(tmp_path, '@asset()\n@sink("out/a.json")\ndef a(): return 1\n')
    d = node.to_dict()
    assert not {"weight", "cutoff", "deterministic", "batch", "readers"} & set(d)
    assert list(d["sinks"]) == [{"path": "out/a.json", "serializer": None}]


def test_batch_is_in_the_decorator_fingerprint_and_weight_is_not(tmp_path: Path) -> None:
    plain = node_of(tmp_path, f"@asset({KEYS})\ndef a(r): return r\n")
    batched = node_of(tmp_path, f"@asset({KEYS}, batch=2)\ndef a(r): return r\n")
    heavy = node_of(tmp_path, f"@asset({KEYS}, weight=4, cutoff=True, deterministic=False)\ndef a(r): return r\n")
    assert decorator_fingerprint(batched) != decorator_fingerprint(plain)
    assert decorator_fingerprint(heavy) == decorator_fingerprint(plain)
