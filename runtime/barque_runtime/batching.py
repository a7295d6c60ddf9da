"""Many keys per call (barca's ``batch=``): the keys of a batched node that need to run share calls.

The executor hands over the steps of one ``batch=`` node that a stream holds. Each is decided
as any step is (skipped, cached, or to run under its own cache key: caching stays per key);
the keys that run are grouped as ``batch=`` says, each group is one call of the function, and
the call's result is split back into one value per key, stored and committed under that
key's cache key. As in barca (``barca docs partitions``, "Processing many keys per call"):

- the partition parameter receives the list of the call's keys (one dimension: the values;
  several: a tuple of values per key, dimensions sorted by name), an input from a partitioned
  upstream a dict of key to that key's value, a keyed source's value parameter the same, and
  an input every key shares (an unpartitioned upstream, a ``collect``) its value once;
- the function returns a dict of key to value (``1`` matches the key ``"1"``) or a pandas
  DataFrame with the dimension columns, split by them (a key with no rows gets an empty frame);
- ``run_if=`` is judged per key, on the arguments that key alone would get unbatched (its
  partition value, its own inputs' values); a key it rejects ends ``filtered`` and is left
  out of the calls, so the function never sees it;
- ``Skip("reason")`` as a key's value ends that key ``filtered``; ``Failed("reason")`` fails that key alone, a key with no result fails
  alone, and a key that is not one of the call's, a call that raises or a result of another
  type fails every key of the call;
- ``retries=`` and ``timeout_seconds=`` apply per call; a retry calls again, together, only the
  keys the call failed alone.

Which keys share a call depends on which keys are stale, so a key's value must depend on its
own key and inputs alone, as barca requires. ``batch=`` itself is in the cache key
(``cachekeys.decorator_fingerprint``).
"""

from __future__ import annotations

import sys
import time
import traceback
from dataclasses import replace
from typing import Any, Iterator, Sequence

from barque.errors import BarqueError
from barque.model import BatchSpec, Node
from barque.plans import Step
from barque.decorators import Skip
from barque.stepinputs import keys_source, produced, value_param
from barque_runtime.calling import CallFailed, call_with_retries, is_cancellation
from barque_runtime.executor import StreamContext, call_kwargs, decide, failed, filtered_output, finish_output, run_if_record

Key = Any  # a key as the function sees it: the value, or a tuple of values for several dimensions


class BatchError(BarqueError):
    """A batched call could not be grouped, or returned what cannot be split into its keys."""

    exit_code = 1


class BatchKeyFailed(BarqueError):
    """One key of a batched call failed: the call returned ``Failed(...)`` or nothing for it."""

    exit_code = 1


def execute_batched(ctx: StreamContext, steps: list[Step]) -> list[dict[str, Any]]:
    """Decide every step of one batched node, run the stale ones in calls; one record per step, in order."""
    node = ctx.spec.graph.nodes[steps[0].node]
    assert node.batch is not None
    done: dict[str, dict[str, Any]] = {}
    todo: list[tuple[Step, str, dict[str, Any]]] = []
    for step in steps:
        decided = decide(ctx, step)
        if isinstance(decided, dict):
            done[step.id] = decided
        elif (screened := _screened(ctx, node, step, *decided)) is not None:
            done[step.id] = screened
        else:
            todo.append((step, *decided))
    if todo:
        try:
            calls = group_calls(node.batch, [key_of(step) for step, _, _ in todo], lambda: vars(ctx.loader.module(node)))
        except BaseException as exc:
            if is_cancellation(exc):
                raise
            calls = []
            for step, _, _ in todo:
                done[step.id] = _base(ctx, step) | failed(time.time(), 0, exc, traceback.format_exc(), {})
        for call in calls:
            for rec in _call(ctx, node, [todo[i] for i in call]):
                done[rec["step"]] = rec
    return [done[step.id] for step in steps]


def _screened(ctx: StreamContext, node: Node, step: Step, key: str, components: dict[str, Any]) -> dict[str, Any] | None:
    """``run_if``'s record of a key it keeps out of the calls (judged on that key's own
    arguments, as the unbatched function would get them), or None to call it."""
    if node.run_if is None:
        return None
    screened = run_if_record(ctx, node, step, key, components, lambda: call_kwargs(ctx, node, step), time.time())
    return None if screened is None else _base(ctx, step) | screened


