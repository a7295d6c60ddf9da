"""Is a Pipeline runnable? The checks behind its ``Ready`` condition, and behind failing a run at once.

Pure, but for one edge: a Pipeline without ``spec.graph`` has it parsed from its inline code
(``inlinegraph``, which writes the files to a temporary folder). What the API server's schema
cannot see is checked here: the graph's references
(an input or ``partitions_from`` naming an unknown node), cycles and other planning errors,
inline code that lacks a file the graph was parsed from, a cron expression with a bad
value, and a missing image or store once the operator's defaults are taken into account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from pydantic import ValidationError

from barque.errors import BarqueError
from barque.model import Graph
from barque.planner import make_plan
from barque_operator.inlinegraph import InlineGraphError, graph_of_inline
from barque_operator.manifests import JobInputs, image_for, store_for
from barque_operator.models import PipelineSpec
from barque_operator.schedule import CronError, parse
from barque_operator.settings import OperatorSettings
from barque_operator.status import merge_conditions


@dataclass(frozen=True)
class Check:
    """The verdict on a Pipeline: ``problems`` is empty when it is runnable."""

    problems: tuple[str, ...]
    spec: PipelineSpec | None = None
    graph: Graph | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def message(self) -> str:
        return "; ".join(self.problems) if self.problems else "graph, code and schedule are valid"


def pydantic_problems(err: ValidationError, prefix: str) -> list[str]:
    out = []
    for e in err.errors():
        where = ".".join(str(p) for p in (prefix, *e["loc"]))
        out.append(f"{where}: {e['msg']}")
    return out


def check_pipeline(body: Mapping[str, Any], settings: OperatorSettings) -> Check:
    try:
        spec = PipelineSpec.model_validate(body.get("spec") or {})
    except ValidationError as err:
        return Check(tuple(pydantic_problems(err, "spec")))
    try:
        graph = pipeline_graph(spec)
    except InlineGraphError as err:
        return Check((f"spec.code.inline: {err.headline()}" + (f" ({err.hint})" if err.hint else ""),), spec)
    problems = _references(graph)
    if not problems:
        try:
            make_plan(graph, None, 1)
        except BarqueError as err:
            problems.append(err.message)
    if spec.code.inline is not None:
        files = spec.code.inline.files
        missing = sorted({*graph.files, *(n.file for n in graph.nodes.values())} - set(files))
        if missing:
            problems.append(f"spec.code.inline.files lacks {', '.join(missing)} (the graph was parsed from it)")
    if spec.schedule is not None:
        try:
            parse(spec.schedule.cron)
        except CronError as err:
            problems.append(f"spec.schedule.cron: {err}")
    jobs = JobInputs.of(body)
    if not image_for(jobs, settings):
        problems.append("no runtime image: set spec.defaults.image (or the operator's --default-image)")
    if not store_for(jobs, settings)[0]:
        problems.append("no artifact store: set spec.store.uri (or the operator's --default-store)")
    return Check(tuple(problems), spec, graph)


def pipeline_graph(spec: PipelineSpec) -> Graph:
    """The Pipeline's graph: ``spec.graph`` as compiled, or else parsed from its inline code
    (``InlineGraphError`` when that does not parse)."""
    if spec.graph is not None:
        return Graph.from_dict(spec.graph.model_dump())
    inline = spec.code.inline
    assert inline is not None and inline.pipeline_files, "PipelineSpec requires one of the two"
    return graph_of_inline(inline.files, inline.pipeline_files)


def _references(graph: Graph) -> list[str]:
    problems = []
    for node in sorted(graph.nodes.values(), key=lambda n: n.id):
        for spec in node.inputs:
            if spec.source not in graph.nodes:
                problems.append(f"node {node.id} ({node.file}:{node.line}): input {spec.param!r} reads unknown node {spec.source!r}")
        for part in node.partitions:
            if part.kind == "from" and part.source and part.source not in graph.nodes:
                problems.append(f"node {node.id} ({node.file}:{node.line}): partitions_from reads unknown node {part.source!r}")
    return problems


def pipeline_status(check: Check, generation: int | None, previous: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The operator-owned part of a Pipeline's status: its ``Ready`` condition and node count."""
    ready = {
        "type": "Ready",
        "status": "True" if check.ok else "False",
        "reason": "Valid" if check.ok else "Invalid",
        "message": check.message[:4000],
    }
    others = [c for c in previous.get("conditions") or () if c.get("type") != "Ready"]
    return {
        "observedGeneration": generation,
        "nodes": len(check.graph.nodes) if check.graph is not None else None,
        "conditions": others + merge_conditions(previous.get("conditions"), [ready], now),
    }
