"""What a node's helpers cover: every project function, class, module-level value and import it
can reach, across files; the whole module where static reading cannot tell.

Real parts: the parser and files written to a temporary directory. Nothing is imported.
"""

from __future__ import annotations

from pathlib import Path

from .fixtures.parse import parse, parse_error, write

NODE = "p.py:raw"


def helpers(tmp_path: Path, files: dict[str, str], name: str = NODE) -> dict[str, str]:
    write(tmp_path, files)
    return dict(parse(tmp_path).nodes[name].helpers)


def changed(tmp_path: Path, files: dict[str, str], edits: dict[str, tuple[str, str]], name: str = NODE) -> set[str]:
    """The helper entries whose hash differs after replacing text in files (key: file)."""
    before = helpers(tmp_path, files, name)
    edited = {rel: files[rel].replace(old, new) for rel, (old, new) in edits.items()}
    for rel, text in edited.items():
        assert text != files[rel], f"edit of {rel} did nothing"
    after = helpers(tmp_path, {**files, **edited}, name)
    return {k for k in set(before) | set(after) if before.get(k) != after.get(k)}


def node_of(tmp_path: Path, files: dict[str, str], name: str = NODE) -> tuple[str, dict[str, str]]:
    write(tmp_path, files)
    node = parse(tmp_path).nodes[name]
    return node.code_hash, dict(node.helpers)


CONST = {"p.py": """
    from barque import asset

    RATE = 2

    def scale(x):
        return x * RATE

    @asset()
    def raw() -> int:
        return scale(10)
    """}


def test_a_module_constant_read_by_a_helper_is_a_helper(tmp_path: Path) -> None:
    assert changed(tmp_path, CONST, {"p.py": ("RATE = 2", "RATE = 3")}) == {"p.py:RATE"}


def test_a_module_constant_read_by_the_node_itself_is_a_helper(tmp_path: Path) -> None:
    files = {"p.py": "from barque import asset\n\nRATE = 2\n\n@asset()\ndef raw():\n    return RATE\n"}
    assert changed(tmp_path, files, {"p.py": ("RATE = 2", "RATE = 3")}) == {"p.py:RATE"}


def test_a_constant_built_from_another_constant_follows_it(tmp_path: Path) -> None:
    files = {"p.py": "from barque import asset\n\nBASE = 2\nRATE = BASE * 10\n\n@asset()\ndef raw():\n    return RATE\n"}
    assert changed(tmp_path, files, {"p.py": ("BASE = 2", "BASE = 3")}) == {"p.py:BASE"}


def test_annotated_augmented_and_block_assignments_all_count(tmp_path: Path) -> None:
    files = {"p.py": """
        from barque import asset

        RATE: int = 2
        RATE += 1
        try:
            LIMIT = 5
        except ImportError:
            LIMIT = 6
        if RATE > 2:
            MODE = "a"

        @asset()
        def raw():
            return (RATE, LIMIT, MODE)
        """}
    assert changed(tmp_path, files, {"p.py": ("RATE += 1", "RATE += 2")}) == {"p.py:RATE"}
    assert changed(tmp_path, files, {"p.py": ("LIMIT = 6", "LIMIT = 7")}) == {"p.py:LIMIT"}
    assert changed(tmp_path, files, {"p.py": ('MODE = "a"', 'MODE = "b"')}) == {"p.py:MODE"}


def test_a_function_writing_a_global_counts_for_that_global(tmp_path: Path) -> None:
    files = {"p.py": """
        from barque import asset

        RATE = 1

        def setup():
            global RATE
            RATE = 5

        @asset()
        def raw():
            return RATE
        """}
    assert changed(tmp_path, files, {"p.py": ("RATE = 5", "RATE = 6")}) == {"p.py:RATE"}


def test_an_in_place_change_at_module_level_counts_for_the_name(tmp_path: Path) -> None:
    files = {"p.py": "from barque import asset\n\nRATES = [1]\nRATES.append(2)\n\n@asset()\ndef raw():\n    return RATES\n"}
    assert changed(tmp_path, files, {"p.py": ("append(2)", "append(3)")}) == {"p.py:RATES"}


