"""Step cache keys: a hash of what a step is and what it reads.

Pure. The key covers the function's normalized source, the project-local helpers it calls,
the decorator arguments that change its output (inputs, serializer, partition shape,
sinks; not retries, timeout, description or tags), its partition key, the run parameters
it accepts, a keyed digest of each declared environment variable (never its value) and the *content* of its inputs. Because
inputs enter by content, an upstream re-run that yields the same bytes leaves its
dependants cached (early cutoff). The components are kept beside the key, so a later run
can say which one changed.

"Helpers" are everything in the project the function reaches (functions, classes,
module-level values and imports; ``parsing.hashing``). The node's id is in the key too:
two nodes with the same body in two files, each reading its own module's names, never
share an entry.
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping, Sequence

from barque.model import Node, SinkSpec
from barque.serializers import canonical_json
from barque.trust import is_env_digest
from barque.plans import Step

Components = dict[str, Any]


def decorator_fingerprint(node: Node) -> dict[str, Any]:
    """The decorator arguments that change what a node outputs.

    ``batch=`` is in (a call sees its batch's keys together, so a grouping may change what a
    key computes; barca leaves it out), and so are a dataset sink's options; each only when
    written, so the keys of nodes without them stay as they were. ``weight=``, ``cutoff=`` and
    ``deterministic=`` change when or how a step runs, never its value: they are left out.
    """
    fingerprint: dict[str, Any] = {
        "kind": node.kind,
        "inputs": sorted([i.param, i.source, i.collect] for i in node.inputs),
        "serializer": node.serializer,
        "partitions": [[p.dimension, p.kind, p.source] for p in node.partitions],
        "sinks": sorted(_sink_fingerprint(s) for s in node.sinks),
    }
    if node.batch is not None:
        fingerprint["batch"] = node.batch.to_dict()
    return fingerprint


def _sink_fingerprint(sink: SinkSpec) -> list[Any]:
    out: list[Any] = [sink.path, sink.serializer]
    if sink.partition_by or sink.rows_per_file is not None:
        out += [list(sink.partition_by), sink.rows_per_file]
    return out


def key_components(
    node: Node,
    step: Step,
    input_ids: Mapping[str, Sequence[str]],
    params: Mapping[str, str],
    env: Mapping[str, str | None],
) -> Components:
    """Everything a step's key is made of. ``input_ids`` maps each parameter to its inputs' output ids."""
    if not node.code_hash:
        # A graph parsed with ``hashes=False`` (``barque plan``) has none: without the code in
        # the key, two functions with the same inputs would share cached outputs.
        raise ValueError(f"{node.id} has no code hash: parse the pipeline with hashes=True to make cache keys")
    return {
        "node": node.id,
        "code": node.code_hash,
        "helpers": dict(node.helpers),
        "decorator": decorator_fingerprint(node),
        "partition": dict(step.partition),
        "params": {k: v for k, v in sorted(params.items()) if k in node.params},
        "env": {name: _env_digest(env, name) for name in node.env},
        "inputs": {param: list(ids) for param, ids in sorted(input_ids.items())},
    }


def _env_digest(env: Mapping[str, str | None], name: str) -> str | None:
    # The key reaches the store, so it holds digests only (barque.trust.env_digests, made
    # where the run spec is made); a raw value here would be a secret written in clear.
    value = env.get(name)
    if not is_env_digest(value):
        raise ValueError(f"the value of env {name} must be passed as a digest (barque.trust.env_digests), not in clear")
    return value


def cache_key(components: Components) -> str:
    """The sha256 of the canonical components."""
    return hashlib.sha256(canonical_json(components)).hexdigest()


def explain_change(old: Components | None, new: Components, node: Node | None = None) -> str:
    """Why a step whose key changed must run, in the words ``--dry-run`` prints.

    With ``node``, a changed input is named by its upstream's function (``changed: input raw``).
    """
    if old is None:
        return "never materialized"
    if old.get("code") != new["code"]:
        return "changed: code"
    old_helpers, new_helpers = old.get("helpers", {}), new["helpers"]
    for name in sorted(set(old_helpers) | set(new_helpers)):
        if old_helpers.get(name) != new_helpers.get(name):
            return f"changed: helper {name}"
    if old.get("decorator") != new["decorator"]:
        return "changed: decorator arguments"
    old_inputs, new_inputs = old.get("inputs", {}), new["inputs"]
    for param in sorted(set(old_inputs) | set(new_inputs)):
        if old_inputs.get(param) != new_inputs.get(param):
            source = next((i.source for i in node.inputs if i.param == param), None) if node else None
            return f"changed: input {source.rsplit(':', 1)[-1] if source else param}"
    for name in sorted(set(old.get("env", {})) | set(new["env"])):
        if old.get("env", {}).get(name) != new["env"].get(name):
            return f"changed: env {name}"
    if old.get("params") != new["params"]:
        return "changed: params"
    if old.get("node") != new["node"]:
        return "changed: node identity"
    return "changed: partition"
