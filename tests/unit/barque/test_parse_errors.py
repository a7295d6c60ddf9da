"""The static parser's errors: each names the file and line and says what to do.

Real parts: the parser and files written to a temporary directory. Nothing is imported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from barque.errors import PipelineDefinitionError
from barque.parsing import parse_project

from .fixtures.parse import parse, parse_error, write

HEADER = "from barque import Schedule, asset, asset_ref, collect, partitions, partitions_from, sensor, sink, task\n"


def error_in(tmp_path: Path, body: str) -> PipelineDefinitionError:
    """The error for a ``p.py`` made of the common import line and ``body`` (line 2 on)."""
    write(tmp_path, {"p.py": HEADER + body.lstrip("\n")})
    return parse_error(tmp_path)


def test_a_syntax_error_names_the_file_line_and_column(tmp_path: Path) -> None:
    err = error_in(tmp_path, "\n@asset()\ndef raw()\n    return 1\n")
    assert err.where == "p.py:3:10"
    assert "syntax error" in err.message
    assert "Fix the syntax error" in (err.hint or "")


def test_a_syntax_error_in_an_imported_project_module_names_that_module(tmp_path: Path) -> None:
    write(tmp_path, {"helpers.py": "def f(:\n    pass\n", "p.py": HEADER + "import helpers\n"})
    assert (parse_error(tmp_path).where or "").startswith("helpers.py:1:")


def test_an_unknown_input_names_the_file_line_and_known_nodes(tmp_path: Path) -> None:
    err = error_in(tmp_path, """
@asset()
def raw() -> int:
    return 1

@asset(inputs={"x": missing})
def report(x: int) -> int:
    return x
""")
    assert err.where == "p.py:6:21"
    assert "`missing` is not defined or imported in p.py" in err.message
    assert "p.py:raw" in (err.hint or "") and "p.py:report" in (err.hint or "")


def test_an_input_naming_a_plain_function_says_it_is_not_a_node(tmp_path: Path) -> None:
    err = error_in(tmp_path, """
def raw() -> int:
    return 1

@asset(inputs={"x": raw})
def report(x: int) -> int:
    return x
""")
    assert err.where == "p.py:5:21"
    assert "p.py:raw" in err.message and "no @asset, @task or @sensor" in err.message


def test_an_asset_ref_to_a_missing_file_is_an_unknown_input(tmp_path: Path) -> None:
    err = error_in(tmp_path, """
@asset(inputs={"x": asset_ref("nowhere.py:raw")})
def report(x: int) -> int:
    return x
""")
    assert err.where == "p.py:2:21"
    assert "'nowhere.py'" in err.message


def test_a_cycle_prints_its_path(tmp_path: Path) -> None:
    err = error_in(tmp_path, """
@asset(inputs={"c": c})
def a(c): return c

@asset(inputs={"a": a})
def b(a): return a

@asset(inputs={"b": b})
def c(b): return b
""")
    assert err.message == "the inputs form a cycle: p.py:a → p.py:b → p.py:c → p.py:a"
    assert err.where == "p.py:3:1"
    assert "Remove one of these inputs" in (err.hint or "")


def test_a_node_reading_itself_is_a_cycle(tmp_path: Path) -> None:
    err = error_in(tmp_path, '\n@asset(inputs={"x": a})\ndef a(x): return x\n')
    assert err.message == "the inputs form a cycle: p.py:a → p.py:a"


def test_reading_a_node_declared_further_down_is_no_cycle(tmp_path: Path) -> None:
    # By asset_ref: a plain name defined further down would fail the import (NameError).
    write(tmp_path, {"p.py": HEADER + """
@asset(inputs={"b": asset_ref("p.py:b")})
def a(b): return b

@asset(inputs={"c": asset_ref("p.py:c")})
def b(c): return c

@asset()
def c(): return 1
"""})
    assert parse(tmp_path).upstream("p.py:a") == ["p.py:b"]


def test_duplicate_node_ids_name_both_locations(tmp_path: Path) -> None:
    err = error_in(tmp_path, """
@asset(name="same")
def one(): return 1

@asset(name="same")
def two(): return 2
""")
    assert "'same'" in err.message and "p.py:3:1" in err.message and "p.py:6:1" in err.message
    assert err.where == "p.py:6:1"
    assert "name=" in (err.hint or "")


def test_a_task_as_input_of_an_asset_is_an_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, """
@task()
def t(): return 1

@asset(inputs={"x": t})
def a(x): return x
""")
    assert err.where == "p.py:5:21"
    assert "task p.py:t" in err.message and "never cached" in err.message
    assert "Make t() an @asset, or make a() a @task" in (err.hint or "")


def test_a_task_as_the_partition_source_of_a_sensor_is_an_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, """
@task()
def keys(): return ["a"]

