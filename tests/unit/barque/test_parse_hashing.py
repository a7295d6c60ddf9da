"""The static parser's code hashes: what changes a node's ``code_hash`` and its ``helpers``.

Real parts: the parser and files written to a temporary directory. Nothing is imported.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from barque.cachekeys import key_components
from barque.parsing import parse_project
from barque.plans import Step

from .fixtures.parse import parse, write

BASE = '''
from barque import asset

@asset()
def raw(n: int = 1) -> dict:
    """Rows."""
    total = n + 1
    return {"x": total}
'''


def code_hash(tmp_path: Path, source: str, name: str = "raw") -> str:
    write(tmp_path, {"p.py": source})
    digest: str = parse(tmp_path).nodes[f"p.py:{name}"].code_hash
    return digest


def helpers(tmp_path: Path, files: dict[str, str], name: str = "p.py:raw") -> dict[str, str]:
    write(tmp_path, files)
    return dict(parse(tmp_path).nodes[name].helpers)


def test_the_code_hash_is_a_sha256_hex_digest(tmp_path: Path) -> None:
    digest = code_hash(tmp_path, BASE)
    assert len(digest) == 64 and int(digest, 16) >= 0


def test_comments_whitespace_and_the_docstring_do_not_change_the_code_hash(tmp_path: Path) -> None:
    before = code_hash(tmp_path, BASE)
    edited = '''
from barque import asset

# a comment above

@asset(  )
def raw(n:int=1)->dict:
    """A quite different docstring,
    over two lines."""
    total = n+1   # a comment

    return {"x" :  total}
'''
    assert code_hash(tmp_path, edited) == before


def test_lines_added_above_the_function_do_not_change_its_code_hash(tmp_path: Path) -> None:
    before = code_hash(tmp_path, BASE)
    assert code_hash(tmp_path, "import os\n\n\nX = 1\n" + BASE) == before


def test_a_body_edit_changes_the_code_hash(tmp_path: Path) -> None:
    before = code_hash(tmp_path, BASE)
    assert code_hash(tmp_path, BASE.replace("n + 1", "n + 2")) != before


def test_a_signature_edit_changes_the_code_hash(tmp_path: Path) -> None:
    before = code_hash(tmp_path, BASE)
    assert code_hash(tmp_path, BASE.replace("n: int = 1", "n: int = 2")) != before


def test_barques_own_decorator_arguments_do_not_change_the_code_hash(tmp_path: Path) -> None:
    before = code_hash(tmp_path, BASE)
    assert code_hash(tmp_path, BASE.replace("@asset()", '@asset(description="x", retries=3)')) == before


def test_a_foreign_decorator_on_a_node_changes_the_code_hash(tmp_path: Path) -> None:
    before = code_hash(tmp_path, BASE)
    wrapped = BASE.replace("@asset()", "@asset()\n@functools.cache").replace("from barque", "import functools\nfrom barque")
    assert code_hash(tmp_path, wrapped) != before


def test_helpers_in_the_same_file_are_followed_transitively(tmp_path: Path) -> None:
    found = helpers(tmp_path, {"p.py": """
        from barque import asset

        def clean(rows):
            return [normalize(r) for r in rows]

        def normalize(row):
            return row

        def unused():
            return 0

        @asset()
        def raw() -> list:
            return clean([1, 2])
        """})
    assert sorted(found) == ["p.py:clean", "p.py:normalize"]


def test_helpers_in_another_project_module_are_followed_through_each_import_style(tmp_path: Path) -> None:
    found = helpers(tmp_path, {
        "helpers.py": "def a():\n    return 1\n\ndef b():\n    return 2\n\ndef c():\n    return d()\n\ndef d():\n    return 4\n",
        "pkg/__init__.py": "",
        "pkg/tools.py": "def e():\n    return 5\n",
        "p.py": """
            import helpers
            import pkg.tools
            from helpers import b as bee
            from barque import asset

            @asset()
            def raw() -> int:
                from helpers import c
                return helpers.a() + bee() + c() + pkg.tools.e()
            """,
    })
    assert sorted(found) == ["helpers.py:a", "helpers.py:b", "helpers.py:c", "helpers.py:d", "pkg/tools.py:e"]


def test_editing_a_helper_changes_its_hash_and_not_the_node_code_hash(tmp_path: Path) -> None:
    files = {
        "helpers.py": "def clean(rows):\n    return rows\n",
        "p.py": "from barque import asset\nfrom helpers import clean\n\n@asset()\ndef raw():\n    return clean([1])\n",
    }
    write(tmp_path, files)
    before = parse(tmp_path).nodes["p.py:raw"]
    write(tmp_path, {"helpers.py": "def clean(rows):\n    return rows[1:]\n"})
    after = parse(tmp_path).nodes["p.py:raw"]
    assert after.code_hash == before.code_hash
    assert dict(after.helpers)["helpers.py:clean"] != dict(before.helpers)["helpers.py:clean"]


def test_editing_a_function_the_node_does_not_use_changes_nothing(tmp_path: Path) -> None:
    files = {
        "helpers.py": "def clean(rows):\n    return rows\n\ndef unused():\n    return 1\n",
        "p.py": "from barque import asset\nimport helpers\n\n@asset()\ndef raw():\n    return helpers.clean([1])\n",
    }
    write(tmp_path, files)
    before = parse(tmp_path).nodes["p.py:raw"]
    write(tmp_path, {"helpers.py": files["helpers.py"].replace("return 1", "return 2")})
    assert parse(tmp_path).nodes["p.py:raw"] == before


def test_a_helper_hash_ignores_its_comments_and_docstring(tmp_path: Path) -> None:
    before = helpers(tmp_path, {
        "helpers.py": "def clean(rows):\n    return rows\n",
        "p.py": "from barque import asset\nfrom helpers import clean\n\n@asset()\ndef raw():\n    return clean([1])\n",
    })
    after = helpers(tmp_path, {"helpers.py": 'def clean(rows):\n    """Doc."""\n    return rows  # same\n'})
    assert after == before


def test_mutually_recursive_helpers_are_each_listed_once(tmp_path: Path) -> None:
    found = helpers(tmp_path, {"p.py": """
        from barque import asset

        def even(n):
            return n == 0 or odd(n - 1)

        def odd(n):
            return n != 0 and even(n - 1)

        @asset()
        def raw() -> bool:
            return even(4) and raw is not None
        """})
    assert sorted(found) == ["p.py:even", "p.py:odd"]


def test_a_node_function_called_directly_counts_as_a_helper(tmp_path: Path) -> None:
    found = helpers(tmp_path, {"p.py": """
        from barque import asset

        @asset()
        def base() -> int:
            return 1

        @asset()
        def raw() -> int:
            return base() + 1
        """})
    assert list(found) == ["p.py:base"]


def test_a_class_and_an_outside_import_the_body_reads_are_helpers_and_builtins_are_not(tmp_path: Path) -> None:
    found = helpers(tmp_path, {"p.py": """
        import json
        from barque import asset

        class Model:
            def predict(self):
                return 1

        @asset()
        def raw() -> str:
            return json.dumps(len([Model().predict()]))
        """})
    # The whole class counts (Model.predict runs); so does `import json` (it says what json is).
    assert sorted(found) == ["p.py:Model", "p.py:json"]


def test_a_helper_module_read_only_for_hashing_is_listed_in_graph_files(tmp_path: Path) -> None:
    write(tmp_path, {
        "later.py": "def f():\n    return 1\n",
        "p.py": "from barque import asset\n\n@asset()\ndef raw():\n    from later import f\n    return f()\n",
    })
    graph = parse(tmp_path)
    assert sorted(graph.files) == ["later.py", "p.py"]
    assert [h for h, _ in graph.nodes["p.py:raw"].helpers] == ["later.py:f"]


def test_setting_an_attribute_of_a_helper_module_keeps_its_functions_followed(tmp_path: Path) -> None:
    found = helpers(tmp_path, {
        "helpers.py": "CACHE = None\n\ndef clean(rows):\n    return rows\n",
        "p.py": "from barque import asset\nimport helpers\n\nhelpers.CACHE = {}\n\n@asset()\ndef raw():\n    return helpers.clean([1])\n",
    })
    # `helpers.CACHE = {}` changes the module the node reads, so it counts with `helpers`.
    # `helpers.CACHE = {}` changes the module the node reads, so it counts with `helpers`,
    # and with what it reads itself.
    assert sorted(found) == ["helpers.py:CACHE", "helpers.py:clean", "p.py:helpers"]


def test_renaming_a_parameter_or_changing_its_annotation_changes_the_code_hash(tmp_path: Path) -> None:
    plain = "from barque import task\n\n@task()\ndef raw(x: int, y) -> int:\n    return 1\n"
    before = code_hash(tmp_path, plain)
    assert code_hash(tmp_path, plain.replace("x: int", "z: int")) != before
    assert code_hash(tmp_path, plain.replace("x: int", "x: str")) != before
    assert code_hash(tmp_path, plain.replace("x: int, y", "x: int, *y")) != before


def test_a_parameter_or_local_named_like_a_node_is_not_a_helper(tmp_path: Path) -> None:
    found = helpers(tmp_path, {"p.py": """
