"""How ``batch=`` groups the keys that run into calls (``batching.group_calls``), pure.

Properties: every key is in exactly one call, calls keep key order, and none is larger than
its bound.
"""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from barque.model import BatchSpec
from barque_runtime.batching import BatchError, group_calls

KEYS = st.lists(st.text("abc123", min_size=1, max_size=4), unique=True, max_size=30)


def no_module() -> dict:
    raise AssertionError("a literal grouping needs no module")


@given(KEYS, st.integers(1, 10))
def test_batch_n_covers_every_key_once_in_order_with_at_most_n_per_call(keys: list[str], n: int) -> None:
    calls = group_calls(BatchSpec("size", size=n), keys, no_module)
    assert [p for call in calls for p in call] == list(range(len(keys)))
    assert all(1 <= len(call) <= n for call in calls)


@given(KEYS)
def test_batch_all_is_one_call(keys: list[str]) -> None:
    assert group_calls(BatchSpec("all"), keys, no_module) == [list(range(len(keys)))]


@given(KEYS, st.integers(1, 5))
def test_batches_by_shares_calls_by_label_within_max_size(keys: list[str], size: int) -> None:
    calls = group_calls(BatchSpec("by", expr="label", max_size=size), keys, lambda: {"label": lambda k: k[0]})
    assert sorted(p for call in calls for p in call) == list(range(len(keys)))
    for call in calls:
        assert len({keys[p][0] for p in call}) == 1 and len(call) <= size


def test_a_key_in_no_group_runs_alone() -> None:
    spec = BatchSpec("groups", groups=(("b", "c"),))
    assert group_calls(spec, ["a", "b", "c", "d"], no_module) == [[0], [1, 2], [3]]


def test_a_key_in_no_group_is_an_error_when_strict() -> None:
    with pytest.raises(BatchError, match="in no group"):
        group_calls(BatchSpec("groups", groups=(("b",),), strict=True), ["a", "b"], no_module)


def test_a_label_that_is_not_a_string_or_an_integer_is_an_error() -> None:
    with pytest.raises(BatchError, match="labelled the key"):
        group_calls(BatchSpec("by", expr="f"), ["a"], lambda: {"f": lambda k: None})