@sensor(partitions={"k": partitions_from(keys)})
def poll(k): return (True, k)
""")
    assert err.where == "p.py:5:42"
    assert "@sensor p.py:poll reads task p.py:keys" in err.message


def test_a_task_may_read_a_task(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": HEADER + '@task()\ndef t(): return 1\n\n@task(inputs={"x": t})\ndef u(x): return x\n'})
    assert parse(tmp_path).nodes["p.py:u"].inputs[0].source == "p.py:t"


def test_a_sensor_with_inputs_is_an_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, """
@asset()
def a(): return 1

@sensor(inputs={"x": a})
def poll(x): return (True, x)
""")
    assert err.where == "p.py:5:9"
    assert err.message == "sensor poll() cannot have inputs"
    assert "remove inputs=" in (err.hint or "")


def test_a_decorator_argument_that_is_not_a_literal_says_barque_reads_without_running(tmp_path: Path) -> None:
    err = error_in(tmp_path, '\nNAME = "raw"\n\n@asset(name=NAME)\ndef raw(): return 1\n')
    assert err.where == "p.py:4:13"
    assert "name= cannot be read statically" in err.message
    assert "without running it" in (err.hint or "")


def test_inputs_that_are_not_a_dict_literal_cannot_be_read_statically(tmp_path: Path) -> None:
    err = error_in(tmp_path, "\n@asset()\ndef a(): return 1\n\n@asset(inputs=dict(x=a))\ndef b(x): return x\n")
    assert err.where == "p.py:5:15"
    assert "inputs= cannot be read statically" in err.message


def test_env_must_be_a_list_of_string_literals(tmp_path: Path) -> None:
    err = error_in(tmp_path, '\n@asset(env=("A",))\ndef a(): return 1\n')
    assert err.where == "p.py:2:12"
    assert "env= cannot be read statically" in err.message


def test_keyword_splat_in_a_decorator_cannot_be_read_statically(tmp_path: Path) -> None:
    err = error_in(tmp_path, "\nOPTS = {}\n\n@asset(**OPTS)\ndef a(): return 1\n")
    assert err.where == "p.py:4:10"
    assert "cannot be read statically" in err.message


def test_an_unknown_keyword_suggests_the_close_one_and_lists_the_accepted(tmp_path: Path) -> None:
    err = error_in(tmp_path, '\n@asset()\ndef raw(): return 1\n\n@asset(input={"raw": raw})\ndef report(raw): return raw\n')
    assert err.where == "p.py:5:8"
    assert err.message.startswith("`input` is not an argument of @asset. Did you mean `inputs`?")
    assert "name, inputs, partitions, serializer, freshness" in err.message
    assert "Rename `input` to `inputs`, or remove it." in (err.hint or "")


def test_an_unknown_keyword_far_from_any_accepted_one_gets_no_guess(tmp_path: Path) -> None:
    err = error_in(tmp_path, "\n@task(after=1)\ndef t(): return 1\n")
    assert "Did you mean" not in err.message
    assert "@task accepts: name, inputs" in err.message


def test_an_asset_only_option_on_a_task_says_where_it_applies(tmp_path: Path) -> None:
    err = error_in(tmp_path, "\n@task(cutoff=True)\ndef a(): return 1\n")
    assert "`cutoff` applies to @asset only" in (err.hint or "")


def test_a_positional_decorator_argument_is_an_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, '\n@asset("raw")\ndef a(): return 1\n')
    assert err.where == "p.py:2:8"
    assert "keyword arguments only" in err.message


def test_a_helper_given_its_argument_by_keyword_is_an_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, '\n@asset(partitions={"k": partitions(values=["a"])})\ndef a(k): return k\n')
    assert err.where == "p.py:2:36"
    assert "only positional argument" in (err.hint or "")


def test_an_inputs_key_that_is_not_a_parameter_suggests_the_close_one(tmp_path: Path) -> None:
    err = error_in(tmp_path, '\n@asset()\ndef raw(): return 1\n\n@asset(inputs={"row": raw})\ndef amounts(rows): return rows\n')
    assert err.where == "p.py:5:16"
    assert "the inputs= key `row` of @asset p.py:amounts is not a parameter: amounts() takes `rows`." in err.message
    assert "Did you mean `rows`?" in err.message
    assert "add a parameter `row`" in (err.hint or "")


def test_a_function_with_keyword_splat_takes_any_inputs_key(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": HEADER + '@asset()\ndef raw(): return 1\n\n@asset(inputs={"row": raw})\ndef a(**kw): return kw\n'})
    assert parse(tmp_path).nodes["p.py:a"].params == ("kw",)


def test_a_partition_dimension_that_is_not_a_parameter_is_an_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, '\n@asset(partitions={"region": partitions(["a"])})\ndef a(zone): return zone\n')
    assert err.where == "p.py:2:20"
    assert "the partitions= dimension `region`" in err.message


def test_a_parameter_without_input_default_or_dimension_is_an_error_at_the_parameter(tmp_path: Path) -> None:
    err = error_in(tmp_path, "\n@asset()\ndef a(\n    rows,\n    limit=10,\n): return rows\n")
    assert err.where == "p.py:4:5"
    assert "the parameter `rows` of a() has no input and no default" in err.message
    assert 'inputs={"rows": <upstream>}' in (err.hint or "")


def test_a_keyword_only_parameter_without_default_is_reported_too(tmp_path: Path) -> None:
    err = error_in(tmp_path, "\n@asset()\ndef a(*, rows): return rows\n")
    assert "`rows`" in err.message


def test_a_task_may_have_parameters_nothing_fills(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": HEADER + "@task()\ndef branch(zone, day): return zone\n"})
    assert parse(tmp_path).nodes["p.py:branch"].params == ("zone", "day")


def test_an_unpartitioned_consumer_of_a_partitioned_upstream_inherits_its_keys(tmp_path: Path) -> None:
    # barca rejects this; barque's spec says the dependant runs once per upstream key.
    from barque.planner import make_plan

    write(tmp_path, {"p.py": HEADER + """