from barque import asset, partitions, partitions_from

@asset(partitions={"k": partitions(["a"])})
def orders(k):
    return k

@asset(partitions={"k": partitions_from(orders)})
def raw(k, orders):
    clean = orders.upper()
    return clean
"""})
    assert found == {}


def test_a_graph_parsed_without_hashes_differs_only_in_its_code_hashes_and_helpers(tmp_path: Path) -> None:
    write(tmp_path, {
        "helpers.py": "def clean(rows):\n    return rows\n",
        "p.py": BASE + "\nimport helpers\n\n@asset(inputs={'rows': raw})\ndef tidy(rows):\n    return helpers.clean(rows)\n",
    })
    hashed = parse_project([tmp_path / "p.py"]).to_dict()
    bare = parse_project([tmp_path / "p.py"], hashes=False).to_dict()
    assert [(n["code_hash"], n["helpers"]) for n in bare["nodes"]] == [("", ()), ("", ())]
    assert dict(hashed["nodes"][1]["helpers"]) == {"helpers.py:clean": hashed["nodes"][1]["helpers"][0][1]}
    for node in hashed["nodes"]:
        node.update(code_hash="", helpers=())
    assert bare == hashed


def test_a_graph_parsed_without_hashes_cannot_make_a_cache_key(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": BASE})
    node = parse_project([tmp_path / "p.py"], hashes=False).nodes["p.py:raw"]
    with pytest.raises(ValueError, match="no code hash"):
        key_components(node, Step(node.id, node.id), {}, {}, {})
    hashed = parse_project([tmp_path / "p.py"]).nodes["p.py:raw"]
    assert key_components(hashed, Step(hashed.id, hashed.id), {}, {}, {})["code"] == hashed.code_hash
