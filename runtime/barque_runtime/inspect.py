"""Read what a local run left behind: a node's latest stored value.

``barque show`` is a reader of the store, so it keeps the trust rules of ``barque.trust``: a
value is decoded only with a serializer its node allows, and a ref that is not authentic (with
``BARQUE_STORE_KEY`` set) or whose blob is missing or corrupt is reported, never decoded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence
from urllib.parse import unquote

from barque import artifacts, trust
from barque.errors import BarqueError
from barque.model import Node
from barque.parsing import parse_project
from barque.serializers import is_jsonable
from barque.store import ArtifactStore, open_store
from barque.targets import resolve_one


def stored_value(files: Sequence[str], target: str, store_uri: str | None = None) -> Any:
    """The latest materialization of ``target``: its value, or ``{dim=value: value}`` for a partitioned node."""
    graph = parse_project(files)
    node_id = resolve_one(graph, target)
    node = graph.nodes[node_id]
    store = open_store(store_uri or str(Path(graph.root) / ".barque"))
    scope = artifacts.project_ref_scope(graph.root)
    steps = [node_id] if artifacts.get_ref(store, scope, node_id) is not None else _partition_steps(store, scope, node_id)
    if not steps:
        raise BarqueError(f"{node_id} has no stored value yet", hint=f"run it first: barque run {' '.join(files)} {target}")
    values = {("" if sid == node_id else sid[len(node_id) + 1 : -1]): _read(store, scope, node, sid) for sid in steps}
    return values[""] if list(values) == [""] else dict(sorted(values.items()))


def _partition_steps(store: ArtifactStore, scope: str, node_id: str) -> list[str]:
    prefix = artifacts.ref_key(scope, node_id).removesuffix(".json")
    steps = []
    for key in store.list(prefix):
        step_id = unquote(key.rsplit("/", 1)[-1].removesuffix(".json"))
        ref = artifacts.get_ref(store, scope, step_id)
        if ref is not None and ref.get("node") == node_id:
            steps.append(step_id)
    return steps


def _read(store: ArtifactStore, scope: str, node: Node, step_id: str) -> Any:
    allowed = trust.allowed_serializers(node.serializer)
    found = artifacts.find_ref(store, scope, step_id, allowed)
    if found.ref is None or not found.ok:
        raise BarqueError(
            f"{step_id}: the stored value cannot be shown: {found.problem}",
            where=store.uri,
            hint="re-run the step: a missing, corrupt or untrusted artifact is recomputed",
        )
    value = artifacts.read_value(store, found.ref, allowed=allowed)
    return value if is_jsonable(value) else repr(value)
