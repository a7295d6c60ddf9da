"""The parse cache's codec carries every field of the model exactly, and refuses what it cannot.

hypothesis builds random ``Graph``s from the model's own field types (every field of every
record, nested ``BatchSpec``/``SinkSpec``/``Freshness``/``PartitionSpec``, warnings), so a
field added to the model is generated, and has to round-trip, with no edit to this file.
Round trip: encode, ``json.dumps``/``json.loads`` as the cache does, decode; the result equals
the original and has the same ``repr`` (so ``1`` in a ``float`` field stays an ``int``).
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from barque.model import Freshness, Graph, Node
from barque.parsing import cache, codec, parse_project

_SCALARS: dict[Any, st.SearchStrategy[Any]] = {
    str: st.text(max_size=8),
    int: st.integers(),
    bool: st.booleans(),
    # an int is a float as far as the model's annotations go; JSON keeps the two apart
    float: st.floats(allow_nan=False, allow_infinity=False) | st.integers(),
    type(None): st.none(),
}


def values_of(tp: Any) -> st.SearchStrategy[Any]:
    """Any value of the resolved annotation ``tp``, records filled field by field from their types."""
    if tp in _SCALARS:
        return _SCALARS[tp]
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(values_of(a) for a in args))
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(values_of(args[0]), max_size=3).map(tuple)
        return st.tuples(*(values_of(a) for a in args))
    if origin in (dict, Mapping):
        return st.dictionaries(values_of(args[0]), values_of(args[1]), max_size=3)
    if is_record(tp):
        return st.builds(tp, **{name: values_of(t) for name, t in codec.record_fields(tp)})
    raise AssertionError(f"the test has no strategy for {tp!r}: teach values_of (and the codec) this type")


def is_record(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, tuple) and hasattr(tp, "_fields")


def round_trip(tp: Any, value: Any) -> Any:
    encoder, decoder = codec.codec_for(tp)
    return decoder(json.loads(json.dumps(encoder(value), allow_nan=False)))


def reachable_records(tp: Any, seen: set[type] | None = None) -> set[type]:
    """Every record a value of ``tp`` can hold, at any depth."""
    seen = set() if seen is None else seen
    if is_record(tp):
        if tp in seen:
            return seen
        seen.add(tp)
        for _, field_type in codec.record_fields(tp):
            reachable_records(field_type, seen)
    for arg in typing.get_args(tp):
        reachable_records(arg, seen)
    return seen


@settings(max_examples=200, deadline=None)
@given(graph=values_of(Graph))
def test_a_random_graph_round_trips_exactly(graph: Graph) -> None:
    back = round_trip(Graph, graph)
    assert back == graph
    assert repr(back) == repr(graph)


@settings(max_examples=300, deadline=None)
@given(node=values_of(Node))
def test_a_random_node_round_trips_exactly(node: Node) -> None:
    back = round_trip(Node, node)
    assert back == node
    assert repr(back) == repr(node)


def test_the_codec_knows_every_record_the_graph_holds() -> None:
    records = reachable_records(Graph)
    assert {"Graph", "Node", "InputSpec", "PartitionSpec", "Freshness", "SinkSpec", "BatchSpec", "ParseWarning"} <= {r.__name__ for r in records}
    for record in records:
        codec.codec_for(record)  # raises Unsupported for a field type it cannot carry


def test_a_record_lists_exactly_its_fields_in_order() -> None:
    for record in reachable_records(Graph):
        assert [name for name, _ in codec.record_fields(record)] == list(record._fields)


@settings(max_examples=100, deadline=None)
@given(value=st.sampled_from(sorted(reachable_records(Graph), key=lambda r: r.__name__)).flatmap(values_of))
def test_an_encoded_record_has_one_item_per_field(value: Any) -> None:
    assert len(codec.codec_for(type(value)).encode(value)) == len(value._fields)


# Node as a later model might have it: fields the codec has never been told about.
NodeWithMore = NamedTuple("NodeWithMore", [*codec.record_fields(Node), ("later", str | None), ("pairs", tuple[tuple[str, str], ...]),
                                           ("fresh_too", Freshness | None)])


@settings(max_examples=100, deadline=None)
@given(node=values_of(NodeWithMore))
def test_a_field_added_to_a_record_round_trips_with_no_edit(node: Any) -> None:
    assert [name for name, _ in codec.record_fields(NodeWithMore)][-3:] == ["later", "pairs", "fresh_too"]
    back = round_trip(NodeWithMore, node)
    assert back == node and repr(back) == repr(node)


class WithASet(NamedTuple):
    names: frozenset[str] = frozenset()


class WithAny(NamedTuple):
    extra: Any = None


class NodeWithState(Node):
    """A subclass of a record: what it adds would be lost by a decoder that builds it from the fields."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.seen = True


