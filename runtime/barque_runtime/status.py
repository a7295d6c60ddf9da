"""``barque status [TARGET] [FILES...]`` on the local store: per node, cached or stale and why,
and its last run, in the shape of barca's status document.

The verdicts are ``--dry-run``'s (``barque.cachestate`` via ``plan_with_stored_keys``), so the
two cannot disagree; this module only names them in barca's words (``cache.state`` and
``cache.reason``) and adds what the history and the step records say about the last execution.
It runs no step, records no run and decodes no value: like ``--dry-run`` it reads commit
records and, for partition keys, JSON only (and, like it, may write the store's env salt).

``node_status`` and ``step_view`` are pure; ``project_status`` is the shell that gathers facts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

from barque.cachestate import MANUAL_NEVER_COMPUTED, NEVER_MATERIALIZED, WAITS_FOR, StepCache
from barque.model import Graph, Node
from barque.planner import partition_label
from barque.plans import Plan

# barca's states, in the order its summary counts them.
STATES = ("cached", "unsynced", "stale", "never_run", "partial", "unknown", "always_runs")
MISSING_KEYS_SHOWN = 20  # barca lists up to 20 missing keys of a partitioned node
KEYS_SHOWN = 100  # and up to 100 keys of a dict's shape
SHAPE_MAX_BYTES = 1 << 20  # a larger JSON artifact is not read to describe it
JSON_TYPES = ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"), (list, "list"), (dict, "dict"), (type(None), "null"))
UNKNOWN_SUFFIX = " (runs unless that upstream's output comes out unchanged)"
PROBLEM_STATES = ("unsynced", "stale", "never_run", "partial", "unknown")  # every state but cached and always_runs
FIELDS = ("id", "name", "kind", "inputs", "partitioned", "cache", "partitions", "last_materialization", "shape", "env")
TABLE_LIMIT = 100  # barca's human table shows at most 100 nodes without --limit or --all


@dataclass(frozen=True)
class CacheView:
    """barca's ``cache`` object: ``state`` and ``reason`` are its words, ``detail`` barque's."""

    state: str
    reason: str
    detail: str
    run_hash: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"state": self.state, "reason": self.reason, "detail": self.detail}
        return out if self.run_hash is None else {**out, "run_hash": self.run_hash}


@dataclass(frozen=True)
class LastRun:
    """A step's latest execution (a cache hit is not one), from the history and its step record."""

    run_id: str
    step: str
    status: str  # ``succeeded`` or ``failed``, barque's words (a run hook's may be ``crashed``)
    started_at: float | None
    elapsed_seconds: float | None
    attempts: int
    run_hash: str | None = None
    artifact: Mapping[str, Any] | None = None
    error: str | None = None  # ``Type: message`` of a failed one

    def to_dict(self, partition: str | None) -> dict[str, Any]:
        art = self.artifact or {}
        out: dict[str, Any] = {
            "status": self.status,
            "created_at": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.started_at)) if self.started_at else None,
            "elapsed_seconds": self.elapsed_seconds,
            "run_hash": self.run_hash,
            "artifact": art.get("content_hash"),
            "format": art.get("serializer"),
            "size_bytes": art.get("size"),
            "run_id": self.run_id,
            "attempts": self.attempts,
        }
        if partition:
            out["partition"] = partition
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass(frozen=True)
class NodeStatus:
    """One node of the status document."""

    node: Node
    cache: CacheView
    last: LastRun | None
    keys_total: int | None = None  # partitioned nodes only
    missing_keys: tuple[str, ...] = ()
    last_partition: str | None = None
    shape: Mapping[str, Any] | None = None  # of the last materialization's artifact, when it succeeded

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.node.id,
            "name": self.node.id.rpartition(":")[2],
            "kind": self.node.kind,
            "inputs": sorted({i.source for i in self.node.inputs}),
            "partitioned": self.node.partitioned,
            "env": list(self.node.env),
            "cache": self.cache.to_dict(),
            "last_materialization": self.last.to_dict(self.last_partition) if self.last else None,
            "shape": dict(self.shape) if self.shape is not None else None,
        }
        if self.keys_total is not None:
            missing = len(self.missing_keys)
            out["partitions"] = {
                "total": self.keys_total,
                "cached": self.keys_total - missing,
                "missing": missing,
                "missing_keys": list(self.missing_keys[:MISSING_KEYS_SHOWN]),
            }
        return out


