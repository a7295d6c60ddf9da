"""What the parser accepts can run (issue 7, item 12): code Python would refuse to compile or
import, and barque decorators no run would see, are definition errors with file:line.

Real parts: the parser and files written to a temporary directory. Nothing is imported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from barque.errors import PipelineDefinitionError

from .fixtures.parse import parse, parse_error, write

HEADER = "from barque import asset, collect, partitions, partitions_from, sink, task\n"


def error_in(tmp_path: Path, body: str, name: str = "p.py") -> PipelineDefinitionError:
    write(tmp_path, {name: HEADER + body.lstrip("\n")})
    return parse_error(tmp_path, name)


# -- what the compiler refuses ------------------------------------------------------------


def test_a_module_level_return_is_a_definition_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, "\n@asset()\ndef a(): return 1\n\nreturn 2\n")
    assert err.where == "p.py:5:1"
    assert "'return' outside function" in err.message
    assert "refuses to compile" in (err.hint or "")


def test_a_duplicate_argument_name_is_a_definition_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, "\n@asset()\ndef a(x, x=1): return x\n")
    assert err.where == "p.py:3:10" and "duplicate argument 'x'" in err.message


def test_a_repeated_decorator_keyword_is_a_definition_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, '\n@asset(name="a", name="b")\ndef a(): return 1\n')
    assert err.where == "p.py:2:18" and "keyword argument repeated: name" in err.message


def test_a_helper_module_that_does_not_compile_is_a_definition_error(tmp_path: Path) -> None:
    write(tmp_path, {"helpers.py": "def f():\n    pass\nbreak\n", "p.py": HEADER + "import helpers\n"})
    err = parse_error(tmp_path)
    assert err.where == "helpers.py:3:1" and "'break' outside loop" in err.message


def test_a_file_too_deeply_nested_for_the_ast_module_is_a_definition_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, "x = " + "+".join(["1"] * 5000) + "\n")
    assert err.where == "p.py" and "nested too deeply" in err.message


# -- relative imports ---------------------------------------------------------------------


def test_a_relative_import_outside_a_package_is_a_definition_error(tmp_path: Path) -> None:
    write(tmp_path, {"helpers.py": "def f(): return 1\n"})
    err = error_in(tmp_path, "from . import helpers\n")
    assert err.where == "p.py:2:1"
    assert "p.py is not inside a package" in err.message
    assert "__init__.py" in (err.hint or "")


def test_a_relative_import_above_the_top_package_is_a_definition_error(tmp_path: Path) -> None:
    write(tmp_path, {"pkg/__init__.py": "", "pkg/helpers.py": "def f(): return 1\n"})
    err = error_in(tmp_path, "from ..helpers import f\n", name="pkg/p.py")
    assert err.where == "pkg/p.py:2:1" and "only 1 package level(s) deep" in err.message


def test_a_relative_import_of_a_missing_module_is_a_definition_error(tmp_path: Path) -> None:
    write(tmp_path, {"pkg/__init__.py": ""})
    err = error_in(tmp_path, "from .nowhere import f\n", name="pkg/p.py")
    assert "there is no module .nowhere in the project" in err.message


def test_a_relative_import_of_an_extension_module_without_source_is_accepted(tmp_path: Path) -> None:
    write(tmp_path, {"pkg/__init__.py": "", "pkg/fast.abi3.so": ""})
    write(tmp_path, {"pkg/p.py": HEADER + "from .fast import f\n\n@asset()\ndef a(): return f()\n"})
    assert list(parse(tmp_path, "pkg/p.py").nodes) == ["pkg/p.py:a"]


def test_a_relative_import_inside_a_function_that_cannot_work_is_a_definition_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, "\n@asset()\ndef a():\n    from .helpers import f\n    return f()\n")
    assert err.where == "p.py:4:5" and "not inside a package" in err.message


def test_a_relative_import_inside_a_package_still_works(tmp_path: Path) -> None:
    write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/sources.py": HEADER + "\n@asset()\ndef raw() -> int:\n    return 1\n",
        "pkg/p.py": HEADER + "from .sources import raw\n\n@asset(inputs={'x': raw})\ndef b(x): return x\n",
    })
    assert parse(tmp_path, "pkg/p.py").nodes["pkg/p.py:b"].inputs[0].source == "pkg/sources.py:raw"


# -- module names -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["json.py", "random.py"])
def test_a_module_name_that_shadows_the_standard_library_is_a_definition_error(tmp_path: Path, name: str) -> None:
    err = error_in(tmp_path, "\n@asset()\ndef a(): return 1\n", name=name)
    assert err.where == name and "taken by the standard library's module" in err.message
    assert "Rename" in (err.hint or "")


def test_a_package_that_shadows_the_standard_library_is_a_definition_error(tmp_path: Path) -> None:
    write(tmp_path, {"email/__init__.py": ""})
    err = error_in(tmp_path, "\n@asset()\ndef a(): return 1\n", name="email/p.py")
    assert err.where == "email/p.py" and "the module name 'email' is taken" in err.message
    assert "Rename email to" in (err.hint or "")


def test_a_module_name_that_shadows_barque_is_a_definition_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, "\n@asset()\ndef a(): return 1\n", name="barque.py")
    assert "taken by barque's own module barque" in err.message


def test_a_file_name_with_a_dot_inside_is_a_definition_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, "\n@asset()\ndef a(): return 1\n", name="my.pipeline.py")
    assert err.where == "my.pipeline.py" and "cannot be imported" in err.message


def test_a_file_without_the_py_suffix_is_a_definition_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, "\n@asset()\ndef a(): return 1\n", name="pipeline.txt")
    assert "must be a .py file" in err.message and "pipeline.py" in (err.hint or "")


# -- decorators ---------------------------------------------------------------------------


def test_a_bare_decorator_is_a_node(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": HEADER + "\n@asset\ndef a(): return 1\n\n@task\ndef b(): return 2\n"})
    nodes = parse(tmp_path).nodes
    assert nodes["p.py:a"].kind == "asset" and nodes["p.py:b"].kind == "task"


def test_the_decorators_accept_the_bare_and_the_called_form() -> None:
    from barque import asset, sensor, task

    def f() -> int:
        return 1

    for decorator in (asset, task, sensor):
        assert decorator(f) is f
        assert decorator()(f) is f
        assert decorator(name="x", retries=2)(f) is f


def test_a_decorator_on_a_method_is_a_definition_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, "\nclass Holder:\n    @asset()\n    def method(self) -> int:\n        return 1\n")
    assert err.where == "p.py:3:6"
    assert "@asset on method(), a method of class Holder" in err.message
    assert "top level" in (err.hint or "")


def test_a_decorator_on_a_nested_function_is_a_definition_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, "\ndef outer():\n    @task\n    def inner() -> int:\n        return 1\n    return inner\n")
    assert err.where == "p.py:3:6" and "@task on inner(), a function nested in outer()" in err.message


def test_a_decorator_on_a_class_is_a_definition_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, '\n@sink("out.json")\nclass Holder:\n    pass\n')
    assert err.where == "p.py:2:2" and "@sink on class Holder" in err.message


def test_a_called_decorator_result_is_a_definition_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, "\n@asset()()\ndef a(): return 1\n")
    assert err.where == "p.py:2:2"
    assert "uses @asset in a form barque does not read: `@asset()()`" in err.message


def test_a_helper_used_as_a_decorator_is_a_definition_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, "\n@collect\ndef a(): return 1\n")
    assert err.where == "p.py:2:2" and "@collect on a() is not a decorator" in err.message


# -- inputs -------------------------------------------------------------------------------


def test_an_input_defined_further_down_is_a_definition_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, """
@asset(inputs={"x": later})
def early(x: int) -> int:
    return x

