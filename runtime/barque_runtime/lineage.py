"""Provenance of stored values: which run made a value, from what code and inputs, and whether
today's code would still serve it (``barque why``).

It reads records only, never a value: the step's ref and commit record (``barque.artifacts``),
the producing run's step records (``barque.records``) and today's cache verdicts
(``barque.cachestate``). A record that fails authentication reads as missing there, so it is
reported as missing here. Blobs are judged (present, size, small ones hash-checked) without
being decoded, so asking ``why`` of a hostile store runs none of its bytes.

``provenance`` is a function of the store and the verdicts it is given; ``why`` is the shell
that parses the project, plans it as ``--dry-run`` does and opens the store (local or S3).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence
from urllib.parse import unquote

from barque import artifacts, records, trust
from barque.cachestate import StepCache
from barque.errors import BarqueError, StoreError
from barque.model import Graph
from barque.store import ArtifactStore


@dataclass(frozen=True)
class ClusterScope:
    """A Pipeline's side of the store: its refs scope and the env values (by name) its steps are keyed with."""

    scope: str
    env: Mapping[str, str | None]


@dataclass(frozen=True)
class StepRun:
    """What the producing run's step record says about the step."""

    state: str
    attempts: int
    started_at: float | None
    finished_at: float | None
    duration_seconds: float | None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("state", "attempts", "started_at", "finished_at", "duration_seconds")}


@dataclass(frozen=True)
class InputLink:
    """One parameter's inputs: the upstream node, the output ids the key holds, their producers."""

    param: str
    source: str
    output_ids: tuple[str, ...]
    producers: tuple["Provenance", ...] = ()
    # ``--resume-from``: the run the consumer's run took these inputs over from, and which steps.
    resumed_from: str | None = None
    resumed_steps: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "param": self.param,
            "source": self.source,
            "output_ids": list(self.output_ids),
            "producers": [p.to_dict() for p in self.producers],
            "resumed_from": self.resumed_from,
            "resumed_steps": list(self.resumed_steps),
        }


@dataclass(frozen=True)
class Provenance:
    """Where one stored value of one step came from; ``problem`` says why it cannot be served."""

    step: str
    node: str
    partition: dict[str, str]
    output_id: str | None  # the output id inputs name it by: content hash (@observation for a sensor)
    run_id: str | None
    cache_key: str | None
    artifact: dict[str, Any] | None
    problem: str | None
    code: str | None
    helpers: dict[str, str]
    params: dict[str, str]
    env: dict[str, Any]
    inputs: tuple[InputLink, ...]
    run: StepRun | None
    today: str  # ``current``, ``stale``, ``unknown``, ``never cached`` or ``not planned``
    reason: str
    decorator: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "node": self.node,
            "partition": self.partition,
            "output_id": self.output_id,
            "run_id": self.run_id,
            "cache_key": self.cache_key,
            "artifact": self.artifact,
            "problem": self.problem,
            "code": self.code,
            "helpers": self.helpers,
            "decorator": self.decorator,
            "params": self.params,
            "env": self.env,
            "inputs": [i.to_dict() for i in self.inputs],
            "run": self.run.to_dict() if self.run else None,
            "today": {"state": self.today, "reason": self.reason},
        }


class _Runs:
    """The step records of each run read so far: a run's records are listed once, however many
    steps of it the walk visits; ``scope`` is the refs scope the walk reads."""

    def __init__(self, store: ArtifactStore, scope: str) -> None:
        self._store = store
        self.scope = scope
        self._runs: dict[str, dict[str, dict[str, Any]]] = {}

    def steps(self, run_id: str | None) -> dict[str, dict[str, Any]]:
        if not run_id:
            return {}
        if run_id not in self._runs:
            try:
                self._runs[run_id] = records.read_step_records(self._store, run_id)
            except (StoreError, ValueError):  # an unreadable record or a run id that is no key: nothing known
                self._runs[run_id] = {}
        return self._runs[run_id]


def provenance(
    store: ArtifactStore, graph: Graph, step_id: str, verdicts: Mapping[str, StepCache], depth: int = 0,
    scope: str | None = None,
) -> Provenance | None:
    """The provenance of the latest stored value of ``step_id``, or ``None`` when none is stored
    (or its ref fails authentication); with ``depth`` > 0, its inputs' producers too. ``scope``
    is whose refs to read: the local project's by default, or a cluster Pipeline's
    (``artifacts.cluster_ref_scope``)."""
    scope = scope or artifacts.project_ref_scope(graph.root)
    ref = artifacts.get_ref(store, scope, step_id)
    if ref is None:
        return None
    node = graph.nodes.get(str(ref.get("node")))
    allowed = trust.allowed_serializers(node.serializer) if node else trust.DATA_ONLY
    found = artifacts.find_ref(store, scope, step_id, allowed)
    return _build(store, graph, step_id, ref, found.problem, verdicts, depth, _Runs(store, scope))