def step_view(node: Node, verdict: StepCache | None, has_ref: bool, last: LastRun | None, graph: Graph) -> CacheView:
    """barca's state and reason for one step, from ``--dry-run``'s verdict.

    ``has_ref``: a value of this step was stored before (it ran once). barque cuts off early
    everywhere, so a step whose input has yet to run is ``unknown`` (barca's ``cutoff_pending``),
    where barca without ``cutoff=True`` says ``upstream_stale``.
    """
    if node.kind in ("task", "sensor"):
        note = f"; last run {last.status}: {last.error}" if last and last.status in ("failed", "crashed") else ""
        what = "tasks always re-run" if node.kind == "task" else "sensors are polled on every run"
        if node.on:  # a run hook: called after a run, not a step of it
            return CacheView("always_runs", "hook", f"run hook (on={node.on}): runs after each run its outcome calls it for" + note)
        return CacheView("always_runs", node.kind, what + note)
    if verdict is None:
        return CacheView("unknown", "partitions_unknown", "its partition keys are known once their source has run")
    key = verdict.cache_key
    if verdict.state == "cached":
        detail = "a successful materialization matches this code and these inputs" if verdict.reason == "cached" else verdict.reason
        return CacheView("cached", "materialized", detail, key)
    failed = last is not None and last.status == "failed"
    if verdict.state == "unknown":
        if not has_ref:
            return _never(failed, last, "no successful materialization recorded", key)
        waiting = verdict.reason.removeprefix(WAITS_FOR)
        upstream = graph.nodes.get(waiting.split("[", 1)[0])
        reason = "sensor_output_unknown" if upstream is not None and upstream.kind == "sensor" else "cutoff_pending"
        return CacheView("unknown", reason, verdict.reason + UNKNOWN_SUFFIX, key)
    if verdict.reason == MANUAL_NEVER_COMPUTED:
        return _never(failed, last, f"Manual and never computed: --refresh {node.id.rpartition(':')[2]} computes it", key)
    if verdict.reason == NEVER_MATERIALIZED:
        return _never(failed, last, "no successful materialization recorded", key)
    reason = "changed" if verdict.reason.startswith("changed:") else verdict.reason.split(":", 1)[0].replace(" ", "_")
    detail = verdict.reason + (f"; last run failed: {last.error}" if failed and last else "")
    return CacheView("stale", reason, detail, key)


def _never(failed: bool, last: LastRun | None, detail: str, key: str | None) -> CacheView:
    if failed and last is not None:
        return CacheView("never_run", "failed", f"failed: {last.error}", key)
    return CacheView("never_run", "no_record", detail, key)


def node_status(
    node: Node,
    steps: Sequence[str],
    verdicts: Mapping[str, StepCache],
    refs: set[str],
    last_runs: Mapping[str, LastRun],
    graph: Graph,
    labels: Mapping[str, str],
) -> NodeStatus:
    """The node's status from its planned steps (one per partition key; none while its keys are
    unknown), their verdicts, which of them stored a value before, and their last executions."""
    last, last_step = _latest(steps or [s for s in last_runs], last_runs)
    if not node.partitioned:
        sid = steps[0] if steps else node.id
        return NodeStatus(node, step_view(node, verdicts.get(sid), sid in refs, last_runs.get(sid), graph), last)
    partition = labels.get(last_step) if last_step else None
    if not steps:
        return NodeStatus(node, step_view(node, None, False, last, graph), last, None, (), partition)
    views = {sid: step_view(node, verdicts.get(sid), sid in refs, last_runs.get(sid), graph) for sid in steps}
    missing = tuple(labels[sid] for sid in sorted(steps) if views[sid].state != "cached")
    if node.kind != "asset":
        view = views[sorted(steps)[0]]
    elif not missing:
        view = CacheView("cached", "materialized", f"all {len(steps)} keys cached")
    elif len(missing) < len(steps):
        view = CacheView("partial", "partitions_missing", f"{len(steps) - len(missing)} of {len(steps)} keys cached")
    else:
        first = views[sorted(steps)[0]]
        view = CacheView(first.state, first.reason, f"0 of {len(steps)} keys cached; {first.detail}")
    return NodeStatus(node, view, last, len(steps), missing, partition)


