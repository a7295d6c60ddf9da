"""Read what a local run left behind: a node's latest stored value."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from barque import artifacts
from barque.errors import BarqueError
from barque.parsing import parse_project
from barque.serializers import is_jsonable
from barque.store import open_store
from barque.targets import resolve_one


def stored_value(files: Sequence[str], target: str, store_uri: str | None = None) -> Any:
    """The latest materialization of ``target``: its value, or ``{dim=value: value}`` for a partitioned node."""
    graph = parse_project(files)
    node_id = resolve_one(graph, target)
    store = open_store(store_uri or str(Path(graph.root) / ".barque"))
    prefix = artifacts.ref_key(node_id)
    found = {}
    exact = artifacts.get_ref(store, node_id)
    if exact is not None:
        found[""] = exact
    else:
        partial = prefix[: -len(".json")] if prefix.endswith(".json") else prefix
        for key in store.list(partial):
            data = artifacts.get_ref(store, _step_of(key))
            if data is not None and data.get("node") == node_id:
                found[data["step"][len(node_id) + 1 : -1]] = data
    if not found:
        raise BarqueError(f"{node_id} has no stored value yet", hint=f"run it first: barque run {' '.join(files)} {target}")
    values = {k: _read(store, v) for k, v in sorted(found.items())}
    return values[""] if list(values) == [""] else values


def _step_of(key: str) -> str:
    from urllib.parse import unquote

    return unquote(key.rsplit("/", 1)[-1].removesuffix(".json"))


def _read(store: Any, ref: dict[str, Any]) -> Any:
    value = artifacts.read_value(store, artifacts.ArtifactRef.from_dict(ref["artifact"]))
    return value if is_jsonable(value) else repr(value)