def test_a_method_edit_changes_the_class_entry(tmp_path: Path) -> None:
    files = {"p.py": """
        from barque import asset

        class Model:
            scale = 2

            def predict(self, x):
                return x * self.scale

        @asset()
        def raw():
            return Model().predict(3)
        """}
    assert changed(tmp_path, files, {"p.py": ("x * self.scale", "x + self.scale")}) == {"p.py:Model"}
    assert changed(tmp_path, files, {"p.py": ("scale = 2", "scale = 3")}) == {"p.py:Model"}


def test_a_constant_read_by_a_method_is_followed(tmp_path: Path) -> None:
    files = {"p.py": """
        from barque import asset

        FACTOR = 2

        class Model:
            def predict(self, x):
                return x * FACTOR

        @asset()
        def raw():
            return Model().predict(3)
        """}
    assert changed(tmp_path, files, {"p.py": ("FACTOR = 2", "FACTOR = 3")}) == {"p.py:FACTOR"}


UTIL = "RATE = 2\n\ndef scale(x):\n    return x * RATE\n\ndef unused():\n    return 0\n"


def test_a_constant_imported_from_another_file_is_followed_to_its_file(tmp_path: Path) -> None:
    files = {"util.py": UTIL, "p.py": "from barque import asset\nfrom util import RATE\n\n@asset()\ndef raw():\n    return RATE\n"}
    assert changed(tmp_path, files, {"util.py": ("RATE = 2", "RATE = 3")}) == {"util.py:RATE"}
    assert sorted(helpers(tmp_path, files)) == ["util.py:RATE"]


def test_a_constant_read_as_module_attribute_is_followed(tmp_path: Path) -> None:
    files = {"util.py": UTIL, "p.py": "from barque import asset\nimport util\n\n@asset()\ndef raw():\n    return util.RATE\n"}
    assert changed(tmp_path, files, {"util.py": ("RATE = 2", "RATE = 3")}) == {"util.py:RATE"}
    assert "util.py:unused" not in helpers(tmp_path, files)


def test_a_helper_in_another_file_reading_its_own_constant_is_followed(tmp_path: Path) -> None:
    files = {"util.py": UTIL, "p.py": "from barque import asset\nfrom util import scale\n\n@asset()\ndef raw():\n    return scale(1)\n"}
    assert sorted(helpers(tmp_path, files)) == ["util.py:RATE", "util.py:scale"]


def test_a_package_reexport_is_followed_to_the_defining_file(tmp_path: Path) -> None:
    files = {
        "pkg/__init__.py": "from .consts import RATE\nfrom . import tools\n",
        "pkg/consts.py": "RATE = 2\n",
        "pkg/tools.py": "def twice(x):\n    return 2 * x\n",
        "p.py": "from barque import asset\nimport pkg\nfrom pkg import RATE\n\n@asset()\ndef raw():\n    return pkg.tools.twice(RATE)\n",
    }
    assert sorted(helpers(tmp_path, files)) == ["pkg/consts.py:RATE", "pkg/tools.py:twice"]
    assert changed(tmp_path, files, {"pkg/consts.py": ("2", "3")}) == {"pkg/consts.py:RATE"}


def test_getattr_with_a_literal_name_resolves_to_that_function(tmp_path: Path) -> None:
    files = {
        "util.py": UTIL,
        "p.py": 'from barque import asset\nimport util\n\n@asset()\ndef raw():\n    return getattr(util, "scale")(1)\n',
    }
    assert sorted(helpers(tmp_path, files)) == ["util.py:RATE", "util.py:scale"]


def test_getattr_with_a_computed_name_hashes_the_whole_module(tmp_path: Path) -> None:
    files = {
        "util.py": UTIL,
        "p.py": 'from barque import asset\nimport util\n\n@asset()\ndef raw(name="scale"):\n    return getattr(util, name)(1)\n',
    }
    found = helpers(tmp_path, files)
    assert "util.py:*" in found
    assert "util.py:*" in changed(tmp_path, files, {"util.py": ("return 0", "return 1")})