def _latest(steps: Sequence[str], last_runs: Mapping[str, LastRun]) -> tuple[LastRun | None, str | None]:
    """barca's pick: the latest run among the steps, and in it the first key in sort order."""
    ran = [last_runs[s] for s in steps if s in last_runs]
    if not ran:
        return None, None
    newest = max(ran, key=lambda r: (r.started_at or 0.0, r.run_id))
    chosen = min((r for r in ran if r.run_id == newest.run_id), key=lambda r: r.step)
    return chosen, chosen.step


def steps_by_node(plan: Plan) -> dict[str, list[str]]:
    """The planned step ids of each node, in sort order."""
    out: dict[str, list[str]] = {}
    for sid in sorted(plan.steps):
        out.setdefault(plan.steps[sid].node, []).append(sid)
    return out


def step_labels(plan: Plan) -> dict[str, str]:
    """``k=a`` for each planned step of a partitioned node."""
    return {sid: partition_label(step.partition) for sid, step in plan.steps.items() if step.partition}


def value_shape(value: Any) -> dict[str, Any]:
    """barca's shape of a JSON value: a list's rows (and a list of objects' columns, with the
    JSON types seen), a dict's keys, else its type."""
    if isinstance(value, list):
        shape: dict[str, Any] = {"type": "list", "rows": len(value)}
        if value and all(isinstance(row, dict) for row in value):
            seen: dict[str, list[str]] = {}
            for row in value:
                for key, item in row.items():
                    kinds = seen.setdefault(str(key), [])
                    if _json_type(item) not in kinds:
                        kinds.append(_json_type(item))
            shape["columns"] = [{"name": k, "type": " | ".join(sorted(t, key=lambda n: n == "null"))} for k, t in seen.items()]
        return shape
    if isinstance(value, dict):
        keys = [str(k) for k in value]
        shape = {"type": "dict", "keys": keys[:KEYS_SHOWN]}
        return shape if len(keys) <= KEYS_SHOWN else {**shape, "key_count": len(keys)}
    return {"type": _json_type(value)}


def _json_type(value: Any) -> str:
    return next(name for kind, name in JSON_TYPES if isinstance(value, kind))


def value_sample(value: Any, rows: int) -> Any:
    """barca's ``--sample N``: a list's first N rows, a dict's first N entries, else the value;
    keys inside a row in alphabetical order, as barca prints them."""
    def row(item: Any) -> Any:
        return dict(sorted(item.items())) if isinstance(item, dict) else item

    if isinstance(value, list):
        return [row(item) for item in value[:rows]]
    if isinstance(value, dict):
        return dict(list(value.items())[:rows])
    return value


def artifact_shape(store: Any, last: LastRun | None, sample: int | None = None) -> dict[str, Any] | None:
    """The shape of a succeeded last materialization's artifact, read as JSON only (which runs
    no code); anything else, or too large a blob, has a ``note`` instead, as in barca.
    ``sample`` adds barca's ``sample`` (``value_sample``) of a JSON artifact."""
    from barque import artifacts, trust
    from barque.errors import StoreError
    from barque.serializers import JSON

    art = last.artifact if last is not None and last.status == "succeeded" else None
    if not art:
        return None
    if art.get("serializer") != JSON:
        return {"type": str(art.get("serializer")), "note": "barque describes JSON artifacts only: status decodes nothing else"}
    if int(art.get("size") or 0) > SHAPE_MAX_BYTES:
        return {"type": JSON, "note": f"json artifact too large to inspect: {art.get('size')} bytes (limit {SHAPE_MAX_BYTES})"}
    try:
        value = artifacts.read_value(store, artifacts.ArtifactRef.from_dict(dict(art)), allowed=trust.DATA_ONLY)
    except (StoreError, KeyError, TypeError, ValueError) as err:  # missing, corrupt or malformed: say so
        return {"type": JSON, "note": str(getattr(err, "message", err))}
    shape = value_shape(value)
    return shape if sample is None else {**shape, "sample": value_sample(value, sample)}


def summary(nodes: Sequence[NodeStatus]) -> dict[str, int]:
    """barca's ``summary``: how many nodes are in each state (every state present)."""
    counts = dict.fromkeys(STATES, 0)
    for n in nodes:
        counts[n.cache.state] += 1
    return counts


def document(nodes: Sequence[NodeStatus], targets: Sequence[str], root: str) -> dict[str, Any]:
    """The status document, with barca's keys (``target``, ``targets``, ``nodes``, ``summary``...)."""
    return {
        "target": targets[0] if len(targets) == 1 else None,
        "targets": list(targets),
        "nodes": [n.to_dict() for n in nodes],
        "summary": summary(nodes),
        "total": len(nodes),
        "truncated": False,
        "root": root,
    }


