"""Small hand-built graphs for planner and cache-key tests (no parsing involved)."""

from __future__ import annotations

from barque.model import Freshness, Graph, InputSpec, Node, PartitionSpec


def node(name: str, kind: str = "asset", **kw: object) -> Node:
    return Node(id=f"p.py:{name}", kind=kind, file="p.py", module="p", function=name, line=1, code_hash=f"h-{name}", **kw)  # type: ignore[arg-type]


def inp(param: str, source: str, collect: bool = False) -> InputSpec:
    return InputSpec(param, f"p.py:{source}", collect)


def static(dim: str, *values: str) -> PartitionSpec:
    return PartitionSpec(dim, "static", values=values)


def from_(dim: str, source: str) -> PartitionSpec:
    return PartitionSpec(dim, "from", source=f"p.py:{source}")


def graph(*nodes: Node) -> Graph:
    return Graph(root="/project", nodes={n.id: n for n in nodes})


MANUAL = Freshness("manual")