@asset(partitions={"region": partitions(["a", "b"])})
def sales(region): return region

@asset(inputs={"one_sale": sales})
def clean(one_sale): return one_sale
"""})
    plan = make_plan(parse(tmp_path))
    assert plan.steps["p.py:clean[region=b]"].inputs == (("one_sale", ("p.py:sales[region=b]",)),)


def test_partitions_from_mixed_with_another_dimension_is_an_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, """
@asset(partitions={"region": partitions(["a"])})
def sales(region): return region

@asset(partitions={"region": partitions_from(sales), "day": partitions(["mon"])})
def daily(region, day, sales): return sales
""")
    assert err.where == "p.py:5:20"
    assert "mixes partitions_from() with other dimensions" in err.message


def test_partitions_from_under_another_dimension_name_is_an_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, """
@asset(partitions={"region": partitions(["a"])})
def sales(region): return region

@asset(partitions={"zone": partitions_from(sales)})
def margin(zone, sales): return sales
""")
    assert "partitioned by 'region'" in err.message
    assert '{"region": partitions_from(...)}' in (err.hint or "")


def test_an_invalid_cron_names_the_field(tmp_path: Path) -> None:
    err = error_in(tmp_path, '\n@asset(freshness=Schedule("61 * * * *"))\ndef a(): return 1\n')
    assert err.where == "p.py:2:27"
    assert "invalid cron '61 * * * *'" in err.message and "minute" in err.message
    assert "five fields" in (err.hint or "")


def test_a_cron_with_the_wrong_number_of_fields_is_invalid(tmp_path: Path) -> None:
    err = error_in(tmp_path, '\n@asset(freshness=Schedule("0 5 * *"))\ndef a(): return 1\n')
    assert "it has 4 fields" in err.message


def test_an_unknown_serializer_lists_the_known_ones(tmp_path: Path) -> None:
    err = error_in(tmp_path, '\n@asset(serializer="yaml")\ndef a(): return 1\n')
    assert err.where == "p.py:2:19" and err.message == "serializer='yaml' is not a serializer barque knows"
    assert "'json', 'pickle', 'parquet', 'csv'" in (err.hint or "")


def test_retries_below_one_is_an_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, "\n@asset(retries=0)\ndef a(): return 1\n")
    assert "at least 1" in err.message


def test_a_negative_timeout_is_an_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, "\n@asset(timeout_seconds=-5)\ndef a(): return 1\n")
    assert err.where == "p.py:2:24"
    assert "at least 0" in err.message


def test_a_sink_without_a_node_decorator_is_an_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, '\n@sink("out.json")\ndef a(): return 1\n')
    assert err.where == "p.py:2:2"
    assert "Stack @sink with @asset" in (err.hint or "")


def test_a_sink_path_given_by_keyword_is_an_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, '\n@sink(path="out.json")\n@asset()\ndef a(): return 1\n')
    assert "first positional argument" in err.message


def test_two_node_decorators_on_one_function_are_an_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, "\n@asset()\n@task()\ndef a(): return 1\n")
    assert err.where == "p.py:3:2"
    assert "both @asset and @task" in err.message


def test_a_directory_with_no_pipeline_file_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, {"helpers.py": "def f():\n    return 1\n"})
    err = parse_error(tmp_path, ".")
    assert "no pipeline file found" in err.message


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    err = parse_error(tmp_path, "absent.py")
    assert err.message == "no such file or directory"


def test_a_file_outside_the_given_root_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, {"a/p.py": HEADER, "b/keep.txt": ""})
    with pytest.raises(PipelineDefinitionError, match="outside the project root"):
        parse_project([tmp_path / "a" / "p.py"], root=str(tmp_path / "b"))


def test_an_inputs_key_written_twice_is_an_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, '\n@asset()\ndef a(): return 1\n\n@asset(inputs={"x": a, "x": a})\ndef b(x): return x\n')
    assert err.where == "p.py:5:24"
    assert "written twice" in err.message