def test_globals_exec_and_eval_hash_the_whole_module(tmp_path: Path) -> None:
    for expr in ('globals()["RATE"]', 'eval("RATE")', 'vars()["RATE"]'):
        files = {"p.py": f"from barque import asset\n\nRATE = 2\nOTHER = 1\n\n@asset()\ndef raw():\n    return {expr}\n"}
        assert "p.py:*" in changed(tmp_path, files, {"p.py": ("RATE = 2", "RATE = 3")}), expr


def test_a_dynamic_import_with_a_literal_name_hashes_that_module(tmp_path: Path) -> None:
    files = {
        "util.py": UTIL,
        "p.py": 'import importlib\nfrom barque import asset\n\n@asset()\ndef raw():\n    return importlib.import_module("util").RATE\n',
    }
    assert "util.py:*" in changed(tmp_path, files, {"util.py": ("RATE = 2", "RATE = 3")})


def test_a_dynamic_import_with_a_computed_name_hashes_the_whole_module(tmp_path: Path) -> None:
    files = {"p.py": 'from barque import asset\n\nX = 1\n\n@asset()\ndef raw(m="json"):\n    return __import__(m)\n'}
    assert "p.py:*" in helpers(tmp_path, files)


def test_a_star_import_from_a_project_module_hashes_that_module(tmp_path: Path) -> None:
    files = {"util.py": UTIL, "p.py": "from barque import asset\nfrom util import *\n\n@asset()\ndef raw():\n    return RATE\n"}
    assert "util.py:*" in changed(tmp_path, files, {"util.py": ("RATE = 2", "RATE = 3")})


def test_a_project_module_passed_as_a_value_hashes_that_module(tmp_path: Path) -> None:
    files = {"util.py": UTIL, "p.py": "from barque import asset\nimport util\n\n@asset()\ndef raw():\n    return vars_of(util)\n\ndef vars_of(m):\n    return m.RATE\n"}
    assert "util.py:*" in helpers(tmp_path, files)


def test_an_unused_constant_or_function_changes_nothing(tmp_path: Path) -> None:
    files = {"util.py": UTIL, "p.py": "from barque import asset\nfrom util import scale\n\nOTHER = 1\n\n@asset()\ndef raw():\n    return scale(1)\n"}
    assert changed(tmp_path, files, {"util.py": ("return 0", "return 1"), "p.py": ("OTHER = 1", "OTHER = 2")}) == set()


def test_a_default_naming_a_global_like_its_parameter_reads_the_global(tmp_path: Path) -> None:
    files = {"p.py": "from barque import asset\n\nRATE = 2\n\n@asset()\ndef raw():\n    return f()\n\ndef f(RATE=RATE):\n    return RATE\n"}
    assert changed(tmp_path, files, {"p.py": ("RATE = 2", "RATE = 3")}) == {"p.py:RATE"}


def test_a_comprehension_variable_shadowing_a_global_does_not_hide_its_first_iterable(tmp_path: Path) -> None:
    files = {"p.py": "from barque import asset\n\nx = [1, 2]\n\n@asset()\ndef raw():\n    return [x for x in x]\n"}
    assert changed(tmp_path, files, {"p.py": ("x = [1, 2]", "x = [1, 3]")}) == {"p.py:x"}


def test_a_local_in_a_nested_function_does_not_hide_the_outer_read_of_a_global(tmp_path: Path) -> None:
    files = {"p.py": """
        from barque import asset

        RATE = 2

        @asset()
        def raw():
            def inner():
                RATE = 0
                return RATE
            return RATE + inner()
        """}
    assert changed(tmp_path, files, {"p.py": ("RATE = 2", "RATE = 3")}) == {"p.py:RATE"}


