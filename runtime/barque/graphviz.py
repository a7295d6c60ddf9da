"""Render a graph as Mermaid or Graphviz DOT text. Pure."""

from __future__ import annotations

from barque.model import Graph

_SHAPES_DOT = {"asset": "box", "task": "cds", "sensor": "ellipse"}


def _safe(node_id: str) -> str:
    return "n_" + "".join(c if c.isalnum() else "_" for c in node_id)


def to_mermaid(graph: Graph) -> str:
    lines = ["flowchart LR"]
    for node in sorted(graph.nodes.values(), key=lambda n: n.id):
        label = f"{node.id} ({node.kind})"
        lines.append(f'    {_safe(node.id)}["{label}"]')
    for node_id in sorted(graph.nodes):
        for up in graph.upstream(node_id):
            lines.append(f"    {_safe(up)} --> {_safe(node_id)}")
    return "\n".join(lines)


def to_dot(graph: Graph) -> str:
    lines = ["digraph barque {", "  rankdir=LR;"]
    for node in sorted(graph.nodes.values(), key=lambda n: n.id):
        lines.append(f'  "{node.id}" [shape={_SHAPES_DOT[node.kind]}];')
    for node_id in sorted(graph.nodes):
        for up in graph.upstream(node_id):
            lines.append(f'  "{up}" -> "{node_id}";')
    lines.append("}")
    return "\n".join(lines)
