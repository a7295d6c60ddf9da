"""barca's plan order and ``final_output``, replayed from what barca 0.33 printed.

``final_output_cases.json`` holds generated graphs (``record_final_output.py``) with, for
each, the step order ``barca plan`` printed on its pool size and, for about half of them, the
node of ``final_output`` that ``barca get --json`` printed. Pure: parse, then order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings, strategies as st

from barque.model import Graph, InputSpec, Node, NodeKind, PartitionSpec
from barque.parsing import parse_project
from barque_runtime.barca_order import final_node, plan_order

CASES = json.loads((Path(__file__).parent / "final_output_cases.json").read_text())["cases"]


def _graph(source: str, folder: str) -> Graph:
    (Path(folder) / "p.py").write_text(source)
    return parse_project([str(Path(folder) / "p.py")], hashes=False)


def _short(node_ids: list[str]) -> list[str]:
    return [n.rpartition(":")[2] for n in node_ids]


def _mismatches(tmp_path: Path, pick: Any) -> list[str]:
    out = []
    for index, case in enumerate(CASES):
        folder = tmp_path / str(index)
        folder.mkdir()
        mine, barca = pick(_graph(case["source"], str(folder)), case)
        if mine != barca:
            out.append(f"case {index} (pool {case['pool']}): barque {mine}, barca {barca}\n{case['source']}")
    return out


def test_the_step_order_is_the_one_barca_plan_printed(tmp_path: Path) -> None:
    assert _mismatches(tmp_path, lambda g, c: (_short(plan_order(g, c["pool"])), c["plan"])) == []


def test_final_output_is_the_node_barca_get_returned(tmp_path: Path) -> None:
    recorded = [c for c in CASES if "final_output" in c]
    assert len(recorded) >= 60, "record more cases: python -m tests.unit.compat.record_final_output"

    def pick(g: Graph, c: dict[str, Any]) -> tuple[Any, Any]:
        if "final_output" not in c:
            return None, None
        found = final_node(g, c["pool"])
        return (found and found.rpartition(":")[2]), c["final_output"]

    assert _mismatches(tmp_path, pick) == []


@st.composite
def graphs(draw: st.DrawFn) -> Graph:
    """Graphs of the shapes the recorded cases cover, each input read from an earlier node."""
    nodes: dict[str, Node] = {}
    keys = tuple(f"k{i}" for i in range(draw(st.integers(1, 4))))
    for i in range(draw(st.integers(1, 8))):
        kind: NodeKind = draw(st.sampled_from(["asset", "asset", "asset", "sensor", "task"]))
        earlier = [n for n in nodes.values() if n.kind != "task"]
        parted = kind != "sensor" and draw(st.booleans())
        reads = [] if kind == "sensor" or not earlier else draw(st.lists(st.sampled_from(earlier), max_size=3, unique=True))
        inputs = tuple(InputSpec(f"x{j}", n.id, collect=bool(n.partitions) and not parted) for j, n in enumerate(reads))
        partitions = (PartitionSpec("region", "static", values=keys),) if parted else ()
        nid = f"p.py:n{i}"
        nodes[nid] = Node(id=nid, kind=kind, file="p.py", module="p", function=f"n{i}", line=i, inputs=inputs, partitions=partitions)
    return Graph(".", nodes)


@settings(max_examples=200, deadline=None)
@given(graphs(), st.integers(1, 6))
def test_every_node_is_planned_after_what_it_reads(graph: Graph, pool: int) -> None:
    order = plan_order(graph, pool)
    first = {nid: order.index(nid) for nid in graph.nodes}
    assert [(i.source, nid) for nid, n in graph.nodes.items() for i in n.inputs if first[i.source] > first[nid]] == []


@settings(max_examples=200, deadline=None)
@given(graphs(), st.integers(1, 6))
def test_tasks_never_change_which_asset_is_final(graph: Graph, pool: int) -> None:
    no_tasks = Graph(".", {nid: n for nid, n in graph.nodes.items() if n.kind != "task"})
    assert final_node(graph, pool) == final_node(no_tasks, pool)


@settings(max_examples=200, deadline=None)
@given(graphs(), st.integers(1, 6))
def test_the_final_node_is_an_asset_when_there_is_one(graph: Graph, pool: int) -> None:
    kinds = {n.kind for n in graph.nodes.values()}
    found = final_node(graph, pool)
    assert (found is not None and graph.nodes[found].kind == "asset") == ("asset" in kinds)
