"""The graph model: what the parser produces and everything else consumes.

Plain frozen dataclasses with a stable dict form (``to_dict``/``from_dict``), because the
same graph travels from the parser to the planner, into a ``Pipeline`` custom resource and
into pods. Nothing here reads files or imports user code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, Literal, Mapping, TypeVar

NodeKind = Literal["asset", "task", "sensor"]
FreshnessKind = Literal["always", "manual", "schedule"]
PartitionKind = Literal["static", "expr", "from"]


@dataclass(frozen=True)
class Freshness:
    """When a node re-runs: ``always`` when stale, ``manual`` only when targeted, ``schedule`` by cron.

    A schedule's options are kept as written (``None`` when not written): ``max_failures``
    consecutive failed ticks before ticks are skipped, ``timeout_seconds`` for each tick's
    run, and ``batch`` as its source text, which only ``barque compile`` reads (to refuse it).
    None of them is part of a cache key.
    """

    kind: FreshnessKind = "always"
    cron: str | None = None
    max_failures: int | None = None
    timeout_seconds: float | None = None
    batch: str | None = None


@dataclass(frozen=True)
class InputSpec:
    """One ``inputs=`` entry: function parameter ``param`` receives node ``source``'s output.

    ``collect`` passes every partition of the source as a list in key order.
    A parameter starting with ``_`` is ordering-only and receives ``None``.
    """

    param: str
    source: str
    collect: bool = False

    @property
    def ordering_only(self) -> bool:
        return self.param.startswith("_")


@dataclass(frozen=True)
class PartitionSpec:
    """One partition dimension.

    ``static``: ``values`` read from a literal list. ``expr``: ``expr`` is the source text of a
    non-literal expression, evaluated in a separate process. ``from``: keys come from node
    ``source`` (its keys if it is partitioned, else the list or dict it returns).
    """

    dimension: str
    kind: PartitionKind
    values: tuple[str, ...] | None = None
    expr: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class SinkSpec:
    """``@sink(path, serializer=)``: also write the output to a local path or ``s3://`` URI."""

    path: str
    serializer: str | None = None


@dataclass(frozen=True)
class Node:
    """One pipeline node, as read statically from its decorator and function.

    ``id`` is the explicit ``name=`` or ``<file>:<function>`` with ``file`` relative to the
    project root in POSIX form. ``module`` is the importable module name relative to the
    project root. ``code_hash`` hashes the normalized function source (comments, docstrings
    and formatting do not count); ``helpers`` maps everything in the project the function
    reaches (functions, classes, module-level values and imports, followed transitively), as
    ``file:name`` (``file:*`` for a whole module) to its own normalized hash.
    ``params`` lists the function's parameter names, so run parameters and inputs can be
    matched to them.
    """

    id: str
    kind: NodeKind
    file: str
    module: str
    function: str
    line: int
    inputs: tuple[InputSpec, ...] = ()
    partitions: tuple[PartitionSpec, ...] = ()
    serializer: str | None = None
    freshness: Freshness = field(default_factory=Freshness)
    retries: int = 1
    retry_backoff: float = 0.0
    timeout_seconds: float | None = None
    env: tuple[str, ...] = ()
    sinks: tuple[SinkSpec, ...] = ()
    description: str | None = None
    tags: tuple[str, ...] = ()
    code_hash: str = ""
    helpers: tuple[tuple[str, str], ...] = ()
    params: tuple[str, ...] = ()
    on: str | None = None  # a run hook (``@task(on="failure")``): run after the run, never planned with it

    @property
    def cached(self) -> bool:
        """Only assets are cached; tasks and sensors always run."""
        return self.kind == "asset"

    @property
    def partitioned(self) -> bool:
        return bool(self.partitions)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Node":
        d = dict(data)
        d["inputs"] = tuple(InputSpec(**i) for i in d.get("inputs", ()))
        d["partitions"] = tuple(
            PartitionSpec(**{**p, "values": tuple(p["values"]) if p.get("values") is not None else None})
            for p in d.get("partitions", ())
        )
        d["freshness"] = Freshness(**d.get("freshness", {}))
        d["env"] = tuple(d.get("env", ()))
        d["sinks"] = tuple(SinkSpec(**s) for s in d.get("sinks", ()))
        d["tags"] = tuple(d.get("tags", ()))
        d["helpers"] = tuple((h[0], h[1]) for h in d.get("helpers", ()))
        d["params"] = tuple(d.get("params", ()))
        return cls(**d)


_Frozen = TypeVar("_Frozen")


def build_frozen(cls: type[_Frozen], values: dict[str, Any]) -> _Frozen:
    """An instance of frozen dataclass ``cls`` from ``values``, which must hold every field
    (no defaults are filled in): filled the way unpickling fills it, without the frozen
    ``__init__``'s ``object.__setattr__`` per field. The parser builds 10,000s of nodes, and
    that ``__init__`` was about a tenth of a 10,000-node ``barque plan``."""
    obj: _Frozen = object.__new__(cls)
    obj.__dict__.update(values)
    return obj


@dataclass(frozen=True)
class Graph:
    """All nodes of a project, keyed by id, with the project root they were read from.

    ``files`` maps each parsed file (relative, POSIX) to the sha256 of its bytes, so a code
    snapshot can be checked against what was planned.
    """

    root: str
    nodes: Mapping[str, Node]
    files: Mapping[str, str] = field(default_factory=dict)

    def upstream(self, node_id: str) -> list[str]:
        """Ids this node depends on: its inputs and the sources of ``partitions_from``."""
        return self._upstreams[node_id]

    @cached_property
    def _upstreams(self) -> dict[str, list[str]]:
        table = {}
        for node_id, node in self.nodes.items():
            ids = [i.source for i in node.inputs]
            if node.partitions:
                ids += [p.source for p in node.partitions if p.kind == "from" and p.source]
            table[node_id] = list(dict.fromkeys(ids)) if len(ids) > 1 else ids
        return table

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "files": dict(sorted(self.files.items())),
            "nodes": [self.nodes[k].to_dict() for k in sorted(self.nodes)],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Graph":
        nodes = {n["id"]: Node.from_dict(n) for n in data.get("nodes", ())}
        return cls(root=data.get("root", "."), nodes=nodes, files=dict(data.get("files", {})))
