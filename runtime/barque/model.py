"""The graph model: what the parser produces and everything else consumes.

Typed ``NamedTuple`` records with a stable dict form (``to_dict``/``from_dict``), because the
same graph travels from the parser to the planner, into a ``Pipeline`` custom resource and
into pods. Nothing here reads files or imports user code.

``NamedTuple``, not frozen dataclasses: as immutable and typed, but a class costs ~0.1 ms to
define instead of ~0.9 (``dataclasses`` compiles each generated method), and importing
``dataclasses`` brings ``inspect``; every run pays both (bench/FINDINGS.md, issue 11). For a
reader: a record is a tuple (iterable, equal to a tuple of the same values), takes
``_replace`` for a changed copy, and a ``Mapping`` field's default is one shared empty dict,
which the ``Mapping`` type keeps read-only.
"""

from __future__ import annotations

from typing import Any, Iterable, Literal, Mapping, NamedTuple

NodeKind = Literal["asset", "task", "sensor"]
FreshnessKind = Literal["always", "manual", "schedule"]
PartitionKind = Literal["static", "expr", "from"]


class Freshness(NamedTuple):
    """When a node re-runs: ``always`` when stale, ``manual`` only when targeted, ``schedule`` by cron.

    A schedule's options are kept as written (``None`` when not written): ``max_failures``
    consecutive failed ticks before ticks are skipped, ``timeout_seconds`` for each tick's
    run, and ``batch`` as the ``--batch`` values its ticks' runs take (``("all",)``,
    ``("scored=20",)``; see ``barque.batchflag``), which ``barque compile`` puts into the
    Pipeline's schedule. None of them is part of a cache key.
    """

    kind: FreshnessKind = "always"
    cron: str | None = None
    max_failures: int | None = None
    timeout_seconds: float | None = None
    batch: tuple[str, ...] | None = None


class InputSpec(NamedTuple):
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


class PartitionSpec(NamedTuple):
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


class SinkSpec(NamedTuple):
    """``@sink(path, serializer=)``: also write the output to a local path or ``s3://`` URI.

    A path ending in ``/`` is barca's *dataset sink*: a Hive-partitioned dataset, one directory
    level per partition dimension of the asset, then one per ``partition_by`` column, with at
    most ``rows_per_file`` rows in each Parquet file.
    """

    path: str
    serializer: str | None = None
    partition_by: tuple[str, ...] = ()
    rows_per_file: int | None = None

    @property
    def dataset(self) -> bool:
        return self.path.endswith("/")


BatchKind = Literal["size", "all", "groups", "groups_expr", "by"]


class BatchSpec(NamedTuple):
    """``batch=`` as written: how the keys of a partitioned node that need to run share calls.

    ``size``: at most ``size`` keys per call, in key order; ``all``: one call; ``groups``: the
    literal ``batches([[...], ...])`` groups (a key in no group runs alone, or is an error with
    ``strict``); ``groups_expr``: ``batches(<expr>)`` with ``expr`` its source text, evaluated
    in the node's module when the keys run; ``by``: ``batches_by(fn, max_size=)`` with ``expr``
    the source text of ``fn``.
    """

    kind: BatchKind
    size: int | None = None
    groups: tuple[tuple[str, ...], ...] | None = None
    strict: bool = False
    expr: str | None = None
    max_size: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in zip(self._fields, self) if v not in (None, False)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BatchSpec":
        d = dict(data)
        if d.get("groups") is not None:
            d["groups"] = tuple(tuple(g) for g in d["groups"])
        return cls(**d)