@asset()
def later() -> int:
    return 1
""")
    assert err.where == "p.py:2:21"
    assert "`later` is bound only further down, at p.py:7" in err.message and "NameError" in err.message
    assert 'asset_ref("p.py:later")' in (err.hint or "")


def test_partitions_from_a_node_defined_further_down_is_a_definition_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, """
@asset(partitions={"k": partitions_from(keys)})
def part(k: str) -> str:
    return k

@asset()
def keys() -> list:
    return ["a"]
""")
    assert err.where == "p.py:2:41" and "`keys` is bound only further down" in err.message


def test_an_input_imported_further_down_is_a_definition_error(tmp_path: Path) -> None:
    write(tmp_path, {"sources.py": HEADER + "\n@asset()\ndef raw() -> int:\n    return 1\n"})
    err = error_in(tmp_path, '\n@asset(inputs={"x": raw})\ndef a(x): return x\n\nfrom sources import raw\n')
    assert "`raw` is bound only further down, at p.py:5" in err.message


def test_a_positional_only_parameter_wired_by_inputs_is_a_definition_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, '\n@asset()\ndef raw(): return 1\n\n@asset(inputs={"x": raw})\ndef a(x, /): return x\n')
    assert err.where == "p.py:5:16"
    assert "`x` of a() is positional-only" in err.message and "as a keyword argument" in err.message
    assert "Remove the `/`" in (err.hint or "")


def test_a_positional_only_partition_dimension_is_a_definition_error(tmp_path: Path) -> None:
    err = error_in(tmp_path, '\n@asset(partitions={"r": partitions(["a"])})\ndef a(r, /): return r\n')
    assert "`r` of a() is positional-only" in err.message


def test_positional_only_parameters_with_defaults_are_still_fine(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": HEADER + '\n@asset()\ndef raw(): return 1\n\n@asset(inputs={"x": raw})\ndef a(scale=2, /, x=0): return x\n'})
    assert parse(tmp_path).nodes["p.py:a"].inputs[0].param == "x"


# -- numbers (issue 7, item 10) ----------------------------------------------------------------


@pytest.mark.parametrize("arg", ["retry_backoff=1e999", "timeout_seconds=1e999", "timeout_seconds=-1e999",
                                 "retry_backoff=-1", "timeout_seconds=1e12"])
def test_an_infinite_negative_or_huge_duration_is_a_definition_error(tmp_path: Path, arg: str) -> None:
    err = error_in(tmp_path, f"\n@asset({arg})\ndef a(): return 1\n")
    assert err.where == f"p.py:2:{len(arg.split('=')[0]) + 9}"
    assert "at most 31,536,000 (a year)" in err.message and arg.split("=")[1] in err.message


def test_a_nan_duration_is_a_definition_error(tmp_path: Path) -> None:
    # A NaN cannot be written as a literal; float("nan") is not one.
    err = error_in(tmp_path, '\n@asset(timeout_seconds=float("nan"))\ndef a(): return 1\n')
    assert "cannot be read statically" in err.message


def test_a_huge_retry_count_is_shown_cut_short(tmp_path: Path) -> None:
    err = error_in(tmp_path, f"\n@asset(retries=-{'9' * 1000})\ndef a(): return 1\n")
    assert "at least 1" in err.message and len(err.message) < 200
