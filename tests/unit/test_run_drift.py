"""Where the laptop and the cluster used to disagree, one rule each now (issue 9's drift list).

Real: ``barque.run``/``barque plan`` with worker processes and a local-folder store; the
operator's reconcile with ``barque exec`` as its Pods (``tests/unit/cluster_sim.py``).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import barque
from barque import artifacts, records
from barque.deferred import read_deferred_keys
from barque.parsing import parse_project
from barque.plans import Deferred, Plan
from barque.store.memory import MemoryStore
from barque_operator.planpin import cluster_plan
from tests.unit.cluster_sim import Cluster
from tests.unit.runtime.clirun import barque as cli

# ``per`` waits for the keys ``src`` returns; ``b`` reads ``a`` and ``src`` from two streams.
# Planned again from scratch, ``per`` would run beside ``b``; grown, it comes after.
GROWS = """
    from barque import asset, partitions_from

    @asset()
    def src() -> list:
        return ["x", "y"]

    @asset()
    def a() -> int:
        return 1

    @asset(inputs={"a": a, "s": src})
    def b(a: int, s: list) -> int:
        return a + len(s)

    @asset(partitions={"k": partitions_from(src)})
    def per(k: str) -> str:
        return k
"""

WIDE = """
    from barque import asset, partitions

    def shards():
        return ["s0", "s1"]

    @asset(partitions={"shard": partitions(shards())})
    def part(shard: str) -> str:
        return shard

    @asset()
    def one() -> int:
        return 1

    @asset()
    def two() -> int:
        return 2

    @asset()
    def three() -> int:
        return 3
"""


def _project(folder: Path, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pipeline.py").write_text(textwrap.dedent(source))
    return folder / "pipeline.py"


def test_deferred_partitions_grow_the_local_plan_as_the_cluster_grows_its_pinned_plan(tmp_path: Path) -> None:
    summary = barque.run(str(_project(tmp_path / "local", GROWS)), workers=2)
    run = Cluster([_project(tmp_path / "cluster", GROWS)], tmp_path / "store", parallelism=2, work=tmp_path).run()
    assert summary["status"] == "succeeded" and run["status"]["phase"] == "Succeeded"
    assert summary["phases"] == run["status"]["plan"]["phaseCount"] == 3
    last = run["status"]["plan"]["phases"][-1]
    assert sorted(s for stream in last["streams"] for s in stream["steps"]) == ["pipeline.py:per[k=x]", "pipeline.py:per[k=y]"]


def test_a_partition_expression_is_evaluated_by_a_step_in_the_local_plan_as_in_the_clusters(tmp_path: Path) -> None:
    path = _project(tmp_path, WIDE)
    local = barque.plan(str(path), workers=2)
    assert local == cluster_plan(parse_project([str(path)], hashes=False), None, 2).to_dict()
    assert "pipeline.py:part#partitions" in [s["id"] for s in local["steps"]]
    assert local["deferred"] == [{"node": "pipeline.py:part", "waits_for": "pipeline.py:part#partitions"}]


def _plan_with_source(serializer: str) -> tuple[MemoryStore, Plan]:
    store = MemoryStore()
    ref = artifacts.write_value(store, ["x", "y"])
    artifact = {**ref.to_dict(), "serializer": serializer}
    records.write_step_record(store, "r1", {"step": "src", "node": "src", "state": "succeeded", "artifact": artifact})
    return store, Plan(phases=(), steps={}, deferred=(Deferred("per", "src"),))


def test_deferred_keys_are_read_as_json_by_the_one_reader() -> None:
    store, plan = _plan_with_source("json")
    assert read_deferred_keys(store, "r1", plan, ["per"]) == ({"per": ["x", "y"]}, {})


def test_deferred_keys_a_record_says_are_pickled_are_refused_not_decoded_and_named() -> None:
    store, plan = _plan_with_source("pickle")
    keys, unresolvable = read_deferred_keys(store, "r1", plan, ["per"])
    assert keys == {}
    assert unresolvable["per"].startswith("src feeds partitions_from, so its output is read as JSON, and it was stored as pickle")


def test_barque_plan_with_parallelism_prints_the_plan_the_operator_pins(tmp_path: Path) -> None:
    path = _project(tmp_path / "project", WIDE)
    shown = cli("plan", "pipeline.py", "--parallelism", "3", cwd=path.parent)
    assert shown.code == 0, shown.stderr
    cluster = Cluster([path], tmp_path / "store", parallelism=3, work=tmp_path)
    run = cluster.run()
    pinned = json.loads((tmp_path / "store" / run["status"]["plan"]["storeKey"]).read_text())["plan"]
    assert shown.json["phases"] == pinned["phases"][: len(shown.json["phases"])]  # the run grew it after
    assert len(shown.json["phases"][0]["streams"]) == 3
    assert len(cli("plan", "pipeline.py", "--workers", "1", cwd=path.parent).json["phases"][0]["streams"]) == 1


def test_barque_plan_of_a_pipeline_manifest_uses_its_parallelism(tmp_path: Path) -> None:
    path = _project(tmp_path, WIDE)
    manifest = cli("compile", "pipeline.py", "--name", "etl", cwd=tmp_path)
    assert manifest.code == 0, manifest.stderr
    (tmp_path / "etl.yaml").write_text(manifest.stdout)
    shown = cli("plan", "etl.yaml", cwd=tmp_path)
    assert shown.code == 0, shown.stderr
    graph = parse_project([str(path)], hashes=False)
    assert shown.json["phases"] == cluster_plan(graph, None, 4).to_dict()["phases"]  # the CRD's default parallelism
    assert cli("plan", "etl.yaml", "--parallelism", "2", cwd=tmp_path).json["phases"] == cluster_plan(graph, None, 2).to_dict()["phases"]
    refused = cli("plan", "etl.yaml", "--cache", cwd=tmp_path)
    assert refused.code == 2 and "--cache and --partition are the local run's" in refused.stderr