def _build(
    store: ArtifactStore,
    graph: Graph,
    step_id: str,
    record: Mapping[str, Any],
    problem: str | None,
    verdicts: Mapping[str, StepCache],
    depth: int,
    runs: _Runs,
) -> Provenance:
    components = record.get("components") or {}
    run_id = record.get("run_id")
    step_rec = runs.steps(run_id).get(step_id)
    today, reason = _today(verdicts.get(step_id), record.get("cache_key"))
    inputs = tuple(
        _input(store, graph, record.get("node", ""), param, ids, run_id, dict(components.get("partition") or {}), verdicts, depth, runs)
        for param, ids in sorted((components.get("inputs") or {}).items())
    )
    return Provenance(
        step=step_id,
        node=str(record.get("node", "")),
        partition=dict(components.get("partition") or {}),
        output_id=record.get("output_id"),
        run_id=run_id,
        cache_key=record.get("cache_key"),
        artifact=record.get("artifact"),
        problem=problem,
        code=components.get("code"),
        helpers=dict(components.get("helpers") or {}),
        decorator=dict(components.get("decorator") or {}),
        params=dict(components.get("params") or {}),
        # Digests already, never values; a secret-looking name does not show even its digest.
        env=trust.redact_env(components.get("env") or {}),
        inputs=inputs,
        run=_step_run(step_rec),
        today=today,
        reason=reason,
    )


def _input(
    store: ArtifactStore,
    graph: Graph,
    node_id: str,
    param: str,
    ids: Sequence[str],
    run_id: str | None,
    partition: Mapping[str, str],
    verdicts: Mapping[str, StepCache],
    depth: int,
    runs: _Runs,
) -> InputLink:
    node = graph.nodes.get(node_id)
    source = next((i.source for i in node.inputs if i.param == param), param) if node else param
    # The consumer's run's records of its inputs: one taken over by ``--resume-from`` names the run.
    reused = {sid: str(rec["reused_from"]) for sid, rec in sorted(runs.steps(run_id).items())
              if rec.get("node") == source and rec.get("output_id") in ids and rec.get("reused_from")}
    producers: list[Provenance] = []
    scope = runs.scope
    if depth > 0:
        # The producing run's record of each upstream step names the cache key it used (run or
        # served from cache); that key's commit record names the run that really made the value.
        for sid, rec in sorted(runs.steps(run_id).items()):
            if rec.get("node") != source or rec.get("output_id") not in ids:
                continue
            commit = artifacts.lookup(store, rec["cache_key"]) if rec.get("cache_key") else None
            found = commit or artifacts.get_ref(store, scope, sid)
            if found is not None and found.get("output_id") == rec.get("output_id"):
                producers.append(_build(store, graph, sid, found, None, verdicts, depth - 1, runs))
        # A local run leaves no step record for a step its planner settled as cached: the
        # source's latest materializations name the runs of the values they still hold.
        missing = set(ids) - {p.output_id for p in producers}
        for sid in stored_steps(store, scope, source, []) if missing else []:
            ref = artifacts.get_ref(store, scope, sid)
            if ref is not None and ref.get("output_id") in missing:
                producers.append(_build(store, graph, sid, ref, None, verdicts, depth - 1, runs))
    return InputLink(param, source, tuple(ids), _closest(producers, partition),
                     next(iter(reused.values()), None), tuple(reused))


def _closest(producers: list[Provenance], partition: Mapping[str, str]) -> tuple[Provenance, ...]:
    """Where several steps hold the same bytes (one output id), the one of the consumer's own
    partition key is the one it read; other steps with equal bytes are kept only without it."""
    kept: list[Provenance] = []
    for output in dict.fromkeys(p.output_id for p in producers):
        same = [p for p in producers if p.output_id == output]
        own = [p for p in same if p.partition and all(partition.get(d) == k for d, k in p.partition.items())]
        kept.extend(own or same)
    return tuple(kept)


def _step_run(rec: Mapping[str, Any] | None) -> StepRun | None:
    if rec is None:
        return None
    return StepRun(
        state=str(rec.get("state")),
        attempts=int(rec.get("attempts") or 0),
        started_at=rec.get("started_at"),
        finished_at=rec.get("finished_at"),
        duration_seconds=rec.get("duration_seconds"),
    )


def _today(verdict: StepCache | None, stored_key: str | None) -> tuple[str, str]:
    """Whether today's code and inputs would serve the stored value, and why not."""
    if verdict is None:
        return "not planned", "not in today's plan"
    if verdict.state == "unknown":  # as --dry-run says it: early cutoff may still serve this value
        return "unknown", verdict.reason + " (runs unless that upstream's output comes out unchanged)"
    if verdict.cache_key is None:  # a task or a sensor: it runs every time, stored value or not
        return "never cached", verdict.reason
    if verdict.cache_key == stored_key:
        return ("current", "cached") if verdict.state == "cached" else ("current", f"same key, but {verdict.reason}")
    if verdict.state == "cached":
        run = (verdict.record or {}).get("run_id")
        return "stale", f"today's key is served by another stored value (run {run})"
    return "stale", verdict.reason