@dataclass(frozen=True)
class Narrowing:
    """barca's ``status`` flags that narrow the document: ``--state``, ``--problems``,
    ``--limit`` (``None``: every node) and ``--fields``."""

    states: tuple[str, ...] = ()
    problems: bool = False
    limit: int | None = None
    fields: tuple[str, ...] = ()


def parse_states(text: str) -> tuple[str, ...]:
    """``--state a,b``: states spelled as in JSON (``never-run`` is accepted for ``never_run``)."""
    from barque.errors import BarqueError

    states = tuple(dict.fromkeys(s.strip().replace("-", "_") for s in text.split(",") if s.strip()))
    for state in states:
        if state not in STATES:
            more = "; a failed node is stale or never_run with reason failed: use --problems" if state == "failed" else ""
            raise BarqueError(f"--state: unknown state {state!r}", hint=f"use one of {', '.join(STATES)}{more}")
    if not states:
        raise BarqueError("--state needs a state", hint=f"use one of {', '.join(STATES)}")
    return states


def parse_fields(text: str) -> tuple[str, ...]:
    """``--fields a,b``: keys of a node entry; an unknown one is a usage error listing them."""
    from barque.errors import BarqueError

    fields = tuple(dict.fromkeys(f.strip() for f in text.split(",") if f.strip()))
    unknown = [f for f in fields if f not in FIELDS]
    if unknown or not fields:
        raise BarqueError(f"--fields: unknown key {unknown[0]!r}" if unknown else "--fields needs a key",
                          hint=f"use keys of {', '.join(FIELDS)}")
    return fields


def needs_attention(node: Mapping[str, Any]) -> bool:
    """``--problems``: a node not cached (and not a task or sensor), or a task or sensor whose last run failed."""
    last = node.get("last_materialization") or {}
    return node["cache"]["state"] in PROBLEM_STATES or (node["cache"]["state"] == "always_runs" and last.get("status") == "failed")


def narrow(doc: Mapping[str, Any], how: Narrowing) -> dict[str, Any]:
    """The document with barca's filters applied: the filter first (``total`` counts what
    passed, ``filter`` names it), then the limit (``truncated`` and a ``hint``), then the fields.
    ``summary`` still counts every node in scope."""
    nodes = [n for n in doc["nodes"] if (not how.states or n["cache"]["state"] in how.states) and (not how.problems or needs_attention(n))]
    out = {**doc, "total": len(nodes), "truncated": how.limit is not None and len(nodes) > how.limit}
    if how.problems or how.states:
        out["filter"] = {**({"problems": True} if how.problems else {}), **({"states": list(how.states)} if how.states else {})}
    if out["truncated"]:
        out["hint"] = f"pass --limit N for more, or --all for all {len(nodes)} nodes"
        nodes = nodes[: how.limit]
    out["nodes"] = [{k: v for k, v in n.items() if k in how.fields} for n in nodes] if how.fields else nodes
    return out


def filter_line(doc: Mapping[str, Any], scope: int) -> str | None:
    """The table's line for a filter: how many nodes matched, or none."""
    if "filter" not in doc:
        return None
    flags = ["--problems"] if doc["filter"].get("problems") else []
    if "states" in doc["filter"]:
        flags.append("--state " + ",".join(doc["filter"]["states"]))
    named = " and ".join(flags)
    head = "" if doc["total"] else f"No node matches {named}.\n\n"
    return f"{head}{doc['total']} of {scope} nodes match {named}; the counts below are for every node"


def format_table(doc: Mapping[str, Any]) -> str:
    """barca's human table: NAME KIND STATE WHY LAST RUN SHAPE DEPS, then the counts."""
    header = ["NAME", "KIND", "STATE", "WHY", "LAST RUN", "SHAPE", "DEPS"]
    rows = [header]
    for n in doc["nodes"]:
        cache, last = n["cache"], n["last_materialization"]
        why = cache["reason"] if cache["state"] in ("cached", "always_runs") and "failed" not in cache["detail"] else cache["detail"]
        when = "-"
        if last:
            took = f" {last['elapsed_seconds']:.2f}s" if last.get("elapsed_seconds") is not None else ""
            when = f"{last['status']} {last['created_at'] or '?'} UTC{took}"
        deps = ", ".join(i.rpartition(":")[2] for i in n["inputs"]) or "-"
        rows.append([n["name"], n["kind"], cache["state"].replace("_", "-"), why, when, _shape_text(n["shape"]), deps])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    matched = filter_line(doc, sum(doc["summary"].values()))
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows] if doc["nodes"] or not matched else []
    if matched:
        lines += ["", matched] if doc["nodes"] else [matched]
    s = doc["summary"]
    lines += ["", f"{s['cached']} cached, {s['stale']} stale, {s['never_run']} never run, {s['partial']} partial, "
              f"{s['unknown']} unknown, {s['always_runs']} always run"]
    return "\n".join(lines)