@pytest.mark.parametrize("record", [WithASet, WithAny, NodeWithState])
def test_a_field_type_the_codec_cannot_carry_is_refused_when_the_codec_is_built(record: type) -> None:
    with pytest.raises(codec.Unsupported):
        codec.codec_for(record)


@pytest.mark.parametrize(
    "field, value",
    [("tags", ["a"]), ("line", True), ("retries", 1.5), ("kind", "job"), ("batch", Freshness()), ("helpers", (("a", "b", "c"),))],
)
def test_a_value_that_is_not_its_fields_type_is_refused_not_changed(field: str, value: Any) -> None:
    node = Node(id="p.py:a", kind="asset", file="p.py", module="p", function="a", line=1)
    node = node._replace(**{field: value})
    with pytest.raises(codec.Unsupported):
        codec.codec_for(Node).encode(node)


def test_a_graph_the_codec_refuses_is_not_cached(tmp_path: Path) -> None:
    (tmp_path / ".barque").mkdir()
    (tmp_path / "p.py").write_text("from barque import asset\n\n@asset()\ndef a() -> int:\n    return 1\n")
    graph = parse_project([tmp_path / "p.py"], use_cache=False)
    graph = graph._replace(nodes={"p.py:a": graph.nodes["p.py:a"]._replace(tags=["a list, not a tuple"])})
    cache.save(tmp_path, ["p.py"], True, False, graph, [])
    assert not (tmp_path / cache.FOLDER).exists()


def test_a_non_finite_float_is_refused_not_cached(tmp_path: Path) -> None:
    (tmp_path / ".barque").mkdir()
    (tmp_path / "p.py").write_text("from barque import asset\n\n@asset()\ndef a() -> int:\n    return 1\n")
    graph = parse_project([tmp_path / "p.py"], use_cache=False)
    graph = graph._replace(nodes={"p.py:a": graph.nodes["p.py:a"]._replace(retry_backoff=float("nan"))})
    cache.save(tmp_path, ["p.py"], True, False, graph, [])
    assert not (tmp_path / cache.FOLDER).exists()


@pytest.mark.parametrize(
    "tp, encoded",
    [(Freshness, ["sometimes", None, None, None, None]), (Freshness, ["always", None, None, None]),
     (Node, {"id": "x"}), (tuple[str, ...], ["a", 1]), (Graph, ["/", [], {}, []]), (float | None, "1.0")],
)
def test_data_of_another_shape_is_malformed_not_decoded(tp: Any, encoded: Any) -> None:
    with pytest.raises(codec.Malformed):
        codec.codec_for(tp).decode(encoded)


class NoFields(NamedTuple):
    pass


class OneLiteral(NamedTuple):
    kind: typing.Literal["a", "b"] = "a"


class OneTuple(NamedTuple):
    items: tuple[OneLiteral, ...] = ()


@pytest.mark.parametrize("value", [NoFields(), OneLiteral("b"), OneTuple(), OneTuple((OneLiteral("b"), OneLiteral()))])
def test_records_of_none_or_one_field_round_trip(value: Any) -> None:
    assert round_trip(type(value), value) == value