class Node(NamedTuple):
    """One pipeline node, as read statically from its decorator and function.

    ``id`` is the explicit ``name=`` or ``<file>:<function>`` with ``file`` relative to the
    project root in POSIX form. ``module`` is the importable module name relative to the
    project root. ``code_hash`` hashes the normalized function source (comments, docstrings
    and formatting do not count); ``helpers`` maps everything in the project the function
    reaches (functions, classes, module-level values and imports, followed transitively), as
    ``file:name`` (``file:*`` for a whole module) to its own normalized hash.
    ``params`` lists the function's parameter names, so run parameters and inputs can be
    matched to them.

    barca's scheduling and caching options: ``weight`` (slots of the local worker pool a step
    takes while it runs), ``cutoff`` and ``deterministic`` (kept as written; barque always cuts
    off by content, see the README), ``batch`` (many keys per call). ``readers`` maps a
    parameter to the reader its annotation names for a tabular input (``pandas``, ``arrow``,
    ``polars``, ``polars_lazy``, ``duckdb``).
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
    freshness: Freshness = Freshness()
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
    weight: int = 1
    cutoff: bool = False
    deterministic: bool = True
    batch: BatchSpec | None = None
    readers: tuple[tuple[str, str], ...] = ()
    run_if: str | None = None  # a lambda over its inputs (``barque.parsing.conditions``): false ends the step filtered
    on: str | None = None  # a run hook (``@task(on="failure")``): run after the run, never planned with it

    @property
    def cached(self) -> bool:
        """Only assets are cached; tasks and sensors always run."""
        return self.kind == "asset"

    @property
    def partitioned(self) -> bool:
        return bool(self.partitions)

    def to_dict(self) -> dict[str, Any]:
        """Every field; barca's options, a hook's on= and a dataset sink's options only when written, so a
        pipeline that uses none of them compiles to the same manifest as before they existed."""
        d = {name: _plain(value) for name, value in zip(self._fields, self)}
        for name, default in _OMITTED_AT_DEFAULT.items():
            if d[name] == default:
                del d[name]
        if self.batch is not None:
            d["batch"] = self.batch.to_dict()
        for sink in d["sinks"]:
            if not sink["partition_by"]:
                del sink["partition_by"]
            if sink["rows_per_file"] is None:
                del sink["rows_per_file"]
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Node":
        d = dict(data)
        d["inputs"] = tuple(InputSpec(**i) for i in d.get("inputs", ()))
        d["partitions"] = tuple(
            PartitionSpec(**{**p, "values": tuple(p["values"]) if p.get("values") is not None else None})
            for p in d.get("partitions", ())
        )
        fresh = d.get("freshness", {})
        d["freshness"] = Freshness(**{**fresh, "batch": tuple(fresh["batch"]) if fresh.get("batch") else None})
        d["env"] = tuple(d.get("env", ()))
        d["sinks"] = tuple(SinkSpec(**{**s, "partition_by": tuple(s.get("partition_by", ()))}) for s in d.get("sinks", ()))
        d["batch"] = BatchSpec.from_dict(d["batch"]) if d.get("batch") else None
        d["readers"] = tuple((r[0], r[1]) for r in d.get("readers", ()))
        d["tags"] = tuple(d.get("tags", ()))
        d["helpers"] = tuple((h[0], h[1]) for h in d.get("helpers", ()))
        d["params"] = tuple(d.get("params", ()))
        return cls(**d)


_OMITTED_AT_DEFAULT: dict[str, Any] = {"weight": 1, "cutoff": False, "deterministic": True, "batch": None, "readers": (), "on": None}

def _plain(value: Any) -> Any:
    """A field's value in dict form: records as dicts, recursively; tuples stay tuples."""
    if isinstance(value, tuple):
        fields = getattr(value, "_fields", None)
        if fields is not None:
            return {name: _plain(v) for name, v in zip(fields, value)}
        return tuple(_plain(v) for v in value)
    return value


class ParseWarning(NamedTuple):
    """A static warning about one node (``parsing.checks``): ``kind`` is barca's
    (``unused_input``, ``undeclared_env``), ``name`` the parameter or variable."""

    node: str
    kind: str
    name: str
    message: str


class Graph(NamedTuple):
    """All nodes of a project, keyed by id, with the project root they were read from.

    ``files`` maps each parsed file (relative, POSIX) to the sha256 of its bytes, so a code
    snapshot can be checked against what was planned. ``warnings`` are what the parser saw
    in the function bodies; they stay with the parse (the dict form leaves them out).
    """

    root: str
    nodes: Mapping[str, Node]
    files: Mapping[str, str] = {}
    warnings: tuple[ParseWarning, ...] = ()

    def warnings_for(self, node_ids: Iterable[str]) -> list[ParseWarning]:
        """The warnings of the nodes a command plans, as barca reports only those, sorted by
        node, parameter and kind as barca sorts them."""
        wanted = set(node_ids)
        found = [w for w in self.warnings if w.node in wanted]
        return sorted(found, key=lambda w: (w.node, w.name, w.kind))

    def upstream(self, node_id: str) -> list[str]:
        """Ids this node depends on: its inputs and the sources of ``partitions_from``."""
        node = self.nodes[node_id]
        ids = [i.source for i in node.inputs]
        if node.partitions:
            ids += [p.source for p in node.partitions if p.kind == "from" and p.source]
        return list(dict.fromkeys(ids)) if len(ids) > 1 else ids

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
