"""Partition keys that only a run reveals: read them from the outputs of the steps they wait for.

The one reader, used by the local runner and the operator alike when the run driver says a
deferred node can grow (``barque.rundriver.growable``): keys are data, so they are decoded as
JSON only, whatever serializer a record names (decoding pickle would run code, and the
operator runs none). A source whose output cannot give keys does not raise: the node is
returned as unresolvable with the reason, and the driver ends the run failed with it, the
same way in both places.
"""

from __future__ import annotations

from typing import Any, Collection, Mapping

from barque import artifacts, records, trust
from barque.errors import BarqueError
from barque.plans import Plan
from barque.stepinputs import keys_from_output
from barque.store import ArtifactStore


def read_deferred_keys(
    store: ArtifactStore,
    run_id: str,
    plan: Plan,
    nodes: Collection[str],
    known: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Keys of each deferred node in ``nodes``, and why the others' keys cannot be read;
    ``known`` (records by step id) spares store reads."""
    resolved: dict[str, list[str]] = {}
    unresolvable: dict[str, str] = {}
    for item in plan.deferred:
        if item.node not in nodes:
            continue
        rec = (known or {}).get(item.waits_for) or records.read_step_record(store, run_id, item.waits_for)
        artifact = (rec or {}).get("artifact")
        if not isinstance(artifact, Mapping):
            unresolvable[item.node] = f"{item.waits_for} left no output to read partition keys from"
            continue
        try:
            ref = artifacts.ArtifactRef.from_dict(dict(artifact))
            if ref.serializer not in trust.DATA_ONLY:
                unresolvable[item.node] = (
                    f"{item.waits_for} feeds partitions_from, so its output is read as JSON, and it was stored as "
                    f"{ref.serializer}: return a list of partition keys (str) or a dict with str keys and JSON values"
                )
                continue
            value = artifacts.read_value(store, ref, allowed=trust.DATA_ONLY)
            resolved[item.node] = keys_from_output(value, item.waits_for)
        except (TypeError, ValueError, KeyError) as exc:
            unresolvable[item.node] = f"{exc}: return a list of partition keys, or a dict of key -> value"
        except BarqueError as exc:
            unresolvable[item.node] = exc.message
    return resolved, unresolvable