def key_of(step: Step) -> Key:
    """The key the function sees for ``step``: its value, or the values of its dimensions sorted by name."""
    if len(step.partition) == 1:
        return step.partition[0][1]
    return tuple(value for _, value in sorted(step.partition))


def key_text(step: Step) -> str:
    return ",".join(f"{d}={v}" for d, v in sorted(step.partition))


def group_calls(spec: BatchSpec, keys: Sequence[Key], namespace: Any) -> list[list[int]]:
    """The calls ``spec`` makes of ``keys`` (in key order), as lists of positions in ``keys``.

    ``namespace()`` gives the node's module namespace, where ``batches(<expr>)`` and
    ``batches_by(fn)`` are evaluated (only those two load the module here)."""
    positions = list(range(len(keys)))
    if spec.kind == "all":
        return [positions]
    if spec.kind == "size":
        size = spec.size or 1
        return [positions[i : i + size] for i in range(0, len(positions), size)]
    if spec.kind in ("groups", "groups_expr"):
        groups = spec.groups if spec.kind == "groups" else _evaluated_groups(spec.expr or "", namespace())
        return _by_groups(groups or (), keys, spec.strict)
    labels = _labels(spec.expr or "", keys, namespace())
    calls: dict[Any, list[int]] = {}
    for position, label in zip(positions, labels):
        calls.setdefault(label, []).append(position)
    limit = spec.max_size or len(keys) or 1
    return [group[i : i + limit] for group in calls.values() for i in range(0, len(group), limit)]


def _evaluated_groups(expr: str, namespace: dict[str, Any]) -> tuple[tuple[str, ...], ...]:
    value = eval(expr, namespace)  # noqa: S307 - the user's own batches(<expression>), in their module
    try:
        return tuple(tuple(str(k) for k in group) for group in value)
    except TypeError:
        raise BatchError(f"batches({expr}) gave {type(value).__name__}, not a list of lists of keys",
                         hint='return groups such as [["r1", "r2"], ["r3"]]') from None


def _by_groups(groups: Sequence[Sequence[str]], keys: Sequence[Key], strict: bool) -> list[list[int]]:
    # Groups name keys of one dimension; a key of several (a tuple) is in no group.
    group_of: dict[Any, int] = {key: index for index, group in enumerate(groups) for key in group}
    calls: dict[Any, list[int]] = {}
    for position, key in enumerate(keys):
        text = key if isinstance(key, tuple) else str(key)
        if text not in group_of and strict:
            raise BatchError(f"the key {key!r} is in no group of batches(..., strict=True)",
                             hint="add it to a group, or drop strict=True to run it alone")
        calls.setdefault(group_of.get(text, ("alone", position)), []).append(position)
    return list(calls.values())


def _labels(expr: str, keys: Sequence[Key], namespace: dict[str, Any]) -> Iterator[Any]:
    fn = eval(expr, namespace)  # noqa: S307 - the user's own batches_by(fn), in their module
    for key in keys:
        label = fn(key)
        if isinstance(label, bool) or not isinstance(label, (str, int)):
            raise BatchError(f"batches_by({expr}) labelled the key {key!r} with {label!r} ({type(label).__name__})",
                             hint="return a string or an integer label for every key")
        yield label


def _base(ctx: StreamContext, step: Step) -> dict[str, Any]:
    return {"step": step.id, "node": step.node, "run_id": ctx.spec.run_id, "attempts": 0}


