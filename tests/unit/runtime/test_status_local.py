"""``barque status [TARGET] [FILES...]`` on the local store: barca's cache states from
``--dry-run``'s verdicts, and each node's last execution.

Pure: ``step_view`` and ``node_status`` on hand-built verdicts. Real: the `barque` CLI in a
child process with a local-folder store, and the rule that picks the local or the cluster form.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from barque.cachestate import MANUAL_NEVER_COMPUTED, StepCache
from barque_cli.cmd_status import is_local
from barque_runtime.status import LastRun, artifact_shape, node_status, step_view, value_shape

from ..barque.graphs import graph, inp, node, static
from .clirun import barque, write

ORDERS, TOTAL, SENSE = node("orders"), node("total", inputs=(inp("o", "orders"),)), node("sense", kind="sensor")
G = graph(ORDERS, TOTAL, SENSE, node("notify", kind="task"))
FAILED = LastRun("r1", "p.py:orders", "failed", 1.0, 0.1, 1, error="ValueError: no")


def test_a_cached_step_is_cached_materialized_with_its_key() -> None:
    view = step_view(ORDERS, StepCache("cached", "k1", "cached", {}), True, None, G)
    assert (view.state, view.reason, view.run_hash) == ("cached", "materialized", "k1")


def test_a_changed_step_that_ran_before_is_stale_changed_in_dry_runs_words() -> None:
    view = step_view(ORDERS, StepCache("run", "k2", "changed: helper helpers.py:norm"), True, None, G)
    assert (view.state, view.reason, view.detail) == ("stale", "changed", "changed: helper helpers.py:norm")


def test_a_step_never_materialized_is_never_run_no_record() -> None:
    assert step_view(ORDERS, StepCache("run", "k", "never materialized"), False, None, G).state == "never_run"


def test_a_step_whose_last_run_failed_is_never_run_failed_with_the_error() -> None:
    view = step_view(ORDERS, StepCache("run", "k", "never materialized"), False, FAILED, G)
    assert (view.state, view.reason, view.detail) == ("never_run", "failed", "failed: ValueError: no")


def test_a_missing_artifact_is_stale_artifact_missing() -> None:
    assert step_view(ORDERS, StepCache("run", "k", "artifact missing"), True, None, G).reason == "artifact_missing"


def test_a_step_waiting_for_an_upstream_is_unknown_cutoff_pending_as_barque_cuts_off_early() -> None:
    view = step_view(TOTAL, StepCache("unknown", None, "waits for p.py:orders"), True, None, G)
    assert (view.state, view.reason) == ("unknown", "cutoff_pending")
    assert view.detail.startswith("waits for p.py:orders (runs unless")


def test_a_step_waiting_for_a_sensor_is_unknown_sensor_output_unknown() -> None:
    reads = node("reads", inputs=(inp("s", "sense"),))
    assert step_view(reads, StepCache("unknown", None, "waits for p.py:sense"), True, None, G).reason == "sensor_output_unknown"


def test_a_step_waiting_that_never_ran_is_never_run() -> None:
    assert step_view(TOTAL, StepCache("unknown", None, "waits for p.py:orders"), False, None, G).state == "never_run"


def test_a_manual_node_never_computed_is_never_run_and_says_how_to_compute_it() -> None:
    view = step_view(ORDERS, StepCache("run", "k", MANUAL_NEVER_COMPUTED), False, None, G)
    assert view.state == "never_run" and "--refresh orders" in view.detail


def test_tasks_and_sensors_always_run() -> None:
    assert step_view(G.nodes["p.py:notify"], None, False, None, G).reason == "task"
    assert step_view(SENSE, None, False, None, G).reason == "sensor"


def test_a_partitioned_node_with_some_keys_cached_is_partial_and_lists_the_missing_ones() -> None:
    per = node("per", partitions=(static("k", "a", "b", "c"),))
    steps = ["p.py:per[k=a]", "p.py:per[k=b]", "p.py:per[k=c]"]
    verdicts = {steps[0]: StepCache("cached", "ka", "cached", {}), steps[1]: StepCache("run", "kb", "never materialized"),
                steps[2]: StepCache("run", "kc", "changed: code")}
    labels = {s: s[len("p.py:per[") : -1] for s in steps}
    status = node_status(per, steps, verdicts, {steps[0], steps[2]}, {}, G, labels).to_dict()
    assert status["cache"]["state"] == "partial" and status["cache"]["reason"] == "partitions_missing"
    assert status["partitions"] == {"total": 3, "cached": 1, "missing": 2, "missing_keys": ["k=b", "k=c"]}


def test_a_partitioned_node_whose_keys_are_not_known_yet_is_unknown_partitions_unknown() -> None:
    per = node("per", partitions=(static("k", "a"),))
    assert node_status(per, [], {}, set(), {}, G, {}).cache.reason == "partitions_unknown"


def test_the_last_materialization_of_a_partitioned_node_is_the_first_key_of_its_latest_run() -> None:
    per = node("per", partitions=(static("k", "a", "b"),))
    steps = ["p.py:per[k=a]", "p.py:per[k=b]"]
    runs = {steps[0]: LastRun("old", steps[0], "succeeded", 1.0, 0.1, 1), steps[1]: LastRun("new", steps[1], "failed", 2.0, 0.1, 1, error="E: x")}
    doc = node_status(per, steps, {}, set(), runs, G, {steps[0]: "k=a", steps[1]: "k=b"}).to_dict()
    assert doc["last_materialization"]["run_id"] == "new" and doc["last_materialization"]["partition"] == "k=b"


PIPE = """
from barque import asset, task