def _shape_text(shape: Mapping[str, Any] | None) -> str:
    """barca's SHAPE cell: ``3 rows``, ``3 rows x 2 cols``, ``dict (1 key)``, ``int``."""
    if not shape or "note" in shape:
        return "-"
    if shape["type"] == "list":
        cols = f" x {len(shape['columns'])} cols" if "columns" in shape else ""
        return f"{shape['rows']} rows{cols}"
    if shape["type"] == "dict":
        count = shape.get("key_count", len(shape["keys"]))
        return f"dict ({count} key{'s' if count != 1 else ''})"
    return str(shape["type"])


def project_status(
    files: Sequence[str], targets: Sequence[str] = (), *, store: str | None = None, params: Mapping[str, str] | None = None,
    sample: int | None = None,
) -> dict[str, Any]:
    """The status document of the project's nodes (``targets``: only their upstream cones);
    ``sample``: up to that many sample rows of each JSON artifact (barca's ``--sample``)."""
    from barque import artifacts
    from barque.targets import resolve_targets, select_nodes, topo_order
    from barque_runtime import history
    from barque_runtime.local import RunOptions, plan_with_stored_keys, prepare

    # Planned with no target: every asset, so a Manual node never computed is reported, not
    # refused as a targeted run refuses it; a target only narrows what is shown.
    local = prepare(RunOptions(tuple(files), (), None, store, dict(params or {}), False))
    graph = local.spec.graph
    target_ids = resolve_targets(graph, targets) if targets else []
    scope = select_nodes(graph, target_ids) if target_ids else set(graph.nodes)
    plan, verdicts = plan_with_stored_keys(local)
    planned = steps_by_node(plan)
    refs = {sid for sid in plan.steps
            if plan.steps[sid].node in scope and artifacts.get_ref(local.store, local.spec.ref_scope, sid) is not None}
    folder = history.location(local.store_uri, local.root)
    # A run hook's last call stands for its last run (the history keeps how it went, error included).
    execs = {**history.last_executions(folder, scope), **history.last_hook_runs(folder, scope)}
    last_runs = {sid: _last_run(local.store, row) for sid, row in execs.items()}
    labels = {**step_labels(plan), **{sid: sid[len(r["node"]) + 1 : -1] for sid, r in execs.items() if sid != r["node"]}}
    nodes = [
        node_status(graph.nodes[n], planned.get(n, []), verdicts, refs, {s: r for s, r in last_runs.items() if execs[s]["node"] == n}, graph, labels)
        for n in topo_order(graph, scope)
    ]
    nodes = [replace(n, shape=artifact_shape(local.store, n.last, sample)) for n in nodes]
    return document(nodes, list(targets), local.root)


def _last_run(store: Any, row: Mapping[str, Any]) -> LastRun:
    """The history's row of an execution, with what its step record adds (error, artifact, key)."""
    from barque import records
    from barque.errors import StoreError

    try:
        rec = records.read_step_record(store, row["run_id"], row["step"]) or {}
    except (StoreError, ValueError):  # an unreadable record: the history's row alone
        rec = {}
    error = rec.get("error") or None
    if error is None and row.get("error"):  # a run hook's: the history's words, ``Type: message``
        kind, _, message = str(row["error"]).partition(": ")
        error = {"type": kind, "message": message}
    return LastRun(
        run_id=row["run_id"],
        step=row["step"],
        status=row["state"],
        started_at=rec.get("started_at") or row.get("started_at"),
        elapsed_seconds=row.get("duration_seconds"),
        attempts=int(row.get("attempts") or 0),
        run_hash=rec.get("cache_key"),
        artifact=rec.get("artifact"),
        error=f"{error.get('type', 'Error')}: {error.get('message', '')}" if error else ("failed" if row["state"] == "failed" else None),
    )