def test_comments_and_whitespace_outside_and_inside_helpers_change_no_entry(tmp_path: Path) -> None:
    files = {"util.py": UTIL, "p.py": "from barque import asset\nimport util\n\n@asset()\ndef raw():\n    return util.scale(1)\n"}
    before = node_of(tmp_path, files)
    edited = {"util.py": "# rates\nRATE = (2)  # two\n\n\nclass_ = None\n\ndef scale(x) :\n    '''Doc.'''\n    return x*RATE\n\ndef unused():\n    return 0\n"}
    assert node_of(tmp_path, {**files, **edited}) == before


def test_a_990_term_expression_is_hashed_without_hitting_the_recursion_limit(tmp_path: Path) -> None:
    expr = "+".join(["1"] * 990)
    files = {"p.py": f"from barque import asset\n\nTOTAL = {expr}\n\n@asset()\ndef raw():\n    x = {expr}\n    return x + TOTAL\n"}
    code, found = node_of(tmp_path, files)
    assert len(code) == 64 and sorted(found) == ["p.py:TOTAL"]
    assert node_of(tmp_path, {"p.py": files["p.py"].replace("x = 1+", "x = 2+")})[0] != code


def test_dropping_the_module_level_call_to_a_global_writer_changes_the_global(tmp_path: Path) -> None:
    files = {"p.py": """
        from barque import asset

        LIMIT = 0

        def setup():
            global LIMIT
            LIMIT = 5

        setup()

        @asset()
        def raw():
            return LIMIT
        """}
    assert changed(tmp_path, files, {"p.py": ("        setup()\n", "        pass\n")}) >= {"p.py:LIMIT"}


def test_an_exception_name_is_local_to_the_handler(tmp_path: Path) -> None:
    files = {"p.py": """
        from barque import asset

        exc = 1

        @asset()
        def raw():
            try:
                return 1
            except ValueError as exc:
                return str(exc)
        """}
    assert helpers(tmp_path, files) == {}


def test_a_base_class_in_another_file_and_its_constants_are_followed(tmp_path: Path) -> None:
    files = {
        "base.py": "K = 3\n\nclass Base:\n    def f(self):\n        return K\n",
        "p.py": "from barque import asset\nfrom base import Base\n\nclass Sub(Base):\n    pass\n\n@asset()\ndef raw():\n    return Sub().f()\n",
    }
    assert sorted(helpers(tmp_path, files)) == ["base.py:Base", "base.py:K", "p.py:Sub"]
    assert changed(tmp_path, files, {"base.py": ("K = 3", "K = 4")}) == {"base.py:K"}


def test_a_builtin_a_module_level_statement_calls_is_not_an_entry(tmp_path: Path) -> None:
    files = {"p.py": "from barque import asset\n\nTABLE = {k: 2 * k for k in range(3)}\n\n@asset()\ndef raw():\n    return TABLE[1] + len(TABLE)\n"}
    assert sorted(helpers(tmp_path, files)) == ["p.py:TABLE"]


def test_a_module_level_statement_changing_the_node_function_counts_for_the_node(tmp_path: Path) -> None:
    files = {"p.py": "from barque import asset\n\n@asset()\ndef raw():\n    return raw.version\n\nraw.version = 2\n"}
    assert changed(tmp_path, files, {"p.py": ("raw.version = 2", "raw.version = 3")}) == {"p.py:raw"}


def test_a_node_alone_under_its_name_is_not_its_own_helper(tmp_path: Path) -> None:
    files = {"p.py": "from barque import asset\n\n@asset()\ndef raw():\n    return raw.__name__\n"}
    assert helpers(tmp_path, files) == {}


def test_an_expression_too_deep_for_python_itself_is_a_definition_error(tmp_path: Path) -> None:
    # CPython's parser refuses this (a RecursionError on 3.11, which was a traceback).
    write(tmp_path, {"p.py": "from barque import asset\n\n@asset()\ndef raw():\n    return " + "+".join(["1"] * 100_000) + "\n"})
    assert parse_error(tmp_path).where == "p.py"
