"""Partition keys read from a ``partitions_from`` source's output: what is accepted, what is refused.

Pure: ``keys_from_output`` on values; one CLI run shows the error a user sees.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from barque.stepinputs import keys_from_output

from ..runtime.clirun import barque, write


def test_a_list_of_strings_gives_its_keys_in_order():
    assert keys_from_output(["emea", "amer"], "p.py:src") == ["emea", "amer"]


def test_integer_keys_become_their_strings_as_json_writes_them():
    assert keys_from_output({1: "a", 2: "b"}, "p.py:src") == ["1", "2"]
    assert keys_from_output((3, "x"), "p.py:src") == ["3", "x"]


@pytest.mark.parametrize("value", [{1: "a", "1": "b"}, ["a", "a"], [7, "7"]], ids=["dict", "list", "int-and-str"])
def test_two_keys_that_become_the_same_string_are_refused_naming_both(value: object):
    with pytest.raises(ValueError, match=r"p\.py:src returned the partition keys .* which are the same key"):
        keys_from_output(value, "p.py:src")


@pytest.mark.parametrize("key", [None, True, (1, 2), 1.5], ids=["none", "bool", "tuple", "float"])
def test_a_key_that_is_not_a_string_or_integer_is_refused(key: object):
    with pytest.raises(TypeError, match="partition keys are strings or integers"):
        keys_from_output({key: 1}, "p.py:src")


def test_a_set_is_refused_with_a_hint_to_sort_it():
    with pytest.raises(TypeError, match=r"not set; a set has no order: return sorted"):
        keys_from_output({"a", "b"}, "p.py:src")


SOURCE = '''
    from barque import asset, partitions_from

    @asset()
    def regions() -> dict:
        return {value}

    @asset(partitions={{"region": partitions_from(regions)}})
    def per_region(region: str, regions: str) -> str:
        return region + regions
'''


def test_a_source_whose_keys_collide_fails_its_step_naming_the_keys(tmp_path: Path):
    write(tmp_path, "pipeline.py", SOURCE.format(value='{1: "a", "1": "b"}'))
    result = barque("run", "pipeline.py", cwd=tmp_path)
    assert result.code == 1
    (failure,) = result.json["failures"]
    assert failure["step"] == "pipeline.py:regions"
    assert "returned the partition keys 1 and '1', which are the same key '1'" in failure["error"]
    assert "Traceback" not in result.stderr


def test_integer_keys_of_a_source_become_their_strings_and_each_key_gets_its_value(tmp_path: Path):
    write(tmp_path, "pipeline.py", SOURCE.format(value='{1: "a", 2: "b"}'))
    result = barque("run", "pipeline.py", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert result.json["final_output"] == {"region=1": "1a", "region=2": "2b"}


def test_a_source_value_that_json_cannot_hold_fails_its_step_naming_the_key(tmp_path: Path):
    write(tmp_path, "pipeline.py", SOURCE.format(value='{"a": {1, 2}}'))
    result = barque("run", "pipeline.py", cwd=tmp_path)
    assert result.code == 1
    assert "its value for the key 'a' must be a JSON value" in result.json["failures"][0]["error"]
