"""Serializers: which one is chosen, that values round-trip, and that JSON is canonical."""

from __future__ import annotations

import enum
import gc
import importlib.util
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from barque.serializers import SerializerError, canonical_json, deserialize, is_jsonable, serialize

HAS_PARQUET = importlib.util.find_spec("pyarrow") is not None and importlib.util.find_spec("pandas") is not None


class Color(enum.IntEnum):
    RED = 1


@pytest.mark.parametrize(
    "value",
    [None, True, 0, -(2**70), 1.5, "", "ünï ✓", [], {}, {"a": [1, 2.5, None, {"b": False}]}],
)
def test_json_able_values_use_json_and_round_trip(value):
    data, name = serialize(value)
    assert name == "json"
    assert deserialize(data, name) == value


@pytest.mark.parametrize(
    "value",
    [(1, 2), {1, 2}, frozenset(), {1: "int key"}, {"k": (1,)}, b"bytes", math.nan, math.inf, Color.RED, 1 + 2j],
)
def test_values_json_would_change_use_pickle_and_round_trip(value):
    data, name = serialize(value)
    assert name == "pickle"
    back = deserialize(data, name)
    assert type(back) is type(value)
    assert back == value or (isinstance(value, float) and math.isnan(back))


def test_a_cyclic_list_is_not_json_able():
    value: list = []
    value.append(value)
    assert not is_jsonable(value)
    assert serialize(value)[1] == "pickle"


def test_a_string_with_a_lone_surrogate_falls_back_to_pickle():
    data, name = serialize({"s": "\ud800"})
    assert name == "pickle"
    assert deserialize(data, name) == {"s": "\ud800"}


def test_json_is_canonical_sorted_compact_utf8():
    assert canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'.encode()


def test_equal_dicts_built_in_different_orders_give_equal_bytes():
    assert serialize({"x": 1, "y": {"p": 1, "q": 2}})[0] == serialize({"y": {"q": 2, "p": 1}, "x": 1})[0]


def test_explicit_json_of_a_tuple_names_the_serializer_and_the_type():
    with pytest.raises(SerializerError, match=r"json serializer cannot encode a builtins\.tuple"):
        serialize((1, 2), "json")


def test_explicit_pickle_of_an_unpicklable_value_names_the_serializer_and_the_type():
    with pytest.raises(SerializerError, match=r"pickle serializer cannot encode a builtins\.function"):
        serialize(lambda: 1, "pickle")


def test_explicit_parquet_of_a_non_frame_is_refused():
    with pytest.raises(SerializerError, match=r"parquet serializer cannot encode a builtins\.dict"):
        serialize({"a": 1}, "parquet")


def test_explicit_pickle_of_a_json_able_value_is_honoured():
    data, name = serialize({"a": 1}, "pickle")
    assert name == "pickle"
    assert deserialize(data, "pickle") == {"a": 1}


def test_unknown_serializer_names_the_known_ones():
    with pytest.raises(SerializerError, match="unknown serializer 'yaml'") as info:
        serialize(1, "yaml")
    assert "json, pickle, parquet" in str(info.value)


def test_undecodable_bytes_raise_a_serializer_error():
    with pytest.raises(SerializerError, match="cannot decode 3 bytes as json"):
        deserialize(b"{x}", "json")


@pytest.mark.skipif(not HAS_PARQUET, reason="the parquet extra (pandas, pyarrow) is not installed")
def test_a_data_frame_uses_parquet_and_round_trips():
    import pandas

    frame = pandas.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    data, name = serialize(frame)
    assert name == "parquet"
    pandas.testing.assert_frame_equal(deserialize(data, name), frame)


@pytest.mark.skipif(not HAS_PARQUET, reason="the parquet extra (pandas, pyarrow) is not installed")
def test_a_data_frame_arrow_cannot_hold_falls_back_to_pickle():
    import pandas

    frame = pandas.DataFrame({"z": [1 + 2j, 3j]})  # Arrow has no complex type
    data, name = serialize(frame)
    assert name == "pickle"
    pandas.testing.assert_frame_equal(deserialize(data, name), frame)


@pytest.mark.skipif(not HAS_PARQUET, reason="the parquet extra (pandas, pyarrow) is not installed")
def test_explicit_parquet_of_a_frame_arrow_cannot_hold_names_the_serializer():
    import pandas

    with pytest.raises(SerializerError, match=r"parquet serializer cannot encode a pandas\.DataFrame"):
        serialize(pandas.DataFrame({"z": [1j]}), "parquet")


def _reference_jsonable(value) -> bool:
    """The rule of the module docstring, written plainly: what ``is_jsonable`` must agree with."""
    t = type(value)
    if t in (str, int, bool) or value is None:
        return True
    if t is float:
        return math.isfinite(value)
    if t is list:
        return all(_reference_jsonable(v) for v in value)
    if t is dict:
        return all(type(k) is str and _reference_jsonable(v) for k, v in value.items())
    return False


_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5), st.binary(max_size=3),
    st.just(Color.RED), st.tuples(st.integers()),
)
_values = st.recursive(
    _leaves,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.one_of(st.text(max_size=3), st.integers(), st.booleans()), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_values)
def test_the_json_check_agrees_with_the_plain_rule_on_any_nesting(value):
    assert is_jsonable(value) is _reference_jsonable(value)


@pytest.mark.parametrize("enabled", [True, False])
def test_checking_encoding_and_decoding_leave_the_cyclic_collector_as_they_found_it(enabled):
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        for value in ({"a": [1, 2.5]}, (1, 2)):
            data, name = serialize(value)
            assert gc.isenabled() is enabled
            deserialize(data, name)
            assert gc.isenabled() is enabled
            is_jsonable(value)
            assert gc.isenabled() is enabled
        with pytest.raises(SerializerError):
            deserialize(b"\x80not json", "json")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
