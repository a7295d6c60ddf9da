"""``CacheContext``: what every verdict of one assessment reads, in one typed record."""

from __future__ import annotations

from barque import trust
from barque.cachestate import CacheContext
from barque.planner import make_plan
from barque.store.memory import MemoryStore

from .graphs import graph, inp, node

G = graph(node("raw"), node("clean", inputs=(inp("r", "raw"),)))


def _ctx(**kw: object) -> CacheContext:
    return CacheContext(G, make_plan(G), MemoryStore(), {}, {}, {}, {}, **kw)  # type: ignore[arg-type]


def test_a_source_of_partition_keys_is_served_only_from_json() -> None:
    assert _ctx(key_sources=frozenset({"p.py:raw"})).allowed(G.nodes["p.py:raw"]) == trust.DATA_ONLY


def test_another_node_is_served_with_the_serializers_it_allows() -> None:
    assert _ctx().allowed(G.nodes["p.py:clean"]) == trust.allowed_serializers(None)


def test_a_steps_input_ids_are_unknown_until_its_upstream_is_decided() -> None:
    ctx = _ctx()
    step = ctx.plan.steps["p.py:clean"]
    assert ctx.input_ids(step) is None
    ctx.outputs["p.py:raw"] = "out-1"
    assert ctx.input_ids(step) == {"r": ["out-1"]}