@asset()
def orders() -> list:
    return [1, 2, 3]

@asset(inputs={"o": orders})
def total(o: list) -> dict:
    return {"total": sum(o)}

@asset()
def broken() -> int:
    raise ValueError("no rows")

@task(inputs={"t": total})
def notify(t: dict) -> None:
    print(t)
"""


def _status(folder: Path, *args: str) -> dict:
    result = barque("status", *args, cwd=folder)
    assert result.code == 0, result.stderr
    doc = result.json
    return {n["name"]: n for n in doc["nodes"]} | {"_doc": doc}


def test_status_reads_the_local_store_with_no_kubernetes_configuration(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", PIPE)
    barque("run", "pipeline.py", cwd=tmp_path)
    nodes = _status(tmp_path, "pipeline.py")
    assert nodes["orders"]["cache"]["state"] == "cached" and nodes["total"]["cache"]["state"] == "cached"
    assert nodes["notify"]["cache"] == {"state": "always_runs", "reason": "task", "detail": "tasks always re-run"}
    last = nodes["orders"]["last_materialization"]
    assert last["status"] == "succeeded" and last["format"] == "json" and last["run_id"]
    assert nodes["_doc"]["summary"] == {"cached": 2, "unsynced": 0, "stale": 0, "never_run": 1, "partial": 0, "unknown": 0, "always_runs": 1}


def test_status_names_a_failed_nodes_error_and_last_run(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", PIPE)
    barque("run", "pipeline.py", cwd=tmp_path)
    broken = _status(tmp_path)["broken"]
    assert broken["cache"] == {"state": "never_run", "reason": "failed", "detail": "failed: ValueError: no rows", "run_hash": broken["cache"]["run_hash"]}
    assert broken["last_materialization"]["status"] == "failed" and broken["last_materialization"]["error"] == "ValueError: no rows"


def test_status_says_why_a_node_is_stale_as_dry_run_does(tmp_path: Path) -> None:
    path = write(tmp_path, "pipeline.py", PIPE)
    barque("run", "pipeline.py", cwd=tmp_path)
    path.write_text(path.read_text().replace("[1, 2, 3]", "[1, 2, 4]"))
    nodes = _status(tmp_path, "pipeline.py")
    assert (nodes["orders"]["cache"]["state"], nodes["orders"]["cache"]["detail"]) == ("stale", "changed: code")
    assert nodes["total"]["cache"]["reason"] == "cutoff_pending"
    dry = barque("run", "pipeline.py", "--dry-run", cwd=tmp_path).json
    by_step = {s["step"]: s for s in dry["steps"]}
    assert by_step["pipeline.py:orders"]["reason"] == nodes["orders"]["cache"]["detail"]


def test_status_of_a_target_shows_its_upstream_cone(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", PIPE)
    doc = _status(tmp_path, "total", "pipeline.py")["_doc"]
    assert [n["name"] for n in doc["nodes"]] == ["orders", "total"]
    assert doc["target"] == "total" and doc["targets"] == ["total"]


def test_status_runs_nothing_and_leaves_no_store_behind(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", PIPE)
    nodes = _status(tmp_path)
    assert nodes["orders"]["cache"]["state"] == "never_run" and nodes["orders"]["last_materialization"] is None
    assert not (tmp_path / ".barque").exists()


def test_status_prints_barcas_table_on_pretty(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", PIPE)
    barque("run", "pipeline.py", cwd=tmp_path)
    result = barque("status", "--pretty", cwd=tmp_path)
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "STATE", "WHY", "LAST", "RUN", "SHAPE", "DEPS"]
    assert any(line.split()[:2] == ["total", "asset"] and "dict (1 key)" in line for line in lines)
    assert any(line.split()[:4] == ["broken", "asset", "never-run", "failed:"] for line in lines)
    assert lines[-1] == "2 cached, 0 stale, 1 never run, 0 partial, 0 unknown, 1 always run"


def _cluster_args(**kw: str | None) -> argparse.Namespace:
    return argparse.Namespace(**{"namespace": None, "kubeconfig": None, "context": None, **kw})


def test_a_cluster_flag_asks_the_cluster() -> None:
    assert not is_local(["etl-x7k2p"], _cluster_args(namespace="team-a"), {})


@pytest.mark.parametrize("items", [[], ["pipeline.py"], ["total", "pipeline.py"], ["a", "b"]])
def test_no_argument_a_file_or_several_read_the_local_store(items: list[str]) -> None:
    assert is_local(items, _cluster_args(), {"KUBECONFIG": "/nonexistent"})


def test_a_name_the_project_does_not_know_is_a_pipelinerun_when_kubernetes_is_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "pipeline.py", PIPE)
    kubeconfig = write(tmp_path, "kube/config", "apiVersion: v1\n")
    monkeypatch.chdir(tmp_path)
    assert not is_local(["etl-x7k2p"], _cluster_args(), {"KUBECONFIG": str(kubeconfig)})
    assert is_local(["total"], _cluster_args(), {"KUBECONFIG": str(kubeconfig)})


def test_a_name_without_any_kubernetes_configuration_is_a_local_target(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", PIPE)
    result = barque("status", "nope", "--pretty", cwd=tmp_path, env={"KUBECONFIG": str(tmp_path / "none"), "HOME": str(tmp_path)})
    assert result.code == 2 and "unknown target 'nope'" in result.stderr and "-n NAMESPACE" in result.stderr


def test_status_json_is_one_document(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", PIPE)
    doc = json.loads(barque("status", "--json", cwd=tmp_path).stdout)
    assert set(doc) == {"target", "targets", "nodes", "summary", "total", "truncated", "root"}


@pytest.mark.parametrize(
    ("value", "shape"),
    [
        ([1, 2, 3], {"type": "list", "rows": 3}),
        ([{"a": 1, "b": None}, {"a": 2, "b": "x"}], {"type": "list", "rows": 2, "columns": [{"name": "a", "type": "int"}, {"name": "b", "type": "str | null"}]}),
        ({"total": 6}, {"type": "dict", "keys": ["total"]}),
        (3.5, {"type": "float"}),
    ],
)
def test_a_json_values_shape_is_barcas(value: object, shape: dict) -> None:
    assert value_shape(value) == shape


def test_a_dict_with_many_keys_lists_the_first_hundred_and_counts_them() -> None:
    shape = value_shape({str(i): i for i in range(150)})
    assert len(shape["keys"]) == 100 and shape["key_count"] == 150


def test_a_pickled_artifact_is_not_decoded_to_describe_it() -> None:
    last = LastRun("r", "p.py:m", "succeeded", 1.0, 0.1, 1, artifact={"content_hash": "x" * 64, "serializer": "pickle", "size": 10})
    shape = artifact_shape(None, last)
    assert shape is not None and shape["type"] == "pickle" and "JSON artifacts only" in shape["note"]


def test_a_failed_last_run_has_no_shape() -> None:
    assert artifact_shape(None, FAILED) is None


def test_status_describes_the_json_artifact_of_the_last_run(tmp_path: Path) -> None:
    write(tmp_path, "pipeline.py", PIPE)
    barque("run", "pipeline.py", cwd=tmp_path)
    nodes = _status(tmp_path)
    assert nodes["orders"]["shape"] == {"type": "list", "rows": 3} and nodes["broken"]["shape"] is None
