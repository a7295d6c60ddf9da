"""Render a graph as Mermaid or Graphviz DOT text, optionally with each node's state in a run. Pure.

``run_states`` folds a run's step records into one ``NodeRun`` per node (a partitioned node's
steps aggregate: ``3/3 succeeded``, ``2/3 succeeded, 1 failed``), and the renderers colour a
node by its state: Mermaid through ``classDef`` classes, DOT through fill colours. Rendering
SVG needs Graphviz's ``dot`` program and is left to the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from barque.model import Graph

_SHAPES_DOT = {"asset": "box", "task": "cds", "sensor": "ellipse"}

# The state a node shows when its steps disagree: the one a person must look at first.
_PRECEDENCE = ("failed", "crashed", "cancelled", "skipped", "running", "pending", "succeeded", "resumed", "filtered", "cached")
NOT_RUN = "not run"  # a node of the graph with no step in the run (not a target)

# Fill colour per state: red failed, grey skipped, blue cached, green succeeded.
COLORS = {
    "failed": "#f4a6a6",
    "crashed": "#e08080",
    "cancelled": "#f2c6a0",
    "skipped": "#d9d9d9",
    "running": "#fff2a8",
    "pending": "#ffffff",
    "succeeded": "#b7e4b0",
    "resumed": "#c9e7f2",
    "filtered": "#ece4c8",
    "cached": "#b3d4f5",
    NOT_RUN: "#ffffff",
}


@dataclass(frozen=True)
class NodeRun:
    """One node's part in a run: its overall state, the count of its steps in each state, and
    the wall time its steps spanned (``None`` when none of them ran)."""

    state: str
    counts: tuple[tuple[str, int], ...]
    seconds: float | None

    @property
    def label(self) -> str:
        """``succeeded 0.12s``, ``3/3 succeeded 0.40s``, ``2/3 succeeded, 1 failed``, ``cached``."""
        total = sum(n for _, n in self.counts)
        if total <= 1:
            text = self.state
        else:
            text = ", ".join(f"{n}/{total} {s}" if i == 0 else f"{n} {s}" for i, (s, n) in enumerate(self.counts))
        return text + (f" {self.seconds:.3g}s" if self.seconds is not None else "")


def run_states(step_records: Iterable[Mapping[str, Any]], hook_results: Iterable[Mapping[str, Any]] = ()) -> dict[str, NodeRun]:
    """Each node's ``NodeRun`` from a run's step records (``record["node"]`` names the node)
    and its run hooks' results (``barque.hookstore``: ``hook``, ``state``, ``duration_seconds``)."""
    by_node: dict[str, list[Mapping[str, Any]]] = {}
    for rec in step_records:
        by_node.setdefault(str(rec.get("node")), []).append(rec)
    states = {node: _fold(recs) for node, recs in sorted(by_node.items())}
    for hook in hook_results:  # a hook is called once per run: its own state and time
        seconds = hook.get("duration_seconds")
        state = str(hook.get("state"))
        states[str(hook["hook"])] = NodeRun(state, ((state, 1),), seconds if isinstance(seconds, (int, float)) else None)
    return states


def _fold(recs: list[Mapping[str, Any]]) -> NodeRun:
    counts: dict[str, int] = {}
    for rec in recs:
        # A step taken over by --resume-from is recorded cached; the picture says it was resumed.
        state = "resumed" if rec.get("reused_from") else str(rec.get("state") or "pending")
        counts[state] = counts.get(state, 0) + 1
    state = min(counts, key=lambda s: _PRECEDENCE.index(s) if s in _PRECEDENCE else -1)
    ordered = tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    ran = [r for r in recs if r.get("state") != "cached" and isinstance(r.get("started_at"), (int, float))]
    # Wall time the steps spanned, not their sum: partitions run side by side.
    ends = [r["finished_at"] for r in ran if isinstance(r.get("finished_at"), (int, float))]
    seconds = max(ends) - min(r["started_at"] for r in ran) if ran and ends else None
    return NodeRun(state, ordered, seconds)


def _safe(node_id: str) -> str:
    return "n_" + "".join(c if c.isalnum() else "_" for c in node_id)


def _dot_str(text: str) -> str:
    """``text`` as a quoted DOT id: a ``"`` in a node id cannot end it early.

    DOT's only escape in an id is ``\\"``; a backslash stays itself, so an id that ends in one
    cannot be written (a label can, below)."""
    return '"' + text.replace('"', '\\"') + '"'


def _dot_label(text: str) -> str:
    # In a label, backslash sequences mean something (``\\n``, ``\\N``): doubled, they show as typed.
    return _dot_str(text.replace("\\", "\\\\"))


def _mermaid_text(text: str) -> str:
    # Mermaid has no backslash escapes in labels; its entity codes stand in for a quote.
    return text.replace('"', "#quot;")


def to_mermaid(graph: Graph, states: Mapping[str, NodeRun] | None = None) -> str:
    """A Mermaid flowchart; with ``states``, each node shows its run state and has its state's class."""
    lines = ["flowchart LR"]
    for node in sorted(graph.nodes.values(), key=lambda n: n.id):
        label = f"{node.id} ({node.kind})"
        if states is not None:
            label += "<br/>" + _state_of(states, node.id).label
        lines.append(f'    {_safe(node.id)}["{_mermaid_text(label)}"]')
    for node_id in sorted(graph.nodes):
        for up in graph.upstream(node_id):
            lines.append(f"    {_safe(up)} --> {_safe(node_id)}")
    if states is not None:
        for state, color in COLORS.items():
            lines.append(f"    classDef {_css(state)} fill:{color},stroke:#555")
        for node_id in sorted(graph.nodes):
            lines.append(f"    class {_safe(node_id)} {_css(_state_of(states, node_id).state)}")
    return "\n".join(lines)


def _css(state: str) -> str:
    return state.replace(" ", "_")


def to_dot(graph: Graph, states: Mapping[str, NodeRun] | None = None) -> str:
    """A Graphviz digraph; with ``states``, each node is filled with its state's colour and labelled with it."""
    lines = ["digraph barque {", "  rankdir=LR;"]
    for node in sorted(graph.nodes.values(), key=lambda n: n.id):
        attrs = f"shape={_SHAPES_DOT[node.kind]}"
        if states is not None:
            run = _state_of(states, node.id)
            # DOT's own "\n" escape breaks the label's line; the id is escaped before it is added.
            label = _dot_label(node.id)[:-1] + "\\n" + run.label + '"'
            attrs += f', style=filled, fillcolor="{COLORS.get(run.state, "#ffffff")}", label={label}'
        lines.append(f"  {_dot_str(node.id)} [{attrs}];")
    for node_id in sorted(graph.nodes):
        for up in graph.upstream(node_id):
            lines.append(f"  {_dot_str(up)} -> {_dot_str(node_id)};")
    lines.append("}")
    return "\n".join(lines)


def _state_of(states: Mapping[str, NodeRun], node_id: str) -> NodeRun:
    return states.get(node_id) or NodeRun(NOT_RUN, (), None)
