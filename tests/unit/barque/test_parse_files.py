"""The static parser across files: project root, discovery, imports between pipeline files,
``asset_ref``, the never-imports guarantee and determinism.

Real parts: the parser and files written to a temporary directory. Nothing is imported.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from barque.model import InputSpec
from barque.parsing import find_root, parse_project

from .fixtures.parse import parse, write

SOURCES = """
    from barque import asset, partitions

    @asset()
    def raw() -> dict:
        return {"rows": 3}

    @asset(partitions={"region": partitions(["emea", "amer"])})
    def sales(region: str) -> dict:
        return {"region": region}
    """


def test_the_root_of_a_plain_directory_is_that_directory(tmp_path: Path) -> None:
    write(tmp_path, {"pipelines/p.py": "x = 1\n"})
    assert find_root([tmp_path / "pipelines" / "p.py"]) == (tmp_path / "pipelines").resolve()


def test_the_root_of_a_package_file_is_the_parent_of_the_top_package(tmp_path: Path) -> None:
    write(tmp_path, {"pkg/__init__.py": "", "pkg/sub/__init__.py": "", "pkg/sub/mod.py": "x = 1\n"})
    assert find_root([tmp_path / "pkg" / "sub" / "mod.py"]) == tmp_path.resolve()


def test_a_package_file_gets_a_dotted_module_name_relative_to_the_root(tmp_path: Path) -> None:
    write(tmp_path, {"pkg/__init__.py": "", "pkg/sub/__init__.py": "", "pkg/sub/mod.py": SOURCES})
    node = parse(tmp_path, "pkg/sub/mod.py").nodes["pkg/sub/mod.py:raw"]
    assert (node.file, node.module) == ("pkg/sub/mod.py", "pkg.sub.mod")


def test_an_explicit_root_makes_ids_relative_to_it(tmp_path: Path) -> None:
    write(tmp_path, {"pipelines/p.py": SOURCES})
    graph = parse(tmp_path, "pipelines/p.py", root=str(tmp_path))
    assert graph.nodes["pipelines/p.py:raw"].module == "pipelines.p"
    assert graph.root == str(tmp_path.resolve())


def test_ids_do_not_depend_on_how_the_file_was_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {"p.py": SOURCES})
    monkeypatch.chdir(tmp_path)
    assert parse_project(["p.py"]).to_dict() == parse_project([str(tmp_path / "p.py")]).to_dict()


def test_a_directory_contributes_files_importing_barque_or_barca_skipping_hidden_and_venv_dirs(tmp_path: Path) -> None:
    write(tmp_path, {
        "a.py": "from barque import asset\n\n@asset()\ndef a() -> int:\n    return 1\n",
        "sub/b.py": "import barca\n\n@barca.asset()\ndef b() -> int:\n    return 1\n",
        "helpers.py": "def h():\n    return 1\n",
        ".hidden/c.py": "from barque import asset\n\n@asset()\ndef c() -> int:\n    return 1\n",
        ".venv/lib/d.py": "from barque import asset\n\n@asset()\ndef d() -> int:\n    return 1\n",
        "__pycache__/e.py": "from barque import asset\n\n@asset()\ndef e() -> int:\n    return 1\n",
    })
    graph = parse_project([tmp_path])
    assert sorted(graph.nodes) == ["a.py:a", "sub/b.py:b"]
    assert sorted(graph.files) == ["a.py", "sub/b.py"]


def test_graph_files_map_every_parsed_file_to_the_sha256_of_its_bytes(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": "from barque import asset\nimport helpers\n", "helpers.py": "X = 1\n"})
    graph = parse(tmp_path)
    assert graph.files == {
        rel: hashlib.sha256((tmp_path / rel).read_bytes()).hexdigest() for rel in ("p.py", "helpers.py")
    }


def test_a_relative_import_brings_the_other_file_and_its_nodes(tmp_path: Path) -> None:
    write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/sources.py": SOURCES,
        "pkg/reconcile.py": """
            from barque import asset
            from .sources import raw

            @asset(inputs={"m": raw})
            def reconciled(m: dict) -> dict:
                return m
            """,
    })
    graph = parse(tmp_path, "pkg/reconcile.py")
    assert sorted(graph.nodes) == ["pkg/reconcile.py:reconciled", "pkg/sources.py:raw", "pkg/sources.py:sales"]
    assert graph.nodes["pkg/reconcile.py:reconciled"].inputs == (InputSpec("m", "pkg/sources.py:raw"),)


def test_an_absolute_package_import_with_an_alias_names_the_node(tmp_path: Path) -> None:
    write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/sources.py": SOURCES,
        "pkg/validate.py": """
            from barque import collect, task
            from pkg.sources import raw as model
            from pkg.sources import sales

            @task(inputs={"m": model, "s": collect(sales)})
            def validate(m, s):
                return 1
            """,
    })
    inputs = parse(tmp_path, "pkg/validate.py").nodes["pkg/validate.py:validate"].inputs
    assert inputs == (InputSpec("m", "pkg/sources.py:raw"), InputSpec("s", "pkg/sources.py:sales", True))


def test_a_sibling_module_import_in_a_plain_directory_names_the_node(tmp_path: Path) -> None:
    write(tmp_path, {
        "pipelines/sources.py": SOURCES,
        "pipelines/report.py": """
            from barque import asset
            from sources import raw

            @asset(inputs={"m": raw})
            def report(m):
                return m
            """,
    })
    graph = parse(tmp_path, "pipelines/report.py", root=str(tmp_path))
    assert graph.nodes["pipelines/report.py:report"].inputs == (InputSpec("m", "pipelines/sources.py:raw"),)


def test_a_module_alias_attribute_names_the_node(tmp_path: Path) -> None:
    write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/sources.py": SOURCES,
        "pkg/report.py": """
            import pkg.sources as src
            import pkg.sources
            from barque import asset

            @asset(inputs={"a": src.raw, "b": pkg.sources.raw})
            def report(a, b):
                return a
            """,
    })
    inputs = parse(tmp_path, "pkg/report.py").nodes["pkg/report.py:report"].inputs
    assert inputs == (InputSpec("a", "pkg/sources.py:raw"), InputSpec("b", "pkg/sources.py:raw"))


def test_a_name_re_exported_by_a_package_init_names_the_defining_file(tmp_path: Path) -> None:
    write(tmp_path, {
        "pkg/__init__.py": "from .sources import raw\n",
        "pkg/sources.py": SOURCES,
        "report.py": """
            from barque import asset
            from pkg import raw

            @asset(inputs={"m": raw})
            def report(m):
                return m
            """,
    })
    graph = parse(tmp_path, "report.py", root=str(tmp_path))
    assert graph.nodes["report.py:report"].inputs == (InputSpec("m", "pkg/sources.py:raw"),)


def test_asset_ref_names_a_node_in_another_file_and_parses_that_file(tmp_path: Path) -> None:
    write(tmp_path, {
        "pipelines/sources.py": SOURCES,
        "report.py": """
            from barque import asset, asset_ref

            @asset(inputs={"m": asset_ref("pipelines/sources.py:raw")})
            def report(m):
                return m
            """,
    })
    graph = parse(tmp_path, "report.py")
    assert graph.nodes["report.py:report"].inputs == (InputSpec("m", "pipelines/sources.py:raw"),)
    assert "pipelines/sources.py:sales" in graph.nodes


def test_asset_ref_may_be_relative_to_the_referencing_file(tmp_path: Path) -> None:
    write(tmp_path, {
        "jobs/sources.py": SOURCES,
        "jobs/report.py": """
            from barque import asset, asset_ref, collect

            @asset(inputs={"all": collect(asset_ref("sources.py:sales"))})
            def report(all):
                return all
            """,
    })
    graph = parse(tmp_path, "jobs/report.py", root=str(tmp_path))
    assert graph.nodes["jobs/report.py:report"].inputs == (InputSpec("all", "jobs/sources.py:sales", True),)


def test_imports_from_outside_the_project_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, {"p.py": """
        import json
        import numpy as np
        from os import path
        from barque import asset

        @asset()
        def raw() -> str:
            return json.dumps(np.zeros(1).tolist()) + path.sep
        """})
    graph = parse(tmp_path)
    assert list(graph.files) == ["p.py"]
    # Not followed, but the import statements count: `import numpy as np` says what np is.
    assert [h for h, _ in graph.nodes["p.py:raw"].helpers] == ["p.py:json", "p.py:np", "p.py:path"]


def test_parsing_never_imports_or_runs_the_pipeline(tmp_path: Path) -> None:
    marker = tmp_path / "imported.marker"
    write(tmp_path, {
        "unimported_pipeline.py": f"""
            from pathlib import Path
            Path({str(marker)!r}).write_text("ran")
            raise SystemExit("this module must not be imported")
            import unimported_helpers
            from barque import asset

            @asset()
            def raw() -> int:
                return unimported_helpers.value()
            """,
        "unimported_helpers.py": f"""
            open({str(marker)!r}, "w").write("ran")

            def value():
                return 1
            """,
    })
    graph = parse(tmp_path, "unimported_pipeline.py")
    assert graph.nodes["unimported_pipeline.py:raw"].helpers[0][0] == "unimported_helpers.py:value"
    assert not marker.exists()
    assert "unimported_pipeline" not in sys.modules and "unimported_helpers" not in sys.modules


def test_the_same_project_parses_to_the_same_graph_dict_twice(tmp_path: Path) -> None:
    write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/sources.py": SOURCES,
        "pkg/util.py": "def a():\n    return b()\n\ndef b():\n    return a()\n",
        "pkg/report.py": """
            from barque import asset, collect, partitions_from
            from .sources import raw, sales
            from . import util

            @asset(inputs={"m": raw, "s": collect(sales)})
            def report(m, s):
                return util.a()

            @asset(partitions={"region": partitions_from(sales)})
            def margin(region, sales):
                return util.b()
            """,
    })
    first = parse(tmp_path, "pkg/report.py").to_dict()
    second = parse(tmp_path, "pkg/report.py").to_dict()
    assert first == second


def test_a_directory_walk_is_sorted_whatever_the_file_system_order(tmp_path: Path) -> None:
    for name in ("c", "a", "b"):
        write(tmp_path, {f"{name}.py": f"from barque import asset\n\n@asset()\ndef {name}() -> int:\n    return 1\n"})
    assert list(parse_project([tmp_path]).nodes) == ["a.py:a", "b.py:b", "c.py:c"]
