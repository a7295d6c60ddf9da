"""What a step reads: which upstream outputs feed which parameter, by identity and by value.

Shared by the cache assessment (before anything runs) and the executor (when the step
runs), so both compute the same key. ``outputs`` maps step ids to *output ids*: the content
hash of what the step wrote, plus an observation suffix for sensors that saw an update.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Mapping

from barque.errors import BarqueError
from barque.serializers import canonical_json, is_jsonable
from barque.model import Graph, Node
from barque.plans import Step
from barque.steprecord import FILTERED_OUTPUT


def keys_source(node: Node, graph: Graph) -> str | None:
    """The unpartitioned node whose output lists or maps this node's partition keys, if any."""
    for spec in node.partitions:
        if spec.kind == "from" and spec.source and not graph.nodes[spec.source].partitions:
            return spec.source
    return None


def key_sources(graph: Graph) -> set[str]:
    """The nodes whose output lists or maps another node's partition keys (``keys_source`` of some node)."""
    return {source for node in graph.nodes.values() if (source := keys_source(node, graph)) is not None}


class PartitionKeyError(BarqueError):
    """A source of partition keys returned keys or values that cannot be keys; its step fails."""

    exit_code = 1


def keys_source_output(value: Any, source: str) -> Any:
    """What a source of partition keys stores: its keys checked, in JSON, whatever it returned.

    As barca writes it: a list or tuple becomes a list; a dict's integer keys become their
    strings, and its values must be JSON values. Raises ``PartitionKeyError`` naming the source
    and the key, which fails the source's step.
    """
    try:
        keys_from_output(value, source)
    except (TypeError, ValueError) as exc:
        raise PartitionKeyError(str(exc), hint="return a list of partition keys, or a dict of key -> JSON value") from None
    if not isinstance(value, dict):
        return list(value)
    out = {str(k): v for k, v in value.items()}
    for key, item in out.items():
        if not is_jsonable(item):
            raise PartitionKeyError(
                f"{source} feeds partitions_from, so its value for the key {key!r} must be a JSON value "
                f"(str, int, float, bool, None, and lists and dicts of them), not {type(item).__name__}",
                hint="convert the value, e.g. d.isoformat() for a date",
            )
    return out


def keys_from_output(value: Any, source: str) -> list[str]:
    """Partition keys from a source's output: a list (or tuple) of keys or a dict of key -> value.

    A key is a string or an integer, which becomes its string as JSON writes it (``{1: "a"}``
    gives ``"1"``), as barca reads them. Anything else is refused rather than coerced: a ``None``,
    bool or tuple key has no string that stays unambiguous, two keys that become the same string
    would be one step, and a set has no order. Raises ``TypeError`` or ``ValueError`` naming the
    source and saying what to return.
    """
    if isinstance(value, dict):
        items: Any = value.keys()
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        hint = "; a set has no order: return sorted(...)" if isinstance(value, (set, frozenset)) else ""
        raise TypeError(
            f"{source} feeds partitions_from, so it must return a list of keys or a dict of key -> value, "
            f"not {type(value).__name__}{hint}"
        )
    keys: dict[str, Any] = {}
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise TypeError(
                f"{source} returned the partition key {item!r} ({type(item).__name__}): "
                "partition keys are strings or integers"
            )
        key = str(item)
        if key in keys:
            raise ValueError(
                f"{source} returned the partition keys {keys[key]!r} and {item!r}, which are the same key {key!r}: "
                "return each key once"
            )
        keys[key] = item
    return list(keys)


def produced(step: Step, sources: tuple[str, ...], output_of: Callable[[str], str | None]) -> tuple[str, ...]:
    """The ``sources`` a parameter of ``step`` reads, less the collected ones that were filtered
    (their output id is ``FILTERED_OUTPUT``): what a ``collect`` receives."""
    return tuple(s for s in sources if s not in step.collected or output_of(s) != FILTERED_OUTPUT)


def _produced_only(step: Step, outputs: Mapping[str, str]) -> dict[str, list[str]]:
    """Each parameter's input output-ids, the filtered collected inputs left out; the key names
    which were, so it reflects exactly the keys that produced."""
    out = {param: [outputs[s] for s in produced(step, sources, outputs.get)] for param, sources in step.inputs}
    left_out = sorted(s for s in step.collected if outputs[s] == FILTERED_OUTPUT)
    if left_out:
        out["#filtered"] = left_out
    return out


def value_param(node: Node, source: str) -> str | None:
    """The parameter that receives a dict source's per-key value: the inputs key naming it, or its function name."""
    for spec in node.inputs:
        if spec.source == source:
            return spec.param
    name = source.rsplit(":", 1)[-1]
    return name if name in node.params else None


def input_ids(
    graph: Graph,
    step: Step,
    outputs: Mapping[str, str],
    source_value: Callable[[str], Any],
) -> dict[str, list[str]] | None:
    """Each parameter's input output-ids, or ``None`` while any of them is unknown.

    For a key of ``partitions_from(<dict source>)`` the parameter stands for that key's
    value alone, so one changed value re-runs one key.
    """
    if any(dep not in outputs for dep in step.deps):
        return None
    node = graph.nodes[step.node]
    ids = _produced_only(step, outputs) if step.collected else {param: [outputs[s] for s in sources] for param, sources in step.inputs}
    source = keys_source(node, graph)
    if source is not None:
        value = source_value(source)
        param = value_param(node, source) or "#keys"
        if isinstance(value, dict):
            key = dict(step.partition)[node.partitions[0].dimension]
            per_key = {str(k): v for k, v in value.items()}[key]
            ids[param] = [hashlib.sha256(canonical_json(per_key)).hexdigest()]
        else:
            ids.pop(param, None)
    return ids