def stored_steps(store: ArtifactStore, scope: str, node_id: str, planned: Sequence[str]) -> list[str]:
    """The steps of ``node_id`` that have a stored value in refs ``scope``: today's planned ones
    and any other partition key a ref names."""
    prefix = artifacts.ref_key(scope, node_id).removesuffix(".json")
    steps = set(planned)
    for key in store.list(prefix):
        ref = artifacts.get_ref(store, scope, unquote(key.rsplit("/", 1)[-1].removesuffix(".json")))
        if ref is not None and ref.get("node") == node_id:
            steps.add(str(ref["step"]))
    return sorted(s for s in steps if artifacts.get_ref(store, scope, s) is not None)


def matches(prov: Provenance, wanted: Mapping[str, str]) -> bool:
    """Whether ``prov`` is of the partition ``wanted`` names (every dimension given must match)."""
    return all(prov.partition.get(dim) == key for dim, key in wanted.items())


def format_text(provs: Sequence[Provenance]) -> str:
    """The human-readable report ``barque why`` prints on a terminal."""
    return "\n\n".join("\n".join(_lines(p, "")) for p in provs)


def _lines(p: Provenance, indent: str) -> list[str]:
    art = p.artifact or {}
    value = f"{str(art.get('content_hash', '?'))[:12]} ({art.get('serializer', '?')}, {art.get('size', '?')} bytes)"
    lines = [f"{indent}{p.step}", f"{indent}  value     {value}" + (f"  [{p.problem}]" if p.problem else "")]
    lines.append(f"{indent}  run       {p.run_id or '?'}" + (f"  {_run_text(p.run)}" if p.run else "  (no step record)"))
    lines.append(f"{indent}  code      {(p.code or '?')[:12]}")
    for name, digest in sorted(p.helpers.items()):
        lines.append(f"{indent}    helper  {name} {str(digest)[:12]}")
    if p.params:
        lines.append(f"{indent}  params    " + ", ".join(f"{k}={v}" for k, v in sorted(p.params.items())))
    if p.env:
        lines.append(f"{indent}  env       " + ", ".join(f"{k}={str(v)[:16]}" for k, v in sorted(p.env.items())))
    for link in p.inputs:
        ids = ", ".join(i[:12] for i in link.output_ids)
        resumed = ""
        if link.resumed_from:
            some = "" if len(link.resumed_steps) == len(link.output_ids) else f" ({len(link.resumed_steps)} of {len(link.output_ids)})"
            resumed = f"  [reused by resume from run {link.resumed_from}{some}]"
        lines.append(f"{indent}  input     {link.param} <- {link.source}: {ids}{resumed}")
        for producer in link.producers:
            lines.extend(_lines(producer, indent + "    "))
    lines.append(f"{indent}  today     {p.today}: {p.reason}")
    return lines


def _run_text(run: StepRun) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(run.started_at)) if run.started_at else "?"
    took = f"{run.duration_seconds:.3f}s" if run.duration_seconds is not None else "?"
    return f"{run.state}, {run.attempts} attempt(s), {took}, started {when}"


def why(
    files: Sequence[str],
    target: str,
    *,
    store: str | None = None,
    params: Mapping[str, str] | None = None,
    partition: Mapping[str, str] | None = None,
    depth: int = 0,
    cluster: ClusterScope | None = None,
) -> list[Provenance]:
    """The provenance of every stored value of ``target`` (each partition key, or those
    ``partition`` selects), judged against today's code as ``barque run --dry-run`` would.

    With ``cluster``, the values a Pipeline's runs stored (its refs scope), judged with the env
    values its operator keys steps with (``spec.defaults.env``) instead of this shell's."""
    from barque.keyenv import cache_env_values
    from barque.targets import resolve_one
    from barque.trust import env_digests
    from barque_runtime.local import RunOptions, plan_with_stored_keys, prepare

    local = prepare(RunOptions(tuple(files), (), None, store, dict(params or {}), False))
    if cluster is not None:
        values = cache_env_values(local.spec.graph, cluster.env)  # as the operator keys them
        local.spec = local.spec._replace(ref_scope=cluster.scope, env=env_digests(local.store, values))
    graph = local.spec.graph
    node_id = resolve_one(graph, target)
    plan, verdicts = plan_with_stored_keys(local)
    planned = [sid for sid, step in plan.steps.items() if step.node == node_id and step.produces]
    scope = local.spec.ref_scope
    provs = [p for sid in stored_steps(local.store, scope, node_id, planned) if (p := provenance(local.store, graph, sid, verdicts, depth, scope))]
    provs = [p for p in provs if matches(p, partition or {})]
    if not provs:
        which = f" for partition {', '.join(f'{k}={v}' for k, v in (partition or {}).items())}" if partition else ""
        raise BarqueError(
            f"{node_id} has no stored value{which}",
            where=local.store_uri,
            hint=f"run it first: barque run {' '.join(files)} {target}",
        )
    return provs
