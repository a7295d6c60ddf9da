"""What a run is keyed by in the cluster: declared env values from the Pipeline's ``defaults.env``
only (the operator never reads Secrets), and refs scoped by namespace and Pipeline. Pure."""

from __future__ import annotations

from barque.cachekeys import cache_key, key_components
from barque.plans import Step
from barque.store.memory import MemoryStore
from barque.trust import env_digests
from barque.keyenv import cache_env_values, run_ref_scope
from barque.model import Node
from tests.unit.operator.operator_samples import graph

MODE = Node(id="report", kind="asset", file="pipeline.py", module="pipeline", function="report", line=14,
            code_hash="h-report", env=("MODE", "API_TOKEN"))


def _key(defaults_env: dict[str, str] | None, store: MemoryStore) -> str:
    g = graph({MODE.id: MODE})
    env = env_digests(store, cache_env_values(g, defaults_env))
    step = Step(id=MODE.id, node=MODE.id)
    return cache_key(key_components(MODE, step, {}, {}, env))


def test_a_declared_variable_only_in_a_secret_is_keyed_as_unset() -> None:
    g = graph({MODE.id: MODE})
    assert cache_env_values(g, {"MODE": "fast", "UNDECLARED": "x"}) == {"API_TOKEN": None, "MODE": "fast"}


def test_changing_a_defaults_env_value_changes_the_key() -> None:
    store = MemoryStore()
    assert _key({"MODE": "fast"}, store) != _key({"MODE": "slow"}, store)


def test_a_value_the_operator_cannot_see_leaves_the_key_as_it_was() -> None:
    store = MemoryStore()
    # API_TOKEN reaches the Pod from the store Secret (envFrom): the operator keys it as unset,
    # the same with no defaults.env entry as with another Pipeline's unrelated entries.
    assert _key({"MODE": "fast"}, store) == _key({"MODE": "fast", "OTHER": "1"}, store)
    assert _key({"MODE": "fast", "API_TOKEN": "v2"}, store) != _key({"MODE": "fast"}, store)


def test_runs_of_two_pipelines_have_their_own_refs_scope() -> None:
    assert run_ref_scope("team-a", "etl") != run_ref_scope("team-b", "etl") != run_ref_scope("team-a", "etl2")
