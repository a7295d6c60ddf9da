"""Execute one stream's steps in order: resolve inputs, serve from cache or call the function, record.

Used by ``barque exec`` in pods and by local workers alike. A step whose upstream failed
or was skipped is skipped (filtered below a filtered one, but for a ``collect``, which gets
the keys that produced); an independent step in the same stream still runs, unless the run
fails fast. A step that
returns ``barque.Skip`` ends filtered. Every
step leaves a record: in the store as it ends (a pod), or handed to ``on_record`` (a local
worker sends it to its parent, which stores a stream's records at once); a cached asset is
committed (data first, then the commit record) before its record says it succeeded.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Iterator, Mapping

from barque import artifacts, records, steprecord, trust
from barque.errors import BarqueError, StoreError
from barque.cachekeys import cache_key, key_components
from barque.model import Node
from barque.runif import holds
from barque.plans import Step
from barque.decorators import Skip
from barque.rundriver import FAIL_FAST_REASON, blocked_by, unrun
from barque.runspec import RunSpec
from barque.serializers import JSON, TABULAR, as_reader
from barque.stepinputs import input_ids, key_sources, keys_source, keys_source_output, produced, value_param
from barque.store import ArtifactStore
from barque_runtime.calling import CallFailed, call_with_retries, describe, format_exc, is_cancellation
from barque_runtime.isolation import ProcessState
from barque_runtime.loader import ModuleLoader
from barque.overrides import overridden_record
from barque_runtime.sinks import write_sinks
from barque_runtime.streamcall import iterator_params, is_stream

class BlobMemo:
    """The store, with the bytes of blobs already read kept in memory (they never change).

    Bytes, not decoded values: every consumer decodes its own copy (``artifacts.read_value``
    checks the hash and decodes each time), so a step that mutates its input cannot change
    what a sibling receives. Keeping decoded objects and deep-copying them would trust every
    object's ``__deepcopy__``; the stored bytes are the truth.
    """

    LIMIT = 64 << 20  # bytes kept before the memo starts over

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        self.uri = store.uri
        self._blobs: dict[str, bytes] = {}
        self._size = 0

    def get(self, key: str) -> bytes | None:
        data = self._blobs.get(key)
        if data is None:
            data = self.store.get(key)
            if data is not None and key.startswith("blobs/"):
                if self._size + len(data) > self.LIMIT:
                    self._blobs.clear()
                    self._size = 0
                self._blobs[key] = data
                self._size += len(data)
        return data

    def put(self, key: str, data: bytes, *, durable: bool = True) -> None:
        self.store.put(key, data, durable=durable)

    def exists(self, key: str) -> bool:
        return key in self._blobs or self.store.exists(key)

    def size(self, key: str) -> int | None:
        data = self._blobs.get(key)
        return len(data) if data is not None else self.store.size(key)

    def list(self, prefix: str) -> Iterator[str]:
        return self.store.list(prefix)

    def delete(self, key: str) -> None:
        self._blobs.pop(key, None)
        self.store.delete(key)


class StreamContext:
    """What every step of a stream shares; ``known`` holds records of steps already finished.

    ``state`` is the process state every step starts from, taken when the context is made
    (before any user code ran in this process) and restored after every attempt. In a pod,
    ``echo_output`` also sends a step's output to the container's own stdout/stderr, so
    ``kubectl logs`` shows it; locally the runner's stdout carries the summary alone.
    ``on_record`` is where a finished step's record goes instead of its own file in the store:
    a local worker sends it to its parent (``workers``), which stores the stream's records in
    one object. (A plain class: it is mutable state, and every run makes one.)
    """

    def __init__(self, spec: RunSpec, store: ArtifactStore, loader: ModuleLoader, *, echo_output: bool = False,
                 on_record: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.spec = spec
        self.store = store
        self.loader = loader
        self.known: dict[str, dict[str, Any]] = {}
        self.state = ProcessState()
        self.attempts_used: dict[str, int] = {}
        self.echo_output = echo_output
        self.on_record = on_record
        self.blobs = BlobMemo(store)
        self.key_sources = key_sources(spec.graph)

    def record_of(self, step_id: str) -> dict[str, Any] | None:
        if step_id not in self.known:
            rec = records.read_step_record(self.store, self.spec.run_id, step_id)
            if rec is not None:
                self.known[step_id] = rec
        return self.known.get(step_id)

    def value_of(self, step_id: str, reader: str | None = None, lazy: bool = False) -> Any:
        """A fresh copy of the step's stored value, decoded from its bytes for this caller alone;
        a Parquet or CSV value in the ``reader`` the consuming parameter's annotation names.

        A stream comes joined, or with ``lazy`` as an iterator over its chunks, read from the
        store itself (not the memo) so that only one chunk is in memory at a time.
        """
        rec = self.record_of(step_id)
        if rec is None or rec.get("artifact") is None:
            return None
        producer = self.spec.graph.nodes.get(rec.get("node") or "")
        allowed = trust.allowed_serializers(producer.serializer if producer else None)
        ref = artifacts.ArtifactRef.from_dict(rec["artifact"])
        if lazy and ref.serializer == artifacts.STREAM:
            from barque import streams

            return streams.iter_stream(self.store, ref, allowed=allowed)
        value = artifacts.read_value(self.store if ref.serializer == artifacts.STREAM else self.blobs, ref, allowed=allowed)
        return as_reader(value, reader) if reader and ref.serializer in TABULAR else value


def execute_stream(ctx: StreamContext, steps: list[Step]) -> list[dict[str, Any]]:
    """Run ``steps`` in order and return their records (also written to the store).

    The steps of a ``batch=`` node wait until a step needs one of them (or the stream ends)
    and then run together, as ``batching`` groups them; the others run one by one in order.
    Under fail fast (``spec.fail_fast``) a step that fails stops the stream: the steps it has
    not started are ``cancelled``, as the driver cancels those of the other streams.
    """
    out: list[dict[str, Any]] = []
    waiting: dict[str, list[Step]] = {}  # batched node -> its steps not run yet, in order
    stop = False  # fail fast, and a step of this stream failed

    def finish(recs: list[dict[str, Any]]) -> None:
        nonlocal stop
        done = _finish(ctx, recs)
        out.extend(done)
        stop = stop or (ctx.spec.fail_fast and any(steprecord.state_of(r) in steprecord.FAILURES for r in done))

    for position, step in enumerate(steps):
        for node_id in [n for n, group in waiting.items() if any(g.id in step.deps for g in group)]:
            if not stop:
                finish(_run_batched(ctx, waiting.pop(node_id)))
        if stop:
            finish(_cancelled(ctx, [*steps[position:], *(s for group in waiting.values() for s in group)]))
            return out
        if step.action == "run" and ctx.spec.graph.nodes[step.node].batch is not None:
            waiting.setdefault(step.node, []).append(step)
            continue
        try:
            rec = execute_step(ctx, step)
        finally:  # what importing the step's module changed, too
            ctx.state.restore()
        finish([rec])
    for node_id in list(waiting):
        if not stop:
            finish(_run_batched(ctx, waiting.pop(node_id)))
    finish(_cancelled(ctx, [s for group in waiting.values() for s in group]))
    return out


def _cancelled(ctx: StreamContext, steps: list[Step]) -> list[dict[str, Any]]:
    """The records of ``steps``, not started because the run stops at its first failure."""
    return [steprecord.cancelled(s.id, s.node, FAIL_FAST_REASON, run_id=ctx.spec.run_id, by=None).to_dict() for s in steps]


def _run_batched(ctx: StreamContext, group: list[Step]) -> list[dict[str, Any]]:
    from barque_runtime.batching import execute_batched  # only a stream with a batch= node pays for it

    try:
        return execute_batched(ctx, group)
    finally:
        ctx.state.restore()


def _finish(ctx: StreamContext, recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for rec in recs:
        if ctx.on_record is None:
            rec = _write_record(ctx, rec)
        else:
            rec = records.redacted(rec)
            ctx.on_record(rec)
        ctx.known[rec["step"]] = rec
        out.append(rec)
    return out


def _write_record(ctx: StreamContext, rec: dict[str, Any]) -> dict[str, Any]:
    """Store the step's record and return it as stored (redacted); when the store refuses (a
    full disk), warn and go on.

    The record still reaches whoever runs the stream (a worker sends it to its parent, a pod
    puts its outcome in the termination message), so the run's result is not lost with it.
    """
    rec = records.redacted(rec)
    try:
        records.write_step_record(ctx.store, ctx.spec.run_id, rec)
    except StoreError as err:
        warn(f"the record of step {rec['step']} was not stored: {err}")
    return rec


def warn(text: str) -> None:
    """A warning on stderr, where a person or a CI log sees it (workers share the parent's stderr)."""
    sys.stderr.write(f"barque: warning: {text}\n")
    sys.stderr.flush()


def execute_step(ctx: StreamContext, step: Step) -> dict[str, Any]:
    """Decide and, if needed, run one step; return its record."""
    node = ctx.spec.graph.nodes[step.node]
    decided = decide(ctx, step)
    if isinstance(decided, dict):
        return decided
    key, components = decided
    base = {"step": step.id, "node": node.id, "run_id": ctx.spec.run_id, "attempts": 0}
    return {**base, **_run(ctx, node, step, key, components)}


def decide(ctx: StreamContext, step: Step) -> dict[str, Any] | tuple[str, dict[str, Any]]:
    """A step's record when it does not run (skipped, cached, partitions evaluated), else
    the cache key and its components it runs under."""
    node = ctx.spec.graph.nodes[step.node]
    base = {"step": step.id, "node": node.id, "run_id": ctx.spec.run_id, "attempts": 0}
    stub = overridden_record(ctx.spec, node.id)
    if stub is not None:  # a test stubbed its output: not run, its cache not read
        now = time.time()
        return {**base, **stub, "started_at": now, "finished_at": now}
    deps: dict[str, steprecord.StepRecord] = {}
    for dep in step.deps:  # the driver's rule (``rundriver.blocked_by``, ``unrun``), for inputs settled in this stream
        dep_rec = ctx.record_of(dep)
        if dep_rec is None:
            return {**base, **steprecord.skipped(step.id, node.id, f"upstream {dep} missing", run_id=ctx.spec.run_id, by=None).to_dict()}
        deps[dep] = steprecord.StepRecord.from_dict(dep_rec)
    blocker = blocked_by(step.deps, deps, step.collected)
    if blocker is not None:
        return {**base, **unrun(step.id, node.id, blocker, run_id=ctx.spec.run_id, by=None).to_dict()}
    if step.action == "partitions":
        return {**base, **_evaluate_partitions(ctx, node, step)}
    outputs = {dep: rec.output_id or "" for dep, rec in deps.items()}
    ids = input_ids(ctx.spec.graph, step, outputs, lambda source: ctx.value_of(source))
    assert ids is not None  # every dep has a record with an output id by now
    components = key_components(node, step, ids, ctx.spec.params, ctx.spec.env)
    key = cache_key(components)
    served = _serve_from_cache(ctx, node, step, key)
    if served is not None:
        return {**base, **served}
    return key, components


def _serve_from_cache(ctx: StreamContext, node: Node, step: Step, key: str) -> dict[str, Any] | None:
    if node.kind != "asset" or ctx.spec.no_cache or node.id in ctx.spec.refresh:
        return None
    # Sound records only (else recomputed), hash-checked whatever their size: a step reaches
    # here when the planner did not settle it, and a blob it found corrupt must not be served.
    allowed = trust.allowed_serializers(node.serializer)
    found = artifacts.find(ctx.store, key, allowed, hash_check_bytes=sys.maxsize).served
    if found is None and node.freshness.kind == "manual" and node.id not in ctx.spec.targets and ctx.spec.ref_scope:
        found = artifacts.find_ref(ctx.store, ctx.spec.ref_scope, step.id, allowed, hash_check_bytes=sys.maxsize).served
    if found is None:
        return None
    now = time.time()
    if "filtered" in found:  # the step chose not to produce for these very inputs: it does not run again
        return {**steprecord.cached(step.id, node.id, key, found, run_id=ctx.spec.run_id, by=None).to_dict(),
                "started_at": now, "finished_at": now}
    return {
        "state": "cached",
        "cache_key": found.get("cache_key", key),
        "artifact": found["artifact"],
        "output_id": found["output_id"],
        "started_at": now,
        "finished_at": now,
        "duration_seconds": 0.0,
    }


def _run(ctx: StreamContext, node: Node, step: Step, key: str, components: dict[str, Any]) -> dict[str, Any]:
    started = time.time()
    try:
        fn = ctx.loader.function(node)
        lazy = iterator_params(fn, [i.param for i in node.inputs])
        first = [call_kwargs(ctx, node, step, lazy)]
    except BaseException as exc:  # a module that fails to import fails the step, with its traceback
        if is_cancellation(exc):
            raise
        return failed(started, 1, exc, format_exc(), {})

    def kwargs() -> dict[str, Any]:  # every attempt gets its own copy of the inputs
        return first.pop() if first else call_kwargs(ctx, node, step, lazy)

    if node.run_if is not None:
        screened = run_if_record(ctx, node, step, key, components, kwargs, started)
        if screened is not None:
            return screened

    used = ctx.attempts_used.get(step.id, 0)
    try:
        result, attempts, logs = call_with_retries(
            ctx.store, ctx.spec.run_id, step.id, node, fn, kwargs, restore=ctx.state.restore, first_attempt=used + 1,
            echo=ctx.echo_output, finish=lambda result: _stream_or_value(ctx, node, result),
        )
    except CallFailed as failure:
        return failed(started, failure.attempts, failure.error, failure.traceback, failure.logs)
    if isinstance(result, Skip):
        return filtered_output(ctx, node, step, key, components, result.reason, started, attempts, logs)
    try:
        value, observation = _interpret(node, result, ctx, step)
    except BarqueError as exc:
        return failed(started, attempts, exc, format_exc(), logs)
    return finish_output(ctx, node, step, key, components, value, observation, started, attempts, logs)


def finish_output(
    ctx: StreamContext, node: Node, step: Step, key: str, components: dict[str, Any], value: Any,
    observation: str | None, started: float, attempts: int, logs: Mapping[str, str],
) -> dict[str, Any]:
    """Write a computed value's sinks, store and commit it, and make its record."""
    try:
        if node.id in ctx.key_sources:  # keys are data: checked, and stored as JSON whatever was returned
            value = keys_source_output(value, node.id)
        # Sinks first: one that fails fails the step, so nothing is committed and the next run retries.
        sinks = write_sinks(node, step, _whole(ctx, node, value), ctx.loader.root) if node.sinks else None
        ref, commit = _store_output(ctx, node, step, key, value, observation, components)
    except BarqueError as exc:  # bad partition keys, a failed sink, or a value the serializer or the store (full disk) cannot take
        return failed(started, attempts, exc, format_exc(), logs)
    finished = time.time()
    rec: dict[str, Any] = {
        "state": "succeeded",
        "cache_key": key,
        "artifact": ref.to_dict(),
        "output_id": commit["output_id"],
        "attempts": attempts,
        "started_at": started,
        "finished_at": finished,
        "duration_seconds": round(finished - started, 6),
        "logs": dict(logs),
    }
    if "preview" in commit:
        rec["preview"] = commit["preview"]
    if sinks is not None:
        rec["sinks"] = sinks
    return rec


def run_if_record(ctx: StreamContext, node: Node, step: Step, key: str, components: dict[str, Any],
                  kwargs: Callable[[], Mapping[str, Any]], started: float) -> dict[str, Any] | None:
    """The record of a step ``node.run_if`` keeps from its call (``filtered`` when false,
    ``failed`` when it raises), or None when the step is to be called. ``kwargs()`` gives the
    step's own arguments: a key of a ``batch=`` node is judged on its own, as unbatched."""
    try:
        true = holds(node.run_if or "", kwargs())
    except BaseException as exc:  # a condition that raises fails the step, as its function would
        if is_cancellation(exc):
            raise
        return failed(started, 1, exc, format_exc(), {})
    if true:
        return None
    return filtered_output(ctx, node, step, key, components, f"run_if is false: {node.run_if}", started, 0, {})


def filtered_output(ctx: StreamContext, node: Node, step: Step, key: str, components: dict[str, Any], reason: str,
                    started: float, attempts: int, logs: Mapping[str, str]) -> dict[str, Any]:
    """The record of a step that returned ``Skip`` (or whose ``run_if`` is false). An asset's
    verdict is committed under its key like any output (a marker value, so the store checks it
    as any other), so a run with the same
    inputs, code and params serves ``filtered`` again without calling it; the latest-value pointer
    is left naming the last value it produced."""
    if node.kind == "asset" and not ctx.spec.overrides:
        try:
            ref = artifacts.write_value(ctx.store, {"filtered": reason}, JSON)
            artifacts.commit(ctx.store, key, ref, {"step": step.id, "node": node.id, "run_id": ctx.spec.run_id,
                                                   "output_id": steprecord.FILTERED_OUTPUT, "components": components,
                                                   "filtered": reason})
        except StoreError as err:  # the verdict stands; the next run calls the step again
            warn(f"the filtered verdict of step {step.id} was not cached: {err}")
    finished = time.time()
    rec = steprecord.filtered(step.id, node.id, reason, run_id=ctx.spec.run_id, by=None, cache_key=key, attempts=attempts)
    return {**rec.to_dict(), "started_at": started, "finished_at": finished,
            "duration_seconds": round(finished - started, 6), "logs": dict(logs)}


def _store_output(
    ctx: StreamContext, node: Node, step: Step, key: str, value: Any, observation: str | None, components: dict[str, Any]
) -> tuple[artifacts.ArtifactRef, dict[str, Any]]:
    """Write the value, commit it under ``key`` (assets only) and point the step's ref at it."""
    stream = _stream_output(value)
    if stream is not None:  # its chunks and manifest are stored already
        ref = stream.ref
    else:
        ref = artifacts.write_value(ctx.store, value, JSON if node.id in ctx.key_sources else node.serializer)
    output_id = ref.content_hash + (f"@{observation}" if observation else "")
    commit = {"step": step.id, "node": node.id, "run_id": ctx.spec.run_id, "output_id": output_id, "components": components}
    if ref.serializer != JSON:  # the parent shows it without decoding (and so importing) the user's classes
        commit["preview"] = value_preview(value)
    if node.kind == "asset":
        artifacts.commit(ctx.store, key, ref, commit)
    # A spec from before refs were scoped has no pipeline to file the pointer under; a test run
    # (overrides) keeps the latest-value pointers naming real materializations.
    if not ctx.spec.ref_scope or ctx.spec.overrides:
        return ref, commit
    try:
        artifacts.put_ref(ctx.store, ctx.spec.ref_scope, step.id, {**commit, "cache_key": key, "artifact": ref.to_dict()})
    except StoreError as err:  # the ref only speeds up `show`; the commit record is the truth
        warn(f"the latest-value pointer of step {step.id} was not stored: {err}")
    return ref, commit


def value_preview(value: Any, limit: int = 200) -> dict[str, str]:
    """The value's type and a short ``repr``, made where its class can be imported: the worker."""
    t = type(value)
    try:
        text = repr(value)
    except BaseException as exc:  # a user's __repr__ may raise anything
        if is_cancellation(exc):
            raise
        text = f"<{t.__qualname__} object: repr() failed>"
    return {"type": f"{t.__module__}.{t.__qualname__}", "repr": text if len(text) <= limit else text[: limit - 3] + "..."}


def _evaluate_partitions(ctx: StreamContext, node: Node, step: Step) -> dict[str, Any]:
    """Evaluate a non-literal ``partitions(expr)`` in the node's module; its keys are the output."""
    started = time.time()
    expr = next(p.expr for p in node.partitions if p.kind == "expr")
    try:
        module = ctx.loader.module(node)
        keys = [str(k) for k in eval(expr or "[]", vars(module))]  # noqa: S307 - the user's own expression
    except BaseException as exc:
        if is_cancellation(exc):
            raise
        return failed(started, 1, exc, format_exc(), {})
    ref = artifacts.write_value(ctx.store, keys)
    finished = time.time()
    return {
        "state": "succeeded",
        "artifact": ref.to_dict(),
        "output_id": ref.content_hash,
        "attempts": 1,
        "started_at": started,
        "finished_at": finished,
        "duration_seconds": round(finished - started, 6),
    }


def failed(started: float, attempts: int, error: BaseException, tb: str, logs: Mapping[str, str]) -> dict[str, Any]:
    """A failed step's record fields."""
    finished = time.time()
    return {
        "state": "failed",
        "attempts": attempts,
        "started_at": started,
        "finished_at": finished,
        "duration_seconds": round(finished - started, 6),
        "error": {"type": type(error).__name__, "message": describe(error), "traceback": tb},
        "logs": dict(logs),
    }


def _stream_or_value(ctx: StreamContext, node: Node, result: Any) -> Any:
    """A generator's items written to the store as they come (a ``StreamOutput``); any other result as it is."""
    if not is_stream(result):
        return result
    from barque import streams  # only a generator's steps load it

    return streams.write_stream(ctx.store, result, node.serializer)


def _stream_output(value: Any) -> Any:
    """``value`` when it is a stored stream (``streams.StreamOutput``), else ``None``; one can only
    be if ``barque.streams`` was imported to write it."""
    streams = sys.modules.get("barque.streams")
    return value if streams is not None and isinstance(value, streams.StreamOutput) else None


def _whole(ctx: StreamContext, node: Node, value: Any) -> Any:
    """What a sink writes: a stream joined (a file holds the whole value), any other value as it is."""
    stream = _stream_output(value)
    if stream is not None:
        from barque import streams

        return streams.read_joined(ctx.store, stream.ref, allowed=trust.allowed_serializers(node.serializer))
    return value


def call_kwargs(ctx: StreamContext, node: Node, step: Step, lazy: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The keyword arguments one step's function is called with, each input its own copy; a
    parameter in ``lazy`` gets an upstream stream as an iterator."""
    kwargs: dict[str, Any] = {}
    readers = dict(node.readers)
    for param, sources in step.inputs:
        if param.startswith("_"):
            kwargs[param] = None
        elif any(i.param == param and i.collect for i in node.inputs):  # the keys that produced, in key order
            kept = produced(step, sources, lambda s: (ctx.record_of(s) or {}).get("output_id"))
            kwargs[param] = [ctx.value_of(s, readers.get(param), param in lazy) for s in kept]
        elif sources:
            kwargs[param] = ctx.value_of(sources[0], readers.get(param), param in lazy)
    source = keys_source(node, ctx.spec.graph)
    if source is not None:
        whole = ctx.value_of(source)
        value_of_key = value_param(node, source)
        if isinstance(whole, dict) and value_of_key:
            kwargs[value_of_key] = {str(k): v for k, v in whole.items()}[dict(step.partition)[node.partitions[0].dimension]]
        elif value_of_key:
            kwargs.pop(value_of_key, None)
    for dim, value in step.partition:
        if dim in node.params:  # an inherited dimension reaches only functions that ask for it
            kwargs[dim] = value
    for name, value in ctx.spec.params.items():
        if name in node.params and name not in kwargs:
            kwargs[name] = value
    return kwargs


def _interpret(node: Node, result: Any, ctx: StreamContext, step: Step) -> tuple[Any, str | None]:
    """A sensor's return: ``(update_detected, output)``, a bare bool, or a value compared by content.

    Without an update the previous observation stands, so dependants stay cached; with
    one, the observation id makes dependants run even when the bytes are the same.
    """
    if node.kind == "task":
        return result, ctx.spec.run_id
    if node.kind != "sensor":
        return result, None
    if isinstance(result, bool):
        detected, value = result, None
    elif isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], bool):
        detected, value = result
    else:
        return result, None
    previous = artifacts.get_ref(ctx.store, ctx.spec.ref_scope, step.id) if ctx.spec.ref_scope else None
    if not detected and previous is not None:
        ref = artifacts.ArtifactRef.from_dict(previous["artifact"])
        return artifacts.read_value(ctx.store, ref, allowed=trust.allowed_serializers(node.serializer)), _observation(previous)
    return value, ctx.spec.run_id if detected else None


def _observation(previous: Mapping[str, Any]) -> str | None:
    output_id = previous.get("output_id", "")
    return output_id.split("@", 1)[1] if "@" in output_id else None