def _call(ctx: StreamContext, node: Node, items: list[tuple[Step, str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """One call of the function over ``items``' keys; one record per key.

    While ``retries=`` allows, the keys the call failed alone (``Failed``, no result) are
    called again, together, as barca retries them."""
    started = time.time()
    attempt = max(ctx.attempts_used.get(step.id, 0) for step, _, _ in items) + 1
    out: list[dict[str, Any]] = []
    while True:
        done, again, attempt = _attempt(ctx, node, items, attempt, started)
        if not again or attempt >= max(1, node.retries):
            return out + done + [rec for _, rec in again]
        out += done
        items = [item for item, _ in again]
        attempt += 1


_Item = tuple[Step, str, dict[str, Any]]


def _attempt(
    ctx: StreamContext, node: Node, items: list[_Item], first_attempt: int, started: float
) -> tuple[list[dict[str, Any]], list[tuple[_Item, dict[str, Any]]], int]:
    """Call once (``call_with_retries`` retries a raise); the records of the keys that are
    settled, the keys that failed alone with their records, and the last attempt's number."""
    steps = [step for step, _, _ in items]
    # The call's output is stored under its first key; every other key's record names that
    # key (``logs_step``), so ``barque logs`` on any key of the call shows the call's output.
    if len(steps) > 1:
        shared = {"logs_step": steps[0].id}
        return _with(shared, steps[0].id, _attempt_call(ctx, node, items, steps, first_attempt, started))
    return _attempt_call(ctx, node, items, steps, first_attempt, started)


_Attempt = tuple[list[dict[str, Any]], list[tuple["_Item", dict[str, Any]]], int]


def _with(shared: dict[str, Any], first: str, result: _Attempt) -> _Attempt:
    """``result`` with ``shared`` set on the record of every key but ``first``."""
    done, again, attempt = result
    mark = (lambda rec: rec if rec["step"] == first else rec | shared)
    return [mark(r) for r in done], [(item, mark(r)) for item, r in again], attempt


def _attempt_call(
    ctx: StreamContext, node: Node, items: list[_Item], steps: list[Step], first_attempt: int, started: float
) -> _Attempt:
    """``_attempt`` for the keys ``steps`` of ``items``."""

    def every_key_failed(exc: BaseException, tb: str, attempts: int, logs: dict[str, str]) -> list[dict[str, Any]]:
        return [_base(ctx, step) | failed(started, attempts, exc, tb, logs) for step in steps]

    try:
        fn = ctx.loader.function(node)
        first = [batch_kwargs(ctx, node, steps)]
    except BaseException as exc:
        if is_cancellation(exc):
            raise
        return every_key_failed(exc, traceback.format_exc(), first_attempt, {}), [], first_attempt

    def kwargs() -> dict[str, Any]:  # every attempt gets its own copy of the inputs
        return first.pop() if first else batch_kwargs(ctx, node, steps)

    # The call's output is recorded once, under its first key, and every key's record points at it.
    try:
        result, attempts, logs = call_with_retries(
            ctx.store, ctx.spec.run_id, steps[0].id, node, fn, kwargs, restore=ctx.state.restore,
            first_attempt=first_attempt, echo=ctx.echo_output,
        )
    except CallFailed as failure:
        return every_key_failed(failure.error, failure.traceback, failure.attempts, failure.logs), [], failure.attempts
    try:
        values = split(result, steps)
    except BatchError as exc:
        return every_key_failed(exc, traceback.format_exc(), attempts, logs), [], attempts
    observation = ctx.spec.run_id if node.kind == "task" else None
    done, again = [], []
    for item in items:
        step, key, components = item
        if step.id not in values:
            problem: BaseException | None = BatchKeyFailed(f"the batched call returned no result for {key_text(step)}",
                                                           hint="return a value for every key of the call")
        elif isinstance(values[step.id], Skip):  # that key chose not to produce
            done.append(_base(ctx, step) | filtered_output(ctx, node, step, key, components, values[step.id].reason,
                                                           started, attempts, logs))
            continue
        elif is_failed(values[step.id]):
            problem = BatchKeyFailed(values[step.id].reason, hint=f"the call returned Failed(...) for {key_text(step)}")
        else:
            problem = None
        if problem is not None:
            again.append((item, _base(ctx, step) | failed(started, attempts, problem, "", logs)))
        else:
            rec = finish_output(ctx, node, step, key, components, values[step.id], observation, started, attempts, logs)
            done.append(_base(ctx, step) | rec)
    return done, again, attempts


def is_failed(value: Any) -> bool:
    """Whether ``value`` is barque's or barca's ``Failed`` (a barca file may import either)."""
    t = type(value)
    return t.__name__ == "Failed" and t.__module__.split(".")[0] in ("barque", "barca") and hasattr(value, "reason")


def batch_kwargs(ctx: StreamContext, node: Node, steps: list[Step]) -> dict[str, Any]:
    """The keyword arguments of one call over ``steps``' keys (see the module docstring)."""
    keys = [key_of(step) for step in steps]
    # Run parameters and the like as for one step; the inputs are read below, once each.
    kwargs = call_kwargs(ctx, node, steps[0]._replace(inputs=()))
    readers = dict(node.readers)
    dims = sorted(d for d, _ in steps[0].partition)
    for dim in dims:
        if dim in node.params:
            kwargs[dim] = [dict(step.partition)[dim] for step in steps] if len(dims) > 1 else keys
    for param, _ in steps[0].inputs:
        sources = [dict(step.inputs)[param] for step in steps]
        spec = next((i for i in node.inputs if i.param == param), None)
        reader = readers.get(param)
        if param.startswith("_"):
            kwargs[param] = None
        elif spec is not None and spec.collect:  # every key reads the same list
            kept = produced(steps[0], sources[0], lambda s: (ctx.record_of(s) or {}).get("output_id"))
            kwargs[param] = [ctx.value_of(s, reader) for s in kept]
        elif _per_key(ctx, sources):
            kwargs[param] = {k: ctx.value_of(srcs[0], reader) for k, srcs in zip(keys, sources) if srcs}
        else:
            kwargs[param] = ctx.value_of(sources[0][0], reader) if sources[0] else None
    source = keys_source(node, ctx.spec.graph)
    value_of_key = value_param(node, source) if source is not None else None
    if source is not None and value_of_key:
        whole = ctx.value_of(source)
        if isinstance(whole, dict):
            by_key = {str(k): v for k, v in whole.items()}
            dim = node.partitions[0].dimension
            kwargs[value_of_key] = {k: by_key[dict(step.partition)[dim]] for k, step in zip(keys, steps)}
    return kwargs


def _per_key(ctx: StreamContext, sources: list[tuple[str, ...]]) -> bool:
    """Whether ``param`` reads a partitioned upstream (each key its own value, so a dict), not
    one value every key shares; decided by the upstream, not by how many keys the call has."""
    # A step id is its node's id, then ``[...]`` for a key; node names cannot hold ``[``.
    return any(ctx.spec.graph.nodes[s[0].split("[", 1)[0]].partitioned for s in sources if s)


def split(result: Any, steps: list[Step]) -> dict[str, Any]:
    """The call's result as ``{step id: value}``; keys with no result are absent.

    Raises ``BatchError`` for a key that is not one of the call's, or a result that is neither
    a dict nor a DataFrame with the dimension columns."""
    dims = sorted(d for d, _ in steps[0].partition)
    wanted = {_norm(key_of(step), dims): step.id for step in steps}
    if isinstance(result, dict):
        out = {}
        for key, value in result.items():
            norm = _norm(key, dims)
            if norm not in wanted:
                raise BatchError(f"the batched call returned a result for {key!r}, which is not one of its keys",
                                 hint="return a dict keyed by the call's keys only")
            out[wanted[norm]] = value
        return out
    if _is_frame(result):
        return _split_frame(result, dims, wanted)
    raise BatchError(
        f"a batched step returns a dict of key to value, or a DataFrame with the column(s) {', '.join(dims)}; "
        f"it returned {type(result).__name__}",
        hint="return {key: value for key in <the keys parameter>}",
    )


def _norm(key: Any, dims: list[str]) -> Any:
    """A key matched by its string form (``1`` is ``"1"``); several dimensions as a tuple or a dict."""
    if len(dims) == 1:
        return str(key)
    if isinstance(key, (tuple, list)) and len(key) == len(dims):
        return tuple(str(v) for v in key)
    if isinstance(key, dict) and all(d in key for d in dims):
        return tuple(str(key[d]) for d in dims)
    return None


def _is_frame(value: Any) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, pandas.DataFrame)


def _split_frame(frame: Any, dims: list[str], wanted: dict[Any, str]) -> dict[str, Any]:
    missing = [d for d in dims if d not in frame.columns]
    if missing:
        raise BatchError(f"the DataFrame a batched step returns is split by the column(s) {', '.join(dims)}, "
                         f"and it has no column {', '.join(missing)}", hint="add the dimension as a column")
    out = {}
    for value, part in frame.groupby(dims[0] if len(dims) == 1 else dims, sort=False, dropna=False):
        norm = _norm(value[0] if isinstance(value, tuple) and len(dims) == 1 else value, dims)
        if norm not in wanted:
            raise BatchError(f"the batched call returned rows for {value!r}, which is not one of its keys",
                             hint="return rows of the call's keys only")
        out[wanted[norm]] = part.reset_index(drop=True)
    for step_id in wanted.values():
        out.setdefault(step_id, frame.iloc[0:0].reset_index(drop=True))
    return out
